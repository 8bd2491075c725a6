"""Changing attributes and syncing sentry files: chmod, fchmod, fchmodat,
fchmodat2, chown, lchown, fchown, fchownat, truncate, ftruncate,
utimensat, utimes, utime, futimesat, fsync, fdatasync and fallocate.

Each attribute change is one vfs SetStat (analogous to the setstat calls of
gVisor's ``sys_stat.go``/``sys_file.go``); an fd-based change names the
open file it is made through, as Linux's does.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from sentry.abi.linux import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_SYMLINK_NOFOLLOW,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    STATX_ATIME,
    STATX_GID,
    STATX_MODE,
    STATX_MTIME,
    STATX_SIZE,
    STATX_UID,
    UTIME_NOW,
    UTIME_OMIT,
)
from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.errors import SyscallError
from sentry.kernel.syscalls import PASS, SyscallResult
from sentry.syscalls.common import (
    c_int,
    c_long,
    check_flags,
    efbig,
    empty_path_location,
    fsize_limit,
    locate,
    on_host,
    read_path,
    sentry_file,
)
from sentry.vfs.file_description_impl import MAX_LFS_FILESIZE, O_PATH
from sentry.vfs.filesystem import SetStat

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.file_description import FileDescription
    from sentry.vfs.vfs import Location, Start

# The fallocate modes Linux knows (FALLOC_FL_SUPPORTED_MASK); others are
# EOPNOTSUPP before the file system is asked.
FALLOC_FL_SUPPORTED_MASK = 0xFF


async def _setattr_at(t: Task, start: Start, follow: bool, path_arg: int, args: SetStat) -> int:
    location = await t.kernel.vfs.walk(t, start, follow)
    if location.mount is None:
        return await on_host(t, location, path_arg)
    return await _setattr(t, location, args)


async def _setattr(t: Task, location: Location, args: SetStat) -> int:
    """Change attributes; a symlink's mode cannot change (EOPNOTSUPP, as
    Linux's notify_change)."""
    assert location.mount is not None and location.inode is not None
    if args.mask & STATX_MODE and location.inode.mode & S_IFMT == S_IFLNK:
        raise SyscallError(errno.EOPNOTSUPP)
    if args.mask & STATX_SIZE and location.inode.mode & S_IFMT == S_IFREG:
        # Linux's inode_newsize_ok: growing a file past RLIMIT_FSIZE.
        limit = fsize_limit(t)
        if limit is not None and args.size > limit:
            if (await location.mount.fs.stat(t, location.inode)).size < args.size:
                return await efbig(t)
    await location.mount.fs.setstat(t, location.inode, args)
    return 0


def _path_call(
    t: Task, dirfd: int, path: int, follow: bool, path_arg: int, args: SetStat
) -> SyscallResult:
    start = locate(t, dirfd, read_path(t, path))
    return PASS if start is None else _setattr_at(t, start, follow, path_arg, args)


def _fd_call(t: Task, fd: int, args: SetStat) -> SyscallResult:
    file = sentry_file(t, fd)
    if file is None:
        return PASS
    args.via = file.impl
    return _setattr(t, file.location, args)


def _empty_path_call(t: Task, dirfd: int, args: SetStat) -> SyscallResult:
    """An attribute change of what AT_EMPTY_PATH names (an O_PATH fd too)."""
    location = empty_path_location(t, dirfd)
    if location is None:
        return PASS
    file = sentry_file(t, dirfd, opath=True) if c_int(dirfd) != AT_FDCWD else None
    if file is not None and not file.flags & O_PATH:
        args.via = file.impl
    return _setattr(t, location, args)


def _mode(mode: int) -> SetStat:
    return SetStat(mask=STATX_MODE, mode=mode & 0o7777)


def _owner(uid: int, gid: int) -> SetStat:
    args = SetStat(chown=True)
    if c_int(uid) != -1:
        args.mask |= STATX_UID
        args.uid = c_int(uid) & 0xFFFFFFFF
    if c_int(gid) != -1:
        args.mask |= STATX_GID
        args.gid = c_int(gid) & 0xFFFFFFFF
    return args


def chmod(t: Task, path: int, mode: int) -> SyscallResult:
    """chmod(2)."""
    return _path_call(t, AT_FDCWD, path, True, 0, _mode(mode))


def fchmod(t: Task, fd: int, mode: int) -> SyscallResult:
    """fchmod(2)."""
    return _fd_call(t, fd, _mode(mode))


