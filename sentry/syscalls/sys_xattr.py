"""Extended attributes of sentry files: getxattr, lgetxattr, fgetxattr,
listxattr, llistxattr, flistxattr, setxattr, lsetxattr, fsetxattr,
removexattr, lremovexattr and fremovexattr (analogous to gVisor's
``sys_xattr.go``). With a size of 0 the get and list calls return the size
needed; a value larger than the buffer is ERANGE. A daemon without xattr
support (ENOSYS) gives EOPNOTSUPP."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from sentry.errors import SyscallError
from sentry.syscalls.common import read_path, sentry_file
from sentry.syscalls.passthrough import PASS
from sentry.vfs.vfs import AT_FDCWD

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


def getxattr(t: Task, path: int, name: int, value: int, size: int) -> Any:
    """getxattr(2)."""
    start = t.kernel.vfs.locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _get(t, start, None, True, _name(t, name), value, size)


def lgetxattr(t: Task, path: int, name: int, value: int, size: int) -> Any:
    """lgetxattr(2)."""
    start = t.kernel.vfs.locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _get(t, start, None, False, _name(t, name), value, size)


def fgetxattr(t: Task, fd: int, name: int, value: int, size: int) -> Any:
    """fgetxattr(2)."""
    file = sentry_file(t, fd)
    return (
        PASS if file is None else _get(t, None, file.location, True, _name(t, name), value, size)
    )


def listxattr(t: Task, path: int, out: int, size: int) -> Any:
    """listxattr(2)."""
    start = t.kernel.vfs.locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _list(t, start, None, True, out, size)


def llistxattr(t: Task, path: int, out: int, size: int) -> Any:
    """llistxattr(2)."""
    start = t.kernel.vfs.locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _list(t, start, None, False, out, size)


def flistxattr(t: Task, fd: int, out: int, size: int) -> Any:
    """flistxattr(2)."""
    file = sentry_file(t, fd)
    return PASS if file is None else _list(t, None, file.location, True, out, size)


XATTR_CREATE, XATTR_REPLACE = 1, 2


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


def setxattr(t: Task, path: int, name: int, value: int, size: int, flags: int) -> Any:
    """setxattr(2)."""
    start = t.kernel.vfs.locate(t, AT_FDCWD, read_path(t, path))
    if start is None:
        return PASS
    return _set(t, start, None, True, _name(t, name), _value(t, value, size, flags), flags)


def lsetxattr(t: Task, path: int, name: int, value: int, size: int, flags: int) -> Any:
    """lsetxattr(2)."""
    start = t.kernel.vfs.locate(t, AT_FDCWD, read_path(t, path))
    if start is None:
        return PASS
    return _set(t, start, None, False, _name(t, name), _value(t, value, size, flags), flags)


def fsetxattr(t: Task, fd: int, name: int, value: int, size: int, flags: int) -> Any:
    """fsetxattr(2)."""
    file = sentry_file(t, fd)
    if file is None:
        return PASS
    value_bytes = _value(t, value, size, flags)
    return _set(t, None, file.location, True, _name(t, name), value_bytes, flags)


def removexattr(t: Task, path: int, name: int) -> Any:
    """removexattr(2)."""
    start = t.kernel.vfs.locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _remove(t, start, None, True, _name(t, name))


def lremovexattr(t: Task, path: int, name: int) -> Any:
    """lremovexattr(2)."""
    start = t.kernel.vfs.locate(t, AT_FDCWD, read_path(t, path))
    return PASS if start is None else _remove(t, start, None, False, _name(t, name))


def fremovexattr(t: Task, fd: int, name: int) -> Any:
    """fremovexattr(2)."""
    file = sentry_file(t, fd)
    return PASS if file is None else _remove(t, None, file.location, True, _name(t, name))
