"""Processes of the app.

Analogous to gVisor's ``kernel.ThreadGroup`` (Linux: the thread group and
its ``signal_struct``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from sentry.vfs.vfs import Location

# The type of a group's tasks: sentry.kernel.task.Task, whose module sits
# above this one (a Task knows its ThreadGroup[Task]).
TaskT = TypeVar("TaskT")


class ThreadGroup(Generic[TaskT]):
    """A process: its tgid and its live tasks.

    The group's leader keeps the tgid for the group's whole life (a
    non-leader that execs takes it over). The group has ended when its
    leader's exit is reported, which Linux does after every other thread
    has exited.
    """

    def __init__(self, tgid: int, cwd: Location | None = None, precise: bool = False) -> None:
        self.tgid = tgid
        self.tasks: dict[int, TaskT] = {}
        # Its threads carry the filter that traps every fd (see
        # sentry.kernel.fd_traps); inherited on fork, kept across exec.
        self.precise = precise
        self._cwd: Location | None = None
        self.cwd = cwd

    @property
    def cwd(self) -> Location | None:
        """The working directory when it is inside a sentry mount (the host's
        cwd of the process then stays where it was); None: the host's. Its
        file system counts the processes whose cwd it is (a busy mount)."""
        return self._cwd

    @cwd.setter
    def cwd(self, location: Location | None) -> None:
        if location is not None and location.mount is not None:
            location.mount.fs.working_dirs(+1)
        if self._cwd is not None and self._cwd.mount is not None:
            self._cwd.mount.fs.working_dirs(-1)
        self._cwd = location

    def __repr__(self) -> str:
        return f"ThreadGroup({self.tgid})"

    def host_cwd(self) -> str:
        """The process's working directory on the host."""
        return os.readlink(f"/proc/{self.tgid}/cwd")