def fchmodat(t: Task, dirfd: int, path: int, mode: int) -> SyscallResult:
    """fchmodat(2)."""
    return _path_call(t, dirfd, path, True, 1, _mode(mode))


def fchmodat2(t: Task, dirfd: int, path: int, mode: int, flags: int) -> SyscallResult:
    """fchmodat2(2)."""
    flags = check_flags(c_int(flags), AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)
    if not read_path(t, path) and flags & AT_EMPTY_PATH:
        return _empty_path_call(t, dirfd, _mode(mode))
    return _path_call(t, dirfd, path, not flags & AT_SYMLINK_NOFOLLOW, 1, _mode(mode))


def chown(t: Task, path: int, uid: int, gid: int) -> SyscallResult:
    """chown(2)."""
    return _path_call(t, AT_FDCWD, path, True, 0, _owner(uid, gid))


def lchown(t: Task, path: int, uid: int, gid: int) -> SyscallResult:
    """lchown(2)."""
    return _path_call(t, AT_FDCWD, path, False, 0, _owner(uid, gid))


def fchown(t: Task, fd: int, uid: int, gid: int) -> SyscallResult:
    """fchown(2)."""
    return _fd_call(t, fd, _owner(uid, gid))


def fchownat(t: Task, dirfd: int, path: int, uid: int, gid: int, flags: int) -> SyscallResult:
    """fchownat(2)."""
    flags = check_flags(c_int(flags), AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)
    name = read_path(t, path) if path else b""
    if not name and flags & AT_EMPTY_PATH:
        return _empty_path_call(t, dirfd, _owner(uid, gid))
    return _path_call(t, dirfd, path, not flags & AT_SYMLINK_NOFOLLOW, 1, _owner(uid, gid))


def _size(length: int) -> SetStat:
    if c_long(length) < 0:
        raise SyscallError(errno.EINVAL)
    return SetStat(mask=STATX_SIZE, size=c_long(length))


def truncate(t: Task, path: int, length: int) -> SyscallResult:
    """truncate(2)."""
    return _path_call(t, AT_FDCWD, path, True, 0, _size(length))


def ftruncate(t: Task, fd: int, length: int) -> SyscallResult:
    """ftruncate(2): the fd must be open for writing (else EINVAL)."""
    file = sentry_file(t, fd)
    if file is None:
        return PASS
    if not file.writable or (file.location.inode and file.location.inode.mode & S_IFMT == S_IFDIR):
        raise SyscallError(errno.EINVAL)
    return _fd_call(t, fd, _size(length))


def _times(atime: tuple[int, int] | None, mtime: tuple[int, int] | None) -> SetStat:
    """A change of times; None means now, UTIME_OMIT leaves one as is."""
    atime = atime or (0, UTIME_NOW)
    mtime = mtime or (0, UTIME_NOW)
    for _, nsec in (atime, mtime):
        if nsec not in (UTIME_NOW, UTIME_OMIT) and not 0 <= nsec < 10**9:
            raise SyscallError(errno.EINVAL)
    args = SetStat(atime=atime, mtime=mtime)
    if atime[1] != UTIME_OMIT:
        args.mask |= STATX_ATIME
    if mtime[1] != UTIME_OMIT:
        args.mask |= STATX_MTIME
    return args


def _timespecs(t: Task, addr: int) -> SetStat:
    if addr == 0:
        return _times(None, None)
    raw = t.mm.copy_in(addr, 32)
    if len(raw) < 32:
        raise SyscallError(errno.EFAULT)
    a_sec, a_nsec, m_sec, m_nsec = struct.unpack("<qqqq", raw)
    return _times((a_sec, a_nsec), (m_sec, m_nsec))


def utimensat(t: Task, dirfd: int, path: int, times: int, flags: int) -> SyscallResult:
    """utimensat(2) (and futimens: a NULL path). Two UTIME_OMITs do
    nothing, and Linux does not even look at the path."""
    args = _timespecs(t, times)
    if times and not args.mask:
        return 0
    flags = check_flags(c_int(flags), AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)
    if path == 0:
        return _fd_call(t, dirfd, args) if c_int(dirfd) != AT_FDCWD else PASS
    if not read_path(t, path) and flags & AT_EMPTY_PATH:
        return _empty_path_call(t, dirfd, args)
    return _path_call(t, dirfd, path, not flags & AT_SYMLINK_NOFOLLOW, 1, args)


def _timevals(t: Task, addr: int) -> SetStat:
    if addr == 0:
        return _times(None, None)
    raw = t.mm.copy_in(addr, 32)
    if len(raw) < 32:
        raise SyscallError(errno.EFAULT)
    a_sec, a_usec, m_sec, m_usec = struct.unpack("<qqqq", raw)
    return _times((a_sec, a_usec * 1000), (m_sec, m_usec * 1000))


