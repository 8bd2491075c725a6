"""The memory behind a FUSE file's shared mappings.

Linux maps a FUSE file's page cache into every process that maps the file
MAP_SHARED: a store through one mapping is seen at once by the others and
by read(2), a write(2) is seen by the mappings, a truncate makes the pages
past the new end raise SIGBUS, and dirty pages go back to the daemon as
FUSE_WRITEs (``fuse_writepages``). Sentry's buffer cache is its own memory,
which the app cannot map, so an inode mapped shared gets a
:class:`SharedMapping`: a memfd holding the whole file, which every shared
mapping of the inode maps (the task is handed it to map). Sentry keeps it
coherent with the inode's data:

- **Stores through a mapping reach the file** at the next read, write,
  truncate, fallocate, fsync or close of the inode through sentry, at
  msync(MS_SYNC), sync(2) and syncfs(2) (``FuseFilesystem.sync``), every
  WRITEBACK_INTERVAL seconds while the app runs, and when the app ends.
  Sentry does not see the stores themselves: it keeps ``shadow``, a copy of
  what the memory held when last compared, and writes back the pages that
  differ from it (through the normal write path: into the cache under
  writeback caching, else straight to the daemon).
- **Writes and truncates through sentry reach the memory** before the
  call returns (``store``, ``resize``), so the mappings see them, and a
  mapping's pages past a shrunk end raise SIGBUS as Linux's do.

Writing back needs a file handle, as Linux's needs the mapping's file: the
first writable open file that maps the inode writable is kept (``writer``)
and its RELEASE waits until the mapping closes, at the app's end.

Left out, and why: sentry sees no munmap, so the memory lives until the app
ends; a mapping made without PROT_WRITE cannot be mprotect'ed writable
(EACCES: its memory was opened read-only, which keeps a read-only mapping
from costing a compare at every call); changes the daemon makes on its own
(notify STORE, or a host writer behind a passthrough mount) do not reach
the memory; and each compare reads the whole memory, which costs little for
the small files programs share this way (SQLite's ``-shm``) and grows with
the file. The memory is bounded with the cache (``--cache-size``; see
``page_cache.PageCache``): a mapping that would pass it fails with ENOMEM,
and a mapped file that grows past it raises SIGBUS past what fitted.

Invariants: ``len(shadow)`` is the size sentry last gave the memory; while
``busy`` is set a write-back or a hold (``hold``) is under way, and another
waits for it.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING, Protocol

from sentry.abi.linux import PAGE_SIZE
from sentry.errors import SyscallError
from sentry.fsimpl.fuse.page_cache import MAX_MAPPINGS
from sentry.waiter import Waiter, run_background

if TYPE_CHECKING:
    from sentry.fsimpl.fuse.page_cache import PageCache
    from sentry.vfs.context import Context

log = logging.getLogger("sentry")

WRITEBACK_INTERVAL = 5.0  # seconds between write-backs of stores, as Linux's dirty_writeback
COMPARE_BLOCK = 64 * 1024  # bytes compared at a time before looking page by page


class MappingWriter(Protocol):
    """The open file a mapping's stores are written back through."""

    async def write_mapped(self, t: Context, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` as the file's own data (errors are
        kept for the next fsync or close, as writeback's are)."""
        ...

    def unmapped(self) -> None:
        """The mapping closed: the file's deferred RELEASE may go."""
        ...


class SharedMapping:
    """The memory every shared mapping of one inode maps (see the module)."""

    def __init__(self, contents: bytes | memoryview, budget: PageCache) -> None:
        """A memfd holding ``contents`` (the whole file), counted in
        ``budget``. Raises SyscallError(ENOMEM) past the budget's bytes or
        MAX_MAPPINGS, or if the memfd cannot be made.

        The memfd's mode is 0400: a task handed it read-only cannot open it
        again for writing through ``/proc/self/fd``."""
        if budget.mappings >= MAX_MAPPINGS:
            raise SyscallError(errno.ENOMEM)
        allowed = budget.reserve(0, len(contents))
        if allowed < len(contents):
            budget.reserve(allowed, 0)
            raise SyscallError(errno.ENOMEM)
        try:
            fd = os.memfd_create("sentry-shared-mapping", os.MFD_CLOEXEC)
        except OSError:
            budget.reserve(len(contents), 0)
            raise SyscallError(errno.ENOMEM) from None
        budget.mappings += 1
        self.budget = budget
        try:
            os.fchmod(fd, 0o400)
            os.ftruncate(fd, len(contents))
            done = 0
            while done < len(contents):
                done += os.pwrite(fd, memoryview(contents)[done:], done)
        except OSError:
            os.close(fd)
            budget.reserve(len(contents), 0)
            budget.mappings -= 1
            raise SyscallError(errno.ENOMEM) from None
        self.fd = fd
        self.shadow = bytearray(contents)
        self.writer: MappingWriter | None = None
        self.context: Context | None = None  # the task that made it writable
        self.busy: Waiter | None = None
        self.closed = False

    def writable(self, t: Context, writer: MappingWriter) -> None:
        """A mapping that can store was made through ``writer``: keep the
        first such file, and write back periodically from now on."""
        if self.writer is not None:
            return
        self.writer, self.context = writer, t
        run_background(self._periodic(t))

    async def _periodic(self, t: Context) -> None:
        while not self.closed:
            await t.sleep(WRITEBACK_INTERVAL)
            if not self.closed:
                await self.write_back(None)

    @property
    def stores(self) -> bool:
        """Whether a mapping may have stored since the last compare."""
        return self.writer is not None and not self.closed

    async def write_back(self, t: Context | None) -> None:
        """Write the pages stored through mappings since the last compare
        back to the file (as ``t``, else as the task that made the mapping
        writable); nothing if no mapping can store."""
        await self.hold(t)
        self.release()

    async def hold(self, t: Context | None) -> None:
        """``write_back``, then keep the mapping held until ``release``: no
        other write-back or hold runs meanwhile, so a write, truncate or
        fallocate through sentry, with its mirroring into the memory, is
        never crossed by a write-back of the bytes it changes. The holder
        must not write back itself."""
        while self.busy is not None:
            await self.busy
        self.busy = Waiter()
        try:
            writer, t = self.writer, t or self.context
            if writer is not None and t is not None and not self.closed:
                for offset, data in self._changes():
                    await writer.write_mapped(t, offset, data)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """End a ``hold``."""
        done, self.busy = self.busy, None
        if done is not None:
            done.complete()

    def _changes(self) -> list[tuple[int, bytes]]:
        """The runs of pages whose bytes differ from ``shadow``, which
        takes them."""
        size = len(self.shadow)
        now = bytearray(size)
        view = memoryview(now)
        done = 0
        while done < size:
            n = os.preadv(self.fd, [view[done:]], done)
            if n == 0:
                break  # shrunk behind sentry's back: the rest reads as zeros
            done += n
        if now == self.shadow:
            return []
        runs: list[tuple[int, bytes]] = []
        start = end = -1
        for block in range(0, size, COMPARE_BLOCK):
            top = min(block + COMPARE_BLOCK, size)
            # Slices, not memoryviews: a bytearray compares with memcmp.
            if now[block:top] == self.shadow[block:top]:
                continue
            for page in range(block, top, PAGE_SIZE):
                stop = min(page + PAGE_SIZE, size)
                if now[page:stop] == self.shadow[page:stop]:
                    continue
                if page != end:
                    if end > start:
                        runs.append((start, bytes(view[start:end])))
                    start = page
                end = stop
        if end > start:
            runs.append((start, bytes(view[start:end])))
        self.shadow[:] = now
        return runs

    def store(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """The file's bytes at ``offset`` are now ``data`` (a write through
        sentry): the mappings see them. Bytes past the memory's size are
        left out (``resize`` first)."""
        if self.closed:
            return
        data = memoryview(data)[: max(0, len(self.shadow) - offset)]
        done = 0
        try:
            while done < len(data):
                done += os.pwrite(self.fd, data[done:], offset + done)
        except OSError as err:
            log.warning("a shared mapping missed a write: %s", err.strerror)
        self.shadow[offset : offset + len(data)] = data

    def resize(self, size: int) -> None:
        """The file is now ``size`` bytes long: pages past it raise SIGBUS in
        the mappings, and new bytes read as zeros (up to what the budget
        allows: past it, SIGBUS too)."""
        if size == len(self.shadow) or self.closed:
            return
        size = self.budget.reserve(len(self.shadow), size)
        try:
            os.ftruncate(self.fd, size)
        except OSError as err:
            log.warning("a shared mapping missed a truncate: %s", err.strerror)
        if size < len(self.shadow):
            del self.shadow[size:]
        else:
            self.shadow.extend(bytes(size - len(self.shadow)))

    async def close(self, t: Context | None) -> None:
        """The app ended: write the last stores back and free the memory (the
        caller then lets the writer's RELEASE go)."""
        if self.closed:
            return
        try:
            await self.write_back(t)
        finally:
            self.closed = True
            os.close(self.fd)
            self.budget.reserve(len(self.shadow), 0)
            self.budget.mappings -= 1
            self.shadow = bytearray()
