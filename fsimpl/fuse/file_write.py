"""Writes of FUSE regular files: through to the daemon, or into the cache
under writeback caching.

Analogous to the write half of Linux's ``fs/fuse/file.c`` (gVisor:
``fuse/regular_file.go``):

- A write goes through at once in FUSE_WRITEs cut at max_write and at
  max_pages pages of the file, and updates the cached chunks it covers
  (``FileCache.write_through``).
- If the daemon accepted writeback caching, a write lands in the cache
  instead: the chunks it only partly covers are read first
  (``file_read.py``), sentry's size and times are the file's from then on,
  and ``writeback.py`` sends the dirty bytes later.

Under FOPEN_DIRECT_IO, writes go straight to the daemon, cut at max_pages
pages of the caller's buffer. A WRITE reply longer than sent is EIO; a short
one ends the call with the short count, and a zero one is EIO (as Linux's
buffered writes report it) or, under FOPEN_DIRECT_IO, a count of 0. An
error after some bytes moved returns the count moved
(``sentry.errors.handle_io_error``). O_APPEND writes at the size the daemon
reports (sentry's own, under writeback).
"""

from __future__ import annotations

import errno
import logging
import time
from typing import TYPE_CHECKING

from sentry.abi import fuse
from sentry.errors import SyscallError, handle_io_error
from sentry.fsimpl.fuse import writeback
from sentry.fsimpl.fuse.file_read import FileReader
from sentry.fsimpl.fuse.inode import unpack_reply
from sentry.fsimpl.fuse.page_cache import CHUNK_SIZE
from sentry.vfs.file_description_impl import O_APPEND

if TYPE_CHECKING:
    from sentry.fsimpl.fuse.page_cache import Chunk
    from sentry.vfs.context import Context
    from sentry.vfs.file_description_impl import FileState
    from sentry.vfs.iov import IOSequence

log = logging.getLogger("sentry")


class FileWriter(FileReader):
    """The write half of a FUSE regular file (``regular_file.RegularFile``):
    pwrite, write and write_cached."""

    async def pwrite(self, t: Context, fd: FileState, src: IOSequence, offset: int) -> int:
        """Implements FileDescriptionImpl.pwrite: into the cache under
        writeback caching, else straight to the daemon."""
        if self.cache is not None and self.fs.writeback:
            return await self._pwrite_back(t, fd, src, offset)
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
            except SyscallError as err:
                done = handle_io_error(done, err)
                break
            args = fuse.WriteIn(fh=self.fh, offset=offset + done, size=len(data), flags=fd.flags)
            try:
                body = await conn.call(t, fuse.FUSE_WRITE, self.inode.nodeid, args.pack() + data)
                written = unpack_reply(fuse.WriteOut, body).size
            except SyscallError as err:
                done = handle_io_error(done, err)
                break
            if written > len(data):
                log.warning("FUSE WRITE reply of %d bytes for %d sent", written, len(data))
                raise SyscallError(errno.EIO)
            if written == 0:
                if self.direct_io or done:
                    break  # Linux's direct I/O returns what was written, even 0
                raise SyscallError(errno.EIO)
            if self.inode.cache is not None:
                self.inode.cache.write_through(offset + done, data[:written])
            done += written
            if written < len(data):
                break
        if self.inode.attr is not None and offset + done > self.inode.attr.size:
            self.inode.attr.size = offset + done
        self.inode.attr_expires = 0.0
        self.inode.expect_change = True
        return done

    async def _pwrite_back(
        self, t: Context, fd: FileState, src: IOSequence, offset: int
    ) -> int:
        """A write under writeback caching: the bytes land in the cache, the
        chunks they partly cover are read first, and sentry's size and
        times are the file's until writeback."""
        cache = self.cache
        assert cache is not None
        size = (await self.fs.getattr(t, self.inode, self.fh)).size
        if fd.flags & O_APPEND:
            offset = size
        done = 0
        for index, lo, n in cache.spans(offset, src.size):
            old = min(CHUNK_SIZE, max(0, size - index * CHUNK_SIZE))
            if (lo > 0 or lo + n < old) and not cache.complete(index, size):
                await self._fill(t, index, index, size)
            chunk = cache.get(index)
            if chunk is None or chunk.filling is not None:
                chunk = cache.new(index)
            try:
                copied = self._copy_into(chunk, lo, src, done, n)
            except SyscallError as err:
                done = handle_io_error(done, err)
                break
            done += copied
            if copied < n:
                break
        self._written(t, size, offset + done)
        return done

    def write_cached(
        self, t: Context, fd: FileState, src: IOSequence, offset: int
    ) -> int | None:
        """Implements FileDescriptionImpl.write_cached: under writeback
        caching, a write within one chunk that needs no READ first."""
        cache, inode = self.cache, self.inode
        attr = inode.attr
        if (
            cache is None
            or not self.fs.writeback
            or fd.flags & O_APPEND
            or attr is None
            or (inode.local is None and inode.attr_expires <= time.monotonic())
        ):
            return None
        size = attr.size
        # The cache-hit fast path: the chunk arithmetic is inline rather than
        # through FileCache.spans (a generator), to save its cost per write.
        index, lo = divmod(offset, CHUNK_SIZE)
        if lo + src.size > CHUNK_SIZE:
            return None
        chunk = cache.get(index)
        if chunk is None:
            if lo or index * CHUNK_SIZE < size:
                return None
            chunk = cache.new(index)
        elif chunk.filling is not None or lo > chunk.valid or not cache.complete(index, size):
            return None
        done = self._copy_into(chunk, lo, src, 0, src.size)
        self._written(t, size, offset + done)
        return done

    @staticmethod
    def _copy_into(chunk: Chunk, lo: int, src: IOSequence, skip: int, n: int) -> int:
        """Copy ``n`` bytes of ``src`` from byte ``skip`` straight into
        ``chunk`` at ``lo`` (a gap before them reads as zeros) and mark them
        dirty; the count (short at a fault)."""
        if chunk.valid < lo:
            chunk.data[chunk.valid : lo] = bytes(lo - chunk.valid)
        copied = src.copy_in_to(skip, memoryview(chunk.data)[lo : lo + n])
        chunk.valid = max(chunk.valid, lo + copied)
        chunk.mark_dirty(lo, lo + copied)
        return copied

    def _written(self, t: Context, size: int, end: int) -> None:
        """Bytes up to ``end`` were written into the cache: sentry's size and
        times are the file's now, and a writeback is due."""
        now = time.time_ns()
        inode = self.inode
        inode.local = (max(size, end), now, now)
        if inode.attr is not None:
            self.fs.set_attr(inode, inode.attr, inode.attr_expires)
        writeback.schedule(self.fs, t, inode)

    async def write(self, t: Context, fd: FileState, src: IOSequence) -> int:
        """Implements FileDescriptionImpl.write: at the end under O_APPEND."""
        n = await self.pwrite(t, fd, src, fd.offset)
        if fd.flags & O_APPEND and self.inode.attr is not None:
            fd.offset = self.inode.attr.size
        else:
            fd.offset += n
        return n
