"""memfs: an in-memory file system, served over FUSE.

It behaves like Linux's tmpfs (``mm/shmem.c``), which the tests use as the
oracle: regular files, directories, symlinks, hard links, fifos, sockets and
device nodes, extended attributes, sparse files, fallocate, SEEK_DATA /
SEEK_HOLE and renameat2's NOREPLACE and EXCHANGE.

How it matches tmpfs:

- File data lives in 4 KiB chunks (a page each) in a dict keyed by chunk
  index; a missing chunk is a hole and reads as zeros. ``st_blocks`` counts
  8 per allocated chunk, SEEK_DATA/SEEK_HOLE answer on chunk boundaries
  (fallocated chunks nothing wrote count as holes there, as in tmpfs), and
  bytes at or past the size are always zero (truncation clears them).
- Its size (tmpfs's ``size=``, default half the RAM) bounds the chunks all
  files hold: a write past it writes what fits, then ENOSPC; a fallocate
  that does not fit is ENOSPC. statfs reports what is left.
- fallocate supports tmpfs's modes: 0, KEEP_SIZE and PUNCH_HOLE|KEEP_SIZE
  (others get EOPNOTSUPP). renameat2 supports NOREPLACE and EXCHANGE, not
  WHITEOUT (EINVAL).
- A directory's size is 40 + 20 per entry (tmpfs's BOGO_DIRENT_SIZE) and its
  link count 2 + its subdirectories; a symlink takes a block only when its
  target is 128 bytes or more (tmpfs stores shorter ones inline).
- Time stamps are nanoseconds, updated as POSIX and tmpfs do: writes and
  truncation set mtime and ctime, attribute and link-count changes set
  ctime, adding or removing a name sets the directory's mtime and ctime,
  reads and directory listings set atime the relatime way.
- New inodes belong to the caller (the request's uid and gid), except that
  a set-group-ID directory gives its group, and to new directories its
  S_ISGID bit.
- The root is mode 1777 and belongs to the server's user, as tmpfs's.

Permissions are the kernel's business (the mounts use default_permissions),
and so is the umask (FUSE_DONT_MASK is not negotiated).

Inode numbers are node ids: they count up from 1 (the root) and are never
reused, so every generation number is 0. An inode lives while it has a name,
a kernel lookup or an open file: FORGET of the last lookup frees an unlinked
inode once it is also closed.

Directory offsets are cookies: each name gets the next number of its
directory when it is added, so the insertion-ordered ``entries`` dict is in
cookie order and an offset stays meaningful while names come and go.
"""

from __future__ import annotations

import bisect
import errno
import os
import stat
import time
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import TypeVar

from sentry.abi import fuse
from sentry.abi.linux import XATTR_CREATE, XATTR_REPLACE
from sentry.fuse_server.operations import (
    Attr,
    Buffer,
    DirEntry,
    Entry,
    FuseError,
    Operations,
    Statfs,
)

CHUNK = 4096
BLOCKS_PER_CHUNK = CHUNK // 512
# tmpfs: a directory's size counts BOGO_DIRENT_SIZE per entry, plus two for
# "." and ".."; symlink targets of SHORT_SYMLINK_LEN bytes or more take a page.
BOGO_DIRENT_SIZE = 20
SHORT_SYMLINK_LEN = 128
NAME_MAX = 255
SYMLINK_MAX = 4095
DAY_NS = 86400 * 1_000_000_000
NS = 1_000_000_000

# renameat2(2) and fallocate(2) flags (linux/fs.h, linux/falloc.h).
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
# The xattr namespaces tmpfs stores; others get EOPNOTSUPP.
XATTR_PREFIXES = (b"user.", b"trusted.", b"security.")

_ZEROS = memoryview(bytes(CHUNK))
_cookie = itemgetter(0)


