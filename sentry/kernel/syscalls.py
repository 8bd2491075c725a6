"""The kernel's view of a syscall table: entries, handlers and what a
handler may return.

Analogous to gVisor's ``kernel/syscalls.go``: the kernel defines these
types and dispatches through a :class:`SyscallTable` it is handed; the
table itself (``sentry.syscalls.linux64``) and its handlers live above the
kernel and import it, never the reverse.

A handler returns a :data:`SyscallResult`: the syscall's result (a
non-negative value; an error is raised as ``SyscallError(errno)``);
:data:`PASS` or a :class:`Passthrough`, when the call is not sentry's after
all and the host runs it; or a coroutine that gives the result, when it
must wait (for a FUSE daemon, a lock, or a syscall the task is made to
run).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.platform.seccomp_rules import Rule

# Sees the host's result at the syscall's exit; may return a coroutine that
# runs with the task held in its exit stop (to inject syscalls), whose value
# is then the syscall's result.
ExitHook = Callable[[int], Coroutine[Any, Any, int] | None]


@dataclass(frozen=True)
class Passthrough:
    """Let the host run the syscall.

    ``on_exit``, if set, is called with the host's result at the syscall's
    exit (e.g. to record the fd that dup() made); see :data:`ExitHook`.
    """

    on_exit: ExitHook | None = None


PASS = Passthrough()

# A handler's answer: the result, the host's turn, or an ``async def``'s
# coroutine (it awaits Waiters; its value is the result).
SyscallResult: TypeAlias = int | Passthrough | Coroutine[Any, Any, int]


# A syscall handler, as the dispatcher calls it: ``handler(t, *args)`` with
# the raw argument registers. The dispatcher still checks what comes back at
# run time (a buggy handler's answer is EIO). Kernel(handlers=...) takes
# the same type.
Handler: TypeAlias = Callable[..., SyscallResult]


class Support(enum.Enum):
    """How far sentry serves a syscall on its own files."""

    SUPPORTED = "Supported"
    PARTIAL = "Partially supported"
    PASSTHROUGH = "Passes through"


@dataclass(frozen=True)
class Syscall:
    """One trapped syscall."""

    name: str
    handler: Handler | None = None  # None: the host always runs it
    support: Support = Support.SUPPORTED
    note: str = ""  # what is missing, or what sentry does around the call
    fd_args: tuple[int, ...] = ()  # argument positions that are fds
    path_args: tuple[int, ...] = ()  # argument positions that are paths
    any_fd: bool = False  # acts on a range of fds (close_range)
    global_fds: bool = False  # may carry fds of any table (SCM_RIGHTS)
    # Passes through when its paths all stay on the host (decided without
    # Python: see sentry.platform.ptrace); false for calls that track state
    # for host paths too (chdir: the cwd) or are always sentry's (mount).
    host_paths_pass: bool = True


@dataclass(frozen=True)
class SyscallTable:
    """What a kernel serves (gVisor's ``kernel.SyscallTable``): the trapped
    syscalls by number, and the seccomp rules of the others (the allow
    list: run natively, or fail at once with an errno; a number in
    neither fails with ENOSYS)."""

    entries: Mapping[int, Syscall]
    allowed: Mapping[int, Rule]


class Stracer(Protocol):
    """Prints the syscalls the kernel serves (``--strace``)."""

    def format_call(self, t: Task, arch: int, nr: int, args: Sequence[int]) -> str:
        """The text of the call a task enters (its arguments decoded)."""
        ...

    def emit(self, tid: int, call: str, result: int) -> None:
        """Print a finished call with its result."""
        ...
