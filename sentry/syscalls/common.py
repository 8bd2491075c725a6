"""What syscall handlers share: reading paths, finding where they start and
which files are sentry's, making new fds.

A new sentry fd is a *placeholder* in the app's own fd table: the task is
made to call ``eventfd2`` (see ``Task.inject``), so the host allocates the
number (lowest free, RLIMIT_NOFILE, O_CLOEXEC all as Linux does) and dup,
fork, exec, close and SCM_RIGHTS work on it natively; sentry's FDTable maps
the number to the open file, and the platform traps syscalls on it (the
process becomes "precise" first: see ``fd_traps``). Under
poll, select and epoll (which sentry does not trap) the placeholder reports
its file's readiness: an eventfd with a count of 1 is always readable and
writable and can be added to an epoll set, as a FUSE file (FUSE's default
poll mask); a file whose readiness changes (``/dev/fuse``) starts at 0 and
its impl sets and drains the count through sentry's own dup of it.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import signal
import struct
import weakref
from typing import TYPE_CHECKING

from sentry.abi.linux import AT_FDCWD, PAGE_SIZE, S_IFDIR, S_IFMT
from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.errors import SyscallError
from sentry.kernel.fd_traps import make_precise
from sentry.kernel.task import SCRATCH
from sentry.vfs.file_description import FileDescription
from sentry.vfs.file_description_impl import O_PATH
from sentry.vfs.vfs import Location

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.vfs import Start

log = logging.getLogger("sentry")

EFD_CLOEXEC = 0o2000000
F_SETPIPE_SZ = 1031
# The end of the app's address space (Linux's TASK_SIZE_MAX on x86_64 with
# 4-level page tables).
TASK_SIZE_MAX = (1 << 47) - 4096

# Placeholder identity (its eventfd-id) -> the file it stands for: an fd
# that arrives over a unix socket is recognised by it (whether sendmsg or
# the untraced sendmmsg sent it, so it is filled when the fd is made).
PLACEHOLDERS: weakref.WeakValueDictionary[int, FileDescription] = weakref.WeakValueDictionary()


def placeholder_id(tid: int, fd: int) -> int | None:
    """The eventfd-id of fd ``fd`` of task ``tid``, if it is an eventfd (one
    unbuffered read of its fdinfo: this runs at every open)."""
    try:
        info = os.open(f"/proc/{tid}/fdinfo/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(info, 512)
    except OSError:
        return None
    finally:
        os.close(info)
    at = data.find(b"eventfd-id:")
    if at < 0:
        return None
    try:
        return int(data[at + 11 : data.index(b"\n", at)])
    except ValueError:
        return None


def c_int(value: int) -> int:
    """A register holding a C int argument, as the int."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def c_long(value: int) -> int:
    """A register holding a C long argument, as the long."""
    return value - (1 << 64) if value >> 63 else value


def access_ok(addr: int, size: int) -> bool:
    """Whether ``size`` bytes at ``addr`` lie in the app's address space
    (Linux's ``access_ok``: a buffer that doesn't is EFAULT before any copy,
    however short the transfer would be)."""
    return size <= TASK_SIZE_MAX and addr <= TASK_SIZE_MAX - size


def check_flags(flags: int, allowed: int) -> int:
    """``flags``, or EINVAL if it has a bit outside ``allowed``."""
    if flags & ~allowed:
        raise SyscallError(errno.EINVAL)
    return flags


def read_path(t: Task, addr: int) -> bytes:
    """The path argument at ``addr`` (EFAULT, ENAMETOOLONG as Linux)."""
    if addr == 0:
        raise SyscallError(errno.EFAULT)
    return t.mm.read_string(addr)


def locate(t: Task, dirfd: int, path: bytes, opening: bool = False) -> Start | None:
    """Where ``path``, relative to ``dirfd``, enters sentry's tree, or None
    for a host path (see ``VirtualFilesystem.locate``). EBADF/ENOTDIR for a
    bad ``dirfd`` of a relative path, after ENOENT for an empty one."""
    relative = bool(path) and not path.startswith(b"/")
    base = dir_location(t, dirfd) if relative else None
    return t.kernel.vfs.locate(path, base, opening)


def dir_location(t: Task, dirfd: int) -> Location:
    """The directory a relative path starts from: the working directory
    (AT_FDCWD) or ``dirfd``'s (ENOTDIR if that is not a directory, EBADF if
    it is no fd)."""
    if c_int(dirfd) == AT_FDCWD:
        return t.cwd()
    file = t.file(c_int(dirfd))
    if file is not None:
        location = file.location
        if location.inode is None or location.inode.mode & S_IFMT != S_IFDIR:
            raise SyscallError(errno.ENOTDIR)
        return location
    try:
        return Location(os.readlink(f"/proc/{t.tid}/fd/{c_int(dirfd)}"))
    except OSError:
        raise SyscallError(errno.EBADF) from None


