"""The task a VFS call is made for, as the VFS and file systems see it.

Analogous to gVisor's ``context.Context``: the kernel hands the VFS its
tasks, and the VFS and every file system use them only through this small
protocol, so that neither imports the kernel (``sentry.kernel.task.Task``
implements it). All its methods are cheap and none waits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sentry.auth import Credentials
    from sentry.platform.platform import AddressSpace
    from sentry.vfs.file_description import FileDescription
    from sentry.vfs.vfs import Location
    from sentry.waiter import Waiter


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

    def file(self, fd: int) -> FileDescription | None:
        """The sentry file ``fd`` names in the task's fd table, or None
        (a host fd, or no fd at all)."""
        ...

    def cwd(self) -> Location:
        """The task's working directory, where its relative paths start."""
        ...

    def sleep(self, seconds: float) -> Waiter:
        """A Waiter that completes after ``seconds``."""
        ...
