"""Open regular files of a FUSE mount.

Analogous to gVisor's ``fuse/regular_file.go`` and Linux's ``fs/fuse/file.c``.
:class:`RegularFile` is put together from modules named by role:

- ``file_read.py``: reads, from the inode's cache (``page_cache.py``) with
  readahead, or straight from the daemon under FOPEN_DIRECT_IO;
- ``file_write.py``: writes, through to the daemon, or into the cache when
  the daemon accepted writeback caching;
- ``writeback.py``: sending dirty cached data to the daemon, which fsync,
  close and fallocate start here;
- ``shared_mapping.py``: the memory of the inode's MAP_SHARED mappings, made
  here (``shared_memory``) and kept coherent by this module's calls: every
  call that reads or changes the file's data first writes back what the
  mappings stored, and a write, truncate or fallocate then reaches the
  mappings.

This module adds the rest of the file: lseek (SEEK_DATA and SEEK_HOLE ask
the daemon), stat, fsync, fallocate, flush and release. Whatever moves
data, an error after some bytes moved returns the count moved
(``sentry.errors.handle_io_error``).
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentry.abi import fuse
from sentry.abi.linux import S_ISGID, S_ISUID, STATX_BASIC_STATS
from sentry.errors import SyscallError
from sentry.fsimpl.fuse import writeback
from sentry.fsimpl.fuse.file_read import FileReader
from sentry.fsimpl.fuse.file_write import FileWriter
from sentry.fsimpl.fuse.inode import Inode, unpack_reply
from sentry.fsimpl.fuse.shared_mapping import SharedMapping
from sentry.vfs.file_description_impl import O_ACCMODE, O_APPEND, FileState, set_offset
from sentry.vfs.iov import BufferSequence
from sentry.waiter import run_background

if TYPE_CHECKING:
    from sentry.abi.linux import Statx
    from sentry.fsimpl.fuse.fusefs import FuseFilesystem
    from sentry.vfs.context import Context
    from sentry.vfs.iov import IOSequence

log = logging.getLogger("sentry")

# The wire's 64-bit unsigned fields take a negative C long as Linux sends it.
U64_MASK = 2**64 - 1
FILL_TRIES = 3  # reads of a file into its first shared mapping, at most


@dataclass
class _OwnState:
    """The FileState of sentry's own reads and writes of a file (for its
    shared mappings): no O_APPEND, no offset to move."""

    flags: int = os.O_RDWR
    offset: int = 0


class RegularFile(FileWriter):
    """Implements FileDescriptionImpl for a FUSE regular file (fh ``fh``):
    reads from ``file_read.FileReader``, writes from
    ``file_write.FileWriter``."""

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
        self._release_deferred = False  # kept for the inode's shared mapping
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

    async def pread(self, t: Context, fd: FileState, dst: IOSequence, offset: int) -> int:
        """Implements FileDescriptionImpl.pread, after the stores of shared
        mappings went back (see FileReader.pread)."""
        if self.inode.mapping is not None:
            await self.inode.mapping.write_back(t)
        return await super().pread(t, fd, dst, offset)

    def read_cached(
        self, t: Context, fd: FileState, dst: IOSequence, offset: int
    ) -> int | None:
        """Implements FileDescriptionImpl.read_cached: not while a shared
        mapping may hold stores (see FileReader.read_cached)."""
        if self.inode.mapping is not None and self.inode.mapping.stores:
            return None
        return super().read_cached(t, fd, dst, offset)

    async def pwrite(self, t: Context, fd: FileState, src: IOSequence, offset: int) -> int:
        """Implements FileDescriptionImpl.pwrite (see FileWriter.pwrite);
        shared mappings see the bytes written. The set-ID bits the writer
        may not keep go first (``FuseFilesystem.remove_privileges``)."""
        if not self.direct_io:  # Linux's direct write leaves it to the daemon
            await self.fs.remove_privileges(t, self.inode)
        mapping = self.inode.mapping
        if mapping is None:
            done = await super().pwrite(t, fd, src, offset)
            self.inode.changes += 1
            if self.inode.mapping is not None:  # made while this write ran
                await self._mirror(t, self._written_at(fd, offset, done), done)
            return done
        await mapping.hold(t)
        try:
            done = await super().pwrite(t, fd, src, offset)
            self.inode.changes += 1
            await self._mirror(t, self._written_at(fd, offset, done), done)
        finally:
            mapping.release()
        return done

    def _written_at(self, fd: FileState, offset: int, done: int) -> int:
        """Where a write of ``done`` bytes asked at ``offset`` went (the end
        of file under O_APPEND)."""
        if fd.flags & O_APPEND and self.inode.attr is not None:
            return self.inode.attr.size - done
        return offset

    def write_cached(
        self, t: Context, fd: FileState, src: IOSequence, offset: int
    ) -> int | None:
        """Implements FileDescriptionImpl.write_cached: not while the inode
        is mapped shared (see FileWriter.write_cached), nor while its cached
        mode has set-ID bits (a write may take them away: see pwrite)."""
        attr = self.inode.attr
        if self.inode.mapping is not None or attr is None or attr.mode & (S_ISUID | S_ISGID):
            return None
        done = super().write_cached(t, fd, src, offset)
        if done is not None:
            self.inode.changes += 1
        return done

    async def _mirror(self, t: Context, offset: int, length: int) -> None:
        """Give the inode's shared mapping the file's size and its bytes
        ``[offset, offset + length)``."""
        mapping = self.inode.mapping
        if mapping is None:
            return
        size = (await self.fs.getattr(t, self.inode, self.fh)).size
        mapping.resize(size)
        # The memory's size, not the file's: the budget may have cut it.
        data = bytearray(max(0, min(offset + length, len(mapping.shadow)) - offset))
        if data:
            n = await FileReader.pread(self, t, _OwnState(), BufferSequence(data), offset)
            mapping.store(offset, memoryview(data)[:n])

    async def shared_memory(self, t: Context, writable: bool) -> int:
        """Implements FileDescriptionImpl.shared_memory: the inode's
        SharedMapping, filled with the file on first use; a writable one
        writes back through this file. ENODEV under FOPEN_DIRECT_IO, as
        Linux's fuse_file_mmap without FUSE_DIRECT_IO_ALLOW_MMAP."""
        if self.direct_io:
            raise SyscallError(errno.ENODEV)
        inode = self.inode
        if inode.mapping is None:
            inode.attr_expires = 0.0
            size = (await self.fs.getattr(t, inode, self.fh)).size
            cache = self.fs.page_cache
            # Reserved while the file is read (concurrent first maps count).
            allowed = cache.reserve(0, size)
            if allowed < size:
                cache.reserve(allowed, 0)
                raise SyscallError(errno.ENOMEM)
            try:
                data = bytearray(size)
                # Read again if the file changed through sentry meanwhile
                # (a write that ends once the mapping exists mirrors itself).
                for _ in range(FILL_TRIES):
                    seen = inode.changes
                    done = 0
                    while done < size:
                        dst = BufferSequence(memoryview(data)[done:])
                        n = await FileReader.pread(self, t, _OwnState(), dst, done)
                        if n == 0:
                            break
                        done += n
                    if inode.changes == seen:
                        break
            finally:
                cache.reserve(size, 0)
            if inode.mapping is None:  # else another task made it meanwhile
                inode.mapping = SharedMapping(memoryview(data)[:done], cache)
                self.fs.pin(inode)
        mapping = inode.mapping
        assert mapping is not None
        if writable:
            mapping.writable(t, self)
        return mapping.fd

    async def write_mapped(self, t: Context, offset: int, data: bytes) -> None:
        """Implements MappingWriter.write_mapped: through the write path,
        its error kept for the next fsync or close (logged, for a file
        without a cache)."""
        try:
            await FileWriter.pwrite(self, t, _OwnState(), BufferSequence(bytearray(data)), offset)
        except SyscallError as err:
            if self.cache is not None:
                self.cache.record_error(err.errno)
            else:
                log.warning("stores of a shared mapping were lost: %s", os.strerror(err.errno))

    def unmapped(self) -> None:
        """Implements MappingWriter.unmapped."""
        if self._release_deferred:
            self._release_deferred = False
            self.release()

    async def seek(self, t: Context, fd: FileState, offset: int, whence: int) -> int:
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
                return set_offset(fd, unpack_reply(fuse.LseekOut, body).offset)
        if whence in (os.SEEK_END, os.SEEK_DATA, os.SEEK_HOLE):
            self.inode.attr_expires = 0.0
        return await super().seek(t, fd, offset, whence)

    async def stat(self, t: Context, mask: int = STATX_BASIC_STATS) -> Statx:
        """Implements FileDescriptionImpl.stat."""
        return await self.fs.stat(t, self.inode, mask, self.fh)

    async def sync(self, t: Context, datasync: bool) -> None:
        """Implements FileDescriptionImpl.sync: writeback, then FUSE_FSYNC; a
        writeback error since the last fsync or close is reported."""
        if self.inode.mapping is not None:
            await self.inode.mapping.write_back(t)
        await writeback.write_back(self.fs, t, self.inode)
        await self.fs.fsync(t, self.inode, self.fh, datasync, directory=False)
        if self.cache is not None:
            error, self.wb_since = self.cache.check_fsync(self.wb_since)
            if error:
                raise SyscallError(error)

    async def allocate(self, t: Context, mode: int, offset: int, length: int) -> int:
        """Implements FileDescriptionImpl.allocate: FUSE_FALLOCATE."""
        conn = self.fs.conn
        if conn.no_fallocate:
            raise SyscallError(errno.EOPNOTSUPP)
        await self.fs.remove_privileges(t, self.inode)  # Linux's file_modified
        mapping = self.inode.mapping
        if mapping is not None:
            await mapping.hold(t)
        try:
            return await self._allocate(t, mode, offset, length)
        finally:
            if mapping is not None:
                mapping.release()

    async def _allocate(self, t: Context, mode: int, offset: int, length: int) -> int:
        conn = self.fs.conn
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
        self.inode.changes += 1
        await self._mirror(t, offset, length)
        return 0

    async def flush(self, t: Context | None) -> None:
        """Implements FileDescriptionImpl.flush: writeback, then FUSE_FLUSH
        (ENOSYS latched); a writeback error is close's error."""
        if self.inode.mapping is not None:
            await self.inode.mapping.write_back(t)
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

    def flushes(self) -> bool:
        """Implements FileDescriptionImpl.flushes: unless the daemon has no
        FLUSH and nothing of the file waits to be written back (no shared
        mapping, no dirty byte, no write-back error kept)."""
        inode, cache = self.inode, self.inode.cache
        return (
            not self.fs.conn.no_flush
            or inode.mapping is not None
            or inode.flushing is not None
            or (cache is not None and bool(cache.dirty or cache.as_error))
        )

    def release(self) -> None:
        """Implements FileDescriptionImpl.release: FUSE_RELEASE, unanswered;
        deferred while the inode's shared mapping writes back through this
        file (``unmapped``)."""
        mapping = self.inode.mapping
        if mapping is not None and mapping.writer is self and not mapping.closed:
            self._release_deferred = True
            return
        self.inode.opens -= 1
        if self in self.inode.writers:
            self.inode.writers.remove(self)
        if self._release:
            args = fuse.ReleaseIn(fh=self.fh, flags=self.flags).pack()
            self.fs.conn.send(None, fuse.FUSE_RELEASE, self.inode.nodeid, args)
        self.fs.closed_one(self.inode)
