"""The contract between the request loop and a file system: ``Operations``.

``Server`` decodes each FUSE request, calls one method of an ``Operations``
object with plain Python values, and encodes what it returns; a file system
never sees the wire format. Analogous to libfuse's ``struct
fuse_lowlevel_ops``, with node ids chosen by the file system.

Conventions for every method:

- Node ids and file handles are the file system's own numbers; node id 1
  (``FUSE_ROOT_ID``) is the root and is never forgotten.
- An error is raised, never returned: ``FuseError(errno)`` or any
  ``OSError`` (its errno is used; EIO if it has none). Any other exception
  is a bug: the loop logs it and replies EIO.
- Every method that returns an ``Entry`` gives the kernel one more lookup
  of that node, to be given back by ``forget``.
- Names are bytes without NUL or '/', as the kernel sends them.
- Buffers passed in (``write``'s data) are only valid during the call.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from typing import ClassVar

from sentry.abi import fuse

Buffer = bytes | bytearray | memoryview

# An inode's attributes: the 16 members of struct fuse_attr, in order (ino,
# size, blocks, atime, mtime, ctime, atimensec, mtimensec, ctimensec, mode,
# nlink, uid, gid, rdev, blksize, flags). A plain tuple, so that the loop
# packs it with no conversion.
Attr = tuple[int, ...]

# A node handed to the kernel: (nodeid, generation, attributes).
Entry = tuple[int, int, Attr]

# One directory entry: (ino, off, type, name). ``off`` is the cookie of the
# position after the entry; ``type`` is DT_* (mode >> 12).
DirEntry = tuple[int, int, int, bytes]

# statfs numbers: blocks, bfree, bavail, files, ffree, bsize, namelen,
# frsize (struct fuse_kstatfs).
Statfs = tuple[int, int, int, int, int, int, int, int]

# What the built-in file systems implement, and so accept at INIT: reads may
# overlap (ASYNC_READ), OPEN handles O_TRUNC (ATOMIC_O_TRUNC), WRITEs and
# READs up to max_write/max_pages (BIG_WRITES, MAX_PAGES), READDIRPLUS, and
# the server does not care about per-directory ordering (PARALLEL_DIROPS).
# Deliberately absent: WRITEBACK_CACHE (the server owns size and times),
# POSIX_LOCKS and FLOCK_LOCKS (the kernel keeps locks locally), DONT_MASK
# (the kernel applies the umask), EXPORT_SUPPORT (no LOOKUP of "." and "..").
BASE_INIT_FLAGS = (
    fuse.FUSE_ASYNC_READ
    | fuse.FUSE_ATOMIC_O_TRUNC
    | fuse.FUSE_BIG_WRITES
    | fuse.FUSE_DO_READDIRPLUS
    | fuse.FUSE_READDIRPLUS_AUTO
    | fuse.FUSE_MAX_PAGES
    | fuse.FUSE_PARALLEL_DIROPS
)


class FuseError(Exception):
    """A request failed with ``errno``; the reply carries ``-errno``."""

    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno


class Operations:
    """A file system served by ``Server``: one method per FUSE request.

    Every method here fails with ENOSYS (the kernel then latches a fallback
    or reports the error); ``forget`` and ``destroy`` do nothing. Subclasses
    override what they implement.
    """

    # The INIT flags the file system wants; the reply carries those the
    # kernel offered.
    init_flags: int = BASE_INIT_FLAGS
    # Seconds the kernel may cache a name's binding and an inode's attributes.
    entry_timeout: ClassVar[float] = 1.0
    attr_timeout: ClassVar[float] = 1.0

    def lookup(self, parent: int, name: bytes) -> Entry:
        """Return the entry *name* in directory *parent* (ENOENT if absent)."""
        raise FuseError(errno.ENOSYS)

    def forget(self, nodeid: int, nlookup: int) -> None:
        """Drop *nlookup* of the kernel's lookups of *nodeid*; nothing is replied."""

    def getattr(self, nodeid: int, fh: int | None) -> Attr:
        """Return the attributes of *nodeid*; *fh* is an open handle of it, if known."""
        raise FuseError(errno.ENOSYS)

    def setattr(self, nodeid: int, fh: int | None, attr: fuse.SetattrIn) -> Attr:
        """Change what ``attr.valid`` (FATTR_*) selects; return the new attributes."""
        raise FuseError(errno.ENOSYS)

    def readlink(self, nodeid: int) -> bytes:
        """Return the target of symlink *nodeid*."""
        raise FuseError(errno.ENOSYS)

    def symlink(self, parent: int, name: bytes, target: bytes, uid: int, gid: int) -> Entry:
        """Create symlink *name* -> *target* owned by the caller (*uid*, *gid*)."""
        raise FuseError(errno.ENOSYS)

    def mknod(self, parent: int, name: bytes, mode: int, rdev: int, uid: int, gid: int) -> Entry:
        """Create a regular file, fifo, socket or device node; *mode* has the type bits."""
        raise FuseError(errno.ENOSYS)

    def mkdir(self, parent: int, name: bytes, mode: int, uid: int, gid: int) -> Entry:
        """Create directory *name*; *mode* holds permission bits only (umask applied)."""
        raise FuseError(errno.ENOSYS)

    def unlink(self, parent: int, name: bytes) -> None:
        """Remove the non-directory *name*."""
        raise FuseError(errno.ENOSYS)

    def rmdir(self, parent: int, name: bytes) -> None:
        """Remove the empty directory *name*."""
        raise FuseError(errno.ENOSYS)

    def rename(self, parent: int, name: bytes, newparent: int, newname: bytes, flags: int) -> None:
        """Move *name* to *newname*; *flags* are renameat2's RENAME_* (EINVAL if unknown)."""
        raise FuseError(errno.ENOSYS)

    def link(self, nodeid: int, newparent: int, newname: bytes) -> Entry:
        """Give *nodeid* the further name *newname*."""
        raise FuseError(errno.ENOSYS)

    def open(self, nodeid: int, flags: int) -> tuple[int, int]:
        """Open *nodeid* with open(2) *flags*; return (fh, FOPEN_* flags).

        O_TRUNC truncates (the server accepted FUSE_ATOMIC_O_TRUNC).
        """
        raise FuseError(errno.ENOSYS)

    def read(self, nodeid: int, fh: int, offset: int, size: int) -> list[Buffer]:
        """Return at most *size* bytes from *offset*, as pieces; fewer means EOF.

        The pieces must stay valid until the next request is read.
        """
        raise FuseError(errno.ENOSYS)

    def write(self, nodeid: int, fh: int, offset: int, data: memoryview, flags: int) -> int:
        """Write *data* at *offset*; return the count written. *flags* are the open flags."""
        raise FuseError(errno.ENOSYS)

    def statfs(self, nodeid: int) -> Statfs:
        """Return the file system's statistics."""
        raise FuseError(errno.ENOSYS)

    def release(self, nodeid: int, fh: int, flags: int) -> None:
        """Close *fh*: the last reference to an open file description is gone."""
        raise FuseError(errno.ENOSYS)

    def fsync(self, nodeid: int, fh: int, datasync: bool) -> None:
        """Make the data (and, unless *datasync*, the metadata) of *fh* durable."""
        raise FuseError(errno.ENOSYS)

    def setxattr(self, nodeid: int, name: bytes, value: bytes, flags: int) -> None:
        """Set extended attribute *name*; *flags* are XATTR_CREATE / XATTR_REPLACE."""
        raise FuseError(errno.ENOSYS)

    def getxattr(self, nodeid: int, name: bytes) -> bytes:
        """Return the value of extended attribute *name* (ENODATA if absent)."""
        raise FuseError(errno.ENOSYS)

    def listxattr(self, nodeid: int) -> list[bytes]:
        """Return the names of the extended attributes of *nodeid*."""
        raise FuseError(errno.ENOSYS)

    def removexattr(self, nodeid: int, name: bytes) -> None:
        """Remove extended attribute *name* (ENODATA if absent)."""
        raise FuseError(errno.ENOSYS)

    def flush(self, nodeid: int, fh: int) -> None:
        """A file descriptor of *fh* was closed (one FLUSH per close(2))."""
        raise FuseError(errno.ENOSYS)

    def opendir(self, nodeid: int, flags: int) -> tuple[int, int]:
        """Open directory *nodeid*; return (fh, FOPEN_* flags)."""
        raise FuseError(errno.ENOSYS)

    def readdir(self, nodeid: int, fh: int, offset: int) -> Iterable[DirEntry]:
        """Yield the entries after cookie *offset* (0: from the start), "." and ".." included.

        The loop stops pulling when the reply is full, and asks again from the
        ``off`` of the last entry it sent: cookies must stay valid while
        entries come and go.
        """
        raise FuseError(errno.ENOSYS)

    def releasedir(self, nodeid: int, fh: int) -> None:
        """Close directory handle *fh*."""
        raise FuseError(errno.ENOSYS)

    def fsyncdir(self, nodeid: int, fh: int, datasync: bool) -> None:
        """Make directory *fh* durable."""
        raise FuseError(errno.ENOSYS)

    def access(self, nodeid: int, mask: int) -> None:
        """Check access(2) *mask* (sent only without default_permissions)."""
        raise FuseError(errno.ENOSYS)

    def create(
        self, parent: int, name: bytes, mode: int, flags: int, uid: int, gid: int
    ) -> tuple[Entry, int, int]:
        """Create and open regular file *name*; return (entry, fh, FOPEN_* flags)."""
        raise FuseError(errno.ENOSYS)

    def fallocate(self, nodeid: int, fh: int, offset: int, length: int, mode: int) -> None:
        """fallocate(2) on *fh*; EOPNOTSUPP for a *mode* not implemented."""
        raise FuseError(errno.ENOSYS)

    def lseek(self, nodeid: int, fh: int, offset: int, whence: int) -> int:
        """Return the SEEK_DATA / SEEK_HOLE position from *offset* (ENXIO past the end)."""
        raise FuseError(errno.ENOSYS)

    def destroy(self) -> None:
        """The kernel is done with the file system (DESTROY; fuseblk only)."""
