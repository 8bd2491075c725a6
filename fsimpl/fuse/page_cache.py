"""The buffer cache of FUSE files: their data, in chunks shared by every open
file description and every process of the sandbox.

gVisor's FUSE client copies each reply into a single-use buffer; its design
doc names a buffer cache as the improvement it never made. Linux keeps FUSE
data in the page cache (``fs/fuse/file.c``). Sentry keeps it here:

- A file's data is cached in chunks of CHUNK_SIZE bytes (a multiple of the
  page size), each filled from its start: ``valid`` bytes of it hold the
  file's data, and a chunk shorter than CHUNK_SIZE ends at the end of file.
- Chunks live in a :class:`FileCache` per inode and in one LRU per sandbox,
  the :class:`PageCache`, which bounds their total (``--cache-size``). When a
  new chunk would pass the bound, the least recently used clean chunks are
  evicted and their buffers reused, so a hot read path allocates nothing.
  Chunks a READ is filling are not evicted: a read of more than the bound
  passes it until its data is copied out, and the next new chunk brings
  the cache back within it.
- Dirty chunks (writeback caching) hold bytes the daemon has not seen yet,
  in ``[dirty_lo, dirty_hi)``; they are never evicted, and passing the bound
  with them asks their files to write back.

Invariants: a chunk is in its FileCache's ``chunks`` exactly when it is in
the PageCache's LRU; ``filling`` is set while a READ fills it (readers wait
on it); a chunk taken out of its file (``detached``) is never put back, and
a chunk dropped while a READ fills it keeps its buffer until the READ ends.

The arithmetic of chunks (which chunk holds a file offset, where in it,
how much of a byte range it holds) lives in FileCache: its methods walk
the chunks of a byte range for the file code (``file_read.py``,
``file_write.py``), notifications (``notify.py``) and ``writeback.py``,
which do not reach into ``chunks``. Only the cache-hit fast paths keep
their chunk arithmetic inline (``FileReader._copy_out`` under
``read_cached``, and ``write_cached``): one more FileCache call per chunk
made read_cached itself 2% slower in a timing.
"""

from __future__ import annotations

import errno
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentry.waiter import Waiter

CHUNK_SIZE = 128 * 1024
_EVICT_BATCH = 16  # LRU entries _evict looks at per copy
DEFAULT_CACHE_SIZE = 256 * 2**20
MAX_MAPPINGS = 1024  # files mapped shared at once, per sandbox (each a memfd)


class Chunk:
    """CHUNK_SIZE bytes of one file, from offset ``index * CHUNK_SIZE``."""

    __slots__ = ("file", "index", "data", "valid", "dirty_lo", "dirty_hi", "filling", "detached")

    def __init__(self, file: FileCache, index: int, data: bytearray) -> None:
        self.file = file
        self.index = index
        self.data = data
        self.valid = 0
        self.dirty_lo = self.dirty_hi = 0
        self.filling: Waiter | None = None
        self.detached = False

    @property
    def dirty(self) -> bool:
        """Whether it holds bytes not yet written back."""
        return self.dirty_hi > self.dirty_lo

    def mark_dirty(self, lo: int, hi: int) -> None:
        """Bytes ``[lo, hi)`` of the chunk were written and not yet sent."""
        if self.dirty:
            lo, hi = min(lo, self.dirty_lo), max(hi, self.dirty_hi)
        self.dirty_lo, self.dirty_hi = lo, hi
        self.file.dirty.add(self.index)


