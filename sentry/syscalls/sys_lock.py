"""Advisory locks on sentry files: fcntl's record-lock commands and flock(2).

Analogous to gVisor's ``sys_file.go`` lock code and Linux's ``fcntl_getlk``,
``fcntl_setlk`` and ``sys_flock``. The locks themselves are kept by
``sentry.vfs.lock``; this module reads and writes ``struct flock``, turns
``l_whence``/``l_start``/``l_len`` into a byte range with Linux's checks
and errors in Linux's order, and finds the pid F_GETLK reports (in the
app's PID namespace).
"""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

from sentry.errors import SyscallError
from sentry.kernel.syscalls import PASS, SyscallResult
from sentry.syscalls.common import sentry_file
from sentry.vfs import lock
from sentry.vfs.file_description_impl import O_PATH
from sentry.vfs.lock import F_RDLCK, F_UNLCK, F_WRLCK, LOCK_EX, LOCK_SH, OFFSET_MAX

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.file_description import FileDescription

F_GETLK, F_SETLK, F_SETLKW = 5, 6, 7
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
RECORD_COMMANDS = (F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)
LOCK_NB, LOCK_UN, LOCK_MAND = 4, 8, 32
# struct flock on x86_64: l_type, l_whence, l_start, l_len, l_pid.
FLOCK = struct.Struct("=hh4xqqi4x")


async def fcntl_lock(t: Task, file: FileDescription, fd: int, cmd: int, arg: int) -> int:
    """fcntl(2)'s F_GETLK, F_SETLK, F_SETLKW and their OFD forms on sentry
    file ``file``, fd ``fd``. The call holds a reference on the file, as
    Linux's fdget does, so that a close by another thread while it waits
    releases the file's OFD locks after, not before, the lock is set; a
    classic lock set after its fd was closed is dropped again (EBADF), as
    Linux's fcntl_setlk does. Precondition: ``cmd`` is one of
    RECORD_COMMANDS and the file was not opened O_PATH."""
    file.inc_ref()
    try:
        return await _fcntl_lock(t, file, fd, cmd, arg)
    finally:
        file.dec_ref()


async def _fcntl_lock(t: Task, file: FileDescription, fd: int, cmd: int, arg: int) -> int:
    raw = t.mm.copy_in(arg, FLOCK.size)
    if len(raw) < FLOCK.size:
        raise SyscallError(errno.EFAULT)
    kind, whence, l_start, l_len, l_pid = FLOCK.unpack(raw)
    ofd = cmd in (F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)
    test = cmd in (F_GETLK, F_OFD_GETLK)
    if test and kind not in (F_RDLCK, F_WRLCK):
        raise SyscallError(errno.EINVAL)
    start, end = await _byte_range(t, file, whence, l_start, l_len)
    if kind not in (F_RDLCK, F_WRLCK, F_UNLCK):
        raise SyscallError(errno.EINVAL)
    if not test and (
        (kind == F_RDLCK and not file.readable) or (kind == F_WRLCK and not file.writable)
    ):
        raise SyscallError(errno.EBADF)
    if ofd and l_pid != 0:
        raise SyscallError(errno.EINVAL)
    owner: object = file if ofd else t.fd_table
    if test:
        locks = lock.file_locks(file.lock_key, create=False)
        holder = locks.conflict(owner, kind, start, end) if locks is not None else None
        if holder is None:
            t.mm.copy_out(arg, FLOCK.pack(F_UNLCK, whence, l_start, l_len, l_pid))
        else:
            length = 0 if holder.end == OFFSET_MAX else holder.end - holder.start + 1
            pid = -1 if holder.pid < 0 else _app_pid(holder.pid)
            t.mm.copy_out(arg, FLOCK.pack(holder.kind, os.SEEK_SET, holder.start, length, pid))
        return 0
    pid = -1 if ofd else t.group.tgid
    wait = cmd in (F_SETLKW, F_OFD_SETLKW)
    await lock.lock_record(file.lock_key, owner, pid, kind, start, end, wait, ofd)
    if not ofd and kind != F_UNLCK:
        descriptor = t.fd_table.get(fd)
        if descriptor is None or descriptor.file is not file:
            lock.release(file.lock_key, owner)
            raise SyscallError(errno.EBADF)
    return 0


async def _byte_range(
    t: Task, file: FileDescription, whence: int, l_start: int, l_len: int
) -> tuple[int, int]:
    """``[start, end]`` of a struct flock, as Linux's flock64_to_posix_lock:
    EINVAL for a bad whence or a range before 0, EOVERFLOW past
    OFFSET_MAX."""
    if whence == os.SEEK_SET:
        base = 0
    elif whence == os.SEEK_CUR:
        base = file.offset
    elif whence == os.SEEK_END:
        base = (await file.impl.stat(t)).size
    else:
        raise SyscallError(errno.EINVAL)
    if l_start > OFFSET_MAX - base:
        raise SyscallError(errno.EOVERFLOW)
    start = base + l_start
    if start < 0:
        raise SyscallError(errno.EINVAL)
    if l_len > 0:
        if l_len - 1 > OFFSET_MAX - start:
            raise SyscallError(errno.EOVERFLOW)
        return start, start + l_len - 1
    if l_len < 0:
        if start + l_len < 0:
            raise SyscallError(errno.EINVAL)
        return start + l_len, start - 1
    return start, OFFSET_MAX


def _app_pid(tgid: int) -> int:
    """The pid the app's processes know host process ``tgid`` by (the last
    NSpid of its status), or 0 if it is gone."""
    try:
        with open(f"/proc/{tgid}/status") as status:
            for line in status:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        pass
    return 0


def flock(t: Task, fd: int, operation: int) -> SyscallResult:
    """flock(2) on a sentry file: EINVAL for a bad operation, EBADF on an
    O_PATH fd; LOCK_NB gives EWOULDBLOCK where it would wait."""
    file = sentry_file(t, fd, opath=True)
    if file is None:
        return PASS
    if operation & LOCK_MAND:
        return 0  # ignored, as Linux has done since LOCK_MAND was removed
    kinds = {LOCK_SH: LOCK_SH, LOCK_EX: LOCK_EX, LOCK_UN: None}
    if operation & ~LOCK_NB not in kinds:
        raise SyscallError(errno.EINVAL)
    if file.flags & O_PATH:
        raise SyscallError(errno.EBADF)
    return _flock(file, kinds[operation & ~LOCK_NB], not operation & LOCK_NB)


async def _flock(file: FileDescription, kind: int | None, wait: bool) -> int:
    # A reference for the call (fdget's): a close while it waits releases
    # the lock after it is set.
    file.inc_ref()
    try:
        await lock.lock_flock(file.lock_key, file, kind, wait)
    finally:
        file.dec_ref()
    return 0
