"""Copies that bypass the app's buffers: sendfile, splice and
copy_file_range, when one end (or both) is a sentry file.

Analogous to gVisor's ``syscalls/linux/sys_splice.go``. A call whose fds
are both the host's passes through (the platform decides that without
Python). Otherwise sentry moves the bytes itself, in chunks of
:data:`CHUNK`: a sentry file is read and written through its
FileDescriptionImpl, like pread64 and pwrite64; the other end, a host fd,
through sentry's own dup of it (``Platform.take_fd``: the same open file
description, so the same offset and status flags), in a way that never
blocks sentry's loop:

- a regular file or block device: plain reads and writes;
- a pipe, FIFO or socket: reads and writes with RWF_NOWAIT. When nothing
  can move and the call may block, the task is made to ``poll(2)`` the fd
  (it sleeps in the host kernel, interruptibly: a signal ends the call
  with ERESTARTSYS, so SA_RESTART restarts it), then sentry tries again.
  EPIPE raises SIGPIPE in the task, as Linux does;
- anything else (a terminal): the task itself writes each chunk, from a
  buffer it is made to map.

Bytes already moved win over a later error, as in Linux. Linux's rules
kept (``fs/read_write.c``, ``fs/splice.c``):

- sendfile: ``in_fd`` must be a regular file (EINVAL for a pipe, a socket,
  a directory), ``out_fd`` not O_APPEND (EINVAL); ``*offset`` is read and
  written back, else the file offset moves. Into a pipe it moves at most
  what fits at once (Linux's ``splice_file_to_pipe``); into a socket or a
  file, all ``count`` bytes.
- splice: one end must be a pipe (EINVAL; a sentry file never is), and the
  pipe's end takes no offset (ESPIPE). File to pipe moves at most what
  fits; pipe to file what the pipe holds, waiting only for the first
  bytes. SPLICE_F_NONBLOCK, or an O_NONBLOCK pipe, gives EAGAIN instead
  of waiting.
- copy_file_range: both ends regular files. A sentry file and a host file
  are on different file systems: EXDEV, as Linux gives between a FUSE file
  and a file of another type; between sentry files (FUSE files) the bytes
  are copied, as Linux's fallback does for a daemon without
  FUSE_COPY_FILE_RANGE (sentry never sends that request).

Only sentry's regular files take part: sendfile and splice on
``/dev/fuse`` stay EINVAL, as on its placeholder (libfuse then reads and
writes it). Known gaps: a pipe's bytes that sentry has read are lost if
the sentry file then refuses them (Linux takes them from the pipe only
once written); splice moves bytes, never pages (SPLICE_F_MOVE and
SPLICE_F_GIFT change nothing, as on most Linux file systems).
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import stat
import struct
from typing import TYPE_CHECKING

from sentry.abi.linux import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PROT_READ,
    PROT_WRITE,
    S_IFDIR,
    S_IFMT,
    S_IFREG,
)
from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.errors import (
    ERESTART_RESTARTBLOCK,
    ERESTARTNOHAND,
    ERESTARTNOINTR,
    ERESTARTSYS,
    SyscallError,
    from_os_error,
    handle_io_error,
)
from sentry.kernel.syscalls import PASS, SyscallResult
from sentry.kernel.task import SCRATCH
from sentry.syscalls.common import c_int, raise_signal, sentry_file
from sentry.syscalls.sys_read_write import MAX_RW_COUNT, SSIZE_MAX
from sentry.vfs.file_description_impl import (
    MAX_LFS_FILESIZE,
    O_ACCMODE,
    O_APPEND,
    O_NONBLOCK,
    O_PATH,
    O_RDWR,
    O_WRONLY,
)
from sentry.vfs.iov import BufferSequence

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.file_description import FileDescription

# The most bytes moved per step (a read of one end, then a write of the other).
CHUNK = 128 * 1024
SPLICE_F_NONBLOCK = 0x2
SPLICE_F_ALL = 0xF  # MOVE, NONBLOCK, MORE, GIFT
POLLIN, POLLOUT = 0x1, 0x4
_POLLFD = struct.Struct("<ihh")  # struct pollfd
_LOFF = struct.Struct("<q")  # loff_t
# Results of an injected call that a signal interrupted.
_INTERRUPTED = (errno.EINTR, ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK)


# -- the two ends ------------------------------------------------------------


class _SentryEnd:
    """A sentry file, at an explicit offset or at (and moving) its file
    offset."""

    def __init__(self, t: Task, file: FileDescription, pos: int | None) -> None:
        self.t = t
        self.file = file
        self.explicit = pos is not None
        self.pos = file.offset if pos is None else pos

    def _advance(self, count: int) -> None:
        self.pos += count
        if not self.explicit:
            self.file.offset = self.pos

    async def read(self, size: int, first: bool) -> bytes:
        """Up to ``size`` bytes at the position (fewer at the end)."""
        buf = bytearray(size)
        dst = BufferSequence(memoryview(buf))
        impl = self.file.impl
        count = impl.read_cached(self.t, self.file, dst, self.pos)
        if count is None:
            count = await impl.pread(self.t, self.file, dst, self.pos)
        return bytes(buf[:count])

    def consumed(self, count: int) -> None:
        """``count`` bytes of the last read went to the other end."""
        self._advance(count)

    async def write(self, data: bytes, first: bool) -> int:
        """Write ``data`` at the position; the count written."""
        src = BufferSequence(bytearray(data))
        impl = self.file.impl
        count = impl.write_cached(self.t, self.file, src, self.pos)
        if count is None:
            count = await impl.pwrite(self.t, self.file, src, self.pos)
        self._advance(count)
        return count


class _HostEnd:
    """A host fd of the app, through sentry's dup of it. Call close()."""

    def __init__(self, t: Task, fd: int, nonblock: bool = False) -> None:
        self.t = t
        self.fd = fd
        self.dup = t.kernel.platform.take_fd(t.group.tgid, fd)
        try:
            self.mode = os.fstat(self.dup).st_mode
            self.flags = fcntl.fcntl(self.dup, fcntl.F_GETFL)
        except OSError as err:
            os.close(self.dup)
            raise from_os_error(err) from None
        # A regular file or block device: it never waits for anyone.
        self.seekable = stat.S_ISREG(self.mode) or stat.S_ISBLK(self.mode)
        self.pipe = stat.S_ISFIFO(self.mode)
        self.nonblock = nonblock or bool(self.flags & O_NONBLOCK)
        self.pos: int | None = None  # where a seekable end is read
        self.explicit = False

    def close(self) -> None:
        """Close sentry's dup."""
        os.close(self.dup)

    @property
    def readable(self) -> bool:
        """Open for reading (Linux's FMODE_READ)."""
        return not self.flags & O_PATH and self.flags & O_ACCMODE != O_WRONLY

    @property
    def writable(self) -> bool:
        """Open for writing (Linux's FMODE_WRITE)."""
        return not self.flags & O_PATH and self.flags & O_ACCMODE in (O_WRONLY, O_RDWR)

    def tell(self) -> int:
        """The file offset (0 for an fd that has none, as a pipe's)."""
        return os.lseek(self.dup, 0, os.SEEK_CUR) if self.seekable else 0

    def read_from(self, pos: int | None) -> None:
        """Read a seekable end at ``pos``, or at its file offset if None."""
        self.explicit = pos is not None
        self.pos = self.tell() if pos is None else pos

    async def read(self, size: int, first: bool) -> bytes:
        """Up to ``size`` bytes: from the position of a seekable end, else
        what a pipe holds (waiting, if allowed, only for the first bytes)."""
        if self.pos is not None:
            try:
                return os.pread(self.dup, size, self.pos)
            except OSError as err:
                raise from_os_error(err) from None
        buf = bytearray(size)
        while True:
            try:
                count = os.preadv(self.dup, [buf], -1, os.RWF_NOWAIT)
                return bytes(buf[:count])
            except BlockingIOError:
                if not first:
                    return b""
                if self.nonblock:
                    raise SyscallError(errno.EAGAIN) from None
            except OSError as err:
                raise from_os_error(err) from None
            await self._wait(POLLIN)

    def consumed(self, count: int) -> None:
        """``count`` bytes of the last read went to the other end."""
        if self.pos is not None:
            self.pos += count
            if not self.explicit:
                os.lseek(self.dup, self.pos, os.SEEK_SET)

    async def write(self, data: bytes, first: bool) -> int:
        """Write ``data`` at the file offset; the count written. A pipe
        takes what fits, waiting (if allowed) only while nothing has moved;
        a socket takes all of it, waiting as needed (Linux's
        ``splice_file_to_pipe`` and ``do_splice_direct``)."""
        if self.seekable:
            try:
                return os.write(self.dup, data)
            except OSError as err:
                raise from_os_error(err) from None
        view = memoryview(data)
        done = 0
        while True:
            try:
                done += os.pwritev(self.dup, [view[done:]], -1, os.RWF_NOWAIT)
            except BlockingIOError:
                pass
            except OSError as err:
                if err.errno == errno.EOPNOTSUPP and not done:
                    return await self._write_in_task(data)
                if done:
                    return done
                if err.errno == errno.EPIPE and first:
                    await raise_signal(self.t, signal.SIGPIPE)
                raise from_os_error(err) from None
            else:
                if done == len(data) or self.pipe:
                    return done
                continue  # a socket may take more at once
            # Nothing fits now: wait, if the call may (a pipe only while
            # nothing has moved).
            if self.nonblock or (self.pipe and not first):
                if done or not first:
                    return done
                raise SyscallError(errno.EAGAIN)
            try:
                await self._wait(POLLOUT)
            except SyscallError as err:
                return handle_io_error(done, err)

    async def _wait(self, events: int) -> None:
        """Sleep in the task, in poll(2), until the fd is ready for
        ``events``."""
        pollfd = _POLLFD.pack(self.fd, events, 0)
        _check(await self.t.inject(SYSCALL_NUMBERS["poll"], SCRATCH, 1, -1, data=pollfd))

    async def _write_in_task(self, data: bytes) -> int:
        """The task writes ``data`` (an fd that cannot be written without
        waiting, e.g. a terminal): from an anonymous mapping it is made to
        create, and unmap again."""
        t = self.t
        size = len(data)
        addr = await t.inject(
            SYSCALL_NUMBERS["mmap"], 0, size, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0,
        )  # fmt: skip
        if -4096 < addr < 0:
            raise SyscallError(-addr)
        try:
            if t.mm.copy_out(addr, data) != size:
                raise SyscallError(errno.EFAULT)
            result = await t.inject(SYSCALL_NUMBERS["write"], self.fd, addr, size)
        except GeneratorExit:
            raise  # the task is gone, and the mapping with it
        except BaseException:
            await t.inject(SYSCALL_NUMBERS["munmap"], addr, size)
            raise
        await t.inject(SYSCALL_NUMBERS["munmap"], addr, size)
        return _check(result)