def utimes(t: Task, path: int, times: int) -> SyscallResult:
    """utimes(2)."""
    return _path_call(t, AT_FDCWD, path, True, 0, _timevals(t, times))


def futimesat(t: Task, dirfd: int, path: int, times: int) -> SyscallResult:
    """futimesat(2)."""
    return _path_call(t, dirfd, path, True, 1, _timevals(t, times))


def utime(t: Task, path: int, times: int) -> SyscallResult:
    """utime(2): struct utimbuf {actime, modtime}."""
    if times == 0:
        args = _times(None, None)
    else:
        raw = t.mm.copy_in(times, 16)
        if len(raw) < 16:
            raise SyscallError(errno.EFAULT)
        actime, modtime = struct.unpack("<qq", raw)
        args = _times((actime, 0), (modtime, 0))
    return _path_call(t, AT_FDCWD, path, True, 0, args)


def fsync(t: Task, fd: int) -> SyscallResult:
    """fsync(2)."""
    file = sentry_file(t, fd)
    return PASS if file is None else _sync(t, file, False)


def fdatasync(t: Task, fd: int) -> SyscallResult:
    """fdatasync(2)."""
    file = sentry_file(t, fd)
    return PASS if file is None else _sync(t, file, True)


async def _sync(t: Task, file: FileDescription, datasync: bool) -> int:
    await file.impl.sync(t, datasync)
    return 0


def sync(t: Task) -> SyscallResult:
    """sync(2): every sentry file system's unsent data, then the host's."""
    return _sync_all(t)


async def _sync_all(t: Task) -> int:
    await t.kernel.vfs.sync(t)
    await t.inject(SYSCALL_NUMBERS["sync"])
    return 0


def syncfs(t: Task, fd: int) -> SyscallResult:
    """syncfs(2): the unsent data of the sentry file system of ``fd``."""
    file = sentry_file(t, fd)
    return PASS if file is None else _syncfs(t, file)


async def _syncfs(t: Task, file: FileDescription) -> int:
    mount = file.location.mount
    if mount is not None:  # else a device of sentry's (/dev/fuse): nothing to send
        await mount.fs.sync(t)
    return 0


def readahead(t: Task, fd: int, offset: int, count: int) -> SyscallResult:
    """readahead(2) on a sentry file: a hint sentry takes as done (its own
    readahead follows the reads); EBADF unless open for reading, EINVAL
    unless a regular file, as Linux's ksys_readahead."""
    file = sentry_file(t, fd, opath=True)
    if file is None:
        return PASS
    if not file.readable:
        raise SyscallError(errno.EBADF)
    inode = file.location.inode
    if inode is None or inode.mode & S_IFMT != S_IFREG:
        raise SyscallError(errno.EINVAL)
    return 0


POSIX_FADV_MAX = 5  # NORMAL, RANDOM, SEQUENTIAL, WILLNEED, DONTNEED, NOREUSE


def fadvise64(t: Task, fd: int, offset: int, length: int, advice: int) -> SyscallResult:
    """fadvise64(2) on a sentry file: a hint sentry takes as done; EBADF on
    an O_PATH fd, EINVAL for a negative length or an unknown advice, as
    Linux's generic_fadvise."""
    file = sentry_file(t, fd, opath=True)
    if file is None:
        return PASS
    if file.flags & O_PATH:
        raise SyscallError(errno.EBADF)
    if c_long(length) < 0 or not 0 <= c_int(advice) <= POSIX_FADV_MAX:
        raise SyscallError(errno.EINVAL)
    return 0


def fallocate(t: Task, fd: int, mode: int, offset: int, length: int) -> SyscallResult:
    """fallocate(2): FUSE_FALLOCATE (EOPNOTSUPP if the daemon lacks it)."""
    file = sentry_file(t, fd)
    if file is None:
        return PASS
    offset, length, mode = c_long(offset), c_long(length), c_int(mode) & 0xFFFFFFFF
    if offset < 0 or length <= 0:
        raise SyscallError(errno.EINVAL)
    if mode & ~FALLOC_FL_SUPPORTED_MASK:
        raise SyscallError(errno.EOPNOTSUPP)
    if not file.writable:
        raise SyscallError(errno.EBADF)
    if offset + length > MAX_LFS_FILESIZE:
        raise SyscallError(errno.EFBIG)
    return file.impl.allocate(t, mode, offset, length)
