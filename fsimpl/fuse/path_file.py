"""An ``O_PATH`` file of a FUSE mount.

As in Linux, opening with ``O_PATH`` never reaches the daemon (no OPEN, no
RELEASE): the file only marks a place in the tree, for ``*at`` calls,
``fstat`` and ``fchdir``, and keeps the mount busy while it is open. Any
file type can be opened this way, a symlink included with ``O_NOFOLLOW``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentry.abi.linux import STATX_BASIC_STATS
from sentry.vfs.file_description_impl import FileDescriptionImpl

if TYPE_CHECKING:
    from sentry.abi.linux import Statx
    from sentry.fsimpl.fuse.fusefs import FuseFilesystem
    from sentry.fsimpl.fuse.inode import Inode
    from sentry.vfs.context import Context


class PathFile(FileDescriptionImpl):
    """Implements FileDescriptionImpl for an O_PATH open of ``inode``."""

    def __init__(self, fs: FuseFilesystem, inode: Inode) -> None:
        self.fs = fs
        self.inode = inode
        inode.opens += 1

    async def stat(self, t: Context, mask: int = STATX_BASIC_STATS) -> Statx:
        """Implements FileDescriptionImpl.stat."""
        return self.fs.statx(await self.fs.getattr(t, self.inode))

    def release(self) -> None:
        """Implements FileDescriptionImpl.release: nothing to tell the daemon."""
        self.inode.opens -= 1
        self.fs.closed_one(self.inode)
