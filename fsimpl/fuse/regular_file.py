"""Open regular files of a FUSE mount: reads and writes through the cache.

Analogous to gVisor's ``fuse/regular_file.go`` and Linux's ``fs/fuse/file.c``.
Without FOPEN_DIRECT_IO, data goes through the inode's cache
(``page_cache.py``), as through Linux's page cache:

- A read is served from cached chunks; the missing ones are READ first, in
  requests of at most min(max_read, max_pages pages), up to the page that
  holds the end of file. A short reply is the end of file (the cached size
  shrinks, as in Linux), except under writeback caching: there it is a hole
  whose rest reads as zeros, since the daemon may lack data still dirty
  here and sentry's size is the file's (Linux's ``fuse_short_read``). A
  chunk that holds whole pages (a STORE), or dirty bytes (the file grew
  past them), keeps them and is READ from where they end; a READ never
  lands on dirty bytes. After a sequential read the next max_readahead
  bytes are READ in the background, so the daemon works while the app
  copies; a random read does not trigger it.
- A write goes through at once in FUSE_WRITEs cut at max_write and at max_pages
  pages of the file, and updates the chunks it covers, unless the daemon
  accepted writeback caching: then it lands in the cache, the chunks it only
  partly covers are read first, and ``writeback.py`` sends it later.

Under FOPEN_DIRECT_IO, reads and writes go straight to the daemon, cut at
max_pages pages of the caller's buffer, and a read stops at the first short
reply, as Linux does (gVisor does not). Either way a reply longer than asked
is EIO; a short WRITE reply ends the call with the short count, and a zero
one is EIO (as Linux's buffered writes report it) or, under FOPEN_DIRECT_IO,
a count of 0. An error after some bytes moved returns the count moved.
O_APPEND writes at the size the daemon reports (sentry's own, under
writeback).
"""

from __future__ import annotations

import errno
import logging
import os
import time
from typing import TYPE_CHECKING

from sentry.abi import fuse
from sentry.abi.linux import STATX_BASIC_STATS
from sentry.errors import SyscallError
from sentry.fsimpl.fuse import writeback
from sentry.fsimpl.fuse.connection import PAGE_SIZE
from sentry.fsimpl.fuse.fusefs import FuseFilesystem, HandleFile, Inode, _unpack
from sentry.fsimpl.fuse.page_cache import CHUNK_SIZE, Chunk
from sentry.vfs.file_description import (
    O_ACCMODE,
    O_APPEND,
    FileDescription,
    set_offset,
)
from sentry.waiter import Waiter, run_background

if TYPE_CHECKING:
    from sentry.abi.linux import Statx
    from sentry.kernel.task import Task
    from sentry.vfs.iov import IOSequence

log = logging.getLogger("sentry")

# The wire's 64-bit unsigned fields take a negative C long as Linux sends it.
U64_MASK = 2**64 - 1


