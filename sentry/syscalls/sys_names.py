"""Creating and removing names in sentry mounts: mkdir, mkdirat, mknod,
mknodat, unlink, unlinkat, rmdir, rename, renameat, renameat2, link,
linkat, symlink and symlinkat (analogous to the name calls of gVisor's
``sys_file.go``).

A path outside every sentry mount passes through. A call naming two paths
(rename, link) across a sentry mount and anything else fails with EXDEV, as
it does across mounts in Linux.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from sentry.abi.linux import (
    AT_FDCWD,
    AT_REMOVEDIR,
    AT_SYMLINK_FOLLOW,
    S_IFDIR,
    S_IFMT,
    S_IFREG,
)
from sentry.errors import SyscallError
from sentry.kernel.syscalls import PASS, SyscallResult
from sentry.syscalls.common import c_int, locate, on_host, read_path

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.vfs import Location, Start


async def _parent(t: Task, start: Start) -> tuple[Location, bytes]:
    parent, name = await t.kernel.vfs.walk_parent(t, start)
    if parent.mount is not None and parent.inode is not None:
        if parent.inode.mode & S_IFMT != S_IFDIR:
            raise SyscallError(errno.ENOTDIR)
    return parent, name


def mkdir(t: Task, path: int, mode: int) -> SyscallResult:
    """mkdir(2)."""
    return _mkdirat(t, AT_FDCWD, path, mode, 0)


def mkdirat(t: Task, dirfd: int, path: int, mode: int) -> SyscallResult:
    """mkdirat(2)."""
    return _mkdirat(t, dirfd, path, mode, 1)


def _mkdirat(t: Task, dirfd: int, path: int, mode: int, path_arg: int) -> SyscallResult:
    start = locate(t, dirfd, read_path(t, path))
    return PASS if start is None else _mkdir(t, start, mode & 0o7777, path_arg)


async def _mkdir(t: Task, start: Start, mode: int, path_arg: int) -> int:
    parent, name = await _parent(t, start)
    if parent.mount is None:
        return await on_host(t, parent, path_arg)
    if not name:
        raise SyscallError(errno.EEXIST)
    await parent.mount.fs.mkdir(t, parent.inode, name, mode)
    return 0


def mknod(t: Task, path: int, mode: int, dev: int) -> SyscallResult:
    """mknod(2)."""
    return _mknodat(t, AT_FDCWD, path, mode, dev, 0)


def mknodat(t: Task, dirfd: int, path: int, mode: int, dev: int) -> SyscallResult:
    """mknodat(2)."""
    return _mknodat(t, dirfd, path, mode, dev, 1)


def _mknodat(t: Task, dirfd: int, path: int, mode: int, dev: int, path_arg: int) -> SyscallResult:
    start = locate(t, dirfd, read_path(t, path))
    return PASS if start is None else _mknod(t, start, c_int(mode), dev, path_arg)


async def _mknod(t: Task, start: Start, mode: int, dev: int, path_arg: int) -> int:
    parent, name = await _parent(t, start)
    if parent.mount is None:
        return await on_host(t, parent, path_arg)
    if not name:
        raise SyscallError(errno.EEXIST)
    if mode & S_IFMT == 0:
        mode |= S_IFREG
    await parent.mount.fs.mknod(t, parent.inode, name, mode, dev)
    return 0


def unlink(t: Task, path: int) -> SyscallResult:
    """unlink(2)."""
    return _unlinkat(t, AT_FDCWD, path, 0, 0)


def rmdir(t: Task, path: int) -> SyscallResult:
    """rmdir(2)."""
    return _unlinkat(t, AT_FDCWD, path, AT_REMOVEDIR, 0)


def unlinkat(t: Task, dirfd: int, path: int, flags: int) -> SyscallResult:
    """unlinkat(2)."""
    return _unlinkat(t, dirfd, path, flags, 1)


def _unlinkat(t: Task, dirfd: int, path: int, flags: int, path_arg: int) -> SyscallResult:
    if flags & ~AT_REMOVEDIR:
        raise SyscallError(errno.EINVAL)
    start = locate(t, dirfd, read_path(t, path))
    return PASS if start is None else _unlink(t, start, bool(flags & AT_REMOVEDIR), path_arg)


async def _unlink(t: Task, start: Start, directory: bool, path_arg: int) -> int:
    parent, name = await _parent(t, start)
    if parent.mount is None:
        return await on_host(t, parent, path_arg)
    if not name:
        raise SyscallError(errno.EBUSY if directory else errno.EISDIR)
    if name == b"." and directory:
        raise SyscallError(errno.EINVAL)
    if not directory:
        child = await parent.mount.fs.lookup(t, parent.inode, name)
        if child.mode & S_IFMT == S_IFDIR:
            raise SyscallError(errno.EISDIR)
    await parent.mount.fs.unlink(t, parent.inode, name, directory)
    return 0


def rename(t: Task, old: int, new: int) -> SyscallResult:
    """rename(2)."""
    return renameat2(t, AT_FDCWD, old, AT_FDCWD, new, 0)


def renameat(t: Task, olddirfd: int, old: int, newdirfd: int, new: int) -> SyscallResult:
    """renameat(2)."""
    return renameat2(t, olddirfd, old, newdirfd, new, 0)


def renameat2(
    t: Task, olddirfd: int, old: int, newdirfd: int, new: int, flags: int
) -> SyscallResult:
    """renameat2(2)."""
    src = locate(t, olddirfd, read_path(t, old))
    dst = locate(t, newdirfd, read_path(t, new))
    if src is None and dst is None:
        return PASS
    if src is None or dst is None or src.at.mount is not dst.at.mount:
        raise SyscallError(errno.EXDEV)
    return _rename(t, src, dst, flags)


async def _rename(t: Task, src: Start, dst: Start, flags: int) -> int:
    old_parent, old_name = await _parent(t, src)
    new_parent, new_name = await _parent(t, dst)
    if old_parent.mount is None or old_parent.mount is not new_parent.mount:
        raise SyscallError(errno.EXDEV)
    if not old_name or not new_name:
        raise SyscallError(errno.EBUSY)
    await old_parent.mount.fs.rename(
        t, old_parent.inode, old_name, new_parent.inode, new_name, flags
    )
    return 0


def link(t: Task, old: int, new: int) -> SyscallResult:
    """link(2)."""
    return linkat(t, AT_FDCWD, old, AT_FDCWD, new, 0)


def linkat(t: Task, olddirfd: int, old: int, newdirfd: int, new: int, flags: int) -> SyscallResult:
    """linkat(2)."""
    src = locate(t, olddirfd, read_path(t, old))
    dst = locate(t, newdirfd, read_path(t, new))
    if src is None and dst is None:
        return PASS
    if src is None or dst is None or src.at.mount is not dst.at.mount:
        raise SyscallError(errno.EXDEV)
    return _link(t, src, dst, bool(flags & AT_SYMLINK_FOLLOW))


async def _link(t: Task, src: Start, dst: Start, follow: bool) -> int:
    target = await t.kernel.vfs.walk(t, src, follow)
    parent, name = await _parent(t, dst)
    if target.mount is None or parent.mount is not target.mount:
        raise SyscallError(errno.EXDEV)
    if not name:
        raise SyscallError(errno.EEXIST)
    if target.inode is not None and target.inode.mode & S_IFMT == S_IFDIR:
        raise SyscallError(errno.EPERM)
    await parent.mount.fs.link(t, target.inode, parent.inode, name)
    return 0


def symlink(t: Task, target: int, path: int) -> SyscallResult:
    """symlink(2)."""
    return _symlinkat(t, target, AT_FDCWD, path, 1)


def symlinkat(t: Task, target: int, dirfd: int, path: int) -> SyscallResult:
    """symlinkat(2)."""
    return _symlinkat(t, target, dirfd, path, 2)


def _symlinkat(t: Task, target: int, dirfd: int, path: int, path_arg: int) -> SyscallResult:
    start = locate(t, dirfd, read_path(t, path))
    return PASS if start is None else _symlink(t, start, read_path(t, target), path_arg)


async def _symlink(t: Task, start: Start, target: bytes, path_arg: int) -> int:
    parent, name = await _parent(t, start)
    if parent.mount is None:
        return await on_host(t, parent, path_arg)
    if not name:
        raise SyscallError(errno.EEXIST)
    await parent.mount.fs.symlink(t, parent.inode, name, target)
    return 0