def empty_path_location(t: Task, dirfd: int) -> Location | None:
    """What an empty path with AT_EMPTY_PATH names: ``dirfd``'s file (an
    O_PATH fd too), or the working directory for AT_FDCWD; None if that is
    the host's (the call then passes through)."""
    if c_int(dirfd) == AT_FDCWD:
        location = t.cwd()
    else:
        file = sentry_file(t, dirfd, opath=True)
        if file is None:
            return None
        location = file.location
    return None if location.mount is None else location


async def raise_signal(t: Task, signo: int) -> None:
    """Send ``signo`` to the task itself, as Linux's ``send_sig(sig,
    current)`` (tkill of its own tid, which sentry asks the task for: it is
    not the host's in a PID namespace)."""
    tid = await t.inject(SYSCALL_NUMBERS["gettid"])
    if tid < 0:
        raise SyscallError(-tid)
    await t.inject(SYSCALL_NUMBERS["tkill"], tid, signo)


async def hang_up(t: Task, fd: int, cloexec: bool) -> None:
    """Swap fd ``fd``'s placeholder for the write end of a full pipe whose
    read end is closed: it polls POLLERR, and nothing else, from now on.
    The fd stays the same sentry file (see
    FileDescriptionImpl.pollerr_when_gone)."""
    pipe = t.inject(SYSCALL_NUMBERS["pipe2"], SCRATCH, os.O_CLOEXEC, data=bytes(8))
    if await pipe < 0:
        return
    read_end, write_end = struct.unpack("<ii", t.mm.copy_in(pipe.where, 8))
    # One page of room, filled by a byte: no POLLOUT.
    await t.inject(SYSCALL_NUMBERS["fcntl"], write_end, F_SETPIPE_SZ, PAGE_SIZE)
    await t.inject(SYSCALL_NUMBERS["write"], write_end, SCRATCH, 1, data=b"\0")
    await t.inject(SYSCALL_NUMBERS["close"], read_end)
    await t.inject(SYSCALL_NUMBERS["dup3"], write_end, fd, os.O_CLOEXEC if cloexec else 0)
    await t.inject(SYSCALL_NUMBERS["close"], write_end)


def fsize_limit(t: Task) -> int | None:
    """The task's RLIMIT_FSIZE, or None if it has none."""
    try:
        limit = resource.prlimit(t.tid, resource.RLIMIT_FSIZE)[0]
    except OSError:
        return None
    return None if limit == resource.RLIM_INFINITY else limit


async def efbig(t: Task) -> int:
    """A file grown past RLIMIT_FSIZE: SIGXFSZ to the task, and EFBIG."""
    await raise_signal(t, signal.SIGXFSZ)
    return -errno.EFBIG


def sentry_file(t: Task, fd: int, opath: bool = False) -> FileDescription | None:
    """The sentry file ``fd`` refers to, or None if it is a host fd. An
    O_PATH fd is EBADF (Linux's ``fdget``) unless the call takes one
    (``opath``: close, dup, fcntl's fd flags, fstat, fstatfs, fchdir, a
    dirfd, SCM_RIGHTS: Linux's ``fdget_raw``)."""
    file = t.file(c_int(fd))
    if file is not None and not opath and file.flags & O_PATH:
        raise SyscallError(errno.EBADF)
    return file


async def install_fd(t: Task, file: FileDescription, cloexec: bool) -> int:
    """Give ``file`` a new fd in ``t``'s table (a placeholder); the number."""
    watched = file.impl.tracks_readiness
    try:
        await make_precise(t)
    except SyscallError:
        file.impl.release()  # it never had an fd
        raise
    fd = await t.inject(
        SYSCALL_NUMBERS["eventfd2"], 0 if watched else 1, EFD_CLOEXEC if cloexec else 0
    )
    if fd < 0:
        file.impl.release()  # it never had an fd
        raise SyscallError(-fd)
    t.fd_table.install(fd, file, cloexec)
    identity = placeholder_id(t.tid, fd)
    if identity is not None:
        PLACEHOLDERS[identity] = file
    if watched:
        file.impl.watch(t.kernel.platform.take_fd(t.group.tgid, fd))
    return fd


async def on_host(t: Task, location: Location, path_arg: int) -> int:
    """The walk left sentry's mounts (``..`` or an absolute symlink): the
    host runs the app's syscall, with argument ``path_arg`` replaced by the
    host path it resolved to. Its result is the syscall's."""
    b = t.blocked
    assert b is not None
    args = tuple(SCRATCH if i == path_arg else a for i, a in enumerate(b.args))
    return await t.inject(b.nr, *args, data=os.fsencode(location.path) + b"\0")
