"""passthrough: a host directory served over FUSE, read-write or read-only.

Each node the kernel knows holds an ``O_PATH`` fd of its host inode, keyed
by (st_dev, st_ino) so that hard links share a node, as in libfuse's
``passthrough_ll``. Every operation works relative to those fds (``*at``
calls, ``dir_fd=``, or the ``/proc/self/fd/N`` magic links, which lead to
the inode itself, a symlink included), so a name can never lead outside the
served directory: names are single components and are never followed.
Holding the fd also pins the inode, so its number cannot be reused while
the kernel may still use the node.

File handles are host fds opened through ``/proc/self/fd/N``; directory
handles list the directory once (at open and at each READDIR from offset 0,
i.e. rewinddir) and use positions in that listing as cookies, so offsets
stay valid while entries come and go: names added later show up after the
next rewind, names removed since are skipped by READDIRPLUS (they can no
longer be looked up) and still listed by READDIR, as Linux allows.

Attributes are the host's as they are (st_ino, st_blksize, st_blocks...).
Files, directories and links are created with the server's own credentials,
not the caller's: the request's uid and gid are ignored, and the server's
umask is set to 0 so that the mode the kernel sends (umask applied) is the
mode the host gets. Read-only (``readonly=True``) answers EROFS to every
request that would change something, opening for writing or truncation
included.

The host may change under the mount, so cache timeouts are libfuse's 1 s
and FUSE_AUTO_INVAL_DATA is requested.

A native mount must not lie inside the directory it serves (the command
line refuses it): the single-threaded server would wait for itself when the
kernel asked it to look up its own mountpoint.
"""

from __future__ import annotations

import errno
import os
import resource
import stat
from collections.abc import Iterator

from sentry.abi import fuse
from sentry.abi.linux import AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, UTIME_NOW, UTIME_OMIT
from sentry.fuse_server import libc
from sentry.fuse_server.operations import (
    BASE_INIT_FLAGS,
    Attr,
    Buffer,
    DirEntry,
    Entry,
    FuseError,
    Operations,
    Statfs,
)
from sentry.fuse_server.server import MAX_WRITE

_DT_DIR = stat.S_IFDIR >> 12
_DT_REG = stat.S_IFREG >> 12
_DT_LNK = stat.S_IFLNK >> 12
# open(2) flags the kernel may pass that must not reach the host open:
# O_NOFOLLOW would refuse the /proc/self/fd magic link, and O_DIRECT would
# hold the server's buffers and the caller's offsets to the host's alignment
# rules (the kernel's FUSE client already bypasses its own cache for it).
_OPEN_STRIP = os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_NOFOLLOW | os.O_DIRECT
_WRITE_ACCESS = os.O_WRONLY | os.O_RDWR


def _attr(st: os.stat_result) -> Attr:
    a_sec, a_nsec = divmod(st.st_atime_ns, 1_000_000_000)
    m_sec, m_nsec = divmod(st.st_mtime_ns, 1_000_000_000)
    c_sec, c_nsec = divmod(st.st_ctime_ns, 1_000_000_000)
    return (
        st.st_ino,
        st.st_size,
        st.st_blocks,
        a_sec,
        m_sec,
        c_sec,
        a_nsec,
        m_nsec,
        c_nsec,
        st.st_mode,
        st.st_nlink,
        st.st_uid,
        st.st_gid,
        st.st_rdev,
        st.st_blksize,
        0,
    )


def _proc(fd: int) -> str:
    """The magic link that reaches the inode of *fd*."""
    return f"/proc/self/fd/{fd}"


def _dtype(entry: os.DirEntry[str]) -> int:
    """DT_* of a listed entry, from d_type when the host gives it (0 if it is gone)."""
    try:
        if entry.is_symlink():
            return _DT_LNK
        if entry.is_dir(follow_symlinks=False):
            return _DT_DIR
        if entry.is_file(follow_symlinks=False):
            return _DT_REG
        return stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode) >> 12
    except OSError:
        return 0


class _Node:
    """A host inode the kernel knows: its O_PATH fd and the kernel's lookup count."""

    __slots__ = ("fd", "key", "nlookup")

    def __init__(self, fd: int, key: tuple[int, int]) -> None:
        self.fd = fd
        self.key = key
        self.nlookup = 0


