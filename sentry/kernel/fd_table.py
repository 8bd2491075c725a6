"""File descriptor tables: which of a process's fds are sentry's files.

Analogous to Linux's ``files_struct`` and gVisor's ``kernel.FDTable``, with
one difference: the host keeps the app's real fd table, and every fd in it
that sentry does not own (pipes, sockets, host files) is left to the host.
This table holds only the fds that name sentry files, and mirrors their
numbers into the platform so that a syscall on any other fd passes through
without a detour into Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sentry.vfs.context import Context

if TYPE_CHECKING:
    from sentry.platform.platform import Platform
    from sentry.vfs.file_description import FileDescription


class FDTableUser(Context, Protocol):
    """A task as the fd table it uses sees it: the Context its close-on-exec
    fds are closed for, whose ``fd_table`` the table sets on ``bind``.

    A protocol so that this module sits below the task module:
    :class:`sentry.kernel.task.Task` implements it.
    """

    fd_table: FDTable  # the table the task uses


@dataclass
class Descriptor:
    """One fd: the open file and its close-on-exec flag."""

    file: FileDescription
    cloexec: bool


class FDTable:
    """The sentry-owned fds of the tasks that share one host fd table.

    Shared by tasks cloned with CLONE_FILES (threads), copied on fork,
    stripped of close-on-exec fds on exec. Each Descriptor holds one
    reference on its file; every fd that goes away, including all of them
    when the table's last task is gone, is closed with ``FileDescription.close_fd``.

    Invariants: ``tasks`` are exactly the live tasks bound to this table;
    the platform's copy (``slot``) marks exactly the fds in ``_fds``.
    """

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self.slot = platform.new_fd_table()
        self._fds: dict[int, Descriptor] = {}
        self.tasks: set[FDTableUser] = set()

    def __len__(self) -> int:
        return len(self._fds)

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._fds))

    def bind(self, task: FDTableUser) -> None:
        """``task`` now uses this table."""
        self.tasks.add(task)
        task.fd_table = self
        self._platform.bind_task(task.tid, self.slot)

    def unbind(self, task: FDTableUser) -> None:
        """``task`` no longer uses this table (it exited or execed)."""
        self.tasks.discard(task)
        if not self.tasks:
            for fd in list(self._fds):
                self.remove(fd).close_fd(None)
            self._platform.free_fd_table(self.slot)

    def get(self, fd: int) -> Descriptor | None:
        """The Descriptor of ``fd``, or None if ``fd`` is not sentry's."""
        return self._fds.get(fd)

    def install(self, fd: int, file: FileDescription, cloexec: bool) -> None:
        """Make ``fd`` refer to ``file`` (taking a reference).

        Precondition: the host fd ``fd`` exists and is sentry's placeholder.
        """
        file.inc_ref()
        old = self._fds.get(fd)
        self._fds[fd] = Descriptor(file, cloexec)
        self._platform.mark_fd(self.slot, fd, True)
        if old is not None:
            old.file.closed_by(self)
            old.file.close_fd(None)

    def remove(self, fd: int) -> FileDescription:
        """Forget ``fd``, and the table's POSIX locks on its file (any close
        of an fd drops them); returns the file, whose reference the caller
        drops.

        Raises KeyError if ``fd`` is not sentry's.
        """
        descriptor = self._fds.pop(fd)
        self._platform.mark_fd(self.slot, fd, False)
        descriptor.file.closed_by(self)
        return descriptor.file

    def fork(self) -> FDTable:
        """A copy for a child made without CLONE_FILES."""
        child = FDTable(self._platform)
        for fd, descriptor in self._fds.items():
            child.install(fd, descriptor.file, descriptor.cloexec)
        return child

    def exec(self, task: FDTableUser) -> FDTable:
        """The table ``task`` keeps after execve: unshared, as Linux's
        ``unshare_files`` does, then without its close-on-exec fds.

        Precondition: the other threads of ``task``'s process are unbound.
        """
        table = self
        if self.tasks != {task}:
            table = self.fork()
            self.unbind(task)
            table.bind(task)
        for fd in [fd for fd, d in table._fds.items() if d.cloexec]:
            table.remove(fd).close_fd(task)
        return table
