"""Copies between sentry and a tracee's memory (the AddressSpace of ptrace).

Data moves with one ``process_vm_readv``/``process_vm_writev`` call per
contiguous local buffer, scatter/gather included, straight from and into
Python buffers (no intermediate ``bytes`` on the way out).

Partial copies follow Linux: a copy stops at the first page that faults and
returns the count moved so far; a copy that moves nothing raises
``SyscallError(EFAULT)``. So ``read(fd, buf, 8192)`` into a buffer whose second
page is unmapped returns 4096, as the kernel's ``copy_to_user`` would.

``process_vm_writev`` cannot write every page the app itself could (it does no
forced faults on some special mappings). Where it stops on a page that
``/proc/<pid>/maps`` says is writable, the rest of that page goes through
``/proc/<pid>/mem`` instead. Read-only pages are never written: the app would
get EFAULT natively too.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence

from sentry.errors import SyscallError
from sentry.platform.ptrace.helper import check, ffi, lib

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PATH_MAX = 4096


def copy_in(pid: int, addr: int, length: int) -> bytes:
    """Up to ``length`` bytes at ``addr`` of ``pid`` (fewer if a page faults)."""
    if length == 0:
        return b""
    buf = bytearray(length)
    n = check(lib.sentry_vm_read(pid, addr, ffi.from_buffer(buf), length))
    if n == 0:
        raise SyscallError(errno.EFAULT)
    return bytes(memoryview(buf)[:n])


def copy_out(pid: int, addr: int, data: bytes | bytearray | memoryview) -> int:
    """Write ``data`` at ``addr`` of ``pid``; the count written, as Linux counts."""
    return copy_out_iov(pid, [(addr, len(data))], data)


def poke(pid: int, addr: int, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` at ``addr`` of ``pid`` through ``/proc/<pid>/mem``,
    which writes read-only pages too (a forced, copy-on-write fault)."""
    try:
        fd = os.open(f"/proc/{pid}/mem", os.O_WRONLY | os.O_CLOEXEC)
    except OSError as err:
        raise SyscallError(err.errno or errno.ESRCH) from None
    try:
        view, done = memoryview(data), 0
        while done < len(view):
            count = os.pwrite(fd, view[done:], addr + done)
            if count <= 0:
                raise SyscallError(errno.EFAULT)
            done += count
    except OSError as err:
        raise SyscallError(err.errno or errno.EFAULT) from None
    finally:
        os.close(fd)


def copy_in_iov(pid: int, iov: Sequence[tuple[int, int]]) -> bytes:
    """The bytes of the (base, length) ranges ``iov`` in order, up to a fault."""
    total = sum(length for _, length in iov)
    if total == 0:
        return b""
    buf = bytearray(total)
    n = _rw_iov(pid, False, buf, iov)
    if n == 0:
        raise SyscallError(errno.EFAULT)
    return bytes(memoryview(buf)[:n])


def copy_in_iov_into(pid: int, iov: Sequence[tuple[int, int]], buf: bytearray | memoryview) -> int:
    """Gather the ranges ``iov`` straight into ``buf`` (as long as their
    total); the count read up to a fault (EFAULT if none)."""
    n = _rw_iov(pid, False, buf, iov)
    if n == 0 and len(buf):
        raise SyscallError(errno.EFAULT)
    return n


def copy_out_iov(
    pid: int, iov: Sequence[tuple[int, int]], data: bytes | bytearray | memoryview
) -> int:
    """Scatter ``data`` over the ranges ``iov``; the count written up to a fault."""
    if len(data) == 0:
        return 0
    done = _rw_iov(pid, True, data, iov)
    if done < len(data):
        done += _write_fallback(pid, _remaining(iov, done), memoryview(data)[done:])
    if done == 0:
        raise SyscallError(errno.EFAULT)
    return done


def read_string(pid: int, addr: int, limit: int = PATH_MAX) -> bytes:
    """The NUL-terminated string at ``addr``, without its NUL.

    Raises SyscallError EFAULT if it is unreadable, ENAMETOOLONG if it has no
    NUL within ``limit`` bytes (the path rule of Linux's ``getname``).
    """
    buf = bytearray(limit)
    n = check(lib.sentry_read_string(pid, addr, ffi.from_buffer(buf), limit))
    return bytes(memoryview(buf)[:n])


def _rw_iov(
    pid: int, write: bool, buf: bytes | bytearray | memoryview, iov: Sequence[tuple[int, int]]
) -> int:
    pairs = [value for pair in iov for value in pair]
    local = ffi.from_buffer(buf)
    result = lib.sentry_vm_rw_iov(pid, int(write), local, len(buf), pairs, len(iov))
    if result in (-errno.EFAULT, -errno.EPERM, -errno.ENOSYS):
        return 0  # nothing moved; copy_out_iov tries the fallback
    return check(result)


def _remaining(iov: Sequence[tuple[int, int]], skip: int) -> list[tuple[int, int]]:
    """``iov`` without its first ``skip`` bytes."""
    rest = []
    for base, length in iov:
        if skip >= length:
            skip -= length
            continue
        rest.append((base + skip, length - skip))
        skip = 0
    return rest


def _write_fallback(pid: int, iov: Sequence[tuple[int, int]], data: memoryview) -> int:
    """Write what process_vm_writev refused, page by page, where the page is
    writable for the app; stop at the first page that is not."""
    done = 0
    try:
        writable = _writable_ranges(pid)
        mem = os.open(f"/proc/{pid}/mem", os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        for base, length in iov:
            pos = 0
            while pos < length and done < len(data):
                addr = base + pos
                if not any(lo <= addr < hi for lo, hi in writable):
                    return done
                chunk = min(PAGE_SIZE - addr % PAGE_SIZE, length - pos, len(data) - done)
                try:
                    n = os.pwrite(mem, data[done : done + chunk], addr)
                except OSError:
                    return done
                done += n
                pos += n
                if n < chunk:
                    return done
    finally:
        os.close(mem)
    return done


def _writable_ranges(pid: int) -> list[tuple[int, int]]:
    ranges = []
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            span, perms = line.split(None, 2)[:2]
            if perms[1] == "w":
                lo, hi = span.split("-")
                ranges.append((int(lo, 16), int(hi, 16)))
    return ranges
