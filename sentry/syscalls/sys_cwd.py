"""The working directory: chdir, fchdir and getcwd, when it is inside a
sentry mount (the host's cwd of the process then stays where it was, and
sentry resolves relative paths from its own record; see ThreadGroup.cwd)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from sentry.abi.linux import AT_FDCWD, S_IFDIR, S_IFMT
from sentry.errors import SyscallError
from sentry.kernel.fd_traps import make_precise
from sentry.kernel.syscalls import Passthrough, SyscallResult
from sentry.syscalls.common import locate, on_host, read_path, sentry_file
from sentry.vfs.permissions import MAY_EXEC

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.vfs import Location, Start


def _host_cwd(t: Task) -> Passthrough:
    """Let the host change directory; on success the cwd is the host's again."""

    def on_exit(result: int) -> None:
        if result == 0:
            t.group.cwd = None
            t.kernel.cwd_changed(t.group)

    return Passthrough(on_exit)


def _set_cwd(t: Task, location: Location) -> int:
    if location.mount is None:
        raise SyscallError(errno.EXDEV)
    if location.inode is None or location.inode.mode & S_IFMT != S_IFDIR:
        raise SyscallError(errno.ENOTDIR)
    location.mount.fs.pin(location.inode)
    t.group.cwd = location
    t.kernel.cwd_changed(t.group)
    return 0


def chdir(t: Task, path: int) -> SyscallResult:
    """chdir(2)."""
    start = locate(t, AT_FDCWD, read_path(t, path))
    return _host_cwd(t) if start is None else _chdir(t, start)


async def _chdir(t: Task, start: Start) -> int:
    location = await t.kernel.vfs.walk(t, start)
    if location.mount is None:
        # ``..`` or a symlink led back out: the host changes directory.
        result = await on_host(t, location, 0)
        if result == 0:
            t.group.cwd = None
            t.kernel.cwd_changed(t.group)
        return result
    await _may_enter(t, location)
    # Its fchdir back to a host fd must reach sentry, as an fd syscall of a
    # process with a sentry fd does (see fd_traps).
    await make_precise(t)
    return _set_cwd(t, location)


async def _may_enter(t: Task, location: Location) -> None:
    """chdir needs search permission on the directory (EACCES)."""
    if location.mount is not None and location.inode is not None:
        if location.inode.mode & S_IFMT == S_IFDIR:
            await location.mount.fs.permission(t, location.inode, MAY_EXEC)


def fchdir(t: Task, fd: int) -> SyscallResult:
    """fchdir(2)."""
    file = sentry_file(t, fd, opath=True)
    return _host_cwd(t) if file is None else _fchdir(t, file.location)


async def _fchdir(t: Task, location: Location) -> int:
    await _may_enter(t, location)
    return _set_cwd(t, location)


def getcwd(t: Task, buf: int, size: int) -> SyscallResult:
    """getcwd(2)."""
    if t.group.cwd is None:
        return Passthrough()
    path = t.group.cwd.path.encode() + b"\0"
    if size < len(path):
        raise SyscallError(errno.ERANGE)
    if t.mm.copy_out(buf, path) != len(path):
        raise SyscallError(errno.EFAULT)
    return len(path)
