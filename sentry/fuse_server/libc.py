"""The few libc calls the servers need that Python's ``os`` lacks, through ctypes
(and the start of a libc 2 daemon, ``sentry.boot.fusermount``: unshare and a
seccomp filter).

The only module of the package that touches ctypes: each function makes one
call and raises ``OSError`` with the call's errno on failure.
"""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)

# The flags these calls take (MS_*, MNT_DETACH, AT_*, UTIME_*) are in
# sentry.abi.linux.


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.renameat2.argtypes = [
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_uint,
]
_libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_Timespec), ctypes.c_int]
_libc.fchownat.argtypes = [
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_uint,
    ctypes.c_uint,
    ctypes.c_int,
]
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_void_p,
    ctypes.c_ulong,
    ctypes.c_ulong,
]

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result: int) -> None:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def mount(
    source: bytes | None, target: bytes, fstype: bytes | None, flags: int, data: bytes | None
) -> None:
    """mount(2) (None: a NULL pointer)."""
    _check(_libc.mount(source, target, fstype, flags, data))


def umount2(target: bytes, flags: int) -> None:
    """umount2(2)."""
    _check(_libc.umount2(target, flags))


def renameat2(olddirfd: int, old: bytes, newdirfd: int, new: bytes, flags: int) -> None:
    """renameat2(2) with RENAME_* *flags*."""
    _check(_libc.renameat2(olddirfd, old, newdirfd, new, flags))


def utimensat(
    dirfd: int, path: bytes, atime: tuple[int, int], mtime: tuple[int, int], flags: int
) -> None:
    """utimensat(2); each time is (seconds, nanoseconds), or (0, UTIME_NOW / UTIME_OMIT)."""
    times = (_Timespec * 2)(_Timespec(*atime), _Timespec(*mtime))
    _check(_libc.utimensat(dirfd, path, times, flags))


def fchownat(dirfd: int, path: bytes, uid: int, gid: int, flags: int) -> None:
    """fchownat(2); -1 leaves the id alone."""
    _check(_libc.fchownat(dirfd, path, uid & 0xFFFFFFFF, gid & 0xFFFFFFFF, flags))


def fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    """fallocate(2) with FALLOC_FL_* *mode*."""
    _check(_libc.fallocate(fd, mode, offset, length))


def unshare(flags: int) -> None:
    """unshare(2) with CLONE_* *flags*."""
    _check(_libc.unshare(flags))


def set_seccomp_filter(program: bytes) -> None:
    """Install *program* (a ``struct sock_filter`` array) as a seccomp filter
    of the calling thread: prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER). Needs
    CAP_SYS_ADMIN or no_new_privs."""
    insns = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(insns))
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0))