_End = _SentryEnd | _HostEnd


def _check(result: int) -> int:
    """The result of a syscall the task was made to run: an interrupted one
    becomes ERESTARTSYS (the app's call restarts or fails with EINTR by
    Linux's rule), another error is raised."""
    if result >= 0:
        return result
    if -result in _INTERRUPTED:
        raise SyscallError(ERESTARTSYS)
    raise SyscallError(-result)


async def _move(src: _End, dst: _End, count: int) -> int:
    """Move up to ``count`` bytes from ``src`` to ``dst``, a chunk at a
    time, until either end stops short; the count moved. An error after
    some bytes moved ends the transfer with that count."""
    done = 0
    while done < count:
        first = done == 0
        try:
            data = await src.read(min(CHUNK, count - done), first)
            if not data:
                break
            written = await dst.write(data, first)
        except SyscallError as err:
            return handle_io_error(done, err)
        src.consumed(written)
        done += written
        if written < len(data):
            break
    return done


# -- helpers -----------------------------------------------------------------


async def _file_type(t: Task, file: FileDescription) -> int:
    """The S_IFMT bits of a sentry file (0 if it cannot say)."""
    inode = file.location.inode
    if inode is not None:
        return inode.mode & S_IFMT
    try:
        return (await file.impl.stat(t)).mode & S_IFMT
    except SyscallError:
        return 0