class FileCache:
    """The cached chunks of one inode.

    Its methods own the chunk arithmetic: ``spans`` and ``index_bounds``
    cut a byte range at chunk boundaries; ``contiguous`` reads cached
    bytes back, ``complete``/``missing``/``missing_run``/``fills`` say
    what a READ must fill, and ``write_through``/``store``/
    ``take_dirty_run`` move bytes in and out for writes, notifications and
    writeback.

    ``dirty`` holds the indexes of its dirty chunks; ``on_pressure`` writes
    the file back when the cache is full of dirty chunks.

    Writeback errors are kept as Linux keeps them: ``wb_error`` is the
    latest (its errseq: ``wb_seq`` counts them, ``wb_seen`` says whether an
    fsync has reported it), and ``as_error`` is the flag close checks and
    clears (ENOSPC, or EIO for anything else, as ``mapping_set_error``).
    """

    def __init__(self, cache: PageCache) -> None:
        self.cache = cache
        self.chunks: dict[int, Chunk] = {}
        self.dirty: set[int] = set()
        self.wb_error = 0
        self.wb_seq = 0
        self.wb_seen = True
        self.as_error = 0
        self.on_pressure: Callable[[], None] | None = None

    @staticmethod
    def spans(offset: int, length: int) -> Iterator[tuple[int, int, int]]:
        """The pieces of file bytes ``[offset, offset + length)``, one per
        chunk, in order: (chunk index, offset in the chunk, length)."""
        end = offset + length
        while offset < end:
            index, lo = divmod(offset, CHUNK_SIZE)
            n = min(end - offset, CHUNK_SIZE - lo)
            yield index, lo, n
            offset += n

    @staticmethod
    def index_bounds(start: int, end: int) -> tuple[int, int]:
        """(first, last): the indexes of the first and last chunks that
        hold bytes of ``[start, end)``, for ``end > start``."""
        return start // CHUNK_SIZE, (end - 1) // CHUNK_SIZE

    def get(self, index: int) -> Chunk | None:
        """The chunk at ``index``, counted as used, or None."""
        chunk = self.chunks.get(index)
        if chunk is not None:
            self.cache.lru.move_to_end(chunk)
        return chunk

    def peek(self, index: int) -> Chunk | None:
        """The chunk at ``index``, not counted as used, or None."""
        return self.chunks.get(index)

    def new(self, index: int) -> Chunk:
        """A new empty chunk at ``index`` (replacing any there)."""
        old = self.chunks.get(index)
        if old is not None:
            self.drop(old)
        chunk = Chunk(self, index, self.cache.take_buffer())
        self.chunks[index] = chunk
        self.cache.lru[chunk] = None
        return chunk

    def drop(self, chunk: Chunk) -> None:
        """Take ``chunk`` out of the cache (its dirty bytes are lost)."""
        if chunk.detached:
            return
        chunk.detached = True
        del self.chunks[chunk.index]
        self.dirty.discard(chunk.index)
        del self.cache.lru[chunk]
        if chunk.filling is None:
            self.cache.give_buffer(chunk.data)

    def drop_range(self, start: int, end: int | None = None, keep_dirty: bool = False) -> None:
        """Drop the chunks holding any byte of ``[start, end)`` (to EOF if
        ``end`` is None), the dirty ones too unless ``keep_dirty``."""
        first = start // CHUNK_SIZE
        for index in [i for i in self.chunks if i >= first]:
            chunk = self.chunks[index]
            if (end is None or index * CHUNK_SIZE < end) and not (keep_dirty and chunk.dirty):
                self.drop(chunk)

    def drop_all(self) -> None:
        """Drop every chunk."""
        for chunk in list(self.chunks.values()):
            self.drop(chunk)

    def truncate(self, size: int) -> None:
        """The file is now ``size`` bytes: forget what lies past it."""
        index, keep = divmod(size, CHUNK_SIZE)
        for i in [i for i in self.chunks if i > index or (i == index and keep == 0)]:
            self.drop(self.chunks[i])
        chunk = self.chunks.get(index)
        if chunk is not None:
            chunk.valid = min(chunk.valid, keep)
            if chunk.dirty:
                chunk.dirty_hi = min(chunk.dirty_hi, keep)
                if not chunk.dirty:
                    self.dirty.discard(index)

    def contiguous(self, offset: int, end: int) -> bytes:
        """The bytes cached contiguously from ``offset`` on, up to ``end``
        (not counted as used): what RETRIEVE hands back. A chunk shorter
        than CHUNK_SIZE ends them: it ends at the end of file."""
        pieces = []
        for index, lo, n in self.spans(offset, end - offset):
            chunk = self.chunks.get(index)
            if chunk is None or chunk.filling is not None or chunk.valid <= lo:
                break
            hi = min(chunk.valid, lo + n)
            pieces.append(bytes(chunk.data[lo:hi]))
            if hi < CHUNK_SIZE:
                break
        return b"".join(pieces)

    def complete(self, index: int, size: int) -> bool:
        """Whether chunk ``index`` holds all the bytes of a file of ``size``
        bytes that it should, with no READ filling it (a dirty chunk too:
        one that ended at the end of file before the file grew past it
        lacks the bytes it gained)."""
        chunk = self.chunks.get(index)
        if chunk is None or chunk.filling is not None:
            return False
        return chunk.valid >= min(CHUNK_SIZE, size - index * CHUNK_SIZE)

    def missing(self, index: int, size: int) -> bool:
        """Whether chunk ``index`` needs a READ: incomplete, and no READ is
        filling it."""
        chunk = self.chunks.get(index)
        if chunk is not None and chunk.filling is not None:
            return False
        return not self.complete(index, size)

    def missing_run(self, first: int, last: int, size: int) -> tuple[int, int] | None:
        """The first run of missing chunks in ``first..last``, as (first,
        last), or None. A dirty chunk only starts a run (the READs of a run
        keep its first chunk's bytes and start after them), so no READ
        lands on dirty bytes."""
        start = first
        while start <= last and not self.missing(start, size):
            start += 1
        if start > last:
            return None
        end = start
        while end < last and self.missing(end + 1, size):
            chunk = self.chunks.get(end + 1)
            if chunk is not None and chunk.dirty:
                break
            end += 1
        return start, end

    def fills(self, first: int, last: int) -> list[Waiter]:
        """The waiters of the READs filling chunks ``first..last``."""
        return [
            c.filling
            for i in range(first, last + 1)
            if (c := self.chunks.get(i)) is not None and c.filling is not None
        ]

    def end_fill(self, chunk: Chunk) -> None:
        """The READ filling ``chunk`` ended: wake its readers, and reuse its
        buffer if it was dropped meanwhile."""
        waiter, chunk.filling = chunk.filling, None
        if chunk.detached:
            self.cache.give_buffer(chunk.data)
        if waiter is not None:
            waiter.complete()

    def write_through(self, offset: int, data: bytes) -> None:
        """Bytes written to the daemon at ``offset``: update the chunks they
        cover (a chunk they would leave a gap in, or that a READ is filling,
        is dropped)."""
        view = memoryview(data)
        done = 0
        for index, lo, n in self.spans(offset, len(data)):
            chunk = self.chunks.get(index)
            if chunk is not None:
                if chunk.filling is not None or chunk.valid < lo:
                    self.drop(chunk)
                else:
                    chunk.data[lo : lo + n] = view[done : done + n]
                    chunk.valid = max(chunk.valid, lo + n)
            done += n

    def store(self, offset: int, data: bytes) -> None:
        """The daemon's FUSE_NOTIFY_STORE of ``data`` at ``offset``: it goes
        into the chunks that hold the bytes before it, and into new chunks
        where it starts one; chunks a READ is filling are left alone."""
        done = 0
        for index, lo, n in self.spans(offset, len(data)):
            chunk = self.chunks.get(index)
            if chunk is None and lo == 0:
                chunk = self.new(index)
            if chunk is not None and chunk.filling is None and chunk.valid >= lo:
                chunk.data[lo : lo + n] = data[done : done + n]
                chunk.valid = max(chunk.valid, lo + n)
            done += n

    def take_dirty_run(self) -> tuple[int, bytes]:
        """The lowest run of dirty bytes, as (file offset, bytes), taken out
        of the dirty state (a write meanwhile makes them dirty again). A run
        goes on into the next chunk while its dirty bytes end one chunk and
        start the next.

        Preconditions: ``dirty`` is not empty.
        """
        index = min(self.dirty)
        run = [self.chunks[index]]
        while run[-1].dirty_hi == CHUNK_SIZE:
            nxt = self.chunks.get(run[-1].index + 1)
            if nxt is None or not nxt.dirty or nxt.dirty_lo != 0:
                break
            run.append(nxt)
        start = index * CHUNK_SIZE + run[0].dirty_lo
        parts = []
        for chunk in run:
            parts.append(bytes(chunk.data[chunk.dirty_lo : chunk.dirty_hi]))
            chunk.dirty_lo = chunk.dirty_hi = 0
            self.dirty.discard(chunk.index)
        return start, b"".join(parts)

    def record_error(self, error: int) -> None:
        """A writeback failed with ``error``."""
        self.wb_error = error
        self.wb_seq += 1
        self.wb_seen = False
        self.as_error = errno.ENOSPC if error == errno.ENOSPC else errno.EIO

    def sample(self) -> int:
        """The errseq a newly opened file starts from (as ``errseq_sample``:
        an error no fsync has reported yet is still new to it)."""
        return self.wb_seq if self.wb_seen else self.wb_seq - 1

    def check_fsync(self, since: int) -> tuple[int, int]:
        """For fsync of a file that has seen errors up to ``since``: (the
        error to report or 0, the new mark)."""
        self.as_error = 0
        if since == self.wb_seq:
            return 0, since
        self.wb_seen = True
        return self.wb_error, self.wb_seq

    def check_close(self) -> int:
        """For close: the error flag, cleared (as ``filemap_check_errors``)."""
        error, self.as_error = self.as_error, 0
        return error


