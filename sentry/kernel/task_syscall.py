"""Serving a trapped syscall: pass it through, emulate it, or park the task.

Analogous to gVisor's ``kernel/task_syscall.go``. A SYSCALL stop reaches
here only when the platform could not pass it through by itself (see
:meth:`SyscallDispatcher.policy`). Then:

- a syscall whose fd arguments name no sentry file, or that sentry does not
  emulate, passes through to the host (with --strace, the task is resumed to
  the syscall's exit stop, where the result is read);
- otherwise its handler runs. A plain handler's result (or SyscallError) is
  the syscall's result: the host syscall is skipped. An ``async def``
  handler may await :class:`~sentry.kernel.task.Waiter` objects: the task is
  *parked* and sentry serves other tasks until the waiter completes.

Parking rules (the invariants of :class:`~sentry.kernel.task.Blocked`):

- A parked task sleeps in the host kernel (``Platform.park``). When its
  handler finishes, sentry interrupts it and sets the result at its
  syscall-exit stop.
- A signal for a parked task wakes it early: at its exit stop, sentry throws
  ``SyscallError(ERESTARTSYS)`` into the handler. If the handler lets it
  propagate, the syscall returns ERESTARTSYS and the host applies Linux's
  rule (EINTR, or a transparent restart if the handler has SA_RESTART or
  the signal is ignored). If the handler catches it and awaits again, the
  task stays held in its exit stop, killable but not interruptible, as Linux
  holds a FUSE request that was already sent.
- A task killed while parked has its handler's coroutine closed.
- A task is not parked at once: it is first *held* in its stop for up to
  ``HOLD_SECONDS`` (see below).
- A handler may await ``t.inject(nr, ...)``: the task itself makes syscall
  ``nr`` (replacing the app's call at its seccomp stop, or re-executing the
  syscall instruction from an exit stop; a sleeping task is interrupted
  first). The app's registers are saved before the first injection and put
  back, with the result, when the handler returns.

Holding before parking
----------------------
Parking costs two stops: the task is resumed into ``pause()`` (waking its
CPU) and interrupted out of it again, and an injection from there costs an
entry stop more than one made at the seccomp stop. A FUSE reply from a
built-in server comes within about 100 us, so a handler that awaits
anything but an injection first leaves its task where it stopped: if the
waiter completes within ``HOLD_SECONDS``, the handler goes on from that
stop as if it had not waited (``open`` + ``close`` on memfs: 6 stops
become 3). A held task cannot take a signal (the host queues it until the
task runs), so a hold is short: when it runs out (one timer for all held
tasks), the task is parked as above, and a signal interrupts the wait as
Linux interrupts a FUSE request. A signal is thus seen at most
``HOLD_SECONDS`` late, as if the daemon had taken that much longer; SIGKILL
is never late (the host ends a stopped task at once).

No app input may end sentry: an exception other than SyscallError that
escapes a handler, its coroutine, an injection or an exit hook is a bug of
sentry's. It is logged (:func:`~sentry.kernel.task.log_bug`: one line on
stderr, the traceback in the debug log), the syscall fails with EIO (an exit
hook's syscall already ran in the host and keeps its result), and the
sandbox goes on. So does a result no syscall can return (not an int in the
range of a C long). Only TaskExited propagates: the task is gone.
"""

from __future__ import annotations

import collections
import errno
import logging
import time
import types
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, Protocol

from sentry.abi.linux_amd64 import AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, syscall_name
from sentry.errors import ERESTARTSYS, SyscallError
from sentry.kernel.syscalls import ExitHook, Passthrough, Stracer, Syscall
from sentry.kernel.task import SCRATCH, Blocked, Injection, Task
from sentry.platform.platform import Platform, Stop, TaskExited
from sentry.waiter import Waiter, close_quietly, log_bug

log = logging.getLogger("sentry")

# How long a task whose handler waits (on a FUSE reply, a lock, a timer)
# stays in its stop before it is parked (see the module notes).
HOLD_SECONDS = 0.001


class DispatchKernel(Protocol):
    """The kernel as the dispatcher sees it: the tasks and syscalls it
    serves, the platform they run on, and how a stopped task runs on.

    A protocol so that this module sits below the kernel that owns the
    dispatcher: :class:`sentry.kernel.kernel.Kernel` implements it.
    """

    @property
    def platform(self) -> Platform:
        """Where the app runs."""
        ...

    @property
    def tasks(self) -> Mapping[int, Task]:
        """The live tasks, by tid."""
        ...

    @property
    def syscalls(self) -> Mapping[int, Syscall]:
        """The trapped syscalls, by number."""
        ...

    def resume(self, t: Task, signo: int = 0) -> None:
        """Let ``t`` run on from any stop (see Kernel.resume)."""
        ...

    def sleep(self, seconds: float) -> Waiter:
        """A waiter that completes after ``seconds`` (see Kernel.sleep)."""
        ...


