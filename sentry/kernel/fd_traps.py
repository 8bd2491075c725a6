"""Which processes stop on fd syscalls: only those that hold a sentry fd.

The problem
-----------
A syscall on an fd (read, write, fstat, lseek, mmap, ...) is sentry's only
when the fd is one of sentry's placeholders. A seccomp filter sees the fd
number but cannot look it up in a table, so sentry used to trap every such
call and pass the app's own fds through in C: one ptrace stop each (10 to
50 us), for ``dd bs=1``, a compiler reading its headers or ``find`` alike,
though most processes never hold a sentry fd at all.

Trapping lazily
---------------
The filter every app process starts with lets the fd-only syscalls run
natively (and the kernel's seccomp action cache then skips the filter for
them: no cost at all). A process gets its first sentry fd only through
sentry: an open on a sentry mount (``common.install_fd``) or a placeholder
received over a unix socket (recvmsg, which is trapped while any sentry fd
exists); a chdir into a sentry mount counts too, so that its fchdir back
out reaches sentry. Right then, before that syscall returns, the process becomes
*precise*: its task stacks a second filter, synchronised to all its threads
(``SECCOMP_FILTER_FLAG_TSYNC``), that traps every fd-only syscall, and the
C fast path passes the app's own fds through as before. A dup of a sentry
fd needs nothing: the process had one already.

Filters only ever add restrictions, are inherited by children and kept
across exec, so a precise process and its descendants stay correct for
good (at the old cost, even after their sentry fds are closed). fd numbers
stay Linux's: the lowest free one.

Tried first: a reserved range of placeholder numbers that the base filter
compares fd arguments against. It needs no stacking, but an open on a
sentry mount then returns a number Linux would not, which the differential
tests caught.

Left out: a process that shares its fd table with another one (clone with
CLONE_FILES but not CLONE_THREAD) does not make that one precise; under
``--strace`` every trapped call stops anyway, so nothing is lazy.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sentry.abi.linux import SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_SET_MODE_FILTER
from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.errors import SyscallError
from sentry.kernel.task import SCRATCH
from sentry.platform.seccomp_rules import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_TRACE,
    ArgRule,
    Rule,
)

if TYPE_CHECKING:
    from sentry.kernel.syscalls import Syscall
    from sentry.kernel.task import Task

log = logging.getLogger("sentry")

_SOCK_FPROG = struct.Struct("<H6xQ")  # struct sock_fprog


def fd_only(entry: Syscall) -> bool:
    """Whether ``entry`` concerns sentry only through its fd arguments."""
    return bool(entry.fd_args) and not (entry.path_args or entry.any_fd or entry.global_fds)


def _keep(own: Rule | None, traced: int) -> Rule:
    """An fd-only syscall's rule: its own argument cases (TIOCSTI refused,
    anonymous mmap allowed) that do not trace, else ``traced``."""
    if not isinstance(own, ArgRule):
        return traced
    cases = tuple(c for c in own.cases if c.action not in (SECCOMP_RET_TRACE, traced))
    return ArgRule(cases, traced) if cases else traced


def base_policy(
    table: Mapping[int, Syscall], policy: Mapping[int, Rule]
) -> tuple[list[int], dict[int, Rule]]:
    """The filter every app process starts with, as (traced, policy) for
    Platform.spawn: ``table``'s syscalls are traced but the fd-only ones,
    which run natively."""
    rules = dict(policy)
    traced = []
    for nr, entry in table.items():
        if fd_only(entry):
            rules[nr] = _keep(policy.get(nr), SECCOMP_RET_ALLOW)
        else:
            traced.append(nr)
    return traced, rules


def precise_policy(
    table: Mapping[int, Syscall], policy: Mapping[int, Rule]
) -> tuple[list[int], dict[int, Rule]]:
    """The stacked filter of a precise process, as (traced, policy) for
    Platform.filter_program: every fd-only syscall stops, but for the
    argument cases that let it run."""
    traced = [nr for nr, entry in table.items() if fd_only(entry)]
    return traced, {nr: _keep(policy.get(nr), SECCOMP_RET_TRACE) for nr in traced}


async def make_precise(t: Task) -> None:
    """Have ``t``'s process stack the filter that traps every fd syscall
    (see the module notes), unless it has it. Failing TSYNC (a thread whose
    filters differ from ``t``'s), only ``t`` gets it, and a warning says
    so. Raises SyscallError if the host refuses the filter."""
    program = t.kernel.precise_filter
    if t.group.precise or not program:
        return

    def fprog(addr: int) -> bytes:
        return _SOCK_FPROG.pack(len(program) // 8, addr + _SOCK_FPROG.size) + program

    nr = SYSCALL_NUMBERS["seccomp"]
    tsync = SECCOMP_FILTER_FLAG_TSYNC
    result = await t.inject(nr, SECCOMP_SET_MODE_FILTER, tsync, SCRATCH, data=fprog)
    if result > 0:
        log.warning(
            "pid %d: thread %d has seccomp filters of its own: only thread %d traps "
            "its sentry fds",
            t.group.tgid,
            result,
            t.tid,
        )
        result = await t.inject(nr, SECCOMP_SET_MODE_FILTER, 0, SCRATCH, data=fprog)
    if result < 0:
        log.warning("pid %d: cannot stack the precise filter (errno %d)", t.tid, -result)
        raise SyscallError(-result)
    t.group.precise = True
    log.debug("pid %d holds a sentry fd: its fd syscalls stop from now on", t.group.tgid)
