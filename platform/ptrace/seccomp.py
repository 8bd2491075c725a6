"""The seccomp-bpf filter installed in the app before its first execve.

The policy is one table, built by :func:`build_filter` from the kernel's
syscall table: each syscall is TRACE (sentry gets one ptrace stop), an errno
(io_uring would do file I/O behind sentry's back: ENOSYS makes programs fall
back to plain syscalls) or ALLOW (runs natively, no stop). Anonymous mmaps
are allowed; mmaps of a file descriptor are traced.

Another ABI can never slip past: a call from any other AUDIT_ARCH (``int
0x80``, 32-bit code) or with an x32 number is traced, and sentry fails it
with ENOSYS.

The filter only looks at the architecture and the syscall number, except for
mmap, so the kernel's seccomp action cache (5.11+) lets every allowed syscall
skip the filter entirely: an untrapped syscall costs what it costs natively.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterable

from sentry.platform.ptrace import arch_amd64 as arch

# BPF instruction classes and fields (linux/bpf_common.h).
BPF_LD, BPF_JMP, BPF_RET = 0x00, 0x05, 0x06
BPF_W, BPF_ABS, BPF_K = 0x00, 0x20, 0x00
BPF_JEQ, BPF_JGE, BPF_JSET = 0x10, 0x30, 0x40

SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_ERRNO = 0x00050000

# Offsets in struct seccomp_data.
_NR, _ARCH, _ARGS = 0, 4, 16
MAP_ANONYMOUS = 0x20


def _stmt(code: int, k: int) -> tuple[int, int, int, int]:
    return (code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def build_filter(traced: Iterable[int], enosys: Iterable[int]) -> bytes:
    """The filter program as the bytes of a ``struct sock_filter`` array.

    Args:
        traced: syscall numbers to trace (mmap is traced only with an fd).
        enosys: syscall numbers that fail with ENOSYS without a stop.
    """
    mmap = arch.MMAP
    traced = sorted(set(traced) - {mmap})
    enosys = sorted(set(enosys))
    ret_allow = _stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
    ret_trace = _stmt(BPF_RET | BPF_K, SECCOMP_RET_TRACE)
    ret_enosys = _stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | errno.ENOSYS)

    prog = [
        _stmt(BPF_LD | BPF_W | BPF_ABS, _ARCH),  # 0
        _jump(BPF_JMP | BPF_JEQ | BPF_K, arch.AUDIT_ARCH, 1, 0),  # 1
        ret_trace,  # 2: foreign ABI
        _stmt(BPF_LD | BPF_W | BPF_ABS, _NR),  # 3
        _jump(BPF_JMP | BPF_JGE | BPF_K, arch.X32_BIT, 0, 1),  # 4
        ret_trace,  # 5: x32
        _jump(BPF_JMP | BPF_JEQ | BPF_K, mmap, 0, 4),  # 6: else -> 11
        _stmt(BPF_LD | BPF_W | BPF_ABS, _ARGS + 3 * 8),  # 7: flags
        _jump(BPF_JMP | BPF_JSET | BPF_K, MAP_ANONYMOUS, 0, 1),  # 8
        ret_allow,  # 9: anonymous
        ret_trace,  # 10: with an fd
    ]  # 11: the compares below, with the number still loaded
    tail = [(nr, 1) for nr in traced] + [(nr, 2) for nr in enosys]
    for i, (nr, target) in enumerate(tail):
        # After the compares come: allow (+0), trace (+1), enosys (+2).
        prog.append(_jump(BPF_JMP | BPF_JEQ | BPF_K, nr, len(tail) - 1 - i + target, 0))
    prog += [ret_allow, ret_trace, ret_enosys]
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)
