"""Writeback of FUSE files' dirty cached data.

When the daemon accepts FUSE_WRITEBACK_CACHE, write(2) only fills the cache
(``regular_file.py``); the data reaches the daemon here, in FUSE_WRITEs as
large as max_write and max_pages allow, flagged FUSE_WRITE_CACHE and sent
with the handle of any open writable file of the inode, as Linux's
``fuse_writepages`` does. It happens on fsync and fdatasync, on close
(before FLUSH), when the cache is full of dirty chunks, and WRITEBACK_DELAY
seconds after a file first gets dirty. Afterwards sentry's mtime and ctime
are sent with a SETATTR, as Linux's ``fuse_write_inode`` does; sentry's
size and times stay the file's (Linux trusts its own under writeback).

A WRITE that fails leaves its error in the file's cache, kept as Linux keeps
it (``page_cache.FileCache``): the next fsync of each open file reports the
daemon's errno once, and the next close reports ENOSPC, or EIO for any other
error.
Only one writeback of an inode runs at a time; a second one waits for it.
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING

from sentry.abi import fuse
from sentry.errors import SyscallError
from sentry.fsimpl.fuse.page_cache import CHUNK_SIZE
from sentry.waiter import Waiter, run_background

if TYPE_CHECKING:
    from sentry.fsimpl.fuse.fusefs import FuseFilesystem, Inode
    from sentry.fsimpl.fuse.page_cache import Chunk
    from sentry.kernel.task import Task

log = logging.getLogger("sentry")

WRITEBACK_DELAY = 1.0  # seconds from a file's first dirty write to its writeback


async def write_back(fs: FuseFilesystem, t: Task | None, inode: Inode) -> None:
    """Send every dirty byte of ``inode`` to the daemon (errors are kept for
    the next fsync or close)."""
    cache = inode.cache
    if cache is None:
        return
    while inode.flushing is not None:
        await inode.flushing
    if not cache.dirty:
        return
    inode.flushing = Waiter()
    try:
        while cache.dirty:
            await _write_run(fs, t, inode, _next_run(inode))
        if inode.local is not None and not cache.dirty:
            await _send_times(fs, t, inode)
    finally:
        done, inode.flushing = inode.flushing, None
        done.complete()


def _next_run(inode: Inode) -> list[Chunk]:
    """The dirty chunks of the lowest dirty run: each continues the last
    one's dirty bytes (the last ended its chunk, the next starts at 0)."""
    cache = inode.cache
    assert cache is not None
    index = min(cache.dirty)
    run = [cache.chunks[index]]
    while run[-1].dirty_hi == CHUNK_SIZE:
        nxt = cache.chunks.get(run[-1].index + 1)
        if nxt is None or not nxt.dirty or nxt.dirty_lo != 0:
            break
        run.append(nxt)
    return run


async def _write_run(fs: FuseFilesystem, t: Task | None, inode: Inode, run: list[Chunk]) -> None:
    """Send one run's dirty bytes, taking them out of the dirty state first
    (a write meanwhile makes them dirty again)."""
    cache = inode.cache
    assert cache is not None
    start = run[0].index * CHUNK_SIZE + run[0].dirty_lo
    parts = []
    for chunk in run:
        parts.append(bytes(chunk.data[chunk.dirty_lo : chunk.dirty_hi]))
        chunk.dirty_lo = chunk.dirty_hi = 0
        cache.dirty.discard(chunk.index)
    data = b"".join(parts)
    writer = inode.writers[0] if inode.writers else None
    if writer is None:
        log.warning("dirty data of node %d has no open file to write it back", inode.nodeid)
        cache.record_error(errno.EIO)
        return
    limit = fs.conn.max_write_request
    done = 0
    while done < len(data):
        size = min(limit, len(data) - done)
        args = fuse.WriteIn(
            fh=writer.fh,
            offset=start + done,
            size=size,
            write_flags=fuse.FUSE_WRITE_CACHE,
            flags=writer.flags,
        )
        try:
            body = await fs.conn.call(
                t, fuse.FUSE_WRITE, inode.nodeid, args.pack() + data[done : done + size]
            )
            written = fuse.WriteOut.unpack(body).size
        except (SyscallError, ValueError) as err:
            cache.record_error(err.errno if isinstance(err, SyscallError) else errno.EIO)
            log.debug("writeback of node %d failed: %s", inode.nodeid, err)
            return
        if written != size:
            cache.record_error(errno.EIO)
            return
        done += size


async def _send_times(fs: FuseFilesystem, t: Task | None, inode: Inode) -> None:
    """Give the daemon sentry's mtime and ctime."""
    assert inode.local is not None
    _, mtime, ctime = inode.local
    valid = fuse.FATTR_MTIME | (fuse.FATTR_CTIME if fs.conn.minor >= 23 else 0)
    if inode.writers:
        valid |= fuse.FATTR_FH
    args = fuse.SetattrIn(
        valid=valid,
        fh=inode.writers[0].fh if inode.writers else 0,
        mtime=mtime // 10**9,
        mtimensec=mtime % 10**9,
        ctime=ctime // 10**9,
        ctimensec=ctime % 10**9,
    )
    try:
        await fs.conn.call(t, fuse.FUSE_SETATTR, inode.nodeid, args.pack())
    except SyscallError as err:
        log.debug("SETATTR of times after writeback failed: %s", err)


def schedule(fs: FuseFilesystem, t: Task, inode: Inode) -> None:
    """Write ``inode`` back WRITEBACK_DELAY seconds from now (once)."""
    if inode.flush_timer:
        return
    inode.flush_timer = True

    def fire(_: object) -> None:
        inode.flush_timer = False
        run_background(write_back(fs, None, inode))

    t.kernel.sleep(WRITEBACK_DELAY).add_callback(fire)
