"""Reads of FUSE regular files: through the cache, or straight from the
daemon under FOPEN_DIRECT_IO.

Analogous to the read half of Linux's ``fs/fuse/file.c`` (gVisor:
``fuse/regular_file.go``). Without FOPEN_DIRECT_IO, data goes through the
inode's cache (``page_cache.py``), as through Linux's page cache:

- A read is served from cached chunks; the missing ones are READ first, in
  requests of at most min(max_read, max_pages pages), up to the page that
  holds the end of file. A short reply is the end of file (the cached size
  shrinks, as in Linux), except under writeback caching: there it is a hole
  whose rest reads as zeros, since the daemon may lack data still dirty
  here and sentry's size is the file's (Linux's ``fuse_short_read``). A
  chunk that holds whole pages (a STORE), or dirty bytes (the file grew
  past them), keeps them and is READ from where they end; a READ never
  lands on dirty bytes.
- After a sequential read the next max_readahead bytes are READ in the
  background, so the daemon works while the app copies; a random read does
  not trigger it.

Under FOPEN_DIRECT_IO, reads go straight to the daemon, cut at max_pages
pages of the caller's buffer, and a read stops at the first short reply, as
Linux does (gVisor does not). Either way a READ reply longer than asked is
EIO, and an error after some bytes moved returns the count moved
(:func:`sentry.errors.handle_io_error`).

:class:`FileReader` is the read half of ``regular_file.RegularFile``; the
write half (``file_write.py``) builds on it, since a write that partly
covers a chunk reads it first.
"""

from __future__ import annotations

import errno
import logging
import time
from typing import TYPE_CHECKING

from sentry.abi import fuse
from sentry.abi.linux import PAGE_SIZE
from sentry.errors import SyscallError, handle_io_error
from sentry.fsimpl.fuse.inode import HandleFile
from sentry.fsimpl.fuse.page_cache import CHUNK_SIZE, Chunk, FileCache
from sentry.waiter import Waiter, run_background

if TYPE_CHECKING:
    from sentry.fsimpl.fuse.fusefs import FuseFilesystem
    from sentry.fsimpl.fuse.inode import Inode
    from sentry.vfs.context import Context
    from sentry.vfs.file_description_impl import FileState
    from sentry.vfs.iov import IOSequence

log = logging.getLogger("sentry")


