"""mmap(2) of a sentry file.

Analogous to gVisor's ``sys_mmap.go``. Sentry's buffer cache is its own
memory, which the app cannot map, so a private mapping of a FUSE file is
backed by a snapshot: the task is made to create a memfd, sentry fills it
with the file's bytes from the mapping's offset to the end of the mapping or
of the file (read through the cache, SNAPSHOT_STEP bytes at a time, steps of
zeros left as holes) and seals it, and the task's own mmap then maps that
memfd in place of the file, with the app's address, length, protection and
flags; the memfd's fd is closed again. Pages past the end of the file raise
SIGBUS, as in Linux.

A small private mapping (SMALL_MAPPING or less, no page of it past the
end of the file) is made without a memfd: the task maps anonymous memory
in its place and sentry pokes the file's bytes into it (``poke``), one
injected call instead of three; git maps thousands of small objects. What
differs from a file mapping: MADV_DONTNEED on it gives zeros, not the
file's bytes again, and ``/proc/self/maps`` names no file.

A private mapping behaves as Linux's does until the file changes. A shared
mapping maps the memory the file keeps for all its shared mappings
(``FileDescriptionImpl.shared_memory``: for FUSE, see
``fsimpl/fuse/shared_mapping.py``), the whole file from offset 0, so the
task maps it at the app's own offset: its stores reach the file and the
other mappings, and writes and truncates reach it, as in Linux. The task is
handed that memory (``Task.give_fd``) read-only unless the mapping may
store (so mprotect cannot make it writable: EACCES, where Linux allows it
for a file opened for writing). Other fds pass through.
"""

from __future__ import annotations

import errno
import fcntl
import os
from typing import TYPE_CHECKING

from sentry.abi.linux import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_SHARED_VALIDATE,
    MAP_TYPE,
    PAGE_SIZE,
    PROT_WRITE,
)
from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.errors import SyscallError
from sentry.kernel.syscalls import PASS, SyscallResult
from sentry.kernel.task import SCRATCH
from sentry.syscalls.common import TASK_SIZE_MAX, sentry_file
from sentry.vfs.file_description_impl import MAX_LFS_FILESIZE
from sentry.vfs.iov import BufferSequence

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.file_description import FileDescription

MFD_CLOEXEC, MFD_ALLOW_SEALING = 0x1, 0x2
MAP_GROWSDOWN, MAP_HUGETLB = 0x100, 0x40000
SMALL_MAPPING = 64 << 10  # bytes: at most this, a private mapping is poked
SNAPSHOT_STEP = 1 << 20  # bytes of a larger snapshot copied at a time
F_SEAL_ALL = 0x1 | 0x2 | 0x4 | 0x8  # SEAL, SHRINK, GROW, WRITE
MS_SYNC = 4


def mmap(
    t: Task, addr: int, length: int, prot: int, flags: int, fd: int, offset: int
) -> SyscallResult:
    """mmap(2)."""
    file = sentry_file(t, fd)
    if file is None or flags & MAP_ANONYMOUS:
        return PASS
    if length == 0 or offset % PAGE_SIZE:
        raise SyscallError(errno.EINVAL)
    # As Linux's do_mmap: the page-aligned length must fit the address
    # space, and the offset (unsigned) plus it the largest file offset.
    aligned = length + -length % PAGE_SIZE
    if aligned > TASK_SIZE_MAX:
        raise SyscallError(errno.ENOMEM)
    if offset + aligned > MAX_LFS_FILESIZE:
        raise SyscallError(errno.EOVERFLOW)
    kind = flags & MAP_TYPE
    if kind not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
        raise SyscallError(errno.EINVAL)
    if not file.impl.mappable:
        raise SyscallError(errno.ENODEV)
    shared = kind != MAP_PRIVATE
    if not file.readable or (shared and prot & PROT_WRITE and not file.writable):
        raise SyscallError(errno.EACCES)
    if shared:
        return _map_shared(t, file, addr, length, prot, flags, offset)
    return _map_snapshot(t, file, addr, length, prot, flags, offset)


def msync(t: Task, addr: int, length: int, flags: int) -> SyscallResult:
    """msync(2): with MS_SYNC, the stores of shared mappings (and all other
    unsent data) of sentry's file systems go to their servers first (which
    mappings the range holds is not looked up); the host then runs it."""
    return _msync(t, addr, length, flags) if flags & MS_SYNC else PASS


