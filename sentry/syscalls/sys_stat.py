"""File attributes and names on sentry files: stat, lstat, fstat,
newfstatat, statx, statfs, fstatfs, readlink, readlinkat, access,
faccessat, faccessat2, getdents and getdents64.

Analogous to gVisor's ``syscalls/linux/sys_stat.go``, ``sys_getdents.go``.
A directory's impl produces ``struct linux_dirent64`` records; the legacy
getdents gets the same records as ``struct linux_dirent``, which has the
same size for every name (d_type moves to the record's last byte).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from sentry.abi.linux import (
    AT_EACCESS,
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_NO_AUTOMOUNT,
    AT_STATX_SYNC_TYPE,
    AT_SYMLINK_NOFOLLOW,
    S_IFLNK,
    S_IFMT,
    STATX__RESERVED,
    STATX_BASIC_STATS,
    pack_stat,
    pack_statx,
)
from sentry.errors import SyscallError
from sentry.kernel.syscalls import PASS, SyscallResult
from sentry.syscalls.common import (
    access_ok,
    c_int,
    check_flags,
    empty_path_location,
    locate,
    on_host,
    read_path,
    sentry_file,
)
from sentry.vfs.vfs import Start

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.file_description import FileDescription
    from sentry.vfs.vfs import Location

# The flags of fstatat and statx (Linux's ``vfs_statx``).
STAT_FLAGS = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE
INT_MAX = 2**31 - 1


def _copy_out(t: Task, addr: int, data: bytes) -> int:
    if t.mm.copy_out(addr, data) != len(data):
        raise SyscallError(errno.EFAULT)
    return 0


async def _stat_to(
    t: Task, start: Start, follow: bool, buf: int, path_arg: int, mask: int | None = None
) -> int:
    """``mask``: statx's (the fields asked for), or None for a struct stat."""
    location = await t.kernel.vfs.walk(t, start, follow)
    if location.mount is None:
        return await on_host(t, location, path_arg)
    st = await location.mount.fs.stat(t, location.inode, _fields(mask))
    return _copy_out(t, buf, pack_statx(st) if mask is not None else pack_stat(st))


async def _fstat_to(t: Task, fd: int, buf: int, mask: int | None = None) -> int:
    file = sentry_file(t, fd, opath=True)
    assert file is not None
    st = await file.impl.stat(t, _fields(mask))
    return _copy_out(t, buf, pack_statx(st) if mask is not None else pack_stat(st))


def _fields(mask: int | None) -> int:
    """The statx fields a call needs: stat(2) needs all the basic ones."""
    return STATX_BASIC_STATS if mask is None else c_int(mask)


def stat(t: Task, path: int, buf: int) -> SyscallResult:
    """stat(2)."""
    start = locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _stat_to(t, start, True, buf, 0)


def lstat(t: Task, path: int, buf: int) -> SyscallResult:
    """lstat(2)."""
    start = locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _stat_to(t, start, False, buf, 0)


def fstat(t: Task, fd: int, buf: int) -> SyscallResult:
    """fstat(2)."""
    return PASS if sentry_file(t, fd, opath=True) is None else _fstat_to(t, fd, buf)


def newfstatat(t: Task, dirfd: int, path: int, buf: int, flags: int) -> SyscallResult:
    """newfstatat(2) (fstatat)."""
    return _statat(t, dirfd, path, buf, flags, None)


def statx(t: Task, dirfd: int, path: int, flags: int, mask: int, buf: int) -> SyscallResult:
    """statx(2): the basic stats."""
    flags, mask = c_int(flags), mask & 0xFFFFFFFF
    if flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE or mask & STATX__RESERVED:
        raise SyscallError(errno.EINVAL)
    return _statat(t, dirfd, path, buf, flags, mask)


def _statat(
    t: Task, dirfd: int, path: int, buf: int, flags: int, mask: int | None
) -> SyscallResult:
    flags = check_flags(c_int(flags), STAT_FLAGS)
    name = read_path(t, path) if path else b""
    if not name and flags & AT_EMPTY_PATH:
        if c_int(dirfd) != AT_FDCWD:
            file = sentry_file(t, dirfd, opath=True)
            return PASS if file is None else _fstat_to(t, dirfd, buf, mask)
        cwd = empty_path_location(t, dirfd)
        return PASS if cwd is None else _stat_to(t, Start(cwd), True, buf, 1, mask)
    start = locate(t, dirfd, name)
    follow = not flags & AT_SYMLINK_NOFOLLOW
    return PASS if start is None else _stat_to(t, start, follow, buf, 1, mask)


def statfs(t: Task, path: int, buf: int) -> SyscallResult:
    """statfs(2)."""
    start = locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _statfs_to(t, start, buf)


async def _statfs_to(t: Task, start: Start, buf: int) -> int:
    location = await t.kernel.vfs.walk(t, start)
    if location.mount is None:
        return await on_host(t, location, 0)
    return _copy_out(t, buf, await location.mount.fs.statfs(t))


def fstatfs(t: Task, fd: int, buf: int) -> SyscallResult:
    """fstatfs(2)."""
    file = sentry_file(t, fd, opath=True)
    if file is None:
        return PASS
    location = file.location
    if location.mount is None:
        raise SyscallError(errno.ENOSYS)
    return _fstatfs_to(t, location, buf)


async def _fstatfs_to(t: Task, location: Location, buf: int) -> int:
    assert location.mount is not None
    return _copy_out(t, buf, await location.mount.fs.statfs(t))


def readlink(t: Task, path: int, buf: int, size: int) -> SyscallResult:
    """readlink(2)."""
    return _readlinkat(t, AT_FDCWD, path, buf, size, 0)