class RegularFile(HandleFile):
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
        # The inode's cached data, unless FOPEN_DIRECT_IO; the readahead mark
        # (where the next sequential read starts).
        self.cache = None if self.direct_io else fs.file_cache(inode)
        self.ra_next = 0
        self.ra_done = 0
        self.wb_since = self.cache.sample() if self.cache is not None else 0
        if self.cache is not None and flags & O_ACCMODE:
            inode.writers.append(self)
            self.cache.on_pressure = lambda: run_background(writeback.write_back(fs, None, inode))

    @property
    def direct_io(self) -> bool:
        """Whether reads go to the daemon as asked, whatever the file size."""
        return bool(self.open_flags & fuse.FOPEN_DIRECT_IO)

    async def pread(self, t: Task, fd: FileDescription, dst: IOSequence, offset: int) -> int:
        """Implements FileDescriptionImpl.pread: from the cache, or straight
        from the daemon under FOPEN_DIRECT_IO."""
        if self.cache is None:
            return await self._pread_direct(t, fd, dst, offset)
        inode = self.inode
        attr = self._fresh_attr() or await self.fs.getattr(t, inode, self.fh)
        size = attr.size
        if offset >= size:
            return 0
        end = min(offset + dst.size, size)
        first, last = offset // CHUNK_SIZE, (end - 1) // CHUNK_SIZE
        if first != last or not self._complete(first, size):
            await self._fill(t, first, last, size)
            if inode.attr is not None and inode.attr.size < size:
                size = inode.attr.size  # a short READ found the end of file
                end = min(end, size)
        return self._serve(dst, offset, end, size)

    def read_cached(
        self, t: Task, fd: FileDescription, dst: IOSequence, offset: int
    ) -> int | None:
        """Implements FileDescriptionImpl.read_cached: a read within one
        complete cached chunk, with the attributes still valid."""
        attr = self._fresh_attr()
        if self.cache is None or attr is None:
            return None
        size = attr.size
        if offset >= size:
            return 0
        end = min(offset + dst.size, size)
        first = offset // CHUNK_SIZE
        if first != (end - 1) // CHUNK_SIZE or not self._complete(first, size):
            return None
        return self._serve(dst, offset, end, size)

    def _fresh_attr(self) -> fuse.Attr | None:
        """The inode's cached attributes while they are valid, else None."""
        inode = self.inode
        if inode.attr is None or inode.attr_expires <= time.monotonic():
            return None
        return inode.attr

    def _serve(self, dst: IOSequence, offset: int, end: int, size: int) -> int:
        """Copy cached ``[offset, end)`` to ``dst``, then move the readahead
        mark (and start readahead when the read is sequential and has
        reached the half of the last window): readahead's new chunks may
        evict the ones just copied, never the ones still to copy."""
        done = self._copy_out(dst, offset, end)
        if end > self.ra_done or offset != self.ra_next:
            self._readahead(offset, end, size)
        self.ra_next = end
        return done

    def _copy_out(self, dst: IOSequence, offset: int, end: int) -> int:
        """Copy cached bytes ``[offset, end)`` to ``dst``, one copy per chunk;
        the count (short at a fault, or where the cached data ends)."""
        assert self.cache is not None
        done, pos = 0, offset
        while pos < end:
            index, lo = divmod(pos, CHUNK_SIZE)
            chunk = self.cache.get(index)
            if chunk is None or chunk.filling is not None or chunk.valid <= lo:
                break
            hi = min(chunk.valid, end - index * CHUNK_SIZE)
            try:
                copied = dst.copy_out(done, memoryview(chunk.data)[lo:hi])
            except SyscallError:
                if done:
                    break
                raise
            done += copied
            pos += copied
            if copied < hi - lo or (hi == chunk.valid and hi < CHUNK_SIZE):
                break
        return done

    def _complete(self, index: int, size: int) -> bool:
        """Whether chunk ``index`` holds all the file's bytes it should (a
        dirty chunk too: one that ended at the end of file before the file
        grew past it lacks the bytes it gained)."""
        assert self.cache is not None
        chunk = self.cache.chunks.get(index)
        if chunk is None or chunk.filling is not None:
            return False
        return chunk.valid >= min(CHUNK_SIZE, size - index * CHUNK_SIZE)

    async def _fill(self, t: Task | None, first: int, last: int, size: int) -> None:
        """Make chunks ``first..last`` complete: READ the missing runs, wait
        for fills under way."""
        assert self.cache is not None
        for _ in range(3):
            index = first
            while (run := self._missing_run(index, last, size)) is not None:
                await self._fill_run(t, run[0], run[1], size)
                index = run[1] + 1
            pending = [
                c.filling
                for i in range(first, last + 1)
                if (c := self.cache.chunks.get(i)) is not None and c.filling is not None
            ]
            for waiter in pending:
                await waiter
            if not pending:
                return

    def _missing_run(self, first: int, last: int, size: int) -> tuple[int, int] | None:
        """The first run of missing chunks in ``first..last``, as (first,
        last), or None. A dirty chunk only starts a run (``_fill_run`` keeps
        the first chunk's bytes and READs after them), so no READ lands on
        dirty bytes."""
        assert self.cache is not None
        start = first
        while start <= last and not self._missing(start, size):
            start += 1
        if start > last:
            return None
        end = start
        while end < last and self._missing(end + 1, size):
            chunk = self.cache.chunks.get(end + 1)
            if chunk is not None and chunk.dirty:
                break
            end += 1
        return start, end

    async def _fill_run(self, t: Task | None, first: int, last: int, size: int) -> None:
        """READ chunks ``first..last`` (a ``_missing_run``, so none is being
        filled) into new chunks, in requests of at most max_read pages, up
        to the page holding the end of file.

        A short reply is the end of file: the cached size shrinks, as in
        Linux. Under writeback caching it is a hole instead, and the rest
        of the range reads as zeros: the daemon lacks bytes still dirty
        here, and sentry's size is the file's (Linux's fuse_short_read).

        A first chunk that holds whole pages (a STORE put them there), or
        dirty bytes (the file grew past it), keeps them: the READs start
        after them, as Linux keeps uptodate pages. Chunks past the first
        are never dirty (``_missing_run``).
        """
        cache = self.cache
        assert cache is not None
        conn = self.fs.conn
        start = first * CHUNK_SIZE
        kept = cache.chunks.get(first)
        chunks: list[Chunk] = []
        fresh: list[Chunk] = []
        pos = start
        if kept is not None and (kept.dirty or kept.valid % PAGE_SIZE == 0):
            kept.filling = Waiter()
            chunks.append(kept)
            pos += kept.valid
        # Each chunk is marked filling as it is made: making the next one
        # must not evict it (the cache may pass its bound for one READ).
        for i in range(first + len(chunks), last + 1):
            chunk = cache.new(i)
            chunk.filling = Waiter()
            chunks.append(chunk)
            fresh.append(chunk)
        end = min((last + 1) * CHUNK_SIZE, -(-size // PAGE_SIZE) * PAGE_SIZE)
        try:
            while pos < end:
                ask = min(conn.max_read_request, end - pos)
                args = fuse.ReadIn(fh=self.fh, offset=pos, size=ask, flags=self.flags)
                got = await conn.call(
                    t,
                    fuse.FUSE_READ,
                    self.inode.nodeid,
                    args.pack(),
                    into=_buffers(chunks, start, pos, ask),
                )
                self.inode.atime_stale = True
                if got > ask:
                    log.warning("FUSE READ reply of %d bytes for %d asked", got, ask)
                    raise SyscallError(errno.EIO)
                _mark_valid(chunks, start, pos, got)
                pos += got
                if got < ask and self.fs.writeback:
                    for piece in _buffers(chunks, start, pos, end - pos):
                        piece[:] = bytes(len(piece))
                    _mark_valid(chunks, start, pos, end - pos)
                    pos = end
                elif got < ask:
                    if self.inode.attr is not None and pos < self.inode.attr.size:
                        self.inode.attr.size = pos
                    break
        except SyscallError as err:
            for chunk in fresh:
                cache.drop(chunk)
            if err.errno == errno.ECONNABORTED:
                raise SyscallError(errno.ENOTCONN) from None  # as a page-cache read sees it
            raise
        finally:
            for chunk in chunks:
                waiter, chunk.filling = chunk.filling, None
                if chunk.detached:
                    cache.cache.give_buffer(chunk.data)
                if waiter is not None:
                    waiter.complete()
        for chunk in chunks:
            if chunk.index * CHUNK_SIZE >= pos and chunk.valid == 0:
                cache.drop(chunk)

    def _readahead(self, offset: int, end: int, size: int) -> None:
        """After a sequential read, start READing the next max_readahead
        bytes in the background; a random read only moves the mark."""
        if offset != self.ra_next or end >= size:
            return
        ahead = min(end + self.fs.conn.max_readahead, size)
        # Reads that end before ``ra_done`` find their readahead started.
        self.ra_done = ahead - self.fs.conn.max_readahead // 2
        first, last = end // CHUNK_SIZE, (ahead - 1) // CHUNK_SIZE
        if not any(self._missing(i, size) for i in range(first, last + 1)):
            return
        run_background(self._fill(None, first, last, size))

    def _missing(self, index: int, size: int) -> bool:
        """Whether chunk ``index`` needs a READ: incomplete, and no READ is
        filling it."""
        assert self.cache is not None
        chunk = self.cache.chunks.get(index)
        if chunk is not None and chunk.filling is not None:
            return False
        return not self._complete(index, size)

    async def _pread_direct(
        self, t: Task, fd: FileDescription, dst: IOSequence, offset: int
    ) -> int:
        """READs of exactly what was asked, cut at the caller's buffer pages."""
        conn = self.fs.conn
        done = 0
        while done < dst.size:
            chunk = min(
                conn.max_read_request, dst.size - done, self._pages_left(dst.address(done))
            )
            args = fuse.ReadIn(fh=self.fh, offset=offset + done, size=chunk, flags=fd.flags)
            try:
                data = await conn.call(
                    t, fuse.FUSE_READ, self.inode.nodeid, args.pack(), view=True
                )
            except SyscallError:
                if done:
                    break  # the bytes already read win, as in Linux
                raise
            self.inode.atime_stale = True
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
                break
        return done

    def _pages_left(self, position: int) -> int:
        """How many bytes from ``position`` fit in max_pages pages: Linux cuts
        direct I/O at the caller's buffer pages and buffered writes at the
        file's pages."""
        return self.fs.conn.max_pages * PAGE_SIZE - position % PAGE_SIZE

    async def pwrite(self, t: Task, fd: FileDescription, src: IOSequence, offset: int) -> int:
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
            self._write_through(offset + done, data[:written])
            done += written
            if written < len(data):
                break
        if self.inode.attr is not None and offset + done > self.inode.attr.size:
            self.inode.attr.size = offset + done
        self.inode.attr_expires = 0.0
        self.inode.expect_change = True
        return done

    def _write_through(self, offset: int, data: bytes) -> None:
        """Bytes written to the daemon at ``offset``: update the cached chunks
        they cover (a chunk they would leave a gap in, or that a READ is
        filling, is dropped)."""
        cache = self.inode.cache
        if cache is None:
            return
        view = memoryview(data)
        while view:
            index, lo = divmod(offset, CHUNK_SIZE)
            n = min(len(view), CHUNK_SIZE - lo)
            chunk = cache.chunks.get(index)
            if chunk is not None:
                if chunk.filling is not None or chunk.valid < lo:
                    cache.drop(chunk)
                else:
                    chunk.data[lo : lo + n] = view[:n]
                    chunk.valid = max(chunk.valid, lo + n)
            view = view[n:]
            offset += n

    async def _pwrite_back(
        self, t: Task, fd: FileDescription, src: IOSequence, offset: int
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
        while done < src.size:
            pos = offset + done
            index, lo = divmod(pos, CHUNK_SIZE)
            n = min(CHUNK_SIZE - lo, src.size - done)
            old = min(CHUNK_SIZE, max(0, size - index * CHUNK_SIZE))
            if (lo > 0 or lo + n < old) and not self._complete(index, size):
                await self._fill(t, index, index, size)
            chunk = cache.get(index)
            if chunk is None or chunk.filling is not None:
                chunk = cache.new(index)
            try:
                copied = self._copy_into(chunk, lo, src, done, n)
            except SyscallError:
                if done:
                    break
                raise
            done += copied
            if copied < n:
                break
        self._written(t, size, offset + done)
        return done

    def write_cached(
        self, t: Task, fd: FileDescription, src: IOSequence, offset: int
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
        index, lo = divmod(offset, CHUNK_SIZE)
        if lo + src.size > CHUNK_SIZE:
            return None
        chunk = cache.get(index)
        if chunk is None:
            if lo or index * CHUNK_SIZE < size:
                return None
            chunk = cache.new(index)
        elif chunk.filling is not None or lo > chunk.valid or not self._complete(index, size):
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

    def _written(self, t: Task, size: int, end: int) -> None:
        """Bytes up to ``end`` were written into the cache: sentry's size and
        times are the file's now, and a writeback is due."""
        now = time.time_ns()
        inode = self.inode
        inode.local = (max(size, end), now, now)
        if inode.attr is not None:
            self.fs.set_attr(inode, inode.attr, inode.attr_expires)
        writeback.schedule(self.fs, t, inode)

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
            # The offset travels as the u64 of struct fuse_lseek_in.
            args = fuse.LseekIn(fh=self.fh, offset=offset & U64_MASK, whence=whence).pack()
            try:
                body = await conn.call(t, fuse.FUSE_LSEEK, self.inode.nodeid, args)
            except SyscallError as err:
                if err.errno != errno.ENOSYS:
                    raise
                conn.no_lseek = True
            else:
                return set_offset(fd, _unpack(fuse.LseekOut, body).offset)
        if whence in (os.SEEK_END, os.SEEK_DATA, os.SEEK_HOLE):
            self.inode.attr_expires = 0.0
        return await super().seek(t, fd, offset, whence)

    async def stat(self, t: Task, mask: int = STATX_BASIC_STATS) -> Statx:
        """Implements FileDescriptionImpl.stat."""
        return await self.fs.stat(t, self.inode, mask, self.fh)

    async def sync(self, t: Task, datasync: bool) -> None:
        """Implements FileDescriptionImpl.sync: writeback, then FUSE_FSYNC; a
        writeback error since the last fsync or close is reported."""
        await writeback.write_back(self.fs, t, self.inode)
        await self.fs.fsync(t, self.inode, self.fh, datasync, directory=False)
        if self.cache is not None:
            error, self.wb_since = self.cache.check_fsync(self.wb_since)
            if error:
                raise SyscallError(error)

    async def allocate(self, t: Task, mode: int, offset: int, length: int) -> int:
        """Implements FileDescriptionImpl.allocate: FUSE_FALLOCATE."""
        conn = self.fs.conn
        if conn.no_fallocate:
            raise SyscallError(errno.EOPNOTSUPP)
        await writeback.write_back(self.fs, t, self.inode)
        args = fuse.FallocateIn(fh=self.fh, offset=offset, length=length, mode=mode).pack()
        if self.inode.cache is not None:
            self.inode.cache.drop_range(offset, offset + length)
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
        """Implements FileDescriptionImpl.flush: writeback, then FUSE_FLUSH
        (ENOSYS latched); a writeback error is close's error."""
        await writeback.write_back(self.fs, t, self.inode)
        if self.cache is not None and (error := self.cache.check_close()):
            raise SyscallError(error)
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
        if self in self.inode.writers:
            self.inode.writers.remove(self)
        if self._release:
            args = fuse.ReleaseIn(fh=self.fh, flags=self.flags).pack()
            self.fs.conn.send(None, fuse.FUSE_RELEASE, self.inode.nodeid, args)
        self.fs.closed_one()


def _buffers(chunks: list[Chunk], start: int, pos: int, size: int) -> list[memoryview]:
    """The pieces of ``chunks`` (which begin at file offset ``start``) that
    hold file bytes ``[pos, pos + size)``: where a READ reply goes."""
    out = []
    while size > 0:
        index, lo = divmod(pos - start, CHUNK_SIZE)
        n = min(size, CHUNK_SIZE - lo)
        out.append(memoryview(chunks[index].data)[lo : lo + n])
        pos += n
        size -= n
    return out


def _mark_valid(chunks: list[Chunk], start: int, pos: int, size: int) -> None:
    """File bytes ``[pos, pos + size)`` arrived in ``chunks``."""
    while size > 0:
        index, lo = divmod(pos - start, CHUNK_SIZE)
        n = min(size, CHUNK_SIZE - lo)
        chunk = chunks[index]
        if not chunk.detached:
            chunk.valid = lo + n
        pos += n
        size -= n