async def _msync(t: Task, addr: int, length: int, flags: int) -> int:
    await t.kernel.vfs.sync(t)
    result = await t.inject(SYSCALL_NUMBERS["msync"], addr, length, flags)
    if result < 0:
        raise SyscallError(-result)
    return result


async def _map_shared(
    t: Task, file: FileDescription, addr: int, length: int, prot: int, flags: int, offset: int
) -> int:
    writable = bool(prot & PROT_WRITE)
    memory = await file.impl.shared_memory(t, writable)
    if writable:
        fd = await t.give_fd(memory)
    else:
        readonly = os.open(f"/proc/self/fd/{memory}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            fd = await t.give_fd(readonly)
        finally:
            os.close(readonly)
    try:
        result = await t.inject(SYSCALL_NUMBERS["mmap"], addr, length, prot, flags, fd, offset)
    finally:
        await t.inject(SYSCALL_NUMBERS["close"], fd)
    if -PAGE_SIZE < result < 0:
        raise SyscallError(-result)
    return result


async def _map_snapshot(
    t: Task, file: FileDescription, addr: int, length: int, prot: int, flags: int, offset: int
) -> int:
    size = (await file.impl.stat(t)).size
    want = max(0, min(length, size - offset))
    aligned = length + -length % PAGE_SIZE
    if (
        flags & MAP_TYPE == MAP_PRIVATE
        and not flags & (MAP_GROWSDOWN | MAP_HUGETLB)
        and aligned <= SMALL_MAPPING
        and want + -want % PAGE_SIZE == aligned
    ):
        data = bytearray(want)
        done = await _read_into(t, file, memoryview(data), offset)
        if done == want:
            return await _map_poked(t, addr, length, prot, flags, memoryview(data))
    memfd = await t.inject(
        SYSCALL_NUMBERS["memfd_create"],
        SCRATCH,
        MFD_CLOEXEC | MFD_ALLOW_SEALING,
        data=b"sentry-mmap\0",
    )
    if memfd < 0:
        raise SyscallError(-memfd)
    try:
        ours = t.kernel.platform.take_fd(t.group.tgid, memfd)
        try:
            await _fill(t, file, ours, offset, want)
            fcntl.fcntl(ours, fcntl.F_ADD_SEALS, F_SEAL_ALL)
        finally:
            os.close(ours)
        result = await t.inject(SYSCALL_NUMBERS["mmap"], addr, length, prot, flags, memfd, 0)
    finally:
        await t.inject(SYSCALL_NUMBERS["close"], memfd)
    if -PAGE_SIZE < result < 0:
        raise SyscallError(-result)
    return result


async def _read_into(t: Task, file: FileDescription, buf: memoryview, offset: int) -> int:
    """Read the file from ``offset`` into ``buf`` (through the cache); the
    count, short at the end of file."""
    done = 0
    while done < len(buf):
        count = await file.impl.pread(t, file, BufferSequence(buf[done:]), offset + done)
        if count == 0:
            break
        done += count
    return done


async def _fill(t: Task, file: FileDescription, memfd: int, offset: int, want: int) -> None:
    """Copy ``want`` bytes of the file from ``offset`` into ``memfd``,
    SNAPSHOT_STEP bytes at a time (sentry holds no more than that, however
    large the mapping), leaving all-zero steps as holes (a sparse file
    stays sparse); the memfd's size is what the file had."""
    buf = bytearray(min(want, SNAPSHOT_STEP))
    done = 0
    while done < want:
        step = memoryview(buf)[: min(SNAPSHOT_STEP, want - done)]
        count = await _read_into(t, file, step, offset + done)
        if buf.count(0, 0, count) != count:
            written = 0
            while written < count:
                written += os.pwrite(memfd, step[written:count], done + written)
        done += count
        if count < len(step):
            break
    os.ftruncate(memfd, done)


async def _map_poked(
    t: Task, addr: int, length: int, prot: int, flags: int, data: memoryview
) -> int:
    """Map anonymous memory where the file would be, holding ``data``."""
    anonymous = flags & ~MAP_TYPE | MAP_PRIVATE | MAP_ANONYMOUS
    result = await t.inject(SYSCALL_NUMBERS["mmap"], addr, length, prot, anonymous, -1, 0)
    if -PAGE_SIZE < result < 0:
        raise SyscallError(-result)
    try:
        t.mm.poke(result, data)
    except SyscallError:
        await t.inject(SYSCALL_NUMBERS["munmap"], result, length)
        raise
    return result
