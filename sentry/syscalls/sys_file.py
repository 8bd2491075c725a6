"""Opening and closing sentry files, and the fd calls: open, openat,
openat2, creat, close, close_range, dup, dup2, dup3 and fcntl.

Analogous to gVisor's ``syscalls/linux/sys_file.go``. A path outside every
sentry mount, or an fd that is not sentry's, passes through to the host.
fd numbers are the host's (see ``common.install_fd``): dup and friends run
natively on the placeholder and sentry records the new number at the
syscall's exit.
"""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING, Any

from sentry.abi.linux import (
    AT_FDCWD,
    OPEN_HOW_SIZE,
    PAGE_SIZE,
    RESOLVE_BENEATH,
    RESOLVE_CACHED,
    RESOLVE_IN_ROOT,
    RESOLVE_NO_SYMLINKS,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
)
from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.errors import SyscallError
from sentry.kernel.syscalls import PASS, Passthrough, SyscallResult
from sentry.syscalls import sys_lock
from sentry.syscalls.common import c_int, install_fd, locate, on_host, read_path, sentry_file
from sentry.vfs.file_description import FileDescription
from sentry.vfs.file_description_impl import (
    O_ACCMODE,
    O_CLOEXEC,
    O_CREAT,
    O_DIRECT,
    O_DIRECTORY,
    O_EXCL,
    O_NOFOLLOW,
    O_NONBLOCK,
    O_PATH,
    O_TMPFILE,
    O_TRUNC,
    O_WRONLY,
    SETFL_MASK,
)
from sentry.vfs.vfs import SYMLOOP_MAX, Location, Start

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.filesystem import Inode
    from sentry.vfs.vfs import Last

# The open flags Linux knows (VALID_OPEN_FLAGS): openat2 refuses others.
VALID_OPEN_FLAGS = 0o37777703
VALID_RESOLVE_FLAGS = 0x3F
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL = 0, 1, 2, 3, 4
F_DUPFD_CLOEXEC = 1030
# What fcntl may do with an O_PATH fd (Linux's fdget_raw callers).
PATH_FCNTL = (F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL)
FD_CLOEXEC = 1
CLOSE_RANGE_CLOEXEC = 4


def open(t: Task, path: int, flags: int, mode: int) -> SyscallResult:  # noqa: A001
    """open(2)."""
    return _openat(t, AT_FDCWD, path, c_int(flags), mode, 0)


def creat(t: Task, path: int, mode: int) -> SyscallResult:
    """creat(2)."""
    return _openat(t, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 0)


def openat(t: Task, dirfd: int, path: int, flags: int, mode: int) -> SyscallResult:
    """openat(2)."""
    return _openat(t, dirfd, path, c_int(flags), mode, 1)