def readlinkat(t: Task, dirfd: int, path: int, buf: int, size: int) -> SyscallResult:
    """readlinkat(2)."""
    return _readlinkat(t, dirfd, path, buf, size, 1)


def _readlinkat(
    t: Task, dirfd: int, path: int, buf: int, size: int, path_arg: int
) -> SyscallResult:
    """An empty path reads the symlink ``dirfd`` is (an O_PATH fd)."""
    name = read_path(t, path)
    if name:
        start = locate(t, dirfd, name)
    else:
        location = empty_path_location(t, dirfd)
        start = None if location is None else Start(location)
    if start is None:
        return PASS
    if c_int(size) <= 0:
        raise SyscallError(errno.EINVAL)
    return _readlink(t, start, buf, c_int(size), path_arg, not name)


async def _readlink(
    t: Task, start: Start, buf: int, size: int, path_arg: int, empty: bool
) -> int:
    location = await t.kernel.vfs.walk(t, start, follow=False)
    if location.mount is None or location.inode is None:
        return await on_host(t, location, path_arg)
    if location.inode.mode & S_IFMT != S_IFLNK:
        raise SyscallError(errno.ENOENT if empty else errno.EINVAL)
    target = (await location.mount.fs.readlink(t, location.inode))[:size]
    return t.mm.copy_out(buf, target)


def access(t: Task, path: int, mode: int) -> SyscallResult:
    """access(2)."""
    return _faccessat(t, AT_FDCWD, path, mode, 0, 0)


def faccessat(t: Task, dirfd: int, path: int, mode: int) -> SyscallResult:
    """faccessat(2)."""
    return _faccessat(t, dirfd, path, mode, 0, 1)


def faccessat2(t: Task, dirfd: int, path: int, mode: int, flags: int) -> SyscallResult:
    """faccessat2(2)."""
    return _faccessat(t, dirfd, path, mode, flags, 1)


def _faccessat(
    t: Task, dirfd: int, path: int, mode: int, flags: int, path_arg: int
) -> SyscallResult:
    """The file must exist; the file system decides (Filesystem.access)."""
    if c_int(mode) & ~0o7:
        raise SyscallError(errno.EINVAL)
    flags = check_flags(c_int(flags), AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)
    name = read_path(t, path)
    if not name and flags & AT_EMPTY_PATH:
        location = empty_path_location(t, dirfd)
        start = None if location is None else Start(location)
    else:
        start = locate(t, dirfd, name)
    if start is None:
        return PASS
    effective = bool(flags & AT_EACCESS)
    return _access(t, start, not flags & AT_SYMLINK_NOFOLLOW, mode, path_arg, effective)


async def _access(
    t: Task, start: Start, follow: bool, mode: int, path_arg: int, effective: bool
) -> int:
    location = await t.kernel.vfs.walk(t, start, follow)
    if location.mount is None:
        return await on_host(t, location, path_arg)
    await location.mount.fs.access(t, location.inode, mode & 0o7, effective)
    return 0


def getdents64(t: Task, fd: int, dirp: int, count: int) -> SyscallResult:
    """getdents64(2): EINVAL for a count past INT_MAX, EFAULT for a buffer
    outside the address space."""
    return _getdents_checked(t, fd, dirp, count, False)


def getdents(t: Task, fd: int, dirp: int, count: int) -> SyscallResult:
    """getdents(2), the legacy ``struct linux_dirent`` records (same checks
    as getdents64)."""
    return _getdents_checked(t, fd, dirp, count, True)


def _getdents_checked(t: Task, fd: int, dirp: int, count: int, legacy: bool) -> SyscallResult:
    file = sentry_file(t, fd)
    if file is None:
        return PASS
    count &= 0xFFFFFFFF
    if count > INT_MAX:
        raise SyscallError(errno.EINVAL)
    if not access_ok(dirp, count):
        raise SyscallError(errno.EFAULT)
    return _getdents(t, file, dirp, count, legacy)


_DIRENT64 = struct.Struct("<QqHB")  # struct linux_dirent64, up to d_name
_DIRENT = struct.Struct("<QQH")  # struct linux_dirent, up to d_name


def legacy_dirents(records: bytes) -> bytes:
    """``struct linux_dirent64`` records as ``struct linux_dirent`` ones:
    d_ino, d_off, d_reclen, d_name and its NUL, zero padding, and d_type in
    the last byte; each record keeps its size (both are
    ALIGN(20 + strlen(d_name), 8))."""
    out = bytearray()
    at = 0
    while at < len(records):
        ino, off, reclen, d_type = _DIRENT64.unpack_from(records, at)
        name = records[at + _DIRENT64.size : at + reclen].split(b"\0", 1)[0]
        record = _DIRENT.pack(ino, off & 0xFFFFFFFFFFFFFFFF, reclen) + name + b"\0"
        out += record + bytes(reclen - len(record) - 1) + bytes((d_type,))
        at += reclen
    return bytes(out)


async def _getdents(t: Task, file: FileDescription, dirp: int, count: int, legacy: bool) -> int:
    def copy_out(data: bytes) -> int:
        """The records that reached the app, as Linux's filldir: those
        before a fault (EFAULT if none). Both layouts have the same sizes."""
        written = t.mm.copy_out(dirp, legacy_dirents(data) if legacy else data)
        if written == len(data):
            return written
        whole = 0
        while whole < len(data):
            (reclen,) = struct.unpack_from("<H", data, whole + 16)
            if whole + reclen > written:
                break
            whole += reclen
        if not whole:
            raise SyscallError(errno.EFAULT)
        return whole

    return await file.impl.getdents(t, file, count, copy_out)
