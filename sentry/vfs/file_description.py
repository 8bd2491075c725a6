"""Open file descriptions: what an fd refers to.

Analogous to gVisor's ``vfs/file_description.go`` and Linux's ``struct
file``: a FileDescription is shared by dup, fork and SCM_RIGHTS, holding the
status flags, the file offset and where it was opened; its
FileDescriptionImpl (``file_description_impl.py``) does the
file-system-specific work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentry.vfs import lock
from sentry.vfs.file_description_impl import (
    O_ACCMODE,
    O_CLOEXEC,
    O_DIRECTORY,
    O_LARGEFILE,
    O_NOFOLLOW,
    O_PATH,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    OPEN_ONLY,
    FileDescriptionImpl,
)
from sentry.waiter import run_background

if TYPE_CHECKING:
    from sentry.vfs.context import Context
    from sentry.vfs.vfs import Location


class FileDescription:
    """An open file: flags, offset and a reference count of the fds on it.

    Invariants: ``refs`` counts the FDTable entries that refer to it, and
    the calls under way that hold it (a lock call's wait, as Linux's
    fdget); when it drops to 0 its locks go and the impl is released,
    exactly once.
    """

    def __init__(self, impl: FileDescriptionImpl, flags: int, location: Location) -> None:
        self.impl = impl
        # As Linux's do_dentry_open (and O_LARGEFILE, forced on 64-bit).
        if flags & O_PATH:  # as build_open_flags masks it
            self.flags = flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW)
        else:
            self.flags = flags & ~(O_CLOEXEC | OPEN_ONLY) | O_LARGEFILE
        self.location = location  # where it was opened (the app's path)
        self.offset = 0
        self.refs = 0

    def __repr__(self) -> str:
        return f"FileDescription({self.location.path!r})"

    def inc_ref(self) -> None:
        """Implements File.inc_ref."""
        self.refs += 1

    def dec_ref(self) -> None:
        """Implements File.dec_ref: at the last reference, its OFD and flock
        locks go, and the impl is released."""
        self.refs -= 1
        if self.refs == 0:
            lock.release(self.lock_key, self)
            self.impl.release()

    @property
    def lock_key(self) -> object:
        """What the file's locks are kept by (``sentry.vfs.lock``): its inode,
        shared by every open of the file."""
        inode = self.location.inode
        return inode if inode is not None else self.impl

    def closed_by(self, owner: object) -> None:
        """An fd of this file was closed by the fd table ``owner``: the
        classic POSIX locks it holds on the file go (Linux's
        ``locks_remove_posix``), whichever fd they were set through."""
        lock.release(self.lock_key, owner)

    def close_fd(self, t: Context | None) -> None:
        """Implements File.close_fd: one fd on this file was closed (by
        close(2), dup2 over it, exec, or its process's exit). As in Linux the
        file is flushed (without waiting), then the fd's reference dropped."""
        run_background(self._flush_then_drop(t))

    async def _flush_then_drop(self, t: Context | None) -> None:
        try:
            await self.impl.flush(t)
        finally:
            self.dec_ref()

    @property
    def readable(self) -> bool:
        """Opened for reading."""
        # Access mode 3 opens for neither (Linux's OPEN_FMODE).
        return self.flags & O_ACCMODE in (O_RDONLY, O_RDWR) and not self.flags & O_PATH

    @property
    def writable(self) -> bool:
        """Opened for writing."""
        return self.flags & O_ACCMODE in (O_WRONLY, O_RDWR) and not self.flags & O_PATH
