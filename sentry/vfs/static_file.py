"""A read-only file whose bytes sentry made when it was opened (the mount
tables in /proc)."""

from __future__ import annotations

import errno
import time
from typing import TYPE_CHECKING

from sentry.abi.linux import S_IFREG, STATX_BASIC_STATS, Statx
from sentry.errors import SyscallError
from sentry.vfs.file_description_impl import FileDescriptionImpl, FileState

if TYPE_CHECKING:
    from sentry.vfs.context import Context
    from sentry.vfs.iov import IOSequence


class StaticFile(FileDescriptionImpl):
    """Implements FileDescriptionImpl over fixed bytes; fstat shows the
    device and inode numbers of the host file it stands for (programs such
    as grep compare them with their output's)."""

    def __init__(self, data: bytes, dev: int, ino: int) -> None:
        self.data = data
        self.dev = dev
        self.ino = ino
        self.opened = time.time_ns()

    async def pread(self, t: Context, fd: FileState, dst: IOSequence, offset: int) -> int:
        """Implements FileDescriptionImpl.pread."""
        chunk = self.data[offset : offset + dst.size]
        return dst.copy_out(0, chunk) if chunk else 0

    async def pwrite(self, t: Context, fd: FileState, src: IOSequence, offset: int) -> int:
        """Implements FileDescriptionImpl.pwrite: read-only."""
        raise SyscallError(errno.EBADF)

    async def stat(self, t: Context, mask: int = STATX_BASIC_STATS) -> Statx:
        """Implements FileDescriptionImpl.stat (like procfs: size 0)."""
        now = divmod(self.opened, 10**9)
        return Statx(S_IFREG | 0o444, self.ino, 1, 0, 0, 0, 0, 1024, now, now, now, dev=self.dev)
