"""The language of the app's syscall policy: seccomp actions and argument rules.

The syscall table states the policy in it (:mod:`sentry.syscalls.policy`);
a backend compiles it (the ptrace one into classic BPF, in
``sentry.platform.ptrace.seccomp``). It lives apart from both so that the
kernel never imports a backend.

A rule is an action, the ``SECCOMP_RET_*`` value the filter returns (ALLOW:
the call runs natively; TRACE: sentry gets one ptrace stop; an errno: it
fails at once), or an :class:`ArgRule`, which picks the action from the low
32 bits of argument registers. seccomp-bpf reads registers only, never
memory, so a rule cannot look behind a pointer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Actions (include/uapi/linux/seccomp.h).
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_ERRNO = 0x00050000


def errno_action(err: int) -> int:
    """The action that fails a syscall with ``err`` without a stop."""
    return SECCOMP_RET_ERRNO | err


class ArgOp(enum.Enum):
    """How an :class:`ArgTest` compares an argument with its constant."""

    EQ = "equals k"
    ANY = "has any bit of k"


@dataclass(frozen=True)
class ArgTest:
    """A test on the low 32 bits of argument register ``arg`` (0 to 5).

    The high halves are never read: the syscalls checked take ``int`` flags,
    or ignore (clone) or reject (unshare) high bits themselves.
    """

    arg: int
    op: ArgOp
    k: int


def arg_eq(arg: int, k: int) -> ArgTest:
    """Argument ``arg`` equals ``k``."""
    return ArgTest(arg, ArgOp.EQ, k & 0xFFFFFFFF)


def arg_any(arg: int, mask: int) -> ArgTest:
    """Argument ``arg`` has any bit of ``mask`` set."""
    return ArgTest(arg, ArgOp.ANY, mask & 0xFFFFFFFF)


@dataclass(frozen=True)
class ArgCase:
    """``action`` when all ``tests`` hold."""

    action: int
    tests: tuple[ArgTest, ...]


@dataclass(frozen=True)
class ArgRule:
    """The action of the first case whose tests hold, else ``default``.

    A syscall with an ArgRule never enters the kernel's seccomp action cache:
    keep them for the few calls whose flags decide whether they are safe.
    """

    cases: tuple[ArgCase, ...]
    default: int


Rule = int | ArgRule
