"""Typed wrapper of the cffi helper ``_helper`` (built from ``_helper.c``).

The only module besides ``memory.py`` that touches ``ffi`` objects. Each C
function returns a count, a pid, 0 or ``-errno``; :func:`check` turns a
negative result into ``SyscallError`` and the ptrace calls turn ESRCH into
:class:`TaskExited`.
"""

from __future__ import annotations

import errno

from sentry.errors import SyscallError
from sentry.platform.platform import TaskExited
from sentry.platform.ptrace._helper import ffi, lib

__all__ = ["ffi", "lib", "check", "ptrace", "peek_user"]


def check(result: int) -> int:
    """``result`` if it is not negative, else raise ``SyscallError(-result)``."""
    if result < 0:
        raise SyscallError(-result)
    return result


def ptrace(request: int, tid: int, addr: int = 0, data: int = 0) -> int:
    """ptrace(2) on ``tid``; raises TaskExited if the task is gone."""
    result = lib.sentry_ptrace(request, tid, addr, data)
    if result == -errno.ESRCH:
        raise TaskExited(tid)
    return check(result)


def peek_user(tid: int, offset: int) -> int:
    """The word at ``offset`` in the stopped task's user area (a register)."""
    out = ffi.new("uint64_t *")
    result = lib.sentry_peekuser(tid, offset, out)
    if result == -errno.ESRCH:
        raise TaskExited(tid)
    check(result)
    return int(out[0])


# Requests and options (linux/ptrace.h); python-ptrace lacks the newer ones.
PTRACE_POKEUSER = 6
PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_SYSCALL = 24
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208

PTRACE_O_TRACESYSGOOD = 1 << 0
PTRACE_O_TRACEFORK = 1 << 1
PTRACE_O_TRACEVFORK = 1 << 2
PTRACE_O_TRACECLONE = 1 << 3
PTRACE_O_TRACEEXEC = 1 << 4
PTRACE_O_TRACESECCOMP = 1 << 7
PTRACE_O_EXITKILL = 1 << 20

PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_VFORK_DONE = 5
PTRACE_EVENT_EXIT = 6
PTRACE_EVENT_SECCOMP = 7
PTRACE_EVENT_STOP = 128

# The C fast path's per-syscall policy bits (see _helper.c).
POLICY_ANY_FD = 0x40
POLICY_SLOW = 0x80
POLICY_GLOBAL = 0x100
POLICY_PATHS = 0x200