def _read_loff(t: Task, addr: int) -> int | None:
    """The loff_t at ``addr`` (None for a NULL pointer); EFAULT."""
    if not addr:
        return None
    raw = t.mm.copy_in(addr, _LOFF.size)
    if len(raw) < _LOFF.size:
        raise SyscallError(errno.EFAULT)
    value: int = _LOFF.unpack(raw)[0]
    return value


def _write_loff(t: Task, addr: int, value: int) -> None:
    if t.mm.copy_out(addr, _LOFF.pack(value)) != _LOFF.size:
        raise SyscallError(errno.EFAULT)


def _verify(pos: int, count: int) -> None:
    """EINVAL for a negative position, a count past SSIZE_MAX, or a
    transfer that would end past the largest offset (``rw_verify_area``)."""
    if pos < 0 or count > SSIZE_MAX or pos + count > SSIZE_MAX:
        raise SyscallError(errno.EINVAL)


def _host(t: Task, fd: int, nonblock: bool = False) -> _HostEnd:
    return _HostEnd(t, c_int(fd), nonblock)


# -- sendfile ----------------------------------------------------------------


def sendfile(t: Task, out_fd: int, in_fd: int, offset: int, count: int) -> SyscallResult:
    """sendfile(2) (x86_64's is sendfile64)."""
    src, dst = sentry_file(t, in_fd), sentry_file(t, out_fd)
    if src is None and dst is None:
        return PASS
    return _sendfile(t, out_fd, in_fd, src, dst, offset, count)


