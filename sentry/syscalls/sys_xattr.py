"""Extended attributes of sentry files: getxattr, lgetxattr, fgetxattr,
listxattr, llistxattr, flistxattr, setxattr, lsetxattr, fsetxattr,
removexattr, lremovexattr and fremovexattr (analogous to gVisor's
``sys_xattr.go``), and Linux 6.13's getxattrat, listxattrat, setxattrat
and removexattrat. With a size of 0 the get and list calls return the size
needed; a value larger than the buffer is ERANGE. A daemon without xattr
support (ENOSYS) gives EOPNOTSUPP.

The ``*at`` calls name the file as the other ``*at`` calls do: ``dfd`` and
a path, followed unless AT_SYMLINK_NOFOLLOW; with AT_EMPTY_PATH an empty
(or NULL) path is the file ``dfd`` itself. The value and its size come in a
``struct xattr_args`` of ``usize`` bytes (EINVAL if under 16, E2BIG if over
a page, or if the bytes past the 16 this kernel knows are not all zero),
as Linux's ``copy_struct_from_user`` reads it (``fs/xattr.c``)."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, TypeAlias

from sentry.abi.linux import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_SYMLINK_NOFOLLOW,
    PAGE_SIZE,
    XATTR_CREATE,
    XATTR_REPLACE,
)
from sentry.errors import SyscallError
from sentry.kernel.syscalls import PASS, SyscallResult
from sentry.syscalls.common import c_int, locate, read_path, sentry_file

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.vfs import Location, Start

XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536


async def _target(
    t: Task, start: Start | None, location: Location | None, follow: bool
) -> Location:
    if location is None:
        assert start is not None
        location = await t.kernel.vfs.walk(t, start, follow)
    if location.mount is None or location.inode is None:
        raise SyscallError(errno.EOPNOTSUPP)
    return location


async def _get(
    t: Task,
    start: Start | None,
    location: Location | None,
    follow: bool,
    name: bytes,
    value: int,
    size: int,
) -> int:
    where = await _target(t, start, location, follow)
    assert where.mount is not None
    result = await where.mount.fs.getxattr(t, where.inode, name, min(size, XATTR_SIZE_MAX))
    return result if isinstance(result, int) else t.mm.copy_out(value, result) if result else 0


async def _list(
    t: Task, start: Start | None, location: Location | None, follow: bool, out: int, size: int
) -> int:
    where = await _target(t, start, location, follow)
    assert where.mount is not None
    result = await where.mount.fs.listxattr(t, where.inode, min(size, XATTR_SIZE_MAX))
    return result if isinstance(result, int) else t.mm.copy_out(out, result) if result else 0


def _name(t: Task, addr: int) -> bytes:
    """The attribute name at ``addr``: EFAULT if unreadable, ERANGE if
    empty or longer than XATTR_NAME_MAX (Linux's ``import_xattr_name``)."""
    try:
        name = t.mm.read_string(addr, XATTR_NAME_MAX + 1)
    except SyscallError as err:
        if err.errno != errno.ENAMETOOLONG:
            raise
        raise SyscallError(errno.ERANGE) from None
    if not name:
        raise SyscallError(errno.ERANGE)
    return name


def getxattr(t: Task, path: int, name: int, value: int, size: int) -> SyscallResult:
    """getxattr(2)."""
    start = locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _get(t, start, None, True, _name(t, name), value, size)


def lgetxattr(t: Task, path: int, name: int, value: int, size: int) -> SyscallResult:
    """lgetxattr(2)."""
    start = locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _get(t, start, None, False, _name(t, name), value, size)


def fgetxattr(t: Task, fd: int, name: int, value: int, size: int) -> SyscallResult:
    """fgetxattr(2)."""
    file = sentry_file(t, fd)
    return (
        PASS if file is None else _get(t, None, file.location, True, _name(t, name), value, size)
    )


def listxattr(t: Task, path: int, out: int, size: int) -> SyscallResult:
    """listxattr(2)."""
    start = locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _list(t, start, None, True, out, size)


def llistxattr(t: Task, path: int, out: int, size: int) -> SyscallResult:
    """llistxattr(2)."""
    start = locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _list(t, start, None, False, out, size)


def flistxattr(t: Task, fd: int, out: int, size: int) -> SyscallResult:
    """flistxattr(2)."""
    file = sentry_file(t, fd)
    return PASS if file is None else _list(t, None, file.location, True, out, size)


async def _set(
    t: Task,
    start: Start | None,
    location: Location | None,
    follow: bool,
    name: bytes,
    value: bytes,
    flags: int,
) -> int:
    where = await _target(t, start, location, follow)
    assert where.mount is not None
    await where.mount.fs.setxattr(t, where.inode, name, value, flags)
    return 0


async def _remove(
    t: Task, start: Start | None, location: Location | None, follow: bool, name: bytes
) -> int:
    where = await _target(t, start, location, follow)
    assert where.mount is not None
    await where.mount.fs.removexattr(t, where.inode, name)
    return 0


def _value(t: Task, addr: int, size: int, flags: int) -> bytes:
    if flags & ~(XATTR_CREATE | XATTR_REPLACE) or size > XATTR_SIZE_MAX:
        raise SyscallError(errno.EINVAL if size <= XATTR_SIZE_MAX else errno.E2BIG)
    value = t.mm.copy_in(addr, size) if size else b""
    if len(value) < size:
        raise SyscallError(errno.EFAULT)
    return value


def setxattr(t: Task, path: int, name: int, value: int, size: int, flags: int) -> SyscallResult:
    """setxattr(2)."""
    start = locate(t, AT_FDCWD, read_path(t, path))
    if start is None:
        return PASS
    return _set(t, start, None, True, _name(t, name), _value(t, value, size, flags), flags)


def lsetxattr(t: Task, path: int, name: int, value: int, size: int, flags: int) -> SyscallResult:
    """lsetxattr(2)."""
    start = locate(t, AT_FDCWD, read_path(t, path))
    if start is None:
        return PASS
    return _set(t, start, None, False, _name(t, name), _value(t, value, size, flags), flags)


def fsetxattr(t: Task, fd: int, name: int, value: int, size: int, flags: int) -> SyscallResult:
    """fsetxattr(2)."""
    file = sentry_file(t, fd)
    if file is None:
        return PASS
    value_bytes = _value(t, value, size, flags)
    return _set(t, None, file.location, True, _name(t, name), value_bytes, flags)


def removexattr(t: Task, path: int, name: int) -> SyscallResult:
    """removexattr(2)."""
    start = locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _remove(t, start, None, True, _name(t, name))


def lremovexattr(t: Task, path: int, name: int) -> SyscallResult:
    """lremovexattr(2)."""
    start = locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _remove(t, start, None, False, _name(t, name))


def fremovexattr(t: Task, fd: int, name: int) -> SyscallResult:
    """fremovexattr(2)."""
    file = sentry_file(t, fd)
    return PASS if file is None else _remove(t, None, file.location, True, _name(t, name))


# -- the *at calls (Linux 6.13) ------------------------------------------------

XATTR_ARGS = struct.Struct("<QII")  # struct xattr_args: value, size, flags

# The target of an *at call, as _get, _list, _set and _remove take it:
# (start, location, follow).
_Target: TypeAlias = "tuple[Start | None, Location | None, bool]"


def _xattr_args(t: Task, uargs: int, usize: int) -> tuple[int, int, int]:
    """The ``struct xattr_args`` at ``uargs``, ``usize`` bytes long, as
    (value, size, flags)."""
    if usize < XATTR_ARGS.size:
        raise SyscallError(errno.EINVAL)
    if usize > PAGE_SIZE:
        raise SyscallError(errno.E2BIG)
    raw = t.mm.copy_in(uargs, usize)
    if len(raw) < usize:
        raise SyscallError(errno.EFAULT)
    if any(raw[XATTR_ARGS.size :]):
        raise SyscallError(errno.E2BIG)
    value, size, flags = XATTR_ARGS.unpack_from(raw)
    return value, size, flags


def _at_flags(at_flags: int) -> int:
    at_flags &= 0xFFFFFFFF
    if at_flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    return at_flags


def _at_target(t: Task, dfd: int, path: int, at_flags: int) -> _Target | None:
    """Which file an *at call names (Linux's ``getname_maybe_null``, then
    the fd or a walk); None if it is the host's (the call passes
    through)."""
    name = b""
    if path or not at_flags & AT_EMPTY_PATH:
        name = read_path(t, path)  # EFAULT for a NULL path
    if not name and at_flags & AT_EMPTY_PATH:
        file = sentry_file(t, dfd, opath=True) if c_int(dfd) >= 0 else None
        return None if file is None else (None, file.location, True)
    start = locate(t, dfd, name)
    return None if start is None else (start, None, not at_flags & AT_SYMLINK_NOFOLLOW)


def getxattrat(
    t: Task, dfd: int, path: int, at_flags: int, name: int, uargs: int, usize: int
) -> SyscallResult:
    """getxattrat(2): the value goes to ``uargs->value``, at most
    ``uargs->size`` bytes; ``uargs->flags`` must be 0."""
    value, size, flags = _xattr_args(t, uargs, usize)
    if flags:
        raise SyscallError(errno.EINVAL)
    at_flags = _at_flags(at_flags)
    key = _name(t, name)
    target = _at_target(t, dfd, path, at_flags)
    return PASS if target is None else _get(t, *target, key, value, size)


def listxattrat(t: Task, dfd: int, path: int, at_flags: int, out: int, size: int) -> SyscallResult:
    """listxattrat(2)."""
    target = _at_target(t, dfd, path, _at_flags(at_flags))
    return PASS if target is None else _list(t, *target, out, size)


def setxattrat(
    t: Task, dfd: int, path: int, at_flags: int, name: int, uargs: int, usize: int
) -> SyscallResult:
    """setxattrat(2): the value and its size from ``uargs``, and the
    XATTR_CREATE/XATTR_REPLACE flags from ``uargs->flags``."""
    value, size, flags = _xattr_args(t, uargs, usize)
    at_flags = _at_flags(at_flags)
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        raise SyscallError(errno.EINVAL)
    key = _name(t, name)
    data = _value(t, value, size, flags)
    target = _at_target(t, dfd, path, at_flags)
    return PASS if target is None else _set(t, *target, key, data, flags)


def removexattrat(t: Task, dfd: int, path: int, at_flags: int, name: int) -> SyscallResult:
    """removexattrat(2)."""
    at_flags = _at_flags(at_flags)
    key = _name(t, name)
    target = _at_target(t, dfd, path, at_flags)
    return PASS if target is None else _remove(t, *target, key)