class _DirHandle:
    """An open host directory and its listing: (name, ino, DT_*) per entry.

    ``fresh`` until the first READDIR, which then uses the listing made at
    OPENDIR; any later READDIR from offset 0 is a rewind and lists again.
    """

    __slots__ = ("fd", "listing", "fresh")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.listing: list[tuple[bytes, int, int]] = []
        self.fresh = True

    def relist(self) -> None:
        with os.scandir(self.fd) as it:
            self.listing = [(os.fsencode(e.name), e.inode(), _dtype(e)) for e in it]


class Passthrough(Operations):
    """A host directory behind the ``Operations`` contract."""

    init_flags = BASE_INIT_FLAGS | fuse.FUSE_AUTO_INVAL_DATA

    def __init__(self, root: str, *, readonly: bool = False) -> None:
        """Serve directory *root*.

        Raises:
            OSError: if *root* is not a directory that can be opened.
        """
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        os.umask(0)
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        st = os.fstat(fd)
        self.readonly = readonly
        self.root = _Node(fd, (st.st_dev, st.st_ino))
        self.nodes: dict[int, _Node] = {fuse.FUSE_ROOT_ID: self.root}
        self.by_key: dict[tuple[int, int], int] = {self.root.key: fuse.FUSE_ROOT_ID}
        self.next_nodeid = fuse.FUSE_ROOT_ID + 1
        self.files: set[int] = set()
        self.dirs: dict[int, _DirHandle] = {}
        self.next_dir_fh = 1
        self.read_buffer = memoryview(bytearray(MAX_WRITE))

    # ----------------------------------------------------------- helpers

    def _node(self, nodeid: int) -> _Node:
        node = self.nodes.get(nodeid)
        if node is None:
            raise FuseError(errno.ESTALE)
        return node

    def _file(self, fh: int) -> int:
        if fh not in self.files:
            raise FuseError(errno.EBADF)
        return fh

    def _writable(self) -> None:
        if self.readonly:
            raise FuseError(errno.EROFS)

    def _remember(self, fd: int, st: os.stat_result) -> Entry:
        """Count a lookup of the inode of O_PATH *fd*, taking the fd or closing a duplicate."""
        key = (st.st_dev, st.st_ino)
        nodeid = self.by_key.get(key)
        if nodeid is None:
            nodeid = self.next_nodeid
            self.next_nodeid += 1
            self.nodes[nodeid] = _Node(fd, key)
            self.by_key[key] = nodeid
        else:
            os.close(fd)
        self.nodes[nodeid].nlookup += 1
        return nodeid, 0, _attr(st)

    # ------------------------------------------------------------- names

    def lookup(self, parent: int, name: bytes) -> Entry:
        """Implements Operations.lookup."""
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._node(parent).fd)
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        return self._remember(fd, st)

    def forget(self, nodeid: int, nlookup: int) -> None:
        """Implements Operations.forget."""
        node = self.nodes.get(nodeid)
        if node is None or nodeid == fuse.FUSE_ROOT_ID:
            return
        node.nlookup -= nlookup
        if node.nlookup <= 0:
            del self.nodes[nodeid]
            del self.by_key[node.key]
            os.close(node.fd)

    def getattr(self, nodeid: int, fh: int | None) -> Attr:
        """Implements Operations.getattr."""
        if fh is not None and fh in self.files:
            return _attr(os.fstat(fh))
        return _attr(os.fstat(self._node(nodeid).fd))

    def setattr(self, nodeid: int, fh: int | None, attr: fuse.SetattrIn) -> Attr:
        """Implements Operations.setattr."""
        self._writable()
        node = self._node(nodeid)
        fd = fh if fh is not None and fh in self.files else None
        valid = attr.valid
        if valid & fuse.FATTR_MODE:
            if fd is None:
                os.chmod(_proc(node.fd), stat.S_IMODE(attr.mode))
            else:
                os.fchmod(fd, stat.S_IMODE(attr.mode))
        if valid & (fuse.FATTR_UID | fuse.FATTR_GID):
            uid = attr.uid if valid & fuse.FATTR_UID else -1
            gid = attr.gid if valid & fuse.FATTR_GID else -1
            libc.fchownat(node.fd, b"", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)
        if valid & fuse.FATTR_SIZE:
            if fd is None:
                os.truncate(_proc(node.fd), attr.size)
            else:
                os.ftruncate(fd, attr.size)
        if valid & (fuse.FATTR_ATIME | fuse.FATTR_MTIME):
            atime = _utime(
                valid, fuse.FATTR_ATIME, fuse.FATTR_ATIME_NOW, attr.atime, attr.atimensec
            )
            mtime = _utime(
                valid, fuse.FATTR_MTIME, fuse.FATTR_MTIME_NOW, attr.mtime, attr.mtimensec
            )
            libc.utimensat(node.fd, b"", atime, mtime, AT_EMPTY_PATH)
        return _attr(os.fstat(node.fd if fd is None else fd))

    def readlink(self, nodeid: int) -> bytes:
        """Implements Operations.readlink."""
        return os.readlink(b"", dir_fd=self._node(nodeid).fd)

    def symlink(self, parent: int, name: bytes, target: bytes, uid: int, gid: int) -> Entry:
        """Implements Operations.symlink."""
        self._writable()
        os.symlink(target, name, dir_fd=self._node(parent).fd)
        return self.lookup(parent, name)

    def mknod(self, parent: int, name: bytes, mode: int, rdev: int, uid: int, gid: int) -> Entry:
        """Implements Operations.mknod."""
        self._writable()
        os.mknod(name, mode, rdev, dir_fd=self._node(parent).fd)
        return self.lookup(parent, name)

    def mkdir(self, parent: int, name: bytes, mode: int, uid: int, gid: int) -> Entry:
        """Implements Operations.mkdir."""
        self._writable()
        os.mkdir(name, mode, dir_fd=self._node(parent).fd)
        return self.lookup(parent, name)

    def unlink(self, parent: int, name: bytes) -> None:
        """Implements Operations.unlink."""
        self._writable()
        os.unlink(name, dir_fd=self._node(parent).fd)

    def rmdir(self, parent: int, name: bytes) -> None:
        """Implements Operations.rmdir."""
        self._writable()
        os.rmdir(name, dir_fd=self._node(parent).fd)

    def rename(self, parent: int, name: bytes, newparent: int, newname: bytes, flags: int) -> None:
        """Implements Operations.rename (any flags the host's renameat2 takes)."""
        self._writable()
        libc.renameat2(self._node(parent).fd, name, self._node(newparent).fd, newname, flags)

    def link(self, nodeid: int, newparent: int, newname: bytes) -> Entry:
        """Implements Operations.link."""
        self._writable()
        source = _proc(self._node(nodeid).fd)
        os.link(source, newname, dst_dir_fd=self._node(newparent).fd, follow_symlinks=True)
        return self.lookup(newparent, newname)

    # ------------------------------------------------------------- files

    def open(self, nodeid: int, flags: int) -> tuple[int, int]:
        """Implements Operations.open."""
        if flags & _WRITE_ACCESS or flags & os.O_TRUNC:
            self._writable()
        fd = os.open(_proc(self._node(nodeid).fd), (flags & ~_OPEN_STRIP) | os.O_CLOEXEC)
        self.files.add(fd)
        return fd, 0

    def create(
        self, parent: int, name: bytes, mode: int, flags: int, uid: int, gid: int
    ) -> tuple[Entry, int, int]:
        """Implements Operations.create."""
        self._writable()
        flags = (flags & ~_OPEN_STRIP) | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, stat.S_IMODE(mode), dir_fd=self._node(parent).fd)
        try:
            entry = self.lookup(parent, name)
        except OSError:
            os.close(fd)
            raise
        self.files.add(fd)
        return entry, fd, 0

    def read(self, nodeid: int, fh: int, offset: int, size: int) -> list[Buffer]:
        """Implements Operations.read: into one reused buffer, valid until the next request."""
        fd = self._file(fh)
        if size > len(self.read_buffer):
            return [os.pread(fd, size, offset)]
        n = os.preadv(fd, [self.read_buffer[:size]], offset)
        return [self.read_buffer[:n]]

    def write(self, nodeid: int, fh: int, offset: int, data: memoryview, flags: int) -> int:
        """Implements Operations.write."""
        return os.pwrite(self._file(fh), data, offset)

    def release(self, nodeid: int, fh: int, flags: int) -> None:
        """Implements Operations.release."""
        self.files.remove(self._file(fh))
        os.close(fh)

    def flush(self, nodeid: int, fh: int) -> None:
        """Implements Operations.flush: close a duplicate, so that the host sees a close(2)."""
        os.close(os.dup(self._file(fh)))

    def fsync(self, nodeid: int, fh: int, datasync: bool) -> None:
        """Implements Operations.fsync."""
        if datasync:
            os.fdatasync(self._file(fh))
        else:
            os.fsync(self._file(fh))

    def fallocate(self, nodeid: int, fh: int, offset: int, length: int, mode: int) -> None:
        """Implements Operations.fallocate."""
        self._writable()
        libc.fallocate(self._file(fh), mode, offset, length)

    def lseek(self, nodeid: int, fh: int, offset: int, whence: int) -> int:
        """Implements Operations.lseek."""
        return os.lseek(self._file(fh), offset, whence)

    def statfs(self, nodeid: int) -> Statfs:
        """Implements Operations.statfs: the host file system's numbers."""
        st = os.fstatvfs(self.root.fd)
        return (
            st.f_blocks,
            st.f_bfree,
            st.f_bavail,
            st.f_files,
            st.f_ffree,
            st.f_bsize,
            st.f_namemax,
            st.f_frsize,
        )

    def access(self, nodeid: int, mask: int) -> None:
        """Implements Operations.access: the host decides, for the server's credentials."""
        if mask & os.W_OK:
            self._writable()
        if not os.access(_proc(self._node(nodeid).fd), mask):
            raise FuseError(errno.EACCES)

    # ------------------------------------------------------------ xattrs

    def setxattr(self, nodeid: int, name: bytes, value: bytes, flags: int) -> None:
        """Implements Operations.setxattr."""
        self._writable()
        os.setxattr(_proc(self._node(nodeid).fd), name, value, flags)

    def getxattr(self, nodeid: int, name: bytes) -> bytes:
        """Implements Operations.getxattr."""
        return os.getxattr(_proc(self._node(nodeid).fd), name)

    def listxattr(self, nodeid: int) -> list[bytes]:
        """Implements Operations.listxattr."""
        return [os.fsencode(name) for name in os.listxattr(_proc(self._node(nodeid).fd))]

    def removexattr(self, nodeid: int, name: bytes) -> None:
        """Implements Operations.removexattr."""
        self._writable()
        os.removexattr(_proc(self._node(nodeid).fd), name)

    # ------------------------------------------------------- directories

    def opendir(self, nodeid: int, flags: int) -> tuple[int, int]:
        """Implements Operations.opendir."""
        fd = os.open(_proc(self._node(nodeid).fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        handle = _DirHandle(fd)
        try:
            handle.relist()
        except OSError:
            os.close(fd)
            raise
        fh = self.next_dir_fh
        self.next_dir_fh += 1
        self.dirs[fh] = handle
        return fh, 0

    def readdir(self, nodeid: int, fh: int, offset: int) -> Iterator[DirEntry]:
        """Implements Operations.readdir: "." and ".." are cookies 1 and 2, entry i is i + 3."""
        handle = self.dirs.get(fh)
        if handle is None:
            raise FuseError(errno.EBADF)
        if offset == 0 and not handle.fresh:
            handle.relist()
        handle.fresh = False
        if offset == 0:
            yield os.fstat(handle.fd).st_ino, 1, _DT_DIR, b"."
        if offset < 2:
            # The root's parent is outside: show the root itself, as a mount root does.
            if nodeid == fuse.FUSE_ROOT_ID:
                parent_ino = os.fstat(handle.fd).st_ino
            else:
                parent_ino = os.stat("..", dir_fd=handle.fd, follow_symlinks=False).st_ino
            yield parent_ino, 2, _DT_DIR, b".."
        listing = handle.listing
        for i in range(max(offset - 2, 0), len(listing)):
            name, ino, type_ = listing[i]
            yield ino, i + 3, type_, name

    def releasedir(self, nodeid: int, fh: int) -> None:
        """Implements Operations.releasedir."""
        handle = self.dirs.pop(fh, None)
        if handle is None:
            raise FuseError(errno.EBADF)
        os.close(handle.fd)

    def fsyncdir(self, nodeid: int, fh: int, datasync: bool) -> None:
        """Implements Operations.fsyncdir."""
        handle = self.dirs.get(fh)
        if handle is None:
            raise FuseError(errno.EBADF)
        os.fsync(handle.fd)


def _utime(valid: int, given: int, now: int, sec: int, nsec: int) -> tuple[int, int]:
    """One utimensat(2) timespec for SETATTR: the given time, UTIME_NOW or UTIME_OMIT."""
    if not valid & given:
        return 0, UTIME_OMIT
    if valid & now:
        return 0, UTIME_NOW
    return sec, nsec
