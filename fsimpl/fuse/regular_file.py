"""Open regular files of a FUSE mount: READ and WRITE.

Analogous to gVisor's ``fuse/regular_file.go`` and Linux's ``fs/fuse/file.c``
(its direct-I/O path: sentry has no page cache yet). A read is split into
FUSE_READs of at most min(max_read, max_pages pages) and stops at the first
short reply, as Linux does (gVisor does not); a reply longer than asked is
EIO. As in Linux, a direct-I/O request also ends where max_pages pages of the
caller's buffer end, and a buffered write's where max_pages pages of the
file end. Reads of a file without FOPEN_DIRECT_IO stop at the size the daemon
reports (some daemons answer a READ past EOF with EIO). A write is split into
FUSE_WRITEs of at most min(max_write, max_pages pages) (one page without
BIG_WRITES); a short WRITE reply ends the call with the short count, a
too-large one is EIO, and a zero one is EIO (as Linux's buffered writes
report it) or, under FOPEN_DIRECT_IO, a count of 0 (as Linux's direct I/O).
An error after some bytes moved returns the count moved. O_APPEND writes
at the size the daemon reports.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING

from sentry.abi import fuse
from sentry.errors import SyscallError
from sentry.fsimpl.fuse.connection import PAGE_SIZE
from sentry.fsimpl.fuse.fusefs import FuseFilesystem, Inode, _unpack
from sentry.vfs.file_description import O_APPEND, FileDescription, FileDescriptionImpl

if TYPE_CHECKING:
    from sentry.abi.linux import Statx
    from sentry.kernel.task import Task
    from sentry.vfs.iov import IOSequence

log = logging.getLogger("sentry")


class RegularFile(FileDescriptionImpl):
    """Implements FileDescriptionImpl for a FUSE regular file (fh ``fh``)."""

    mappable = True

    def __init__(
        self, fs: FuseFilesystem, inode: Inode, fh: int, flags: int, open_flags: int, release: bool
    ) -> None:
        self.fs = fs
        self.inode = inode
        inode.opens += 1
        self.fh = fh
        self.flags = flags  # open(2)'s, for RELEASE
        self.open_flags = open_flags  # the daemon's FOPEN_*
        self._release = release
        self.seekable = not open_flags & (fuse.FOPEN_NONSEEKABLE | fuse.FOPEN_STREAM)

    @property
    def direct_io(self) -> bool:
        """Whether reads go to the daemon as asked, whatever the file size."""
        return bool(self.open_flags & fuse.FOPEN_DIRECT_IO)

    async def pread(self, t: Task, fd: FileDescription, dst: IOSequence, offset: int) -> int:
        """Implements FileDescriptionImpl.pread."""
        conn = self.fs.conn
        count = dst.size
        if not self.direct_io:
            size = (await self.fs.getattr(t, self.inode, self.fh)).size
            if offset >= size:
                return 0
            count = min(count, size - offset)
        done = 0
        while done < count:
            chunk = min(conn.max_read_request, count - done)
            if self.direct_io:
                chunk = min(chunk, self._pages_left(dst.address(done)))
            args = fuse.ReadIn(fh=self.fh, offset=offset + done, size=chunk, flags=fd.flags)
            try:
                data = await conn.call(t, fuse.FUSE_READ, self.inode.nodeid, args.pack())
            except SyscallError as err:
                if done:
                    break  # the bytes already read win, as in Linux
                if err.errno == errno.ECONNABORTED and not self.direct_io:
                    raise SyscallError(errno.ENOTCONN) from None  # as a page-cache read sees it
                raise
            if len(data) > chunk:
                log.warning("FUSE READ reply of %d bytes for %d asked", len(data), chunk)
                raise SyscallError(errno.EIO)
            if data:
                try:
                    copied = dst.copy_out(done, data)
                except SyscallError:
                    if done:
                        break
                    raise
                done += copied
                if copied < len(data):
                    break
            if len(data) < chunk:
                if not self.direct_io and self.inode.attr is not None:
                    # A short reply means EOF: Linux shrinks the cached size.
                    self.inode.attr.size = min(self.inode.attr.size, offset + done)
                break
        return done

    def _pages_left(self, position: int) -> int:
        """How many bytes from ``position`` fit in max_pages pages: Linux cuts
        direct I/O at the caller's buffer pages and buffered writes at the
        file's pages."""
        return self.fs.conn.max_pages * PAGE_SIZE - position % PAGE_SIZE

    async def pwrite(self, t: Task, fd: FileDescription, src: IOSequence, offset: int) -> int:
        """Implements FileDescriptionImpl.pwrite."""
        conn = self.fs.conn
        if fd.flags & O_APPEND:
            self.inode.attr_expires = 0.0
            offset = (await self.fs.getattr(t, self.inode, self.fh)).size
        done = 0
        while done < src.size:
            chunk = min(conn.max_write_request, src.size - done)
            where = src.address(done) if self.direct_io else offset + done
            chunk = min(chunk, self._pages_left(where))
            try:
                data = src.copy_in(done, chunk)
            except SyscallError:
                if done:
                    break
                raise
            args = fuse.WriteIn(fh=self.fh, offset=offset + done, size=len(data), flags=fd.flags)
            try:
                body = await conn.call(t, fuse.FUSE_WRITE, self.inode.nodeid, args.pack() + data)
                written = _unpack(fuse.WriteOut, body).size
            except SyscallError:
                if done:
                    break
                raise
            if written > len(data):
                log.warning("FUSE WRITE reply of %d bytes for %d sent", written, len(data))
                raise SyscallError(errno.EIO)
            if written == 0:
                if self.direct_io or done:
                    break  # Linux's direct I/O returns what was written, even 0
                raise SyscallError(errno.EIO)
            done += written
            if written < len(data):
                break
        if self.inode.attr is not None and offset + done > self.inode.attr.size:
            self.inode.attr.size = offset + done
        self.inode.attr_expires = 0.0
        return done

    async def write(self, t: Task, fd: FileDescription, src: IOSequence) -> int:
        """Implements FileDescriptionImpl.write: at the end under O_APPEND."""
        n = await self.pwrite(t, fd, src, fd.offset)
        if fd.flags & O_APPEND and self.inode.attr is not None:
            fd.offset = self.inode.attr.size
        else:
            fd.offset += n
        return n

    async def seek(self, t: Task, fd: FileDescription, offset: int, whence: int) -> int:
        """Implements FileDescriptionImpl.seek: SEEK_DATA and SEEK_HOLE ask the
        daemon (FUSE_LSEEK, ENOSYS remembered); SEEK_END uses fresh size."""
        conn = self.fs.conn
        if whence in (os.SEEK_DATA, os.SEEK_HOLE) and not conn.no_lseek:
            args = fuse.LseekIn(fh=self.fh, offset=offset, whence=whence).pack()
            try:
                body = await conn.call(t, fuse.FUSE_LSEEK, self.inode.nodeid, args)
            except SyscallError as err:
                if err.errno != errno.ENOSYS:
                    raise
                conn.no_lseek = True
            else:
                fd.offset = _unpack(fuse.LseekOut, body).offset
                return fd.offset
        if whence in (os.SEEK_END, os.SEEK_DATA, os.SEEK_HOLE):
            self.inode.attr_expires = 0.0
        return await super().seek(t, fd, offset, whence)

    async def stat(self, t: Task) -> Statx:
        """Implements FileDescriptionImpl.stat."""
        return self.fs.statx(await self.fs.getattr(t, self.inode, self.fh))

    async def sync(self, t: Task, datasync: bool) -> None:
        """Implements FileDescriptionImpl.sync: FUSE_FSYNC."""
        await self.fs.fsync(t, self.inode, self.fh, datasync, directory=False)

    async def allocate(self, t: Task, mode: int, offset: int, length: int) -> int:
        """Implements FileDescriptionImpl.allocate: FUSE_FALLOCATE."""
        conn = self.fs.conn
        if conn.no_fallocate:
            raise SyscallError(errno.EOPNOTSUPP)
        args = fuse.FallocateIn(fh=self.fh, offset=offset, length=length, mode=mode).pack()
        try:
            await conn.call(t, fuse.FUSE_FALLOCATE, self.inode.nodeid, args)
        except SyscallError as err:
            if err.errno != errno.ENOSYS:
                raise
            conn.no_fallocate = True
            raise SyscallError(errno.EOPNOTSUPP) from None
        self.inode.attr_expires = 0.0
        return 0

    async def flush(self, t: Task | None) -> None:
        """Implements FileDescriptionImpl.flush: FUSE_FLUSH (ENOSYS latched)."""
        conn = self.fs.conn
        if conn.no_flush:
            return
        try:
            await conn.call(t, fuse.FUSE_FLUSH, self.inode.nodeid, fuse.FlushIn(fh=self.fh).pack())
        except SyscallError as err:
            if err.errno != errno.ENOSYS:
                raise
            conn.no_flush = True

    def release(self) -> None:
        """Implements FileDescriptionImpl.release: FUSE_RELEASE, unanswered."""
        self.inode.opens -= 1
        if self._release:
            args = fuse.ReleaseIn(fh=self.fh, flags=self.flags).pack()
            self.fs.conn.send(None, fuse.FUSE_RELEASE, self.inode.nodeid, args)
        self.fs.closed_one()
