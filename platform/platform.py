"""The interface between sentry's kernel and the platform that runs the app.

Analogous to gVisor's ``pkg/sentry/platform/platform.go``: the kernel sees
tasks (threads) that stop at events and are resumed, and address spaces it
copies to and from; it never imports a backend. Syscalls that concern no
sentry file may pass through: the host runs them without a stop that the
kernel sees (see :meth:`Platform.set_policy`). The one backend today is
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
    moves nothing raises ``SyscallError(EFAULT)``. Writes reach only what the
    app itself could write (a read-only page faults, as it would natively).
    A copy may be made while the task is stopped or parked. Any copy may
    also raise SyscallError with another errno (e.g. if the task is gone).
    """

    def copy_in(self, addr: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``addr``: fewer if a page faults, b"" if
        ``length`` is 0."""
        ...

    def copy_out(self, addr: int, data: bytes | bytearray | memoryview) -> int:
        """Write ``data`` at ``addr``; the count written, as Linux counts it
        (less than ``len(data)`` if a page faults; 0 if ``data`` is empty)."""
        ...

    def copy_in_iov(self, iov: Sequence[tuple[int, int]]) -> bytes:
        """The bytes of the (base, length) ranges ``iov``, in order, up to
        the first fault (b"" if their total is 0)."""
        ...

    def copy_in_iov_into(self, iov: Sequence[tuple[int, int]], buf: bytearray | memoryview) -> int:
        """Gather the ranges ``iov`` straight into ``buf``; the count read, up
        to the first fault (EFAULT only if none and ``buf`` is not empty).
        Precondition: ``buf`` is as long as the ranges' total."""
        ...

    def copy_out_iov(
        self, iov: Sequence[tuple[int, int]], data: bytes | bytearray | memoryview
    ) -> int:
        """Scatter ``data`` over the ranges ``iov``, in order; the count
        written, up to the first fault (0 if ``data`` is empty)."""
        ...

    def poke(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at ``addr`` whatever the pages' protection, as a
        debugger pokes (copy-on-write for a private read-only page). Only
        for memory sentry itself just mapped for the app (a file mapping's
        contents), never for the app's buffers. Raises SyscallError (EFAULT
        if any of it is unmapped)."""
        ...

    def read_string(self, addr: int, limit: int = 4096) -> bytes:
        """The NUL-terminated string at ``addr``, without its NUL.

        Raises SyscallError: EFAULT if it is unreadable before its NUL (no
        partial string is returned), ENAMETOOLONG if it has no NUL within
        ``limit`` bytes, NUL included (the path rule of Linux's ``getname``;
        the default is PATH_MAX).
        """
        ...


class Platform(Protocol):
    """Runs the app's tasks and reports their stops (analogous to gVisor's
    Platform and Context together).

    A task reported stopped (any Stop of :meth:`wait` but EXITED, KILLED and
    HOST_SIGNAL) stays stopped until a method lets it run: ``resume``,
    ``resume_to_exit``, ``listen``, ``skip_and_resume``, ``park`` or
    ``inject``. Parked tasks (see :meth:`park` and
    :class:`sentry.kernel.task.Task`) are woken with ``interrupt``. A method
    that needs a stop says which, as its precondition.

    Unless it says otherwise, a method that acts on a task raises TaskExited
    if the task is gone (SIGKILL acts even on a stopped task; :meth:`wait`
    reports the exit later), and any method may raise
    ``SyscallError(errno)`` if the host refuses.
    """

    def spawn(
        self,
        path: str,
        argv: Sequence[str],
        env: dict[str, str],
        traced: Iterable[int],
        policy: Mapping[int, Rule],
        sandbox: Sandbox | None = None,
    ) -> int:
        """Start the app, ``path`` with ``argv`` and ``env``, as its first
        task; its pid.

        The syscalls ``traced`` give SYSCALL stops (:meth:`set_policy` says
        which of them reach the kernel); every other syscall is allowed,
        refused or checked as ``policy`` says, and one in neither fails with
        ENOSYS. These rules hold from the execve of ``path`` on, that call
        included. If the execve fails, the task exits with status 127 before
        any EXEC stop and :meth:`exec_error` gives the errno. With
        ``sandbox``, the app starts in its namespaces under the sandbox's
        init (``init_pid``). Precondition: called once, before :meth:`wait`.

        Raises SandboxError if the namespaces, the plan or taking control of
        the app fail; SyscallError if its process cannot be created.
        """
        ...

    def exec_error(self) -> int:
        """The errno with which the app's execve (see :meth:`spawn`) failed,
        or 0 if it succeeded; waits, if need be, until the app has execed or
        exited. Precondition: after :meth:`spawn`, and at most once."""
        ...

    init_pid: int  # the sandbox's init (0 without a sandbox)

    def run_plan(self, plan: Plan) -> None:
        """Have the sandbox's init run ``plan`` in the app's namespaces (e.g.
        put or take away a mount's guard), and wait until it has.

        Raises SyscallError with the errno of the step that failed; ENOSYS
        without a sandbox.
        """
        ...

    def set_policy(
        self,
        nr: int,
        fd_args: Sequence[int],
        any_fd: bool,
        slow: bool,
        global_fds: bool = False,
        paths: Sequence[tuple[int, int]] = (),
    ) -> None:
        """Which SYSCALL stops of syscall ``nr`` (a traced one, see
        :meth:`spawn`) pass through: the host runs the call, and the kernel
        never sees the stop.

        A stop reaches the kernel if ``slow``, if ``global_fds`` and any fd
        table has a sentry fd, if the caller's fd table (see
        :meth:`bind_task`) has a sentry fd (any of them if ``any_fd``, else
        one named by an argument at a position in ``fd_args``), or if a path
        of ``paths`` (its argument position, and its dirfd's or -1 for the
        cwd) enters one of the prefixes (see :meth:`set_prefixes`) or cannot
        be decided by the platform. A stop of a foreign ABI (``Stop.arch``),
        and any stop of a task running an injected call (see :meth:`inject`),
        always reaches the kernel. The platform may send the kernel more
        stops than these rules say, never fewer. Precondition: at most two
        ``paths``.
        """
        ...

    def set_prefixes(self, prefixes: Iterable[str], names: Iterable[str] = ()) -> None:
        """Set the absolute paths (mount points, special files) whose walk
        needs the kernel: a path syscall whose path reaches one is not passed
        through by the platform (see :meth:`set_policy`). ``names``: other
        last names that make a path the kernel's (those special patterns
        serve). Replaces the earlier ones.

        Raises SyscallError(ENAMETOOLONG) if they are more than the platform
        can hold.
        """
        ...

    def set_cwd_elsewhere(self, tid: int, elsewhere: bool) -> None:
        """Whether task ``tid``'s cwd is inside a sentry mount (the host's
        cwd is then not where its relative paths start); false until set."""
        ...

    def new_fd_table(self) -> int:
        """A new, empty table of which fds are sentry's, for deciding
        pass-through (see :meth:`set_policy`); its slot.

        Raises SyscallError(ENOMEM) if no slot is left.
        """
        ...

    def free_fd_table(self, slot: int) -> None:
        """Release the table in ``slot``: its fds no longer count as
        sentry's, and the slot may be given out again. Precondition: no live
        task is bound to it."""
        ...

    def mark_fd(self, slot: int, fd: int, owned: bool) -> None:
        """Record whether ``fd`` in table ``slot`` is a sentry file."""
        ...

    def bind_task(self, tid: int, slot: int) -> None:
        """Task ``tid`` now uses fd table ``slot`` (until bound, it counts as
        holding no sentry fd); called again after an exec changes its tid."""
        ...

    def catch_signal(self, signo: int) -> None:
        """Catch signal ``signo`` sent to sentry itself: instead of its
        default action, :meth:`wait` reports it as a HOST_SIGNAL stop
        (``value`` the signal, ``code`` its si_code). Like a standard signal,
        several arrivals before that report give one stop.

        Raises SyscallError if ``signo`` cannot be caught (SIGKILL, SIGSTOP).
        """
        ...

    def kill(self, pid: int, signo: int) -> None:
        """Send ``signo`` to process ``pid`` (a negative ``pid``: that
        process group, as kill(2)); nothing if it is gone."""
        ...

    def wait(self) -> Stop:
        """The next event the kernel must see, waiting for it if need be.

        It is a task's stop (the task stays stopped: see the class notes), a
        task's end (EXITED, KILLED: it is gone), or a signal caught by
        :meth:`catch_signal` (HOST_SIGNAL, ``tid`` 0), which comes before any
        other event. The exits of sentry's other children (the sandbox's
        init, daemons) are reported too. Stops that pass through (see
        :meth:`set_policy`) are never reported, nor those of a task that
        vanished meanwhile. A new task's first stop (TRAP_STOP) and its
        creator's NEW_TASK stop come in either order.

        Raises SyscallError(ECHILD) when sentry has no child left.
        """
        ...

    def stop_counts(self) -> tuple[int, int]:
        """The stops so far: all those the platform saw, and those of them
        that passed through without reaching the kernel."""
        ...

    def resume(self, tid: int, signal: int = 0) -> None:
        """Let the task run on, delivering ``signal`` if nonzero.

        Precondition: the task is at a stop (at a GROUP_STOP, this ends the
        job-control stop; see :meth:`listen`). ``signal`` is for a SIGNAL
        stop: the stop's ``value`` delivers the signal, 0 discards it; pass 0
        at other stops.
        """
        ...

    def resume_to_exit(self, tid: int, signal: int = 0) -> None:
        """Like :meth:`resume`, but the task also stops at its next syscall
        boundary: the exit of the syscall it is in (SYSCALL_EXIT: the call of
        a SYSCALL stop, or one it sleeps in), or else the entry of the next
        one it makes (SYSCALL_ENTRY)."""
        ...

    def listen(self, tid: int) -> None:
        """Leave a task at a GROUP_STOP in its job-control stop, as Linux
        would, until SIGCONT (or SIGKILL) ends it; :meth:`wait` reports its
        next stop as usual. Precondition: the task is at a GROUP_STOP."""
        ...

    def skip_syscall(self, tid: int, result: int) -> None:
        """Don't run the trapped syscall: the app sees ``result`` (-errno for
        an error) as its return value. The task stays stopped.
        Precondition: the task is at a SYSCALL stop."""
        ...

    def skip_and_resume(self, tid: int, result: int) -> None:
        """:meth:`skip_syscall`, then :meth:`resume` (no signal), in one
        step: the commonest end of an emulated syscall. Precondition: the
        task is at a SYSCALL stop."""
        ...

    def set_result(self, tid: int, result: int, nr: int) -> None:
        """Make the result ``result`` for syscall ``nr`` (which the host
        restarts if ``result`` is a restart code and a signal says so).
        Precondition: the task is at a SYSCALL_EXIT stop."""
        ...

    def syscall_result(self, tid: int) -> int:
        """The result of the syscall at a SYSCALL_EXIT stop (-errno for an
        error; :meth:`wait` gives it as the stop's ``value`` too).
        Precondition: the task is at a SYSCALL_EXIT stop."""
        ...

    def park(self, tid: int) -> None:
        """Park the task: instead of its syscall, it sleeps interruptibly in
        the host, leaving sentry to serve others, until :meth:`interrupt` or
        a signal for it; either gives a SYSCALL_EXIT stop, where the kernel
        gives the syscall its result (:meth:`set_result`,
        :meth:`restore_regs`; for a signal, EINTR or a restart, as Linux
        would decide) or injects a call (:meth:`inject`). SIGKILL kills it.
        Precondition: the task is at a SYSCALL stop."""
        ...

    def save_regs(self, tid: int) -> list[int]:
        """The task's registers, to restore later (:meth:`restore_regs`) and
        for :meth:`scratch`; opaque to the kernel. Precondition: the task is
        at a stop."""
        ...

    def inject(
        self, tid: int, nr: int, args: Sequence[int], rewind: bool, at: int | None = None
    ) -> None:
        """Make the task call syscall ``nr`` with ``args`` (up to six; the
        other argument registers keep their values), and let it run.

        At a SYSCALL stop (``rewind`` false) the app's syscall is replaced;
        at a SYSCALL_EXIT stop (``rewind`` true) the task makes its syscall
        again, as ``nr``, or, with ``at``, runs the syscall instruction at
        that address (after an exec, no syscall instruction precedes the new
        program's first one: see :meth:`syscall_instruction`). Either way it
        stops at the injected call's exit (SYSCALL_EXIT, whose ``value`` is
        its result); a SYSCALL_ENTRY comes first when rewinding, and a
        traced ``nr`` also gives its SYSCALL stop:
        the kernel must let both run to the exit (:meth:`resume_to_exit`).
        None of the task's stops pass through until that exit. The task's
        registers change: save them first (:meth:`save_regs`) to put them
        back at the end (:meth:`restore_regs`).
        """
        ...

    def syscall_instruction(self, tid: int) -> int:
        """The address of a syscall instruction in the task's vDSO.
        Precondition: the task has not run since its exec (so the vDSO is
        still the kernel's). Raises SyscallError (ENOENT: the task has none,
        ESRCH: it is gone)."""
        ...

    def restore_regs(self, tid: int, regs: list[int], nr: int, result: int) -> None:
        """Put back ``regs`` (saved during syscall ``nr``) with ``result`` as
        that syscall's result (restarted as for :meth:`set_result`).
        Precondition: the task is at a SYSCALL_EXIT stop."""
        ...

    def scratch(self, tid: int, regs: list[int], data: Scratch) -> int:
        """Copy ``data`` into scratch memory of the stopped task (``regs``
        saved at the stop); its address there, for an injected call to use.
        ``data`` may be a function of that address (called with 0 first, for
        its length, which must not change).

        Raises SyscallError(EFAULT) if that memory cannot be written.
        """
        ...

    def filter_program(self, traced: Iterable[int], policy: Mapping[int, Rule]) -> bytes:
        """A seccomp filter that a task can stack on its own (``struct
        sock_filter`` array): ``traced`` stop, others as ``policy`` says,
        any other number runs. Stacked filters only ever add stops."""
        ...

    def interrupt(self, tid: int) -> None:
        """Wake a parked task (see :meth:`park`): it stops at its syscall's
        exit (SYSCALL_EXIT). Precondition: the task is parked and asleep (not
        at a stop)."""
        ...

    def take_fd(self, pid: int, fd: int) -> int:
        """A dup in sentry of fd ``fd`` of process ``pid`` (the same open
        file), close-on-exec; the caller owns it.

        Raises SyscallError if ``pid`` has no fd ``fd`` or is gone (not
        TaskExited).
        """
        ...

    def address_space(self, tid: int) -> AddressSpace:
        """The memory of task ``tid``: cheap to make, and raises nothing
        itself (its copies do)."""
        ...


def lookup(name: str) -> Callable[[int], Platform]:
    """The constructor of the platform registered under ``name`` (only
    "ptrace" today); its argument is how long, in µs, the platform may poll
    for the next stop before it sleeps (0: never poll)."""
    if name == "ptrace":
        from sentry.platform.ptrace.ptrace import PtracePlatform

        return PtracePlatform
    raise ValueError(f"unknown platform {name!r}")