async def _sendfile(
    t: Task,
    out_fd: int,
    in_fd: int,
    src: FileDescription | None,
    dst: FileDescription | None,
    offset: int,
    count: int,
) -> int:
    ppos = _read_loff(t, offset)
    ends: list[_HostEnd] = []
    try:
        # The input: readable, with an offset if one is given (Linux's
        # do_sendfile, then do_splice_direct).
        reader: _End
        if src is not None:
            if not src.readable:
                raise SyscallError(errno.EBADF)
            if ppos is not None and not src.impl.seekable:
                raise SyscallError(errno.ESPIPE)
            reader = _SentryEnd(t, src, ppos)
        else:
            reader = _host(t, in_fd)
            ends.append(reader)
            if not reader.readable:
                raise SyscallError(errno.EBADF)
            if ppos is not None and not reader.seekable:
                raise SyscallError(errno.ESPIPE)
            reader.read_from(ppos)
        assert reader.pos is not None
        _verify(reader.pos, count)
        count = min(count, MAX_RW_COUNT)
        # The output: writable; unless a pipe, not O_APPEND.
        writer: _End
        if dst is not None:
            if not dst.writable:
                raise SyscallError(errno.EBADF)
            if dst.flags & O_APPEND or await _file_type(t, dst) != S_IFREG:
                raise SyscallError(errno.EINVAL)
            writer = _SentryEnd(t, dst, None)
        else:
            writer = _host(t, out_fd)
            ends.append(writer)
            if not writer.writable:
                raise SyscallError(errno.EBADF)
            if writer.flags & O_APPEND and not writer.pipe:
                raise SyscallError(errno.EINVAL)
        # Only a regular file can be read this way.
        if src is not None and await _file_type(t, src) != S_IFREG:
            raise SyscallError(errno.EINVAL)
        if isinstance(reader, _HostEnd) and not reader.seekable:
            raise SyscallError(errno.EINVAL)
        done = await _move(reader, writer, count) if count else 0
        if ppos is not None:
            _write_loff(t, offset, ppos + done)
        return done
    finally:
        for end in ends:
            end.close()


# -- splice ------------------------------------------------------------------


def splice(
    t: Task, fd_in: int, off_in: int, fd_out: int, off_out: int, length: int, flags: int
) -> SyscallResult:
    """splice(2): between a sentry file and a host pipe."""
    src, dst = sentry_file(t, fd_in), sentry_file(t, fd_out)
    if src is None and dst is None:
        return PASS
    if length == 0:
        return 0
    if flags & 0xFFFFFFFF & ~SPLICE_F_ALL:
        raise SyscallError(errno.EINVAL)
    return _splice(t, fd_in, off_in, fd_out, off_out, length, flags, src, dst)


async def _splice(
    t: Task,
    fd_in: int,
    off_in: int,
    fd_out: int,
    off_out: int,
    length: int,
    flags: int,
    src: FileDescription | None,
    dst: FileDescription | None,
) -> int:
    nonblock = bool(flags & SPLICE_F_NONBLOCK)
    host = _host(t, fd_in if src is None else fd_out, nonblock) if None in (src, dst) else None
    try:
        # The pipe's end takes no offset (ESPIPE); the file's is read.
        if host is not None and host.pipe and (off_in if src is None else off_out):
            raise SyscallError(errno.ESPIPE)
        pos_out = _read_loff(t, off_out)
        pos_in = _read_loff(t, off_in)
        readable = src.readable if src is not None else host is not None and host.readable
        writable = dst.writable if dst is not None else host is not None and host.writable
        if not (readable and writable):
            raise SyscallError(errno.EBADF)
        if host is None or not host.pipe:
            raise SyscallError(errno.EINVAL)  # no end is a pipe
        if length > SSIZE_MAX:
            raise SyscallError(errno.EINVAL)
        length = min(length, MAX_RW_COUNT)
        if src is None:
            assert dst is not None
            # Pipe to file: at an offset only if the file has one.
            if pos_out is not None and not dst.impl.seekable:
                raise SyscallError(errno.EINVAL)
            if dst.flags & O_APPEND or await _file_type(t, dst) != S_IFREG:
                raise SyscallError(errno.EINVAL)
            writer = _SentryEnd(t, dst, pos_out)
            _verify(writer.pos, length)
            done = await _move(host, writer, length)
            if pos_out is not None:
                _write_loff(t, off_out, writer.pos)
            return done
        # File to pipe. Only regular files: splice on /dev/fuse stays
        # EINVAL (libfuse then reads and writes it).
        if pos_in is not None and not src.impl.seekable:
            raise SyscallError(errno.EINVAL)
        if await _file_type(t, src) != S_IFREG:
            raise SyscallError(errno.EINVAL)
        reader = _SentryEnd(t, src, pos_in)
        _verify(reader.pos, length)
        done = await _move(reader, host, length)
        if pos_in is not None:
            _write_loff(t, off_in, reader.pos)
        return done
    finally:
        if host is not None:
            host.close()


