"""The interface between sentry's kernel and the platform that runs the app.

Analogous to gVisor's ``pkg/sentry/platform/platform.go``: the kernel sees
tasks (threads) that stop at events and are resumed, and address spaces it
copies to and from; it never imports a backend. The one backend today is
``ptrace`` (``sentry.platform.ptrace``), chosen by name with :func:`lookup`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sentry.platform.namespaces import Plan, Sandbox
from sentry.platform.seccomp_rules import Rule

# Data for Platform.scratch: bytes, or a function of where they will lie.
Scratch = bytes | Callable[[int], bytes]


class TaskExited(Exception):
    """The task is gone (it was killed or exited while sentry acted on it).

    The platform reports its exit as an event later; callers drop what they
    were doing for it.
    """

    def __init__(self, tid: int) -> None:
        super().__init__(tid)
        self.tid = tid


class StopKind(enum.Enum):
    """Why a task stopped (or what sentry itself was told)."""

    SYSCALL = "syscall"  # a trapped syscall, not yet executed
    SYSCALL_ENTRY = "syscall-entry"  # a syscall sentry injected is entered
    SYSCALL_EXIT = "syscall-exit"  # a syscall sentry asked to see finish
    NEW_TASK = "new-task"  # the task forked/cloned `value`
    EXEC = "exec"  # the task execed; `value` is its former tid
    SIGNAL = "signal"  # signal `value` is about to be delivered
    GROUP_STOP = "group-stop"  # the task entered job-control stop `value`
    TRAP_STOP = "trap-stop"  # a new task's first stop, or an interrupt
    EXITED = "exited"  # the task exited with status `value`
    KILLED = "killed"  # the task was killed by signal `value`
    HOST_SIGNAL = "host-signal"  # sentry received signal `value` (`code`)


@dataclass
class Stop:
    """One event from :meth:`Platform.wait`.

    For SYSCALL, ``nr`` and ``args`` are the call and ``arch`` its AUDIT_ARCH
    value (a foreign ABI, such as ``int 0x80``, shows here); for NEW_TASK,
    ``clone_flags`` are the flags the new task was created with.
    """

    kind: StopKind
    tid: int = 0
    value: int = 0
    code: int = 0
    nr: int = -1
    args: Sequence[int] = field(default_factory=tuple)
    arch: int = 0
    clone_flags: int = 0


class AddressSpace(Protocol):
    """Copies between sentry and one task's memory (analogous to usermem).

    Copies stop at the first fault and report how much moved; a copy that
    moves nothing raises ``SyscallError(EFAULT)``.
    """

    def copy_in(self, addr: int, length: int) -> bytes: ...

    def copy_out(self, addr: int, data: bytes | bytearray | memoryview) -> int: ...

    def copy_in_iov(self, iov: Sequence[tuple[int, int]]) -> bytes: ...

    def copy_in_iov_into(
        self, iov: Sequence[tuple[int, int]], buf: bytearray | memoryview
    ) -> int: ...

    def copy_out_iov(
        self, iov: Sequence[tuple[int, int]], data: bytes | bytearray | memoryview
    ) -> int: ...

    def read_string(self, addr: int, limit: int = 4096) -> bytes: ...


class Platform(Protocol):
    """Runs the app's tasks and reports their stops (analogous to Context).

    A task reported stopped stays stopped until one of the resume methods
    (``resume``, ``resume_to_exit``, ``listen``) is called for it; parked
    tasks (see :class:`sentry.kernel.task.Task`) use ``park``/``interrupt``.
    """

    def spawn(
        self,
        path: str,
        argv: Sequence[str],
        env: dict[str, str],
        traced: Iterable[int],
        policy: Mapping[int, Rule],
        sandbox: Sandbox | None = None,
    ) -> int: ...

    def exec_error(self) -> int: ...

    init_pid: int  # the sandbox's init (0 without a sandbox)

    def run_plan(self, plan: Plan) -> None: ...

    def set_policy(
        self,
        nr: int,
        fd_args: Sequence[int],
        any_fd: bool,
        slow: bool,
        global_fds: bool = False,
        paths: Sequence[tuple[int, int]] = (),
    ) -> None: ...

    def set_prefixes(self, prefixes: Iterable[str], names: Iterable[str] = ()) -> None:
        """The absolute paths (mount points, special files) whose walk needs
        the kernel: a path syscall whose path reaches one is not passed
        through by the platform. ``names``: other last names that make a
        path the kernel's (those special patterns serve)."""
        ...

    def set_cwd_elsewhere(self, tid: int, elsewhere: bool) -> None:
        """Whether task ``tid``'s cwd is inside a sentry mount (the host's
        cwd is then not where its relative paths start)."""
        ...

    def new_fd_table(self) -> int: ...

    def free_fd_table(self, slot: int) -> None: ...

    def mark_fd(self, slot: int, fd: int, owned: bool) -> None: ...

    def bind_task(self, tid: int, slot: int) -> None: ...

    def catch_signal(self, signo: int) -> None: ...

    def kill(self, pid: int, signo: int) -> None: ...

    def wait(self) -> Stop: ...

    def stop_counts(self) -> tuple[int, int]:
        """The ptrace stops so far: all of them, and those resumed without
        reaching the kernel (pass-through)."""
        ...

    def resume(self, tid: int, signal: int = 0) -> None: ...

    def resume_to_exit(self, tid: int, signal: int = 0) -> None: ...

    def listen(self, tid: int) -> None: ...

    def skip_syscall(self, tid: int, result: int) -> None: ...

    def skip_and_resume(self, tid: int, result: int) -> None: ...

    def set_result(self, tid: int, result: int, nr: int) -> None: ...

    def syscall_result(self, tid: int) -> int: ...

    def park(self, tid: int) -> None: ...

    def save_regs(self, tid: int) -> list[int]: ...

    def inject(self, tid: int, nr: int, args: Sequence[int], rewind: bool) -> None: ...

    def restore_regs(self, tid: int, regs: list[int], nr: int, result: int) -> None: ...

    def scratch(self, tid: int, regs: list[int], data: Scratch) -> int:
        """Copy ``data`` into scratch memory of the stopped task (``regs``
        saved at the stop); its address there. ``data`` may be a function of
        that address (called with 0 first, for its length)."""
        ...

    def filter_program(self, traced: Iterable[int], policy: Mapping[int, Rule]) -> bytes:
        """A seccomp filter that a task can stack on its own (``struct
        sock_filter`` array): ``traced`` stop, others as ``policy`` says,
        any other number runs. Stacked filters only ever add stops."""
        ...

    def interrupt(self, tid: int) -> None: ...

    def take_fd(self, pid: int, fd: int) -> int: ...

    def address_space(self, tid: int) -> AddressSpace: ...


def lookup(name: str) -> Callable[[int], Platform]:
    """The constructor of the platform registered under ``name`` (only
    "ptrace" today); its argument is how long, in µs, the platform may poll
    for the next stop before it sleeps (0: never poll)."""
    if name == "ptrace":
        from sentry.platform.ptrace.ptrace import PtracePlatform

        return PtracePlatform
    raise ValueError(f"unknown platform {name!r}")