class Inode:
    """An inode of any type without contents: fifo, socket, device node.

    Analogous to Linux's ``struct inode``; times are nanoseconds.
    """

    __slots__ = (
        "ino",
        "mode",
        "nlink",
        "uid",
        "gid",
        "rdev",
        "atime",
        "mtime",
        "ctime",
        "nlookup",
        "opens",
        "xattrs",
    )

    def __init__(self, ino: int, mode: int, uid: int, gid: int, now: int) -> None:
        self.ino = ino
        self.mode = mode
        self.nlink = 1
        self.uid = uid
        self.gid = gid
        self.rdev = 0
        self.atime = self.mtime = self.ctime = now
        self.nlookup = 0  # the kernel's lookups, given back by FORGET
        self.opens = 0  # open file handles
        self.xattrs: dict[bytes, bytes] = {}

    def size(self) -> int:
        return 0

    def blocks(self) -> int:
        return 0

    def attr(self) -> Attr:
        a, m, c = self.atime, self.mtime, self.ctime
        return (
            self.ino,
            self.size(),
            self.blocks(),
            a // NS,
            m // NS,
            c // NS,
            a % NS,
            m % NS,
            c % NS,
            self.mode,
            self.nlink,
            self.uid,
            self.gid,
            self.rdev,
            CHUNK,
            0,
        )

    def accessed(self, now: int) -> None:
        """Update atime as relatime does: once after each change, else daily."""
        if self.atime <= self.mtime or self.atime <= self.ctime or now - self.atime >= DAY_NS:
            self.atime = now


