"""Creating and removing names in sentry mounts: mkdir, mkdirat, mknod,
mknodat, unlink, unlinkat, rmdir, rename, renameat, renameat2, link,
linkat, symlink and symlinkat (analogous to the name calls of gVisor's
``sys_file.go``).

A path outside every sentry mount passes through. A call naming two paths
(rename, link) across a sentry mount and anything else fails with EXDEV, as
it does across mounts in Linux.

What Linux's VFS decides before a file system is asked, sentry decides too,
in the same order (``namei.c``): a last component of ``.`` or ``..``, a
trailing slash, and rename of a file onto itself (0, without asking the
file system), onto its ancestor (ENOTEMPTY) or its descendant (EINVAL).
A daemon is never sent those renames: libfuse deadlocks on them.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from sentry.abi.linux import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_REMOVEDIR,
    AT_SYMLINK_FOLLOW,
    AT_SYMLINK_NOFOLLOW,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    RENAME_WHITEOUT,
    S_IFDIR,
    S_IFMT,
    S_IFREG,
    STAT_SIZE,
)
from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.errors import SyscallError
from sentry.kernel.syscalls import PASS, SyscallResult
from sentry.kernel.task import SCRATCH
from sentry.syscalls.common import (
    c_int,
    check_flags,
    empty_path_location,
    locate,
    on_host,
    read_path,
)
from sentry.vfs.vfs import Start, is_below

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.filesystem import Inode
    from sentry.vfs.vfs import Last


async def _new_name(t: Task, start: Start, directory: bool = False) -> Last:
    """The last component of a path a call creates (Linux's
    ``filename_create``): EEXIST for ``.``, ``..`` or a mount's root; with a
    trailing slash, unless a directory is made, EEXIST if the name exists and
    ENOENT if not."""
    last = await t.kernel.vfs.walk_parent(t, start)
    if last.dir.mount is None:
        return last
    if not last.normal:
        raise SyscallError(errno.EEXIST)
    if last.slash and not directory:
        await _lookup(t, last)
        raise SyscallError(errno.EEXIST)
    return last


async def _lookup(t: Task, last: Last) -> Inode:
    """The file a last component in a mount names (ENOENT if none)."""
    assert last.dir.mount is not None
    inode: Inode = await last.dir.mount.fs.lookup(t, last.dir.inode, last.name)
    return inode


async def _lookup_or_none(t: Task, last: Last) -> Inode | None:
    try:
        return await _lookup(t, last)
    except SyscallError as err:
        if err.errno != errno.ENOENT:
            raise
        return None


def _is_dir(inode: Inode) -> bool:
    return inode.mode & S_IFMT == S_IFDIR


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
    last = await _new_name(t, start, directory=True)
    parent = last.dir
    if parent.mount is None:
        return await on_host(t, last.on_host(), path_arg)
    await parent.mount.fs.mkdir(t, parent.inode, last.name, mode)
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
    last = await _new_name(t, start)
    parent = last.dir
    if parent.mount is None:
        return await on_host(t, last.on_host(), path_arg)
    if mode & S_IFMT == 0:
        mode |= S_IFREG
    await parent.mount.fs.mknod(t, parent.inode, last.name, mode, dev)
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
    last = await t.kernel.vfs.walk_parent(t, start)
    parent = last.dir
    if parent.mount is None:
        return await on_host(t, last.on_host(), path_arg)
    # Linux's do_rmdir and do_unlinkat, then may_delete.
    if directory:
        special = {b"": errno.EBUSY, b".": errno.EINVAL, b"..": errno.ENOTEMPTY}
        if last.name in special:
            raise SyscallError(special[last.name])
        if not _is_dir(await _lookup(t, last)):
            raise SyscallError(errno.ENOTDIR)
        if t.kernel.vfs.covered(last.path, parent.mount):
            raise SyscallError(errno.EBUSY)
    else:
        if not last.normal:
            raise SyscallError(errno.EISDIR)
        child = await _lookup(t, last)
        if _is_dir(child):
            raise SyscallError(errno.EISDIR)
        if last.slash:
            raise SyscallError(errno.ENOTDIR)
    await parent.mount.fs.unlink(t, parent.inode, last.name, directory)
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
    if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) or (
        flags & RENAME_EXCHANGE and flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)
    ):
        raise SyscallError(errno.EINVAL)
    src = locate(t, olddirfd, read_path(t, old))
    dst = locate(t, newdirfd, read_path(t, new))
    if src is None and dst is None:
        return PASS
    if src is None or dst is None or src.at.mount is not dst.at.mount:
        raise SyscallError(errno.EXDEV)
    return _rename(t, src, dst, flags)


async def _rename(t: Task, src: Start, dst: Start, flags: int) -> int:
    vfs = t.kernel.vfs
    old, new = await vfs.walk_parent(t, src), await vfs.walk_parent(t, dst)
    mount = old.dir.mount
    if mount is None or mount is not new.dir.mount:
        raise SyscallError(errno.EXDEV)
    # Linux's do_renameat2, then vfs_rename, in their order.
    if not old.normal:
        raise SyscallError(errno.EBUSY)
    if not new.normal:
        raise SyscallError(errno.EEXIST if flags & RENAME_NOREPLACE else errno.EBUSY)
    source = await _lookup(t, old)
    target = await _lookup_or_none(t, new)
    exchange = bool(flags & RENAME_EXCHANGE)
    if flags & RENAME_NOREPLACE and target is not None:
        raise SyscallError(errno.EEXIST)
    if exchange and target is None:
        raise SyscallError(errno.ENOENT)
    if exchange and target is not None and not _is_dir(target) and new.slash:
        raise SyscallError(errno.ENOTDIR)
    if not _is_dir(source) and (old.slash or (new.slash and not exchange)):
        raise SyscallError(errno.ENOTDIR)
    if is_below(new.path, old.path):
        raise SyscallError(errno.EINVAL)
    if is_below(old.path, new.path):
        raise SyscallError(errno.EINVAL if exchange else errno.ENOTEMPTY)
    if source is target:
        return 0
    if target is not None and not exchange and _is_dir(source) != _is_dir(target):
        raise SyscallError(errno.ENOTDIR if _is_dir(source) else errno.EISDIR)
    vfs = t.kernel.vfs
    if vfs.covered(old.path, mount) or target is not None and vfs.covered(new.path, mount):
        raise SyscallError(errno.EBUSY)
    await mount.fs.rename(t, old.dir.inode, old.name, new.dir.inode, new.name, flags)
    if _is_dir(source) and not exchange:
        vfs.move_points(old.path, new.path)  # mounts inside it go along
    return 0


def link(t: Task, old: int, new: int) -> SyscallResult:
    """link(2)."""
    return linkat(t, AT_FDCWD, old, AT_FDCWD, new, 0)


def linkat(t: Task, olddirfd: int, old: int, newdirfd: int, new: int, flags: int) -> SyscallResult:
    """linkat(2); with AT_EMPTY_PATH and an empty path, the new name is for
    ``olddirfd``'s file."""
    flags = check_flags(c_int(flags), AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)
    name = read_path(t, old)
    if not name and flags & AT_EMPTY_PATH:
        at = empty_path_location(t, olddirfd)
        src = None if at is None else Start(at)
    else:
        src = locate(t, olddirfd, name)
    dst = locate(t, newdirfd, read_path(t, new))
    if src is None and dst is None:
        return PASS
    if src is None:
        assert dst is not None
        follow = 0 if flags & AT_SYMLINK_FOLLOW else AT_SYMLINK_NOFOLLOW
        return _link_from_host(t, olddirfd, old, follow | flags & AT_EMPTY_PATH, dst)
    return _link(t, src, dst, bool(flags & AT_SYMLINK_FOLLOW), newdirfd, new)


