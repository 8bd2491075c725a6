"""Writeback of FUSE files' dirty cached data.

When the daemon accepts FUSE_WRITEBACK_CACHE, write(2) only fills the cache
(``file_write.py``); the data reaches the daemon here, in FUSE_WRITEs as
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
from sentry.waiter import Waiter, run_background

if TYPE_CHECKING:
    from sentry.fsimpl.fuse.fusefs import FuseFilesystem
    from sentry.fsimpl.fuse.inode import Inode
    from sentry.vfs.context import Context

log = logging.getLogger("sentry")

WRITEBACK_DELAY = 1.0  # seconds from a file's first dirty write to its writeback


async def write_back(fs: FuseFilesystem, t: Context | None, inode: Inode) -> None:
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
            await _write_run(fs, t, inode, *cache.take_dirty_run())
        if inode.local is not None and not cache.dirty:
            await _send_times(fs, t, inode)
    finally:
        done, inode.flushing = inode.flushing, None
        done.complete()


async def _write_run(
    fs: FuseFilesystem, t: Context | None, inode: Inode, start: int, data: bytes
) -> None:
    """Send ``data``, one run of dirty bytes at ``start`` already taken out
    of the dirty state (``FileCache.take_dirty_run``)."""
    cache = inode.cache
    assert cache is not None
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


async def _send_times(fs: FuseFilesystem, t: Context | None, inode: Inode) -> None:
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


def schedule(fs: FuseFilesystem, t: Context, inode: Inode) -> None:
    """Write ``inode`` back WRITEBACK_DELAY seconds from now (once)."""
    if inode.flush_timer:
        return
    inode.flush_timer = True

    def fire(_: object) -> None:
        inode.flush_timer = False
        run_background(write_back(fs, None, inode))

    t.sleep(WRITEBACK_DELAY).add_callback(fire)
