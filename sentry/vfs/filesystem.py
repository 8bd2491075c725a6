"""The contract between the VFS and a file system: FilesystemImpl.

Analogous to gVisor's ``vfs/filesystem.go`` (``FilesystemImpl``) and
``vfs/options.go`` (``SetStatOptions``). The syscall layer reaches a file
system only through these methods, on a :class:`~sentry.vfs.vfs.Mount`'s
``fs``, with inodes the same file system handed out (its ``root``, or what
its ``lookup`` and the creating methods returned). A file system defines its
own inode type; the VFS only reads ``mode``.

Every method may raise SyscallError with the errno Linux gives for the same
call; those listed are the ones the file system itself decides (a FUSE file
system passes on whatever its daemon answers, and ENOTCONN once the daemon
is gone). Methods that may wait for a daemon are coroutines; ``t`` is the
task the call is made for (its credentials, its umask, and where a wait
parks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sentry.abi.linux import STATX_BASIC_STATS, Statx

if TYPE_CHECKING:
    from sentry.vfs.context import Context
    from sentry.vfs.file_description_impl import FileDescriptionImpl
    from sentry.waiter import Waiter


class Inode(Protocol):
    """A file of a sentry file system, as the walk sees it."""

    mode: int  # at least the S_IFMT type bits


@dataclass
class SetStat:
    """An attribute change (gVisor's ``SetStatOptions``): only the fields
    whose STATX_* bit (``sentry.abi.linux``) is in ``mask`` change.

    ``mode`` holds permission bits only. A time is (seconds, nanoseconds);
    nanoseconds of UTIME_NOW mean the current time. ``via`` is the open file
    the change is made through (fchmod, ftruncate, futimens), if any: a file
    system may hand it to its server, as FUSE does with FATTR_FH. ``chown``
    marks a chown, also one that changes neither id (it still takes the
    set-ID bits away, see ``permissions.privileges_dropped``).
    """

    mask: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0
    size: int = 0
    atime: tuple[int, int] = (0, 0)
    mtime: tuple[int, int] = (0, 0)
    via: FileDescriptionImpl | None = None
    chown: bool = False


InodeT = TypeVar("InodeT", bound=Inode)


class Filesystem(Protocol[InodeT]):
    """What a sentry file system implements for the VFS (gVisor's
    FilesystemImpl), over its own inode type ``InodeT``.

    Invariants: ``root`` is a directory and stays valid until unmount.
    Preconditions, for every method taking a ``parent``: it is a directory
    of this file system and ``name`` is one component (not empty, no
    ``/``); the VFS checks these before calling.
    """

    root: InodeT

    async def lookup(self, t: Context, parent: InodeT, name: bytes) -> InodeT:
        """The entry ``name`` in ``parent``. ENOENT if there is none."""
        ...

    async def readlink(self, t: Context, inode: InodeT) -> bytes:
        """A symlink's target. EINVAL if ``inode`` is not a symlink."""
        ...

    async def stat(self, t: Context, inode: InodeT, mask: int = STATX_BASIC_STATS) -> Statx:
        """The attributes of ``inode`` (``mask``: the statx fields wanted;
        more may be given)."""
        ...

    async def open(self, t: Context, inode: InodeT, flags: int) -> FileDescriptionImpl:
        """Open an existing file with open(2) ``flags``: O_TRUNC of a regular
        file opened for writing truncates it. Precondition: the VFS has
        already refused what Linux refuses before the file system is asked
        (EISDIR, ENOTDIR, ELOOP, ENXIO)."""
        ...

    async def create(
        self, t: Context, parent: InodeT, name: bytes, flags: int, mode: int
    ) -> tuple[InodeT, FileDescriptionImpl]:
        """Make and open a regular file (open(2) with O_CREAT), ``mode``
        before the umask. EEXIST if ``name`` exists (the caller may then
        look it up again: no stale negative entry is kept)."""
        ...

    async def mknod(self, t: Context, parent: InodeT, name: bytes, mode: int, rdev: int) -> InodeT:
        """Make a regular file, fifo, socket or device node (``mode``
        includes the S_IFMT type; the umask applies). EEXIST if it exists."""
        ...

    async def mkdir(self, t: Context, parent: InodeT, name: bytes, mode: int) -> InodeT:
        """Make a directory (the umask applies). EEXIST if it exists."""
        ...

    async def symlink(self, t: Context, parent: InodeT, name: bytes, target: bytes) -> InodeT:
        """Make a symlink to ``target``. EEXIST if ``name`` exists."""
        ...

    async def link(self, t: Context, inode: InodeT, parent: InodeT, name: bytes) -> InodeT:
        """A new name for ``inode`` (not a directory). EEXIST if it exists."""
        ...

    async def unlink(self, t: Context, parent: InodeT, name: bytes, directory: bool) -> None:
        """Remove a name: rmdir(2) if ``directory`` (ENOTEMPTY, ENOTDIR),
        else unlink(2) (the VFS has refused directories with EISDIR)."""
        ...

    async def rename(
        self,
        t: Context,
        parent: InodeT,
        name: bytes,
        new_parent: InodeT,
        new_name: bytes,
        flags: int,
    ) -> None:
        """rename(2), renameat2(2) with RENAME_* ``flags``: EINVAL for flags
        the file system cannot honour. Both parents are of this file system."""
        ...

    async def setstat(self, t: Context, inode: InodeT, change: SetStat) -> None:
        """Change attributes (chmod, chown, truncate, utimensat). Permission
        and ownership rules are the file system's (EPERM); EFBIG past its
        largest size."""
        ...

    async def statfs(self, t: Context) -> bytes:
        """statfs(2)'s ``struct statfs``, packed."""
        ...

    async def getxattr(self, t: Context, inode: InodeT, name: bytes, size: int) -> bytes | int:
        """An extended attribute's value, or its size when ``size`` is 0.
        ENODATA if unset, ERANGE if larger than ``size``, EOPNOTSUPP if the
        file system has none."""
        ...

    async def listxattr(self, t: Context, inode: InodeT, size: int) -> bytes | int:
        """The NUL-separated attribute names, or their size when ``size`` is
        0. ERANGE if larger than ``size``."""
        ...

    async def setxattr(
        self, t: Context, inode: InodeT, name: bytes, value: bytes, flags: int
    ) -> None:
        """Set an extended attribute (XATTR_CREATE: EEXIST, XATTR_REPLACE:
        ENODATA)."""
        ...

    async def removexattr(self, t: Context, inode: InodeT, name: bytes) -> None:
        """Remove an extended attribute. ENODATA if unset."""
        ...

    async def access(self, t: Context, inode: InodeT, mask: int, effective: bool) -> None:
        """access(2) (R_OK, W_OK, X_OK bits) for the task's real ids, or its
        effective ones if ``effective`` (AT_EACCESS): EACCES if refused."""
        ...

    async def permission(self, t: Context, inode: InodeT, mask: int) -> None:
        """Whether the task may do ``mask`` (``sentry.vfs.permissions``'
        MAY_READ, MAY_WRITE, MAY_EXEC) to ``inode``, for the calls the VFS
        makes itself: executing a file (MAY_EXEC), entering a directory
        (chdir: MAY_EXEC). EACCES if refused."""
        ...

    def busy(self) -> bool:
        """Whether open files or working directories use it (umount: EBUSY)."""
        ...

    def closes_in_flight(self) -> list[Waiter]:
        """Closes still being sent to the server; umount waits for them."""
        ...

    def pin(self, inode: InodeT) -> None:
        """Keep ``inode`` known for good (a working directory, a bind
        mount's root): it is never forgotten, so its identity stays valid."""
        ...

    def working_dirs(self, delta: int) -> None:
        """A process's working directory entered (+1) or left (-1) it."""
        ...

    def unmount(self, lazy: bool = False) -> None:
        """It left the mount table; ``lazy`` (MNT_DETACH): it lives on while
        busy(), then ends."""
        ...

    async def sync(self, t: Context) -> None:
        """Send the server what only sentry holds (dirty cached data, the
        stores of shared mappings): sync(2), syncfs(2), msync(2). Write
        errors are kept for each file's next fsync or close."""
        ...

    def app_ended(self) -> None:
        """The app's last process is gone: start sending the server what
        only sentry holds (the stores of shared mappings); returns at once,
        and the server gets time to finish before it is stopped."""
        ...


class FilesystemType(Protocol):
    """A kind of file system mount(2) can make (gVisor's
    ``vfs.FilesystemType``), registered with
    :meth:`~sentry.vfs.vfs.VirtualFilesystem.register_filesystem_type`.

    ``has_subtype``: the type also answers to ``<name>.<subtype>`` (Linux's
    FS_HAS_SUBTYPE, as ``fuse.sshfs``). ``privileged``: mounting it needs
    CAP_SYS_ADMIN (in the app's user namespace), as every type but FUSE,
    which fusermount3 lets any user mount.
    """

    has_subtype: bool
    privileged: bool

    def get_filesystem(
        self, t: Context, fstype: str, source: str, data: bytes, dev: int
    ) -> tuple[Filesystem[Any], str]:
        """A new file system for ``t``'s mount(2) of type ``fstype`` with
        option string ``data`` (mount's last argument), whose device number
        will be ``dev``; with the options the mount tables show for it.
        Raises SyscallError: EINVAL for bad options or a bad source."""
        ...