async def _host_stat(t: Task, dirfd: int, path: int, flags: int) -> int:
    """newfstatat(2) of a host path, made by the task itself (its view, its
    permissions; ``path`` is the app's own string): 0, or -errno."""
    return await t.inject(
        SYSCALL_NUMBERS["newfstatat"], dirfd, path, SCRATCH, flags, data=bytes(STAT_SIZE)
    )


async def _link_from_host(t: Task, olddirfd: int, old: int, stat_flags: int, dst: Start) -> int:
    """A host file linked into a sentry mount, in Linux's do_linkat order:
    the host's error for the old name (ENOENT...), EEXIST if the new name
    exists, then EXDEV."""
    found = await _host_stat(t, olddirfd, old, stat_flags)
    if found < 0:
        raise SyscallError(-found)
    last = await _new_name(t, dst)
    if last.dir.mount is not None and await _lookup_or_none(t, last) is not None:
        raise SyscallError(errno.EEXIST)
    raise SyscallError(errno.EXDEV)


async def _link(
    t: Task, src: Start, dst: Start | None, follow: bool, newdirfd: int, new: int
) -> int:
    """Linux's do_linkat order: the old file (ENOENT), the new name
    (EEXIST), then EXDEV across mounts (``dst`` None: on the host, where
    the task looks the new name up itself) and EPERM for a directory."""
    target = await t.kernel.vfs.walk(t, src, follow)
    if dst is None:
        found = await _host_stat(t, newdirfd, new, AT_SYMLINK_NOFOLLOW)
        if found == 0:
            raise SyscallError(errno.EEXIST)
        if found != -errno.ENOENT:
            raise SyscallError(-found)  # the new name's path is refused
        raise SyscallError(errno.EXDEV)
    last = await _new_name(t, dst)
    parent = last.dir
    across = target.mount is None or parent.mount is not target.mount
    if across or target.inode is not None and _is_dir(target.inode):
        if parent.mount is not None and await _lookup_or_none(t, last) is not None:
            raise SyscallError(errno.EEXIST)
        raise SyscallError(errno.EXDEV if across else errno.EPERM)
    assert parent.mount is not None and target.inode is not None
    await parent.mount.fs.link(t, target.inode, parent.inode, last.name)
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
    last = await _new_name(t, start)
    parent = last.dir
    if parent.mount is None:
        return await on_host(t, last.on_host(), path_arg)
    await parent.mount.fs.symlink(t, parent.inode, last.name, target)
    return 0