# -- copy_file_range ---------------------------------------------------------


def copy_file_range(
    t: Task, fd_in: int, off_in: int, fd_out: int, off_out: int, length: int, flags: int
) -> SyscallResult:
    """copy_file_range(2): between sentry files; EXDEV with a host file."""
    src, dst = sentry_file(t, fd_in), sentry_file(t, fd_out)
    if src is None and dst is None:
        return PASS
    if flags & 0xFFFFFFFF:
        raise SyscallError(errno.EINVAL)
    return _copy_file_range(t, fd_in, off_in, fd_out, off_out, length, src, dst)


async def _copy_file_range(
    t: Task,
    fd_in: int,
    off_in: int,
    fd_out: int,
    off_out: int,
    length: int,
    src: FileDescription | None,
    dst: FileDescription | None,
) -> int:
    host = _host(t, fd_in if src is None else fd_out) if None in (src, dst) else None
    try:
        pos_in = _read_loff(t, off_in)
        pos_out = _read_loff(t, off_out)
        # Linux's generic_file_rw_checks, then the file system check.
        kinds = []
        for file in (src, dst):
            if file is not None:
                kinds.append(await _file_type(t, file))
            else:
                assert host is not None
                kinds.append(host.mode & S_IFMT)
        if S_IFDIR in kinds:
            raise SyscallError(errno.EISDIR)
        if any(kind != S_IFREG for kind in kinds):
            raise SyscallError(errno.EINVAL)
        readable = src.readable if src is not None else host is not None and host.readable
        writable = dst.writable if dst is not None else host is not None and host.writable
        appends = (dst.flags if dst is not None else host.flags if host else 0) & O_APPEND
        if not (readable and writable) or appends:
            raise SyscallError(errno.EBADF)
        if src is None or dst is None:
            raise SyscallError(errno.EXDEV)
        return await _copy_between(t, src, dst, pos_in, pos_out, length, off_in, off_out)
    finally:
        if host is not None:
            host.close()


async def _copy_between(
    t: Task,
    src: FileDescription,
    dst: FileDescription,
    pos_in: int | None,
    pos_out: int | None,
    length: int,
    off_in: int,
    off_out: int,
) -> int:
    """copy_file_range between two sentry files (Linux's
    ``generic_copy_file_checks``, then a copy)."""
    reader, writer = _SentryEnd(t, src, pos_in), _SentryEnd(t, dst, pos_out)
    start_in, start_out = reader.pos, writer.pos
    mask = 2**64 - 1
    if (start_in & mask) + length > mask or (start_out & mask) + length > mask:
        raise SyscallError(errno.EOVERFLOW)
    st_in = await src.impl.stat(t)
    count = 0 if start_in >= st_in.size else min(length, st_in.size - start_in)
    if start_out >= MAX_LFS_FILESIZE:
        raise SyscallError(errno.EFBIG)
    count = min(count, MAX_LFS_FILESIZE - start_out)
    st_out = await dst.impl.stat(t)
    same = (st_in.dev, st_in.ino) == (st_out.dev, st_out.ino)
    if same and start_out + count > start_in and start_out < start_in + count:
        raise SyscallError(errno.EINVAL)  # overlapping ranges of one file
    _verify(start_in, count)
    _verify(start_out, count)
    done = await _move(reader, writer, min(count, MAX_RW_COUNT)) if count else 0
    if pos_in is not None:
        _write_loff(t, off_in, reader.pos)
    if pos_out is not None:
        _write_loff(t, off_out, writer.pos)
    return done