def openat2(t: Task, dirfd: int, path: int, how: int, size: int) -> SyscallResult:
    """openat2(2): struct open_how {u64 flags, mode, resolve}, checked as
    strictly as Linux does (unknown flags, a mode without O_CREAT, other
    flags with O_PATH, unknown RESOLVE_* bits: EINVAL; a larger struct's
    extra bytes must be zero: E2BIG). Inside a sentry mount the walk applies
    RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH, RESOLVE_IN_ROOT (from a dirfd in
    the mount) and RESOLVE_NO_XDEV; NO_MAGICLINKS and CACHED change nothing
    there."""
    name = read_path(t, path)
    if name.startswith(b"/") and _in_root(t, how, size):
        # RESOLVE_IN_ROOT: an absolute path starts at the dirfd.
        name = name.lstrip(b"/") or b"."
    start = locate(t, dirfd, name, opening=True)
    if start is None:
        return PASS
    if size < OPEN_HOW_SIZE:
        raise SyscallError(errno.EINVAL)
    if size > PAGE_SIZE:
        raise SyscallError(errno.E2BIG)
    raw = t.mm.copy_in(how, size)
    if len(raw) < size:
        raise SyscallError(errno.EFAULT)
    if any(raw[OPEN_HOW_SIZE:]):
        raise SyscallError(errno.E2BIG)
    flags, mode, resolve = struct.unpack_from("<QQQ", raw)
    creating = flags & O_CREAT or flags & O_TMPFILE == O_TMPFILE
    if (
        flags & ~VALID_OPEN_FLAGS
        or (mode & ~0o7777 if creating else mode)
        or resolve & ~VALID_RESOLVE_FLAGS
        or resolve & RESOLVE_BENEATH and resolve & RESOLVE_IN_ROOT
        or flags & O_PATH and flags & ~(O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    ):
        raise SyscallError(errno.EINVAL)
    if resolve & RESOLVE_BENEATH and name.startswith(b"/"):
        raise SyscallError(errno.EXDEV)
    return _open(t, start, flags, mode, 1, resolve)


def _in_root(t: Task, how: int, size: int) -> bool:
    """Whether openat2's ``how`` asks for RESOLVE_IN_ROOT (False if it cannot
    be read: the checks after the path's say why)."""
    if size < OPEN_HOW_SIZE:
        return False
    raw = t.mm.copy_in(how, OPEN_HOW_SIZE)
    return len(raw) == OPEN_HOW_SIZE and bool(struct.unpack_from("<QQQ", raw)[2] & RESOLVE_IN_ROOT)


def _openat(t: Task, dirfd: int, path: int, flags: int, mode: int, path_arg: int) -> SyscallResult:
    start = locate(t, dirfd, read_path(t, path), opening=True)
    if start is None:
        return PASS
    # Unknown bits are ignored, as Linux's build_open_how drops them (and
    # none may reach a file system as one of sentry's own, OPEN_EXEC).
    return _open(t, start, flags & VALID_OPEN_FLAGS, mode & 0o7777, path_arg)


async def _open(
    t: Task, start: Start, flags: int, mode: int, path_arg: int, resolve: int = 0
) -> int:
    vfs = t.kernel.vfs
    # Linux's build_open_flags: O_PATH keeps only what a path needs,
    # O_CREAT cannot make a directory, O_TMPFILE (which sentry's FUSE client
    # does not send) needs write access, and RESOLVE_CACHED cannot create
    # or truncate.
    if flags & O_PATH:
        flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
    elif flags & (O_CREAT | O_DIRECTORY) == O_CREAT | O_DIRECTORY:
        raise SyscallError(errno.EINVAL)
    elif flags & O_TMPFILE & ~O_DIRECTORY:
        if flags & (O_TMPFILE | O_CREAT) != O_TMPFILE or flags & O_ACCMODE == 0:
            raise SyscallError(errno.EINVAL)
    if resolve & RESOLVE_CACHED and flags & (O_TRUNC | O_CREAT | O_TMPFILE & ~O_DIRECTORY):
        raise SyscallError(errno.EAGAIN)
    if start.at.mount is None:
        opener = vfs.special(start.at.path)
        assert opener is not None
        file = FileDescription(opener(t, flags), flags, start.at)
        return await install_fd(t, file, bool(flags & O_CLOEXEC))
    if flags & O_CREAT:
        location, impl = await _create(t, start, flags, mode, resolve)
        if location.mount is None:
            return await on_host(t, location, path_arg)
    else:
        location = await vfs.walk(t, start, not flags & O_NOFOLLOW, resolve)
        if location.mount is None:
            return await on_host(t, location, path_arg)
        impl = None
    assert location.inode is not None
    kind = location.inode.mode & S_IFMT
    if flags & O_DIRECTORY and kind != S_IFDIR:
        raise SyscallError(errno.ENOTDIR)
    if flags & O_TMPFILE == O_TMPFILE:
        raise SyscallError(errno.EOPNOTSUPP)
    if kind == S_IFDIR and (flags & O_ACCMODE != 0 or flags & (O_CREAT | O_TRUNC)):
        raise SyscallError(errno.EISDIR)
    if kind == S_IFDIR and flags & O_DIRECT:
        raise SyscallError(errno.EINVAL)
    if kind == S_IFLNK and flags & O_NOFOLLOW and not flags & O_PATH:
        raise SyscallError(errno.ELOOP)
    if kind not in (S_IFDIR, S_IFREG) and not flags & O_PATH:
        raise SyscallError(errno.ENXIO)
    if impl is None:
        impl = await location.mount.fs.open(t, location.inode, flags)
    file = FileDescription(impl, flags, location)
    return await install_fd(t, file, bool(flags & O_CLOEXEC))


async def _create(
    t: Task, start: Start, flags: int, mode: int, resolve: int, retry: bool = True, links: int = 0
) -> tuple[Location, Any]:
    """For O_CREAT: the file (made if missing), and its impl if made
    (``resolve``: openat2's, as for VirtualFilesystem.walk). A symlink as
    the last component is followed, unless O_NOFOLLOW, and the file it names
    is made if missing (a dangling symlink creates its target, as in Linux);
    ``links`` counts those followed."""
    vfs = t.kernel.vfs
    last = await vfs.walk_parent(t, start, resolve)
    parent, name, path = last.dir, last.name, last.path
    if parent.mount is None:
        return last.on_host(), None
    # Linux's open_last_lookups and do_open: "name/" is EISDIR, and "." or
    # ".." is the directory itself.
    if last.slash and name not in (b".", b".."):
        raise SyscallError(errno.EISDIR)
    if not last.normal:
        raise SyscallError(errno.EEXIST if flags & O_EXCL else errno.EISDIR)
    fs = parent.mount.fs
    try:
        inode = await fs.lookup(t, parent.inode, name)
    except SyscallError as err:
        if err.errno != errno.ENOENT:
            raise
    else:
        if flags & O_EXCL:
            raise SyscallError(errno.EEXIST)
        if inode.mode & S_IFMT == S_IFLNK and not flags & O_NOFOLLOW:
            target = await _link_target(t, last, inode, resolve, links)
            if target.at.mount is None:
                return target.at, None
            return await _create(t, target, flags, mode, resolve, retry, links + 1)
        return Location(path, parent.mount, inode), None
    try:
        inode, impl = await fs.create(t, parent.inode, name, flags, mode)
    except SyscallError as err:
        # Another task created it since the lookup (Linux holds the
        # directory's lock across both): open that file instead, once.
        if err.errno != errno.EEXIST or flags & O_EXCL or not retry:
            raise
        return await _create(t, start, flags, mode, resolve, False, links)
    return Location(path, parent.mount, inode), impl


async def _link_target(t: Task, last: Last, inode: Inode, resolve: int, links: int) -> Start:
    """Where the symlink ``inode`` at ``last`` leads, to walk on from (a
    host path: a Start in no mount). ELOOP past SYMLOOP_MAX links or under
    RESOLVE_NO_SYMLINKS; EXDEV for an absolute one under RESOLVE_BENEATH."""
    assert last.dir.mount is not None
    if links >= SYMLOOP_MAX or resolve & RESOLVE_NO_SYMLINKS:
        raise SyscallError(errno.ELOOP)
    target = await last.dir.mount.fs.readlink(t, inode)
    if not target.startswith(b"/"):
        return Start(last.dir, target.split(b"/"))
    if resolve & RESOLVE_BENEATH:
        raise SyscallError(errno.EXDEV)
    start = t.kernel.vfs.locate(target, None, opening=True)
    return start if start is not None else Start(Location(os.fsdecode(target)))


def close(t: Task, fd: int) -> SyscallResult:
    """close(2): the host closes the placeholder, then sentry flushes the file
    and returns the flush's error, if any, as Linux does. A file with nothing
    to flush needs no more: the call passes through."""
    if sentry_file(t, fd, opath=True) is None:
        return PASS
    file = t.fd_table.remove(c_int(fd))
    if not file.impl.flushes():
        file.dec_ref()
        return PASS
    return _close(t, c_int(fd), file)


async def _close(t: Task, fd: int, file: Any) -> int:
    result = await t.inject(SYSCALL_NUMBERS["close"], fd)
    try:
        await file.impl.flush(t)
    finally:
        file.dec_ref()
    return result


def close_range(t: Task, first: int, last: int, flags: int) -> SyscallResult:
    """close_range(2)."""
    first, last = c_int(first) & 0xFFFFFFFF, c_int(last) & 0xFFFFFFFF
    for fd in [fd for fd in t.fd_table if first <= fd <= last]:
        if flags & CLOSE_RANGE_CLOEXEC:
            descriptor = t.fd_table.get(fd)
            assert descriptor is not None
            descriptor.cloexec = True
        else:
            t.fd_table.remove(fd).close_fd(t)
    return PASS


def _duplicated(
    t: Task, file: FileDescription | None, newfd: int | None, cloexec: bool
) -> Passthrough:
    """Pass a dup-like call through; at its exit, record the new fd."""
    table = t.fd_table

    def on_exit(result: int) -> None:
        if result < 0:
            return
        old = table.get(result)
        if old is not None and old.file is not file:
            table.remove(result).close_fd(t)
        if file is not None:
            table.install(result, file, cloexec)

    return Passthrough(on_exit) if file is not None or newfd is not None else PASS


def dup(t: Task, fd: int) -> SyscallResult:
    """dup(2)."""
    file = sentry_file(t, fd, opath=True)
    return _duplicated(t, file, None, False) if file is not None else PASS


def dup2(t: Task, oldfd: int, newfd: int) -> SyscallResult:
    """dup2(2) (also replaces a sentry fd at ``newfd``)."""
    return dup3(t, oldfd, newfd, 0)


def dup3(t: Task, oldfd: int, newfd: int, flags: int) -> SyscallResult:
    """dup3(2)."""
    file = sentry_file(t, oldfd, opath=True)
    if file is None and t.fd_table.get(c_int(newfd)) is None:
        return PASS
    if c_int(oldfd) == c_int(newfd):
        return PASS
    return _duplicated(t, file, c_int(newfd), bool(flags & O_CLOEXEC))


def fcntl(t: Task, fd: int, cmd: int, arg: int) -> SyscallResult:
    """fcntl(2): dups, the close-on-exec flag and the status flags; record
    locks are sentry's (``sys_lock``)."""
    file = sentry_file(t, fd, opath=True)
    if file is None:
        return PASS
    cmd = c_int(cmd)
    if file.flags & O_PATH and cmd not in PATH_FCNTL:
        raise SyscallError(errno.EBADF)
    if cmd in sys_lock.RECORD_COMMANDS:
        return sys_lock.fcntl_lock(t, file, c_int(fd), cmd, arg)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        return _duplicated(t, file, None, cmd == F_DUPFD_CLOEXEC)
    if cmd == F_SETFD:
        descriptor = t.fd_table.get(c_int(fd))
        assert descriptor is not None
        descriptor.cloexec = bool(arg & FD_CLOEXEC)
        return PASS
    if cmd == F_GETFL:
        return file.flags
    if cmd == F_SETFL:
        file.flags = (file.flags & ~SETFL_MASK) | (arg & SETFL_MASK)
        return 0
    return PASS


FIONCLEX, FIOCLEX, FIONBIO = 0x5450, 0x5451, 0x5421


def ioctl(t: Task, fd: int, cmd: int, arg: int) -> SyscallResult:
    """ioctl(2): FIOCLEX, FIONCLEX and FIONBIO are recorded and run on the
    placeholder too; a request of the file's own (FUSE_DEV_IOC_CLONE on
    /dev/fuse) is the file's; others pass through (they reach the
    placeholder: ENOTTY for tty requests)."""
    file = sentry_file(t, fd)
    if file is None:
        return PASS
    cmd = c_int(cmd) & 0xFFFFFFFF
    if cmd in (FIOCLEX, FIONCLEX):
        descriptor = t.fd_table.get(c_int(fd))
        assert descriptor is not None
        descriptor.cloexec = cmd == FIOCLEX
        return PASS
    if cmd == FIONBIO:
        raw = t.mm.copy_in(arg, 4)
        if len(raw) == 4:
            on = int.from_bytes(raw, "little") != 0
            file.flags = file.flags | O_NONBLOCK if on else file.flags & ~O_NONBLOCK
        return PASS
    result = file.impl.ioctl(t, cmd, arg)
    return PASS if result is None else result