class PageCache:
    """Every FileCache's chunks of one sandbox, bounded to ``limit`` bytes.

    Buffers of evicted chunks are kept in ``free`` for the next chunk, so a
    steady stream of reads reuses the same buffers.

    The memory of shared mappings (``shared_mapping.py``) is bounded by the
    same ``limit``, apart from the chunks: ``mapped`` bytes in at most
    MAX_MAPPINGS memfds, handed out by ``reserve``.
    """

    def __init__(self, limit: int = DEFAULT_CACHE_SIZE) -> None:
        self.limit = max(limit, 4 * CHUNK_SIZE)
        self.lru: OrderedDict[Chunk, None] = OrderedDict()
        self.free: list[bytearray] = []
        self.mapped = 0
        self.mappings = 0

    def reserve(self, old: int, new: int) -> int:
        """A shared mapping's memory goes from ``old`` to ``new`` bytes: the
        size it may have, ``new`` or less when the limit is reached."""
        allowed = min(new, old + max(0, self.limit - self.mapped))
        self.mapped += allowed - old
        return allowed

    def take_buffer(self) -> bytearray:
        """A chunk buffer: a free one, or a new one if the cache has room,
        else an evicted chunk's."""
        if len(self.lru) * CHUNK_SIZE >= self.limit:
            self._evict()
        return self.free.pop() if self.free else bytearray(CHUNK_SIZE)

    def give_buffer(self, data: bytearray) -> None:
        """A dropped chunk's buffer, for reuse."""
        if (len(self.lru) + len(self.free)) * CHUNK_SIZE < self.limit:
            self.free.append(data)

    def _evict(self) -> None:
        """Drop clean, idle chunks, least recently used first, until one
        chunk fits; ask the owners of dirty chunks to write back."""
        pressured: set[FileCache] = set()
        kept = 0  # the chunks at the LRU's head that cannot go: dirty or filling
        while len(self.lru) * CHUNK_SIZE >= self.limit and kept < len(self.lru):
            # A few at a time: copying the whole LRU for each new chunk
            # cost more than the eviction itself.
            for chunk in list(itertools.islice(self.lru, kept, kept + _EVICT_BATCH)):
                if len(self.lru) * CHUNK_SIZE < self.limit:
                    break
                if chunk.dirty:
                    pressured.add(chunk.file)
                    kept += 1
                elif chunk.filling is not None:
                    kept += 1
                else:
                    chunk.file.drop(chunk)
        for file in pressured:
            if file.on_pressure is not None:
                file.on_pressure()