class SyscallDispatcher:
    """Routes SYSCALL and SYSCALL_EXIT stops (see the module notes).

    Invariants: ``_held`` lists the holds that may still run out, as
    (deadline, task, its Blocked, the waiter it awaits); an entry whose task
    no longer awaits that waiter in that Blocked, unparked, is stale and
    dropped. A hold timer is armed (``_hold_timer``) whenever ``_held`` is
    not empty. A syscall's deadline is set at its first wait and kept.
    """

    def __init__(self, kernel: DispatchKernel, strace: Stracer | None) -> None:
        self.kernel = kernel
        self.platform = kernel.platform
        self.strace = strace
        # Syscall stops that reached Python, by number (for the debug log).
        self.served: collections.Counter[int] = collections.Counter()
        self._held: collections.deque[tuple[float, Task, Blocked, Waiter]] = collections.deque()
        self._hold_timer = False

    def policy(
        self, entry: Syscall
    ) -> tuple[Sequence[int], bool, bool, bool, Sequence[tuple[int, int]]]:
        """``(fd_args, any_fd, slow, global_fds, paths)`` for
        Platform.set_policy.

        A syscall sentry does not emulate never needs Python (unless traced
        for --strace); one emulated on fds only needs it when an fd is
        sentry's; one on paths, when a path enters a sentry mount or special
        file (unless it acts on a host path too: chdir, exec, mount); any
        other emulated one always does.
        """
        if self.strace is not None:
            return (), False, True, False, ()
        if entry.handler is None:
            return (), False, False, False, ()
        if entry.path_args and entry.host_paths_pass:
            paths = [(i, i - 1 if i - 1 in entry.fd_args else -1) for i in entry.path_args]
            return entry.fd_args, False, False, False, paths
        by_fd_only = (
            bool(entry.fd_args or entry.any_fd or entry.global_fds) and not entry.path_args
        )
        return entry.fd_args, entry.any_fd, not by_fd_only, entry.global_fds, ()

    def on_syscall(self, stop: Stop) -> None:
        """Handle a SYSCALL stop."""
        t = self.kernel.tasks.get(stop.tid)
        if t is None:
            self.platform.resume(stop.tid)
            return
        if t.blocked is not None and t.blocked.injecting is not None:
            self.platform.resume_to_exit(t.tid)  # sentry's own injected call
            return
        self.served[stop.nr] += 1
        call = self._format(t, stop) if self.strace else ""
        if stop.arch != AUDIT_ARCH_X86_64 or stop.nr & X32_SYSCALL_BIT:
            log.warning(
                "pid %d: %s refused (ENOSYS): sentry serves only the x86_64 ABI",
                t.tid,
                syscall_name(stop.arch, stop.nr),
            )
            self._skip(t, call, -errno.ENOSYS)
            return
        entry = self.kernel.syscalls.get(stop.nr)
        if entry is None or entry.handler is None or not self._owned(t, entry, stop.args):
            self._pass_through(t, call)
            return
        try:
            result = entry.handler(t, *stop.args[: _arity(entry.handler)])
        except SyscallError as err:
            result = -err.errno
        except TaskExited:
            raise
        except Exception:
            log_bug(entry.name)
            result = -errno.EIO
        if isinstance(result, Passthrough):
            self._pass_through(t, call, result.on_exit, stop)
        elif isinstance(result, types.CoroutineType):
            t.blocked = Blocked(result, stop.nr, tuple(stop.args), call)
            self._step(t, None, None)
        else:
            self._skip(t, call, result)

    def on_syscall_entry(self, stop: Stop) -> None:
        """Handle a SYSCALL_ENTRY stop: an injected syscall begins."""
        self.platform.resume_to_exit(stop.tid)

    def on_syscall_exit(self, stop: Stop) -> None:
        """Handle a SYSCALL_EXIT stop: an injected call ended, a parked task
        woke, or a traced pass-through finished."""
        t = self.kernel.tasks.get(stop.tid)
        if t is None:
            self.platform.resume(stop.tid)
            return
        b = t.blocked
        if b is not None:
            b.stopped = True
            if b.injecting is not None:
                done, b.injecting = b.injecting, None
                done.complete(stop.value)
            elif b.pending is not None:
                self._inject(t, b)
            elif b.result is not None:
                self._return_parked(t, b)
            else:
                b.waiter = None
                self._step(t, None, SyscallError(ERESTARTSYS))
            return
        if t.exit_hook is not None:
            hook, t.exit_hook = t.exit_hook, None
            try:
                follow = hook(stop.value)
            except TaskExited:
                raise
            except Exception:
                log_bug("the exit hook of a syscall that passed through")
                follow = None
            if follow is not None:
                t.blocked = follow
                self._step(t, None, None)
                return
        self.kernel.resume(t)

    def _format(self, t: Task, stop: Stop) -> str:
        """The --strace text of the call ``stop`` enters."""
        assert self.strace is not None
        try:
            return self.strace.format_call(t, stop.arch, stop.nr, stop.args)
        except TaskExited:
            raise
        except Exception:
            log_bug("--strace")
            return syscall_name(stop.arch, stop.nr)

    def _owned(self, t: Task, entry: Syscall, args: Sequence[int]) -> bool:
        """Whether the call concerns a sentry file (else it passes through)."""
        if entry.path_args or entry.global_fds or not (entry.fd_args or entry.any_fd):
            return True
        if entry.any_fd:
            return len(t.fd_table) > 0
        return any(t.fd_table.get(_fd(args[i])) is not None for i in entry.fd_args)

    def _pass_through(
        self, t: Task, call: str, on_exit: ExitHook | None = None, stop: Stop | None = None
    ) -> None:
        """Let the host run the call; at its exit, ``on_exit`` sees the
        result. If it returns a coroutine, the task stays in its exit stop
        while that runs (it may inject syscalls), and the coroutine's value
        becomes the call's result."""
        strace = self.strace
        if strace is not None or on_exit is not None:

            def exit_hook(result: int) -> Blocked | None:
                follow = on_exit(result) if on_exit is not None else None
                if isinstance(follow, types.CoroutineType) and stop is not None:
                    return Blocked(
                        follow, stop.nr, tuple(stop.args), call, parked=True, stopped=True
                    )
                if strace is not None:
                    strace.emit(t.tid, call, result)
                return None

            t.exit_hook = exit_hook
        self.kernel.resume(t)

    def _skip(self, t: Task, call: str, answer: object) -> None:
        """Skip the call, with ``answer`` (a handler's, checked) as its result."""
        result = _checked(answer)
        if self.strace is None and not t.exit_hook and not t.blocked:
            self.platform.skip_and_resume(t.tid, result)
            return
        self.platform.skip_syscall(t.tid, result)
        if self.strace is not None:
            self.strace.emit(t.tid, call, result)
        self.kernel.resume(t)

    def _step(self, t: Task, value: Any, error: SyscallError | None) -> None:
        """Run ``t``'s handler coroutine to its next await, or to its end."""
        b = t.blocked
        assert b is not None
        coroutine: Coroutine[Waiter, Any, int] = b.coroutine
        try:
            waiter = coroutine.throw(error) if error else coroutine.send(value)
            if not isinstance(waiter, Waiter):
                raise TypeError(f"the handler awaited {waiter!r}, not a Waiter")
        except StopIteration as done:
            self._finish(t, b, done.value)
            return
        except SyscallError as err:
            self._finish(t, b, -err.errno)
            return
        except TaskExited:
            raise
        except Exception:
            self._fail(t, b, None)
            return
        b.waiter = waiter
        waiter.add_callback(lambda value: self._wake(t, b, waiter, value))
        if isinstance(waiter, Injection):
            b.pending = waiter
            if not b.parked or b.stopped:
                self._inject(t, b)
            elif b.injecting is None:
                self.platform.interrupt(t.tid)
        elif not b.parked:
            self._hold(t, b, waiter)

    def _hold(self, t: Task, b: Blocked, waiter: Waiter) -> None:
        """Leave ``t`` in its stop while ``b`` awaits ``waiter``, for
        HOLD_SECONDS at most (see the module notes)."""
        # One hold per syscall, from its first wait: a handler that wakes and
        # waits again and again is still parked in time for its signals.
        if b.held_until is None:
            b.held_until = time.monotonic() + HOLD_SECONDS
        self._held.append((b.held_until, t, b, waiter))
        if not self._hold_timer:
            self._hold_timer = True
            self.kernel.sleep(HOLD_SECONDS).add_callback(self._holds_ran_out)

    def _holds_ran_out(self, _: object) -> None:
        """The hold timer: park every task whose hold has run out and that
        still waits; arm the timer again for the next hold, if any."""
        self._hold_timer = False
        now = time.monotonic()
        waiting = []
        for deadline, t, b, waiter in self._held:
            if t.blocked is not b or b.parked or b.waiter is not waiter:
                continue  # its wait ended in time, or it is gone
            if deadline > now:
                waiting.append((deadline, t, b, waiter))
                continue
            b.parked = True
            try:
                self.platform.park(t.tid)
            except TaskExited:
                log.debug("task %d vanished while held", t.tid)
        self._held = collections.deque(waiting)
        if waiting:
            self._hold_timer = True
            first = min(entry[0] for entry in waiting)
            self.kernel.sleep(first - now).add_callback(self._holds_ran_out)

    def _fail(self, t: Task, b: Blocked, error: int | None) -> None:
        """Drop the handler of ``b`` and end its syscall with ``error``; or,
        if None, the handler hit a bug: log it, and end it with EIO."""
        name = syscall_name(AUDIT_ARCH_X86_64, b.nr)
        if error is None:
            log_bug(name)
        b.waiter = b.pending = None
        close_quietly(b.coroutine, name)
        self._finish(t, b, -(error or errno.EIO))

    def _inject(self, t: Task, b: Blocked) -> None:
        """Start ``b.pending`` now that the task is at a seccomp or exit stop."""
        injection, b.pending = b.pending, None
        assert injection is not None
        try:
            if b.saved_regs is None:
                b.saved_regs = self.platform.save_regs(t.tid)
            args = injection.args
            if injection.data:
                where = self.platform.scratch(t.tid, b.saved_regs, injection.data)
                injection.where = where
                args = tuple(where + a - SCRATCH if _in_scratch(a) else a for a in args)
            at = self.platform.syscall_instruction(t.tid) if b.execed else None
            self.platform.inject(t.tid, injection.nr, args, rewind=b.parked, at=at)
        except TaskExited:
            raise
        except SyscallError as err:
            # The task is still at its stop: the handler sees the error at
            # its await and may clean up (inject a close) before it ends.
            b.waiter = None
            self._step(t, None, err)
            return
        except Exception:
            self._fail(t, b, None)
            return
        b.parked, b.stopped, b.injecting = True, False, injection

    def _wake(self, t: Task, b: Blocked, waiter: Waiter, value: Any) -> None:
        """The callback of ``b``'s waiter: it never raises, so that whoever
        completes the waiter (a timer, a FUSE reply) goes on with the rest."""
        if t.blocked is b and b.waiter is waiter:
            b.waiter = None
            try:
                self._step(t, value, None)
            except TaskExited as gone:
                log.debug("task %d vanished while being woken", gone.tid)

    def _finish(self, t: Task, b: Blocked, result: int) -> None:
        result = _checked(result)
        if not b.parked:
            t.blocked = None
            self._skip(t, b.call, result)
            return
        b.result = result
        if b.stopped:
            self._return_parked(t, b)
        else:
            self.platform.interrupt(t.tid)

    def _return_parked(self, t: Task, b: Blocked) -> None:
        """At a parked task's exit stop: give it its result and let it run."""
        assert b.result is not None
        t.blocked = None
        if b.saved_regs is not None:
            self.platform.restore_regs(t.tid, b.saved_regs, b.nr, b.result)
        else:
            self.platform.set_result(t.tid, b.result, b.nr)
        if self.strace is not None:
            self.strace.emit(t.tid, b.call, b.result)
        self.kernel.resume(t)


def _in_scratch(arg: int) -> bool:
    """Whether an injected call's argument is SCRATCH + an offset."""
    return SCRATCH <= arg < SCRATCH + 2**32


def _checked(result: object) -> int:
    """A handler's result, if it is one a syscall can return (an int that
    fits a C long); else a bug: EIO."""
    if isinstance(result, int) and -(2**63) <= result < 2**63:
        return result
    log.warning("sentry bug: a handler returned %r; the call fails with EIO", result)
    return -errno.EIO


def _fd(value: int) -> int:
    """An fd argument as the kernel reads it (a C int)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def _arity(handler: Any) -> int:
    """How many syscall arguments ``handler(t, ...)`` takes."""
    argcount: int = handler.__code__.co_argcount
    return argcount - 1
