"""Open directories of a FUSE mount: getdents64 over READDIR(PLUS).

Analogous to gVisor's ``fuse/directory.go`` (Linux: ``fs/fuse/readdir.c``).
The file offset is the daemon's cookie of the next entry, so lseek to an
offset getdents64 reported works. Entries a READDIR reply holds beyond what
the app's buffer takes are kept for the next call, never dropped (gVisor
#13721, libfuse#214). READDIRPLUS is used when the daemon supports it, and
its entries fill the inode cache (each counts a lookup, except ``.`` and
``..``).
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING

from sentry.abi import fuse
from sentry.abi.linux import STATX_BASIC_STATS, Statx, pack_dirent64
from sentry.errors import SyscallError
from sentry.fsimpl.fuse.inode import HandleFile, Inode, expiry
from sentry.vfs.file_description_impl import FileState

if TYPE_CHECKING:
    from sentry.fsimpl.fuse.fusefs import FuseFilesystem
    from sentry.vfs.context import Context

READDIR_SIZE = 32768  # what Linux 6.18 asks for


class Directory(HandleFile):
    """Implements FileDescriptionImpl for a FUSE directory (fh ``fh``)."""

    def __init__(
        self, fs: FuseFilesystem, inode: Inode, fh: int, flags: int, release: bool
    ) -> None:
        self.fs = fs
        self.inode = inode
        inode.opens += 1
        self.fh = fh
        self.flags = flags  # opendir's, for RELEASEDIR
        self._release = release
        self._pending: list[tuple[int, int, int, bytes]] = []  # ino, next offset, type, name
        self._eof = False

    async def _fill(self, t: Context, offset: int) -> None:
        conn = self.fs.conn
        plus = bool(conn.flags & fuse.FUSE_DO_READDIRPLUS)
        opcode = fuse.FUSE_READDIRPLUS if plus else fuse.FUSE_READDIR
        args = fuse.ReadIn(fh=self.fh, offset=offset, size=READDIR_SIZE, flags=self.flags)
        body = await conn.call(t, opcode, self.inode.nodeid, args.pack())
        self.inode.atime_stale = True  # as Linux's fuse_readdir
        before = len(self._pending)
        try:
            if plus:
                for entry in list(fuse.iter_direntplus(body)):
                    d = entry.dirent
                    if d.name not in (b".", b"..") and entry.entry_out.nodeid:
                        self.fs.entry(entry.entry_out)
                        self.inode.entries[d.name] = (
                            entry.entry_out.nodeid,
                            expiry(entry.entry_out.entry_valid, entry.entry_out.entry_valid_nsec),
                        )
                    self._pending.append((d.ino, d.off, d.type, d.name))
            else:
                for d in list(fuse.iter_dirents(body)):
                    self._pending.append((d.ino, d.off, d.type, d.name))
        except ValueError:
            del self._pending[before:]
            raise SyscallError(errno.EIO) from None
        if len(self._pending) == before:
            self._eof = True

    async def getdents(
        self, t: Context, fd: FileState, size: int, copy_out: Callable[[bytes], int]
    ) -> int:
        """Implements FileDescriptionImpl.getdents."""
        out = bytearray()
        ends: list[tuple[int, int]] = []  # (end of a record in out, the offset after it)
        offset = fd.offset
        while True:
            if len(ends) == len(self._pending):
                if self._eof:
                    break
                await self._fill(t, ends[-1][1] if ends else offset)
                continue
            ino, next_offset, d_type, name = self._pending[len(ends)]
            record = pack_dirent64(ino, next_offset, d_type, name)
            if len(out) + len(record) > size:
                if not out:
                    raise SyscallError(errno.EINVAL)
                break
            out += record
            ends.append((len(out), next_offset))
        if not out:
            return 0
        copied = copy_out(bytes(out))
        taken = sum(1 for end, _ in ends if end <= copied)
        if taken:
            fd.offset = ends[taken - 1][1]
        del self._pending[:taken]
        return ends[taken - 1][0] if taken else 0

    async def seek(self, t: Context, fd: FileState, offset: int, whence: int) -> int:
        """Implements FileDescriptionImpl.seek: to a cookie getdents gave
        (any offset, as Linux's ``generic_file_llseek`` on a FUSE directory)."""
        offset = await super().seek(t, fd, offset, whence)
        self._pending.clear()
        self._eof = False
        return offset

    async def pread(self, t: Context, fd: FileState, dst: object, offset: int) -> int:
        """Implements FileDescriptionImpl.pread: directories can't be read."""
        raise SyscallError(errno.EISDIR)

    async def read(self, t: Context, fd: FileState, dst: object) -> int:
        """Implements FileDescriptionImpl.read: directories can't be read."""
        raise SyscallError(errno.EISDIR)

    async def stat(self, t: Context, mask: int = STATX_BASIC_STATS) -> Statx:
        """Implements FileDescriptionImpl.stat."""
        return self.fs.statx(await self.fs.getattr(t, self.inode))

    async def sync(self, t: Context, datasync: bool) -> None:
        """Implements FileDescriptionImpl.sync: FUSE_FSYNCDIR."""
        await self.fs.fsync(t, self.inode, self.fh, datasync, directory=True)

    def release(self) -> None:
        """Implements FileDescriptionImpl.release: FUSE_RELEASEDIR, unanswered."""
        self.inode.opens -= 1
        if self._release:
            args = fuse.ReleaseIn(fh=self.fh, flags=self.flags).pack()
            self.fs.conn.send(None, fuse.FUSE_RELEASEDIR, self.inode.nodeid, args)
        self.fs.closed_one(self.inode)