class FileReader(HandleFile):
    """The read half of a FUSE regular file (``regular_file.RegularFile``):
    pread and read_cached, the cache fills and readahead behind them."""

    # Set by RegularFile.__init__.
    fs: FuseFilesystem
    inode: Inode
    flags: int  # open(2)'s, sent with each READ and RELEASE
    open_flags: int  # the daemon's FOPEN_*
    cache: FileCache | None  # the inode's cached data, unless FOPEN_DIRECT_IO
    ra_next: int  # the readahead mark: where the next sequential read starts
    ra_done: int  # reads that end before it find their readahead started

    @property
    def direct_io(self) -> bool:
        """Whether reads go to the daemon as asked, whatever the file size."""
        return bool(self.open_flags & fuse.FOPEN_DIRECT_IO)

    async def pread(self, t: Context, fd: FileState, dst: IOSequence, offset: int) -> int:
        """Implements FileDescriptionImpl.pread: from the cache, or straight
        from the daemon under FOPEN_DIRECT_IO."""
        cache = self.cache
        if cache is None:
            return await self._pread_direct(t, fd, dst, offset)
        inode = self.inode
        attr = self._fresh_attr() or await self.fs.getattr(t, inode, self.fh)
        size = attr.size
        if offset >= size:
            return 0
        end = min(offset + dst.size, size)
        first, last = cache.index_bounds(offset, end)
        if first != last or not cache.complete(first, size):
            await self._fill(t, first, last, size)
            if inode.attr is not None and inode.attr.size < size:
                size = inode.attr.size  # a short READ found the end of file
                end = min(end, size)
        return self._serve(dst, offset, end, size)

    def read_cached(
        self, t: Context, fd: FileState, dst: IOSequence, offset: int
    ) -> int | None:
        """Implements FileDescriptionImpl.read_cached: a read within one
        complete cached chunk, with the attributes still valid."""
        attr = self._fresh_attr()
        cache = self.cache
        if cache is None or attr is None:
            return None
        size = attr.size
        if offset >= size:
            return 0
        end = min(offset + dst.size, size)
        # The cache-hit fast path: the chunk index is computed inline rather
        # than through FileCache.index_bounds, to save a call per read.
        first = offset // CHUNK_SIZE
        if first != (end - 1) // CHUNK_SIZE or not cache.complete(first, size):
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
        cache = self.cache
        assert cache is not None
        # The cache-hit fast path (under read_cached): the chunk walk is
        # inline, not FileCache.spans (a generator) or a FileCache method per
        # chunk, which made read_cached 2% slower in a timing.
        # FileCache.contiguous is the same walk for RETRIEVE.
        done, pos = 0, offset
        while pos < end:
            index, lo = divmod(pos, CHUNK_SIZE)
            chunk = cache.get(index)
            if chunk is None or chunk.filling is not None or chunk.valid <= lo:
                break
            hi = min(chunk.valid, end - index * CHUNK_SIZE)
            try:
                copied = dst.copy_out(done, memoryview(chunk.data)[lo:hi])
            except SyscallError as err:
                return handle_io_error(done, err)
            done += copied
            pos += copied
            if copied < hi - lo or (hi == chunk.valid and hi < CHUNK_SIZE):
                break  # a fault, or the chunk ends at the end of file
        return done

    async def _fill(self, t: Context | None, first: int, last: int, size: int) -> None:
        """Make chunks ``first..last`` complete: READ the missing runs, wait
        for fills under way."""
        cache = self.cache
        assert cache is not None
        for _ in range(3):
            index = first
            while (run := cache.missing_run(index, last, size)) is not None:
                await self._fill_run(t, run[0], run[1], size)
                index = run[1] + 1
            pending = cache.fills(first, last)
            for waiter in pending:
                await waiter
            if not pending:
                return

    async def _fill_run(self, t: Context | None, first: int, last: int, size: int) -> None:
        """READ chunks ``first..last`` (a ``FileCache.missing_run``, so none
        is being filled) into new chunks, in requests of at most max_read
        pages, up to the page holding the end of file.

        A short reply is the end of file: the cached size shrinks, as in
        Linux. Under writeback caching it is a hole instead, and the rest
        of the range reads as zeros: the daemon lacks bytes still dirty
        here, and sentry's size is the file's (Linux's fuse_short_read).

        A first chunk that holds whole pages (a STORE put them there), or
        dirty bytes (the file grew past it), keeps them: the READs start
        after them, as Linux keeps uptodate pages. Chunks past the first
        are never dirty (``FileCache.missing_run``).
        """
        cache = self.cache
        assert cache is not None
        conn = self.fs.conn
        start = first * CHUNK_SIZE
        kept = cache.peek(first)
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
                    into=_buffers(chunks, pos, ask),
                )
                self.inode.atime_stale = True
                if got > ask:
                    log.warning("FUSE READ reply of %d bytes for %d asked", got, ask)
                    raise SyscallError(errno.EIO)
                _mark_valid(chunks, pos, got)
                pos += got
                if got < ask and self.fs.writeback:
                    for piece in _buffers(chunks, pos, end - pos):
                        piece[:] = bytes(len(piece))
                    _mark_valid(chunks, pos, end - pos)
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
                cache.end_fill(chunk)
        for chunk in chunks:
            if chunk.index * CHUNK_SIZE >= pos and chunk.valid == 0:
                cache.drop(chunk)

    def _readahead(self, offset: int, end: int, size: int) -> None:
        """After a sequential read, start READing the next max_readahead
        bytes in the background; a random read only moves the mark."""
        if offset != self.ra_next or end >= size:
            return
        cache = self.cache
        assert cache is not None
        ahead = min(end + self.fs.conn.max_readahead, size)
        # Reads that end before ``ra_done`` find their readahead started.
        self.ra_done = ahead - self.fs.conn.max_readahead // 2
        first, last = cache.index_bounds(end, ahead)
        if not any(cache.missing(i, size) for i in range(first, last + 1)):
            return
        run_background(self._fill(None, first, last, size))

    async def _pread_direct(
        self, t: Context, fd: FileState, dst: IOSequence, offset: int
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
            except SyscallError as err:
                return handle_io_error(done, err)
            self.inode.atime_stale = True
            if len(data) > chunk:
                log.warning("FUSE READ reply of %d bytes for %d asked", len(data), chunk)
                raise SyscallError(errno.EIO)
            if data:
                try:
                    copied = dst.copy_out(done, data)
                except SyscallError as err:
                    return handle_io_error(done, err)
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


def _buffers(chunks: list[Chunk], pos: int, size: int) -> list[memoryview]:
    """The pieces of ``chunks`` (consecutive chunks of the file, the first
    at index ``chunks[0].index``) that hold file bytes ``[pos, pos +
    size)``: where a READ reply goes."""
    first = chunks[0].index
    return [
        memoryview(chunks[index - first].data)[lo : lo + n]
        for index, lo, n in FileCache.spans(pos, size)
    ]


def _mark_valid(chunks: list[Chunk], pos: int, size: int) -> None:
    """File bytes ``[pos, pos + size)`` arrived in ``chunks`` (as for
    ``_buffers``)."""
    first = chunks[0].index
    for index, lo, n in FileCache.spans(pos, size):
        chunk = chunks[index - first]
        if not chunk.detached:
            chunk.valid = lo + n