class File(Inode):
    """A regular file: its bytes in CHUNK-sized pages, holes absent.

    Chunks that fallocate added and nothing wrote yet are ``unwritten``:
    they count in st_blocks but are holes to SEEK_DATA and SEEK_HOLE, as
    tmpfs's not-yet-uptodate fallocated pages are.
    """

    __slots__ = ("chunks", "length", "unwritten")

    def __init__(self, ino: int, mode: int, uid: int, gid: int, now: int) -> None:
        super().__init__(ino, mode, uid, gid, now)
        self.chunks: dict[int, bytearray] = {}
        self.length = 0
        self.unwritten: set[int] = set()

    def size(self) -> int:
        return self.length

    def blocks(self) -> int:
        return len(self.chunks) * BLOCKS_PER_CHUNK

    def read(self, offset: int, size: int) -> list[Buffer]:
        """The bytes in [offset, offset+size) before EOF, one piece per chunk."""
        end = min(offset + size, self.length)
        pieces: list[Buffer] = []
        chunks = self.chunks
        pos = offset
        while pos < end:
            index, skip = divmod(pos, CHUNK)
            take = min(CHUNK - skip, end - pos)
            chunk = chunks.get(index)
            if chunk is None:
                pieces.append(_ZEROS[:take])
            else:
                pieces.append(memoryview(chunk)[skip : skip + take])
            pos += take
        return pieces

    def write(self, offset: int, data: memoryview) -> None:
        chunks = self.chunks
        end = offset + len(data)
        pos, done = offset, 0
        while pos < end:
            index, skip = divmod(pos, CHUNK)
            take = min(CHUNK - skip, end - pos)
            chunk = chunks.get(index)
            if chunk is None:
                chunk = chunks[index] = bytearray(CHUNK)
            chunk[skip : skip + take] = data[done : done + take]
            pos += take
            done += take
        if self.unwritten:
            self.unwritten.difference_update(range(offset // CHUNK, (end - 1) // CHUNK + 1))
        if end > self.length:
            self.length = end

    def truncate(self, size: int) -> None:
        """Set the size; shrinking frees every chunk past it, preallocated ones too."""
        if size < self.length:
            self.punch(size, (max(self.chunks, default=0) + 1) * CHUNK - size)
        self.length = size

    def punch(self, offset: int, length: int) -> None:
        """Make [offset, offset+length) a hole: free whole chunks, zero partial ones."""
        end = offset + length
        for index in [i for i in self.chunks if i * CHUNK < end and (i + 1) * CHUNK > offset]:
            start = max(offset - index * CHUNK, 0)
            stop = min(end - index * CHUNK, CHUNK)
            if start == 0 and stop == CHUNK:
                del self.chunks[index]
                self.unwritten.discard(index)
            else:
                self.chunks[index][start:stop] = _ZEROS[: stop - start]

    def allocate(self, offset: int, length: int) -> None:
        for index in range(offset // CHUNK, -(-(offset + length) // CHUNK)):
            if index not in self.chunks:
                self.chunks[index] = bytearray(CHUNK)
                self.unwritten.add(index)

    def seek(self, offset: int, whence: int) -> int:
        """SEEK_DATA / SEEK_HOLE from *offset*, on chunk boundaries."""
        if offset >= self.length:
            raise FuseError(errno.ENXIO)
        index = offset // CHUNK
        if whence == os.SEEK_DATA:
            data = [
                i
                for i in self.chunks
                if i >= index and i * CHUNK < self.length and i not in self.unwritten
            ]
            if not data:
                raise FuseError(errno.ENXIO)
            return max(offset, min(data) * CHUNK)
        if whence == os.SEEK_HOLE:
            while index in self.chunks and index not in self.unwritten:
                index += 1
            return min(max(offset, index * CHUNK), self.length)
        raise FuseError(errno.EINVAL)


class Symlink(Inode):
    """A symbolic link and its target."""

    __slots__ = ("target",)

    def __init__(self, ino: int, mode: int, uid: int, gid: int, now: int) -> None:
        super().__init__(ino, mode, uid, gid, now)
        self.target = b""

    def size(self) -> int:
        return len(self.target)

    def blocks(self) -> int:
        return BLOCKS_PER_CHUNK if len(self.target) >= SHORT_SYMLINK_LEN else 0


class Directory(Inode):
    """A directory: its names in cookie order, and its parent for "..".

    ``version`` changes whenever a name is added or removed, so that open
    handles know when their listing went stale.
    """

    __slots__ = ("entries", "parent", "next_cookie", "version")

    # Cookies 1 and 2 are the positions after "." and "..".
    FIRST_COOKIE = 3

    def __init__(self, ino: int, mode: int, uid: int, gid: int, now: int) -> None:
        super().__init__(ino, mode, uid, gid, now)
        self.nlink = 2
        self.entries: dict[bytes, tuple[int, Inode]] = {}
        self.parent = self
        self.next_cookie = self.FIRST_COOKIE
        self.version = 0

    def size(self) -> int:
        return (2 + len(self.entries)) * BOGO_DIRENT_SIZE

    def add(self, name: bytes, inode: Inode) -> None:
        self.entries[name] = (self.next_cookie, inode)
        self.next_cookie += 1
        self.version += 1
        if isinstance(inode, Directory):
            inode.parent = self
            self.nlink += 1

    def remove(self, name: bytes) -> Inode:
        inode = self.entries.pop(name)[1]
        self.version += 1
        if isinstance(inode, Directory):
            self.nlink -= 1
        return inode

    def changed(self, now: int) -> None:
        self.mtime = self.ctime = now


_I = TypeVar("_I", bound=Inode)


class _DirHandle:
    """An open directory: a listing of (cookie, name), rebuilt when it goes stale."""

    __slots__ = ("dir", "listing", "version")

    def __init__(self, directory: Directory) -> None:
        self.dir = directory
        self.listing: list[tuple[int, bytes]] = []
        self.version = -1

    def after(self, offset: int) -> Iterator[DirEntry]:
        d = self.dir
        if self.version != d.version:
            self.listing = [(cookie, name) for name, (cookie, _) in d.entries.items()]
            self.version = d.version
        entries = d.entries
        for cookie, name in self.listing[bisect.bisect_right(self.listing, offset, key=_cookie) :]:
            inode = entries[name][1]
            yield inode.ino, cookie, inode.mode >> 12, name


def _dir(inode: Inode) -> Directory:
    if not isinstance(inode, Directory):
        raise FuseError(errno.ENOTDIR)
    return inode


def _live_dir(inode: Inode) -> Directory:
    """A directory that may get new names: not removed (ENOENT, as Linux's IS_DEADDIR)."""
    d = _dir(inode)
    if d.nlink == 0:
        raise FuseError(errno.ENOENT)
    return d


def _check_name(name: bytes) -> None:
    if len(name) > NAME_MAX:
        raise FuseError(errno.ENAMETOOLONG)


class MemFS(Operations):
    """An in-memory file system (tmpfs-like) behind the ``Operations`` contract."""

    # Only the kernel changes a memfs, and it invalidates what it changes:
    # its caches may be kept as long as it likes.
    entry_timeout = 86400.0
    attr_timeout = 86400.0

    def __init__(
        self, writeback: bool = False, mode: int = 0o1777, size: int | None = None
    ) -> None:
        """``writeback``: accept FUSE_WRITEBACK_CACHE, so the client caches
        writes and sends them later (its size and times win meanwhile).
        ``mode``: the root's permission bits; ``size``: the bytes statfs
        reports (tmpfs's mode= and size=)."""
        if writeback:
            self.init_flags = self.init_flags | fuse.FUSE_WRITEBACK_CACHE
        now = time.time_ns()
        root = Directory(
            fuse.FUSE_ROOT_ID, stat.S_IFDIR | mode & 0o7777, os.geteuid(), os.getegid(), now
        )
        self.inodes: dict[int, Inode] = {root.ino: root}
        self.next_ino = root.ino + 1
        self.dir_handles: dict[int, _DirHandle] = {}
        self.next_fh = 1
        # tmpfs's default size limits: half the RAM, in blocks and in inodes.
        if size is None:
            size = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
        self.max_blocks = -(-size // CHUNK)
        self.used = 0  # chunks held by files, at most max_blocks (ENOSPC past it)

    # ----------------------------------------------------------- helpers

    def _inode(self, nodeid: int) -> Inode:
        inode = self.inodes.get(nodeid)
        if inode is None:
            raise FuseError(errno.ESTALE)
        return inode

    def _file(self, nodeid: int) -> File:
        inode = self._inode(nodeid)
        if not isinstance(inode, File):
            raise FuseError(errno.EISDIR if isinstance(inode, Directory) else errno.EINVAL)
        return inode

    def _child(self, parent: Directory, name: bytes) -> Inode:
        _check_name(name)
        found = parent.entries.get(name)
        if found is None:
            raise FuseError(errno.ENOENT)
        return found[1]

    def _entry(self, inode: Inode) -> Entry:
        inode.nlookup += 1
        return inode.ino, 0, inode.attr()

    def _maybe_free(self, inode: Inode) -> None:
        if inode.nlink == 0 and inode.nlookup <= 0 and inode.opens <= 0:
            if self.inodes.pop(inode.ino, None) is not None and isinstance(inode, File):
                self.used -= len(inode.chunks)

    def _charged(self, inode: File, change: Callable[[], None]) -> None:
        """Run ``change`` of ``inode``'s chunks, counting what it adds or frees."""
        before = len(inode.chunks)
        try:
            change()
        finally:
            self.used += len(inode.chunks) - before

    def _fitting(self, inode: File, offset: int, length: int) -> int:
        """How many bytes of a write of ``length`` at ``offset`` fit in the
        chunks left (tmpfs writes until it is full): ``length``, or less."""
        first, last = offset // CHUNK, (offset + length - 1) // CHUNK
        free = self.max_blocks - self.used
        if last - first + 1 <= free:
            return length
        for index in range(first, last + 1):
            if index not in inode.chunks:
                if free == 0:
                    return max(0, index * CHUNK - offset)
                free -= 1
        return length

    def _target(self, parent: int, name: bytes) -> Directory:
        """The directory that is to get the new *name* (EEXIST if it has it already)."""
        d = _live_dir(self._inode(parent))
        _check_name(name)
        if name in d.entries:
            raise FuseError(errno.EEXIST)
        return d

    def _new(
        self, parent: int, name: bytes, make: type[_I], mode: int, uid: int, gid: int
    ) -> tuple[Directory, _I, int]:
        """Make an inode for *name* in *parent*, owned as tmpfs would own it."""
        d = self._target(parent, name)
        if d.mode & stat.S_ISGID:
            gid = d.gid
            if stat.S_ISDIR(mode):
                mode |= stat.S_ISGID
        now = time.time_ns()
        inode = make(self.next_ino, mode, uid, gid, now)
        self.next_ino += 1
        return d, inode, now

    def _add(self, d: Directory, name: bytes, inode: Inode, now: int) -> Entry:
        d.add(name, inode)
        d.changed(now)
        self.inodes[inode.ino] = inode
        return self._entry(inode)

    # ------------------------------------------------------------- names

    def lookup(self, parent: int, name: bytes) -> Entry:
        """Implements Operations.lookup."""
        return self._entry(self._child(_dir(self._inode(parent)), name))

    def forget(self, nodeid: int, nlookup: int) -> None:
        """Implements Operations.forget."""
        inode = self.inodes.get(nodeid)
        if inode is not None and nodeid != fuse.FUSE_ROOT_ID:
            inode.nlookup -= nlookup
            self._maybe_free(inode)

    def getattr(self, nodeid: int, fh: int | None) -> Attr:
        """Implements Operations.getattr."""
        return self._inode(nodeid).attr()

    def setattr(self, nodeid: int, fh: int | None, attr: fuse.SetattrIn) -> Attr:
        """Implements Operations.setattr."""
        inode = self._inode(nodeid)
        valid = attr.valid
        now = time.time_ns()
        if valid & fuse.FATTR_SIZE:
            if not isinstance(inode, File):
                raise FuseError(errno.EISDIR if isinstance(inode, Directory) else errno.EINVAL)
            self._charged(inode, lambda: inode.truncate(attr.size))
            inode.mtime = now
        if valid & fuse.FATTR_MODE:
            inode.mode = stat.S_IFMT(inode.mode) | stat.S_IMODE(attr.mode)
        if valid & fuse.FATTR_UID:
            inode.uid = attr.uid
        if valid & fuse.FATTR_GID:
            inode.gid = attr.gid
        if valid & fuse.FATTR_ATIME:
            inode.atime = now if valid & fuse.FATTR_ATIME_NOW else attr.atime * NS + attr.atimensec
        if valid & fuse.FATTR_MTIME:
            inode.mtime = now if valid & fuse.FATTR_MTIME_NOW else attr.mtime * NS + attr.mtimensec
        changes = (
            fuse.FATTR_SIZE
            | fuse.FATTR_MODE
            | fuse.FATTR_UID
            | fuse.FATTR_GID
            | fuse.FATTR_ATIME
            | fuse.FATTR_MTIME
        )
        if valid & fuse.FATTR_CTIME:
            inode.ctime = attr.ctime * NS + attr.ctimensec
        elif valid & changes:
            inode.ctime = now
        return inode.attr()

    def readlink(self, nodeid: int) -> bytes:
        """Implements Operations.readlink."""
        inode = self._inode(nodeid)
        if not isinstance(inode, Symlink):
            raise FuseError(errno.EINVAL)
        return inode.target

    def symlink(self, parent: int, name: bytes, target: bytes, uid: int, gid: int) -> Entry:
        """Implements Operations.symlink."""
        if len(target) > SYMLINK_MAX:
            raise FuseError(errno.ENAMETOOLONG)
        d, link, now = self._new(parent, name, Symlink, stat.S_IFLNK | 0o777, uid, gid)
        link.target = target
        return self._add(d, name, link, now)

    def mknod(self, parent: int, name: bytes, mode: int, rdev: int, uid: int, gid: int) -> Entry:
        """Implements Operations.mknod."""
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFREG:
            make: type[Inode] = File
        elif kind in (stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR, stat.S_IFBLK):
            make = Inode
        else:
            raise FuseError(errno.EINVAL)
        d, inode, now = self._new(parent, name, make, mode, uid, gid)
        if kind in (stat.S_IFCHR, stat.S_IFBLK):
            inode.rdev = rdev
        return self._add(d, name, inode, now)

    def mkdir(self, parent: int, name: bytes, mode: int, uid: int, gid: int) -> Entry:
        """Implements Operations.mkdir."""
        mode = stat.S_IFDIR | stat.S_IMODE(mode)
        d, inode, now = self._new(parent, name, Directory, mode, uid, gid)
        return self._add(d, name, inode, now)

    def unlink(self, parent: int, name: bytes) -> None:
        """Implements Operations.unlink."""
        d = _dir(self._inode(parent))
        if isinstance(self._child(d, name), Directory):
            raise FuseError(errno.EISDIR)
        inode = d.remove(name)
        now = time.time_ns()
        d.changed(now)
        inode.nlink -= 1
        inode.ctime = now
        self._maybe_free(inode)

    def rmdir(self, parent: int, name: bytes) -> None:
        """Implements Operations.rmdir."""
        d = _dir(self._inode(parent))
        child = _dir(self._child(d, name))
        if child.entries:
            raise FuseError(errno.ENOTEMPTY)
        d.remove(name)
        now = time.time_ns()
        d.changed(now)
        child.nlink = 0
        child.ctime = now
        self._maybe_free(child)

    def rename(self, parent: int, name: bytes, newparent: int, newname: bytes, flags: int) -> None:
        """Implements Operations.rename (flags: RENAME_NOREPLACE or RENAME_EXCHANGE)."""
        if flags not in (0, RENAME_NOREPLACE, RENAME_EXCHANGE):
            raise FuseError(errno.EINVAL)
        src_dir = _dir(self._inode(parent))
        dst_dir = _live_dir(self._inode(newparent))
        src = self._child(src_dir, name)
        _check_name(newname)
        found = dst_dir.entries.get(newname)
        dst = found[1] if found else None
        if flags == RENAME_EXCHANGE:
            if dst is None:
                raise FuseError(errno.ENOENT)
            self._exchange(src_dir, name, dst_dir, newname)
            return
        if dst is src:
            return  # two names of one inode: POSIX says do nothing
        if dst is not None and flags == RENAME_NOREPLACE:
            raise FuseError(errno.EEXIST)
        if isinstance(src, Directory):
            if _contains(src, dst_dir):
                raise FuseError(errno.EINVAL)
            if dst is not None and not isinstance(dst, Directory):
                raise FuseError(errno.ENOTDIR)
            if isinstance(dst, Directory) and dst.entries:
                raise FuseError(errno.ENOTEMPTY)
        elif isinstance(dst, Directory):
            raise FuseError(errno.EISDIR)
        now = time.time_ns()
        if dst is not None:
            dst_dir.remove(newname)
            dst.nlink = 0 if isinstance(dst, Directory) else dst.nlink - 1
            dst.ctime = now
        src_dir.remove(name)
        dst_dir.add(newname, src)
        src.ctime = now
        src_dir.changed(now)
        dst_dir.changed(now)
        if dst is not None:
            self._maybe_free(dst)

    def _exchange(self, a_dir: Directory, a_name: bytes, b_dir: Directory, b_name: bytes) -> None:
        """RENAME_EXCHANGE: the two names swap inodes and keep their cookies."""
        a_cookie, a = a_dir.entries[a_name]
        b_cookie, b = b_dir.entries[b_name]
        if a is b:
            return
        if (isinstance(a, Directory) and _contains(a, b_dir)) or (
            isinstance(b, Directory) and _contains(b, a_dir)
        ):
            raise FuseError(errno.EINVAL)
        a_dir.entries[a_name] = (a_cookie, b)
        b_dir.entries[b_name] = (b_cookie, a)
        for d in (a_dir, b_dir):
            d.version += 1
        for inode, new_parent, old_parent in ((a, b_dir, a_dir), (b, a_dir, b_dir)):
            if isinstance(inode, Directory) and new_parent is not old_parent:
                inode.parent = new_parent
                new_parent.nlink += 1
                old_parent.nlink -= 1
        now = time.time_ns()
        a.ctime = b.ctime = now
        a_dir.changed(now)
        b_dir.changed(now)

    def link(self, nodeid: int, newparent: int, newname: bytes) -> Entry:
        """Implements Operations.link."""
        inode = self._inode(nodeid)
        if isinstance(inode, Directory):
            raise FuseError(errno.EPERM)
        d = self._target(newparent, newname)
        now = time.time_ns()
        inode.nlink += 1
        inode.ctime = now
        return self._add(d, newname, inode, now)

    # ------------------------------------------------------------- files

    def open(self, nodeid: int, flags: int) -> tuple[int, int]:
        """Implements Operations.open."""
        inode = self._file(nodeid)
        if flags & os.O_TRUNC:
            self._charged(inode, lambda: inode.truncate(0))
            inode.mtime = inode.ctime = time.time_ns()
        inode.opens += 1
        return 0, fuse.FOPEN_KEEP_CACHE

    def create(
        self, parent: int, name: bytes, mode: int, flags: int, uid: int, gid: int
    ) -> tuple[Entry, int, int]:
        """Implements Operations.create."""
        mode = stat.S_IFREG | stat.S_IMODE(mode)
        d, inode, now = self._new(parent, name, File, mode, uid, gid)
        entry = self._add(d, name, inode, now)
        inode.opens += 1
        return entry, 0, fuse.FOPEN_KEEP_CACHE

    def read(self, nodeid: int, fh: int, offset: int, size: int) -> list[Buffer]:
        """Implements Operations.read."""
        inode = self._file(nodeid)
        inode.accessed(time.time_ns())
        return inode.read(offset, size)

    def write(self, nodeid: int, fh: int, offset: int, data: memoryview, flags: int) -> int:
        """Implements Operations.write: as much as fits (ENOSPC if nothing)."""
        inode = self._file(nodeid)
        if data:
            data = data[: self._fitting(inode, offset, len(data))]
            if not data:
                raise FuseError(errno.ENOSPC)
        self._charged(inode, lambda: inode.write(offset, data))
        inode.mtime = inode.ctime = time.time_ns()
        return len(data)

    def release(self, nodeid: int, fh: int, flags: int) -> None:
        """Implements Operations.release."""
        inode = self._inode(nodeid)
        inode.opens -= 1
        self._maybe_free(inode)

    def fsync(self, nodeid: int, fh: int, datasync: bool) -> None:
        """Implements Operations.fsync: memory is as durable as it gets."""

    def fallocate(self, nodeid: int, fh: int, offset: int, length: int, mode: int) -> None:
        """Implements Operations.fallocate: modes 0, KEEP_SIZE and PUNCH_HOLE|KEEP_SIZE."""
        inode = self._file(nodeid)
        if mode == FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
            self._charged(inode, lambda: inode.punch(offset, length))
        elif mode in (0, FALLOC_FL_KEEP_SIZE):
            if self._fitting(inode, offset, length) < length:
                raise FuseError(errno.ENOSPC)
            self._charged(inode, lambda: inode.allocate(offset, length))
            if mode == 0 and offset + length > inode.length:
                inode.length = offset + length
        else:
            raise FuseError(errno.EOPNOTSUPP)
        inode.mtime = inode.ctime = time.time_ns()

    def lseek(self, nodeid: int, fh: int, offset: int, whence: int) -> int:
        """Implements Operations.lseek."""
        return self._file(nodeid).seek(offset, whence)

    def statfs(self, nodeid: int) -> Statfs:
        """Implements Operations.statfs: tmpfs's default limits, half the RAM."""
        free = max(self.max_blocks - self.used, 0)
        files = self.max_blocks
        ffree = files - len(self.inodes)
        return self.max_blocks, free, free, files, ffree, CHUNK, NAME_MAX, CHUNK

    def access(self, nodeid: int, mask: int) -> None:
        """Implements Operations.access: the kernel checks permissions."""
        self._inode(nodeid)

    # ------------------------------------------------------------ xattrs

    def setxattr(self, nodeid: int, name: bytes, value: bytes, flags: int) -> None:
        """Implements Operations.setxattr."""
        inode = self._inode(nodeid)
        if not name.startswith(XATTR_PREFIXES):
            raise FuseError(errno.EOPNOTSUPP)
        if flags & XATTR_CREATE and name in inode.xattrs:
            raise FuseError(errno.EEXIST)
        if flags & XATTR_REPLACE and name not in inode.xattrs:
            raise FuseError(errno.ENODATA)
        inode.xattrs[name] = value
        inode.ctime = time.time_ns()

    def getxattr(self, nodeid: int, name: bytes) -> bytes:
        """Implements Operations.getxattr."""
        inode = self._inode(nodeid)
        if not name.startswith(XATTR_PREFIXES):
            raise FuseError(errno.EOPNOTSUPP)
        value = inode.xattrs.get(name)
        if value is None:
            raise FuseError(errno.ENODATA)
        return value

    def listxattr(self, nodeid: int) -> list[bytes]:
        """Implements Operations.listxattr."""
        return list(self._inode(nodeid).xattrs)

    def removexattr(self, nodeid: int, name: bytes) -> None:
        """Implements Operations.removexattr."""
        inode = self._inode(nodeid)
        if not name.startswith(XATTR_PREFIXES):
            raise FuseError(errno.EOPNOTSUPP)
        if inode.xattrs.pop(name, None) is None:
            raise FuseError(errno.ENODATA)
        inode.ctime = time.time_ns()

    # ------------------------------------------------------- directories

    def opendir(self, nodeid: int, flags: int) -> tuple[int, int]:
        """Implements Operations.opendir."""
        d = _dir(self._inode(nodeid))
        fh = self.next_fh
        self.next_fh += 1
        self.dir_handles[fh] = _DirHandle(d)
        d.opens += 1
        return fh, 0

    def readdir(self, nodeid: int, fh: int, offset: int) -> Iterator[DirEntry]:
        """Implements Operations.readdir."""
        handle = self.dir_handles.get(fh)
        if handle is None:
            raise FuseError(errno.EBADF)
        d = handle.dir
        d.accessed(time.time_ns())
        if offset < 1:
            yield d.ino, 1, stat.S_IFDIR >> 12, b"."
        if offset < 2:
            yield d.parent.ino, 2, stat.S_IFDIR >> 12, b".."
        yield from handle.after(offset)

    def releasedir(self, nodeid: int, fh: int) -> None:
        """Implements Operations.releasedir."""
        handle = self.dir_handles.pop(fh, None)
        if handle is None:
            raise FuseError(errno.EBADF)
        handle.dir.opens -= 1
        self._maybe_free(handle.dir)

    def fsyncdir(self, nodeid: int, fh: int, datasync: bool) -> None:
        """Implements Operations.fsyncdir: nothing to do."""


def _contains(d: Directory, other: Directory) -> bool:
    """Whether *other* is *d* or below it."""
    node = other
    while True:
        if node is d:
            return True
        if node.parent is node:
            return False
        node = node.parent
