"""The task a VFS call is made for, as the VFS and file systems see it.

Analogous to gVisor's ``context.Context``: the kernel hands the VFS its
tasks, and the VFS and every file system use them only through this small
protocol, so that neither imports the kernel (``sentry.kernel.task.Task``
implements it). All its methods are cheap and none waits. It names no VFS type, so that
every module of the VFS may take it: the syscall layer, not the VFS,
resolves fds and working directories into where a path starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from sentry.auth import Credentials
    from sentry.platform.platform import AddressSpace
    from sentry.waiter import Waiter

T = TypeVar("T")


class Context(Protocol):
    """A task: the thread id, memory and credentials a call acts with."""

    tid: int  # the host's thread id (a FUSE request's pid)

    @property
    def mm(self) -> AddressSpace:
        """The task's memory, where its buffers are."""
        ...

    def credentials(self) -> Credentials:
        """The task's ids."""
        ...

    def umask(self) -> int:
        """The task's file mode creation mask."""
        ...

    def file_impl(self, fd: int, kind: type[T]) -> T | None:
        """The implementation of the sentry file ``fd`` names in the task's
        fd table if it is a ``kind`` (a device asking whether an fd is one
        of its own), else None."""
        ...

    def sleep(self, seconds: float) -> Waiter:
        """A Waiter that completes after ``seconds``."""
        ...
