"""The interface file systems implement for open files, and the open flags.

Analogous to gVisor's ``vfs/file_description_impl_util.go`` and Linux's
``struct file_operations``: a file system returns a FileDescriptionImpl from
open; the VFS's ``FileDescription`` (what an fd refers to) calls it with the
task and the description's ``FileState``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from sentry.abi.linux import STATX_BASIC_STATS, Statx
from sentry.errors import SyscallError

if TYPE_CHECKING:
    from sentry.vfs.context import Context
    from sentry.vfs.iov import IOSequence

O_ACCMODE = 0o3
O_RDONLY = 0
O_WRONLY = 0o1
O_RDWR = 0o2
O_CREAT = 0o100
O_EXCL = 0o200
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DIRECT = 0o40000
O_CLOEXEC = 0o2000000
O_LARGEFILE = 0o100000
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000
O_TMPFILE = 0o20000000 | O_DIRECTORY
# Open flags that act at open time only: the file keeps none of them.
OPEN_ONLY = O_CREAT | O_EXCL | 0o400 | O_TRUNC  # and O_NOCTTY
O_PATH = 0o10000000
# The largest file size and offset (Linux's MAX_LFS_FILESIZE on 64-bit).
MAX_LFS_FILESIZE = 2**63 - 1
# Status flags fcntl(F_SETFL) may change (Linux's SETFL_MASK).
SETFL_MASK = O_APPEND | O_NONBLOCK | O_DIRECT | 0o20000 | 0o1000000


class FileState(Protocol):
    """What an open file's impl may read and change of the file description
    it is called for: the status flags and the file offset.

    ``FileDescription`` has them; the impl is given this much only, so that
    file systems (below the VFS's paths and mounts) need not know where a
    description was opened.
    """

    flags: int
    offset: int


def set_offset(fd: FileState, offset: int) -> int:
    """Make ``offset`` the file offset of ``fd`` and return it; EINVAL if
    it is negative or past MAX_LFS_FILESIZE (Linux's ``vfs_setpos``)."""
    if not 0 <= offset <= MAX_LFS_FILESIZE:
        raise SyscallError(errno.EINVAL)
    fd.offset = offset
    return offset


class FileDescriptionImpl:
    """What a file system implements for an open file.

    Every method may raise SyscallError. The defaults fail the way Linux
    does for a file that lacks the operation. Methods that may wait for a
    daemon are coroutines.
    """

    seekable = True  # pread/pwrite/lseek allowed (else ESPIPE)
    mappable = False  # mmap(2) of it is served (else ENODEV)
    # poll/select/epoll: the file says when it is readable (watch), else
    # its fd always polls readable and writable.
    tracks_readiness = False
    # A read that fails with ENODEV means the other end is gone for good:
    # from then on the fd polls POLLERR (Linux's fuse_dev_poll after an
    # unmount), so the fd's placeholder is swapped for one that does.
    pollerr_when_gone = False

    async def pread(self, t: Context, fd: FileState, dst: IOSequence, offset: int) -> int:
        """Read into ``dst`` from ``offset``; the count (partial reads are
        fine, 0 at EOF). Precondition: ``dst`` is not empty."""
        raise SyscallError(errno.EINVAL)

    def read_cached(self, t: Context, fd: FileState, dst: IOSequence, offset: int) -> int | None:
        """pread without waiting, when the bytes are at hand (the fast path of
        read and pread64); None when pread must do it."""
        return None

    def write_cached(self, t: Context, fd: FileState, src: IOSequence, offset: int) -> int | None:
        """pwrite without waiting, when a cache can take the bytes (the fast
        path of write and pwrite64); None when pwrite must do it."""
        return None

    async def read(self, t: Context, fd: FileState, dst: IOSequence) -> int:
        """Read at the file offset and advance it (the default uses pread)."""
        n = await self.pread(t, fd, dst, fd.offset)
        fd.offset += n
        return n

    async def pwrite(self, t: Context, fd: FileState, src: IOSequence, offset: int) -> int:
        """Write ``src`` at ``offset`` (ignored under O_APPEND); the count."""
        raise SyscallError(errno.EINVAL)

    async def write(self, t: Context, fd: FileState, src: IOSequence) -> int:
        """Write at the file offset (at the end under O_APPEND) and advance it."""
        n = await self.pwrite(t, fd, src, fd.offset)
        fd.offset += n
        return n

    async def seek(self, t: Context, fd: FileState, offset: int, whence: int) -> int:
        """The new file offset for lseek(2) (Linux's
        ``generic_file_llseek_size``): EINVAL if it would be negative or
        past MAX_LFS_FILESIZE; ENXIO for SEEK_DATA or SEEK_HOLE at or past
        the end (a negative offset too, read as unsigned)."""
        if whence == os.SEEK_SET:
            new = offset
        elif whence == os.SEEK_CUR:
            new = fd.offset + offset
        elif whence == os.SEEK_END:
            new = (await self.stat(t)).size + offset
        elif whence in (os.SEEK_DATA, os.SEEK_HOLE):
            size = (await self.stat(t)).size
            if offset < 0 or offset >= size:
                raise SyscallError(errno.ENXIO)
            new = offset if whence == os.SEEK_DATA else size
        else:
            raise SyscallError(errno.EINVAL)
        return set_offset(fd, new)

    async def stat(self, t: Context, mask: int = STATX_BASIC_STATS) -> Statx:
        """The file's attributes (fstat; ``mask``: the statx fields wanted)."""
        raise SyscallError(errno.EBADF)

    async def getdents(
        self, t: Context, fd: FileState, size: int, copy_out: Callable[[bytes], int]
    ) -> int:
        """getdents64: hand linux_dirent64 records totalling at most ``size``
        bytes to ``copy_out``, which returns the size of the leading records
        that reached the app (a fault may stop it part-way, as Linux's
        filldir), and move past those; their size. If ``copy_out`` raises
        (EFAULT: none did), no record is consumed."""
        raise SyscallError(errno.ENOTDIR)

    async def sync(self, t: Context, datasync: bool) -> None:
        """fsync(2)/fdatasync(2): make the file's data durable."""

    async def shared_memory(self, t: Context, writable: bool) -> int:
        """For mmap(MAP_SHARED): sentry's fd of the memory file that every
        shared mapping of this file maps, holding the file from offset 0 to
        its end; the file keeps it coherent with its data, and owns the fd
        (the caller must not close it). ``writable``: the mapping may store
        (the file then takes those stores as its data). ENODEV if the file
        cannot be mapped shared; an errno of the file's read otherwise."""
        raise SyscallError(errno.ENODEV)

    async def allocate(self, t: Context, mode: int, offset: int, length: int) -> int:
        """fallocate(2); 0 on success."""
        raise SyscallError(errno.EOPNOTSUPP)

    def watch(self, event: int) -> None:
        """For a file that ``tracks_readiness``: called once, when it gets
        its first fd, with sentry's own dup of the fd's placeholder eventfd.
        The file keeps its count at 1 exactly while a read would not block
        (poll/select/epoll in the app see the placeholder)."""
        raise NotImplementedError

    def ioctl(self, t: Context, cmd: int, arg: int) -> int | None:
        """A request of the file's own (a device's): its result, or None if
        the file has no request ``cmd`` (it then reaches the fd's
        placeholder on the host, which answers ENOTTY as Linux does for a
        request a file lacks)."""
        return None

    async def flush(self, t: Context | None) -> None:
        """Called whenever an fd referring to this file is closed (``t`` is
        None when its process is gone), unless :meth:`flushes` said no."""

    def flushes(self) -> bool:
        """Whether a close must await :meth:`flush` now: it may have work
        to do or an error to report. If not, close skips it, and the host
        closes the fd's placeholder with no stop after it."""
        return False

    def release(self) -> None:
        """Called once, when the last reference to the open file goes away."""
