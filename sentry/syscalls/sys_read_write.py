"""The read and write family on sentry files: read, write, pread64,
pwrite64, readv, writev, preadv, pwritev, preadv2, pwritev2 and lseek.

Analogous to gVisor's ``syscalls/linux/sys_read_write.go``: each handler
makes the common checks (EBADF for an fd not open for the direction,
EFAULT for a buffer outside the address space, EINVAL for a negative offset
or a transfer that would end past the largest offset, ESPIPE on an
unseekable file,
MAX_RW_COUNT truncation, iovec validation, RLIMIT_FSIZE) and calls the file's
implementation, which returns the count moved (a partial count when a fault
or a short reply stopped it). An fd that is not sentry's passes through.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sentry.errors import SyscallError
from sentry.kernel.syscalls import PASS, SyscallResult
from sentry.syscalls.common import (
    access_ok,
    c_int,
    c_long,
    efbig,
    fsize_limit,
    hang_up,
    sentry_file,
)
from sentry.vfs.file_description import FileDescription
from sentry.vfs.file_description_impl import O_APPEND
from sentry.vfs.iov import IOSequence

if TYPE_CHECKING:
    from sentry.kernel.task import Task

MAX_RW_COUNT = 0x7FFFF000  # INT_MAX rounded down to a page (Linux)
IOV_MAX = 1024
SSIZE_MAX = 2**63 - 1
RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOWAIT, RWF_APPEND, RWF_NOAPPEND = 1, 2, 4, 8, 16, 32
RWF_SUPPORTED = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND | RWF_NOAPPEND


def _readable(t: Task, fd: int) -> FileDescription | None:
    file = sentry_file(t, fd)
    if file is not None and not file.readable:
        raise SyscallError(errno.EBADF)
    return file


def _writable(t: Task, fd: int) -> FileDescription | None:
    file = sentry_file(t, fd)
    if file is not None and not file.writable:
        raise SyscallError(errno.EBADF)
    return file


def _single(t: Task, buf: int, count: int) -> IOSequence:
    """The buffer of read/write: EFAULT unless all of it is in the app's
    address space (so a count past SSIZE_MAX is too)."""
    if not access_ok(buf, count):
        raise SyscallError(errno.EFAULT)
    return IOSequence(t, [(buf, min(count, MAX_RW_COUNT))])


def _iovecs(t: Task, iov: int, iovcnt: int) -> IOSequence:
    """The iovec array of readv/writev, validated as Linux's
    ``import_iovec``: EINVAL for more than IOV_MAX entries or any length
    past SSIZE_MAX, then EFAULT for any range outside the address space;
    the total is cut at MAX_RW_COUNT."""
    count = iovcnt & 0xFFFFFFFF
    if count > IOV_MAX:
        raise SyscallError(errno.EINVAL)
    raw = t.mm.copy_in(iov, 16 * count) if count else b""
    if len(raw) < 16 * count:
        raise SyscallError(errno.EFAULT)
    iovecs = list(struct.iter_unpack("<QQ", raw))
    if any(length > SSIZE_MAX for _, length in iovecs):
        raise SyscallError(errno.EINVAL)
    ranges = []
    total = 0
    for base, length in iovecs:
        if not access_ok(base, length):
            raise SyscallError(errno.EFAULT)
        length = min(length, MAX_RW_COUNT - total)
        total += length
        ranges.append((base, length))
    return IOSequence(t, ranges)


def _verify(pos: int, count: int) -> None:
    """EINVAL if a transfer of ``count`` bytes at ``pos`` would end past
    the largest offset (Linux's ``rw_verify_area``)."""
    if pos + count > SSIZE_MAX:
        raise SyscallError(errno.EINVAL)


def _fsize(t: Task, file: FileDescription, src: IOSequence, pos: int) -> IOSequence | None:
    """``src`` (not empty) cut at the task's RLIMIT_FSIZE for a write at
    ``pos`` (Linux's ``generic_write_check_limits``), or None if ``pos`` is
    at or past it: the caller then returns ``efbig``. An O_APPEND write is
    not checked here: its position is the file's size (``_appending``)."""
    if file.flags & O_APPEND:
        return src
    limit = fsize_limit(t)
    if limit is None or pos + src.size <= limit:
        return src
    return src.prefix(limit - pos) if pos < limit else None


def _append_limited(t: Task, file: FileDescription) -> bool:
    """Whether a write to ``file`` appends under an RLIMIT_FSIZE."""
    return bool(file.flags & O_APPEND) and fsize_limit(t) is not None


async def _appending(
    t: Task,
    file: FileDescription,
    src: IOSequence,
    write: Callable[[IOSequence], Awaitable[int]],
) -> int:
    """An O_APPEND write (``write``) cut at RLIMIT_FSIZE, at the position
    Linux checks: the file's size."""
    limit = fsize_limit(t)
    if limit is not None:
        size = (await file.impl.stat(t)).size
        if size >= limit:
            return await efbig(t)
        if size + src.size > limit:
            src = src.prefix(limit - size)
    return await write(src)


def _offset(value: int, file: FileDescription) -> int:
    offset = c_long(value)
    if offset < 0:
        raise SyscallError(errno.EINVAL)
    if not file.impl.seekable:
        raise SyscallError(errno.ESPIPE)
    return offset


def _rwf(flags: int) -> int:
    """Checks preadv2/pwritev2 flags: unknown ones, and RWF_NOWAIT (sentry's
    files, like FUSE files in Linux, cannot promise not to block), are
    EOPNOTSUPP."""
    if flags & ~RWF_SUPPORTED or flags & RWF_NOWAIT:
        raise SyscallError(errno.EOPNOTSUPP)
    return flags


# -- read -------------------------------------------------------------------


def read(t: Task, fd: int, buf: int, count: int) -> SyscallResult:
    """read(2)."""
    file = _readable(t, fd)
    if file is None:
        return PASS
    dst = _single(t, buf, count)
    _verify(file.offset, dst.size)
    if not dst.size:
        return 0
    done = file.impl.read_cached(t, file, dst, file.offset)
    if done is not None:
        file.offset += done
        return done
    if file.impl.pollerr_when_gone:
        return _read_or_hang_up(t, fd, file, dst)
    return file.impl.read(t, file, dst)


def pread64(t: Task, fd: int, buf: int, count: int, offset: int) -> SyscallResult:
    """pread64(2)."""
    file = _readable(t, fd)
    if file is None:
        return PASS
    pos = _offset(offset, file)
    dst = _single(t, buf, count)
    _verify(pos, dst.size)
    if not dst.size:
        return 0
    done = file.impl.read_cached(t, file, dst, pos)
    return done if done is not None else file.impl.pread(t, file, dst, pos)


def readv(t: Task, fd: int, iov: int, iovcnt: int) -> SyscallResult:
    """readv(2)."""
    file = _readable(t, fd)
    if file is None:
        return PASS
    dst = _iovecs(t, iov, iovcnt)
    _verify(file.offset, dst.size)
    if not dst.size:
        return 0
    if file.impl.pollerr_when_gone:
        return _read_or_hang_up(t, fd, file, dst)
    return file.impl.read(t, file, dst)


async def _read_or_hang_up(t: Task, fd: int, file: FileDescription, dst: IOSequence) -> int:
    """A read of a file whose other end may go away: after ENODEV, the fd
    polls POLLERR (see FileDescriptionImpl.pollerr_when_gone)."""
    try:
        return await file.impl.read(t, file, dst)
    except SyscallError as err:
        descriptor = t.fd_table.get(fd)
        if err.errno == errno.ENODEV and descriptor is not None:
            await hang_up(t, fd, descriptor.cloexec)
        raise


def preadv(t: Task, fd: int, iov: int, iovcnt: int, offset: int) -> SyscallResult:
    """preadv(2) (x86_64 passes the whole offset in pos_l)."""
    file = _readable(t, fd)
    if file is None:
        return PASS
    dst = _iovecs(t, iov, iovcnt)
    pos = _offset(offset, file)
    _verify(pos, dst.size)
    return file.impl.pread(t, file, dst, pos) if dst.size else 0


def preadv2(
    t: Task, fd: int, iov: int, iovcnt: int, offset: int, pos_h: int, flags: int
) -> SyscallResult:
    """preadv2(2): offset -1 reads at the file offset; flags in argument 5."""
    file = _readable(t, fd)
    if file is None:
        return PASS
    _rwf(flags)
    dst = _iovecs(t, iov, iovcnt)
    if c_long(offset) == -1:
        return file.impl.read(t, file, dst) if dst.size else 0
    pos = _offset(offset, file)
    _verify(pos, dst.size)
    return file.impl.pread(t, file, dst, pos) if dst.size else 0


# -- write ------------------------------------------------------------------


def write(t: Task, fd: int, buf: int, count: int) -> SyscallResult:
    """write(2)."""
    file = _writable(t, fd)
    if file is None:
        return PASS
    src = _single(t, buf, count)
    _verify(file.offset, src.size)
    if not src.size:
        return 0
    if _append_limited(t, file):
        return _appending(t, file, src, lambda part: file.impl.write(t, file, part))
    limited = _fsize(t, file, src, file.offset)
    if limited is None:
        return efbig(t)
    src = limited
    done = file.impl.write_cached(t, file, src, file.offset)
    if done is not None:
        file.offset += done
        return done
    return file.impl.write(t, file, src)


def pwrite64(t: Task, fd: int, buf: int, count: int, offset: int) -> SyscallResult:
    """pwrite64(2)."""
    file = _writable(t, fd)
    if file is None:
        return PASS
    pos = _offset(offset, file)
    src = _single(t, buf, count)
    _verify(pos, src.size)
    if not src.size:
        return 0
    if _append_limited(t, file):
        return _appending(t, file, src, lambda part: file.impl.pwrite(t, file, part, pos))
    limited = _fsize(t, file, src, pos)
    if limited is None:
        return efbig(t)
    src = limited
    done = file.impl.write_cached(t, file, src, pos)
    return done if done is not None else file.impl.pwrite(t, file, src, pos)


def writev(t: Task, fd: int, iov: int, iovcnt: int) -> SyscallResult:
    """writev(2)."""
    file = _writable(t, fd)
    if file is None:
        return PASS
    src = _iovecs(t, iov, iovcnt)
    _verify(file.offset, src.size)
    if not src.size:
        return 0
    if _append_limited(t, file):
        return _appending(t, file, src, lambda part: file.impl.write(t, file, part))
    limited = _fsize(t, file, src, file.offset)
    return efbig(t) if limited is None else file.impl.write(t, file, limited)


def pwritev(t: Task, fd: int, iov: int, iovcnt: int, offset: int) -> SyscallResult:
    """pwritev(2)."""
    file = _writable(t, fd)
    if file is None:
        return PASS
    src = _iovecs(t, iov, iovcnt)
    pos = _offset(offset, file)
    _verify(pos, src.size)
    if not src.size:
        return 0
    if _append_limited(t, file):
        return _appending(t, file, src, lambda part: file.impl.pwrite(t, file, part, pos))
    limited = _fsize(t, file, src, pos)
    return efbig(t) if limited is None else file.impl.pwrite(t, file, limited, pos)


def pwritev2(
    t: Task, fd: int, iov: int, iovcnt: int, offset: int, pos_h: int, flags: int
) -> SyscallResult:
    """pwritev2(2): offset -1 writes at the file offset; RWF_APPEND appends."""
    file = _writable(t, fd)
    if file is None:
        return PASS
    flags = _rwf(flags)
    src = _iovecs(t, iov, iovcnt)
    if not src.size:
        return 0
    if flags & RWF_APPEND and not file.flags & O_APPEND:
        return _append_once(t, file, src)
    if c_long(offset) == -1 or flags & RWF_APPEND:
        if _append_limited(t, file):
            return _appending(t, file, src, lambda part: file.impl.write(t, file, part))
        limited = _fsize(t, file, src, file.offset)
        return efbig(t) if limited is None else file.impl.write(t, file, limited)
    pos = _offset(offset, file)
    _verify(pos, src.size)
    limited = _fsize(t, file, src, pos)
    return efbig(t) if limited is None else file.impl.pwrite(t, file, limited, pos)


async def _append_once(t: Task, file: FileDescription, src: IOSequence) -> int:
    """A write with RWF_APPEND on a file not opened O_APPEND."""
    file.flags |= O_APPEND
    try:
        return await _appending(t, file, src, lambda part: file.impl.pwrite(t, file, part, 0))
    finally:
        file.flags &= ~O_APPEND


# -- lseek ------------------------------------------------------------------


def lseek(t: Task, fd: int, offset: int, whence: int) -> SyscallResult:
    """lseek(2)."""
    file = sentry_file(t, fd)
    if file is None:
        return PASS
    if not file.impl.seekable:
        raise SyscallError(errno.ESPIPE)
    if c_int(whence) not in (os.SEEK_SET, os.SEEK_CUR, os.SEEK_END, os.SEEK_DATA, os.SEEK_HOLE):
        raise SyscallError(errno.EINVAL)
    return file.impl.seek(t, file, c_long(offset), c_int(whence))
