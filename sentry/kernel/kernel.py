"""The kernel: the app's tasks and processes, and the loop that serves them.

Analogous to gVisor's ``kernel.Kernel``. :meth:`Kernel.run` starts the app on
a platform and handles each stop it reports until no task is left: trapped
syscalls (:mod:`sentry.kernel.task_syscall`), new tasks, execs, signals,
group-stops, exits, and signals sent to sentry itself
(:mod:`sentry.kernel.job_control`).

When the app's main process exits, the sandbox ends like a PID namespace
whose init died: every process left behind is killed, and :meth:`run`
returns once all are reaped.
"""

from __future__ import annotations

import errno
import glob
import heapq
import itertools
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from sentry.abi.linux import CLONE_FILES, CLONE_THREAD, MNT_DETACH
from sentry.abi.linux_amd64 import AUDIT_ARCH_X86_64, SYSCALL_NUMBERS, syscall_name
from sentry.errors import SyscallError
from sentry.kernel import fd_traps
from sentry.kernel.fd_table import FDTable
from sentry.kernel.job_control import JobControl
from sentry.kernel.syscalls import Handler, Stracer, Syscall, SyscallTable
from sentry.kernel.task import Task
from sentry.kernel.task_syscall import SyscallDispatcher
from sentry.kernel.thread_group import ThreadGroup
from sentry.platform.namespaces import Plan, Sandbox
from sentry.platform.platform import Platform, Stop, StopKind, TaskExited
from sentry.vfs.vfs import Mount, VirtualFilesystem
from sentry.waiter import Waiter, close_quietly, log_bug

log = logging.getLogger("sentry")


class ExecFailed(Exception):
    """The app's command could not be executed (``errno`` says why)."""

    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno


class Kernel:
    """Runs one app on one platform.

    Invariants: ``tasks`` holds every live task sentry knows, each in its
    ThreadGroup in ``groups`` and bound to its FDTable; ``_early`` holds the
    tids whose first stop came before their creator's fork event (they stay
    stopped until it comes).

    Implements task.TaskKernel, task_syscall.DispatchKernel and
    job_control.JobKernel.
    """

    def __init__(
        self,
        platform: Platform,
        table: SyscallTable,
        strace: Stracer | None = None,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        """Args:
        platform: where the app runs.
        table: the syscalls it serves (``sentry.syscalls.linux64.LINUX64``).
        strace: print every trapped syscall there.
        handlers: syscall handlers by name, added to or replacing the table's
            (a name not in the table becomes trapped).
        """
        self.platform = platform
        self.syscalls = dict(table.entries)
        self.allowed = table.allowed
        for name, handler in (handlers or {}).items():
            nr = SYSCALL_NUMBERS[name]
            self.syscalls[nr] = replace(
                self.syscalls.get(nr, Syscall(name)), handler=handler
            )
        # The filter a process stacks with its first sentry fd
        # (sentry.kernel.fd_traps); none under --strace, which traps all.
        self.precise_filter = b""
        self.vfs = VirtualFilesystem()
        self.tasks: dict[int, Task] = {}
        self.groups: dict[int, ThreadGroup[Task]] = {}
        self.vfs.on_change = self._prefixes_changed
        self._prefixes_changed()
        self.main = 0
        self.status: int | None = None
        # Children sentry had before it started anything (inherited from the
        # process that exec'd it, as `sh -c 'x & exec sentry ...'` leaves
        # them): neither the app's nor daemons, so never signalled nor waited for.
        self.foreign = _children()
        self._init_reaped = False
        self._started = False
        self._early: set[int] = set()
        # Observers, for the FUSE daemons outside the sandbox: SIGIO came;
        # the app's main process exited; a child of sentry that is not a task
        # exited.
        self.on_sigio: list[Callable[[], None]] = []
        self.on_app_exit: list[Callable[[], None]] = []
        self.on_host_child_exit: list[Callable[[Stop], None]] = []
        self._timers: list[tuple[float, int, Waiter]] = []
        self._seq = itertools.count()
        self.dispatch = SyscallDispatcher(self, strace)
        self.jobs = JobControl(self)
        self._on_stop: dict[StopKind, Callable[[Stop], None]] = {
            StopKind.SYSCALL: self.dispatch.on_syscall,
            StopKind.SYSCALL_ENTRY: self.dispatch.on_syscall_entry,
            StopKind.SYSCALL_EXIT: self.dispatch.on_syscall_exit,
            StopKind.NEW_TASK: self._on_new_task,
            StopKind.EXEC: self._on_exec,
            StopKind.SIGNAL: self._on_signal,
            StopKind.GROUP_STOP: self._on_group_stop,
            StopKind.TRAP_STOP: self._on_trap_stop,
            StopKind.EXITED: self._on_exit,
            StopKind.KILLED: self._on_exit,
            StopKind.HOST_SIGNAL: self._on_host_signal,
        }

    def run(
        self,
        path: str,
        argv: list[str],
        env: dict[str, str],
        sandbox: Sandbox | None = None,
        home: set[int] | None = None,
    ) -> int:
        """Run the app to its end; its exit status, 128+N if killed by signal N.

        With ``sandbox``, the app runs in its namespaces (see
        ``sentry.boot.isolation``). With ``home``, sentry runs on those CPUs
        once the app has started (the app keeps the CPUs it inherited).
        Raises ExecFailed if ``path`` could not be executed, SandboxError if
        the sandbox could not be set up.
        """
        for nr, entry in self.syscalls.items():
            self.platform.set_policy(nr, *self.dispatch.policy(entry))
        for signo in (*self.jobs.SIGNALS, signal.SIGALRM, signal.SIGIO):
            self.platform.catch_signal(signo)
        if sandbox is not None:
            sandbox = replace(sandbox, foreground_tty=self.jobs.claim_terminal())
        traced, rules = list(self.syscalls), self.allowed
        if self.dispatch.strace is None:
            traced, rules = fd_traps.base_policy(self.syscalls, self.allowed)
            self.precise_filter = self.platform.filter_program(
                *fd_traps.precise_policy(self.syscalls, self.allowed)
            )
        self.main = self.platform.spawn(path, argv, env, traced, rules, sandbox)
        if home is not None:
            os.sched_setaffinity(0, home)
        group: ThreadGroup[Task] = ThreadGroup(self.main)
        self.groups[self.main] = group
        self._add_task(self.main, group, FDTable(self.platform))
        log.debug("started %s as pid %d", path, self.main)
        while True:
            try:
                stop = self.platform.wait()
            except SyscallError as err:
                if err.errno != errno.ECHILD:
                    raise
                break
            try:
                self._on_stop[stop.kind](stop)
            except TaskExited as gone:
                log.debug("task %d vanished while stopped", gone.tid)
            except Exception:
                # A bug (or a malformed reply met in an observer) must not
                # end the sandbox: the task goes on as Linux would run it.
                log_bug(f"a {stop.kind.name} stop")
                self._resume_after_bug(stop)
            if self.status is not None and self._finished():
                break
        self.jobs.release_terminal()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("sentry's peak RSS: %s kB", _peak_rss())
            total, fast = self.platform.stop_counts()
            log.debug(
                "stops: %d (%d passed through in C, %d served in Python)",
                total,
                fast,
                total - fast,
            )
            served = self.dispatch.served.most_common(8)
            log.debug(
                "syscalls that reached Python: %s",
                ", ".join(f"{syscall_name(AUDIT_ARCH_X86_64, nr)} {n}" for nr, n in served),
            )
        if not self._started:
            raise ExecFailed(self.platform.exec_error() or errno.ENOEXEC)
        assert self.status is not None
        return self.status

    def own_children(self) -> set[int]:
        """sentry's live children but the foreign ones: the sandbox's init,
        the app's processes sentry reaps, and FUSE daemons."""
        return _children() - self.foreign

    def _finished(self) -> bool:
        """After the app's end: whether nothing is left to wait for (so
        that a foreign child does not keep sentry waiting)."""
        if self.tasks or self._early:
            return False
        if self.platform.init_pid and not self._init_reaped:
            return False
        return not self.own_children()

    def _resume_after_bug(self, stop: Stop) -> None:
        """Let a stopped task that a bug left behind run on."""
        t = self.tasks.get(stop.tid)
        if t is None or stop.kind in (StopKind.EXITED, StopKind.KILLED, StopKind.HOST_SIGNAL):
            return
        try:
            if stop.kind is StopKind.SYSCALL:
                self.platform.skip_and_resume(t.tid, -errno.EIO)
            else:
                self.resume(t)
        except (TaskExited, SyscallError):
            log.debug("task %d could not be resumed after a bug", stop.tid)

    # -- timers -----------------------------------------------------------

    def sleep(self, seconds: float) -> Waiter:
        """A Waiter that completes after ``seconds`` (for blocking handlers)."""
        waiter = Waiter()
        entry = (time.monotonic() + seconds, next(self._seq), waiter)
        heapq.heappush(self._timers, entry)
        if self._timers[0] is entry:  # else the timer is set for an earlier one
            self._arm_timer()
        return waiter

    def _run_timers(self) -> None:
        now = time.monotonic()
        try:
            while self._timers and self._timers[0][0] <= now:
                heapq.heappop(self._timers)[2].complete()
        finally:
            self._arm_timer()  # even after a callback's bug: later timers must fire

    def _arm_timer(self) -> None:
        delay = self._timers[0][0] - time.monotonic() if self._timers else 0.0
        signal.setitimer(signal.ITIMER_REAL, max(delay, 1e-6) if self._timers else 0.0)

    # -- tasks ------------------------------------------------------------

    def resume(self, t: Task, signo: int = 0) -> None:
        """Let ``t`` run on from any stop, keeping the stops it still needs
        (the exit stop of a syscall it is parked in or traced through)."""
        if t.exit_hook or (t.blocked and not t.blocked.stopped):
            self.platform.resume_to_exit(t.tid, signo)
        else:
            self.platform.resume(t.tid, signo)

    def _add_task(self, tid: int, group: ThreadGroup[Task], fd_table: FDTable) -> Task:
        t = Task(self, tid, group, fd_table)
        fd_table.bind(t)
        group.tasks[tid] = t
        self.tasks[tid] = t
        self.platform.set_cwd_elsewhere(tid, self._cwd_elsewhere(group))
        return t

    def cwd_changed(self, group: ThreadGroup[Task]) -> None:
        """``group`` changed directory: tell the platform, which resolves
        relative host paths without the kernel, whether it may."""
        elsewhere = self._cwd_elsewhere(group)
        for tid in group.tasks:
            self.platform.set_cwd_elsewhere(tid, elsewhere)

    def _cwd_elsewhere(self, group: ThreadGroup[Task]) -> bool:
        """Whether relative paths from ``group``'s cwd need the kernel: the
        cwd is inside a sentry mount, or the host's cwd is at or below a
        mount point or special file (a relative path then walks into it)."""
        if group.cwd is not None:
            return True
        try:
            return self.vfs.covers(group.host_cwd())
        except OSError:
            return True

    def _prefixes_changed(self) -> None:
        self.platform.set_prefixes(self.vfs.prefixes(), self.vfs.special_names())
        for group in self.groups.values():
            self.cwd_changed(group)

    def _drop_task(self, t: Task) -> None:
        """Forget ``t`` (it exited, or vanished in another thread's exec)."""
        self.tasks.pop(t.tid, None)
        t.group.tasks.pop(t.tid, None)
        if t.blocked:
            close_quietly(t.blocked.coroutine, syscall_name(AUDIT_ARCH_X86_64, t.blocked.nr))
            t.blocked = None
        t.fd_table.unbind(t)

    def _on_new_task(self, stop: Stop) -> None:
        parent = self.tasks.get(stop.tid)
        if parent is None:
            log.warning("fork event from unknown task %d", stop.tid)
            self.platform.resume(stop.tid)
            return
        tid, flags = stop.value, stop.clone_flags
        if flags & CLONE_THREAD:
            group = parent.group
        else:
            group = self.groups[tid] = ThreadGroup(
                tid, parent.group.cwd, precise=parent.group.precise
            )
        table = parent.fd_table if flags & CLONE_FILES else parent.fd_table.fork()
        child = self._add_task(tid, group, table)
        log.debug("task %d created %d (flags %#x)", stop.tid, tid, flags)
        if self.status is not None:
            self.platform.kill(tid, signal.SIGKILL)
        if tid in self._early:
            self._early.discard(tid)
            self.resume(child)
        self.resume(parent)

    def _on_trap_stop(self, stop: Stop) -> None:
        t = self.tasks.get(stop.tid)
        if t is None:
            self._early.add(stop.tid)
            return
        self.jobs.on_running(t)
        self.resume(t)

    def _on_exec(self, stop: Stop) -> None:
        t = self.tasks.get(stop.value)
        if t is None:
            log.warning("exec event from unknown task %d", stop.value)
            self.platform.resume(stop.tid)
            return
        for other in [o for o in t.group.tasks.values() if o is not t]:
            self._drop_task(other)
        if stop.value != stop.tid:
            self.tasks.pop(t.tid)
            t.group.tasks.pop(t.tid)
            t.tid = stop.tid
            self.tasks[t.tid] = t
            t.group.tasks[t.tid] = t
            self.platform.bind_task(t.tid, t.fd_table.slot)
        if t.blocked is not None:
            # sentry's own execve (sys_exec): the registers it saved belong
            # to the old image; the call just returns 0 in the new one.
            t.blocked.saved_regs = None
            t.blocked.execed = True
        t.fd_table = t.fd_table.exec(t)
        t.forget_credentials()
        if t.tid == self.main:
            self._started = True
        log.debug("task %d execed (was %d)", t.tid, stop.value)
        self.resume(t)

    def _on_signal(self, stop: Stop) -> None:
        t = self.tasks.get(stop.tid)
        if t is None:
            self.platform.resume(stop.tid, stop.value)
            return
        self.jobs.on_running(t)
        self.resume(t, stop.value)

    def _on_group_stop(self, stop: Stop) -> None:
        self.platform.listen(stop.tid)
        t = self.tasks.get(stop.tid)
        if t is not None:
            self.jobs.on_group_stop(t, stop.value)

    def _on_exit(self, stop: Stop) -> None:
        t = self.tasks.get(stop.tid)
        if t is not None:
            self._drop_task(t)
            if t.tid == t.group.tgid:
                self.groups.pop(t.tid, None)
                t.group.cwd = None
        elif stop.tid == self.platform.init_pid:
            self._init_reaped = True
        elif stop.tid not in self._early:
            for observer in self.on_host_child_exit:
                observer(stop)
        if stop.tid == self.main:
            killed = stop.kind is StopKind.KILLED
            self.status = 128 + stop.value if killed else stop.value
            log.debug("main process exited, status %d", self.status)
            self._kill_all()
            self.vfs.app_ended()
            for on_exit in self.on_app_exit:
                on_exit()
        if self._early:
            self._adopt_orphans()

    def _kill_all(self) -> None:
        """End the sandbox: SIGKILL every process left (reaped as they die)."""
        for pid in [*self.groups, *self._early]:
            self.platform.kill(pid, signal.SIGKILL)
        if self.platform.init_pid:
            # The PID namespace ends with its init: whatever the app hid from
            # sentry (an untraced child) dies too.
            self.platform.kill(self.platform.init_pid, signal.SIGKILL)

    def _adopt_orphans(self) -> None:
        """Resume early-stopped tasks whose creator died before reporting
        them (Linux skips the fork event stop of a task being killed)."""
        for tid in list(self._early):
            try:
                with open(f"/proc/{tid}/status") as f:
                    status = dict(line.split(":\t", 1) for line in f if ":\t" in line)
            except OSError:
                self._early.discard(tid)
                continue
            tgid, ppid = int(status["Tgid"]), int(status["PPid"])
            creator = tgid if tgid != tid else ppid
            if creator in self.groups:
                continue
            self._early.discard(tid)
            log.warning("task %d lost its creator; adopted with no sentry fds", tid)
            group = self.groups[tgid] = self.groups.get(tgid) or ThreadGroup(tgid)
            self.resume(self._add_task(tid, group, FDTable(self.platform)))
            if self.status is not None:
                self.platform.kill(tid, signal.SIGKILL)

    def _on_host_signal(self, stop: Stop) -> None:
        if stop.value == signal.SIGALRM:
            self._run_timers()
        elif stop.value == signal.SIGIO:
            for observer in self.on_sigio:
                observer()
        else:
            self.jobs.on_host_signal(stop.value, stop.code)

    def uses_mount(self, mount: Mount) -> bool:
        """Whether an open file or a working directory of the app is in
        ``mount`` (reached through it, not another mount of its file
        system)."""
        for group in self.groups.values():
            if group.cwd is not None and group.cwd.mount is mount:
                return True
        for t in self.tasks.values():
            for fd in t.fd_table:
                descriptor = t.fd_table.get(fd)
                if descriptor is not None and descriptor.file.location.mount is mount:
                    return True
        return False

    def guard(self, point: str, on: bool) -> None:
        """Put (``on``) or take away the guard at sentry mount point
        ``point`` in the app's mount namespace (see Plan.guard); nothing
        without a sandbox. Raises SyscallError."""
        if not self.platform.init_pid:
            return
        plan = Plan()
        if on:
            plan.guard(point)
        else:
            plan.umount(point, MNT_DETACH)
        self.platform.run_plan(plan)


def _children() -> set[int]:
    """The live child processes of sentry (of any of its threads)."""
    pids: set[int] = set()
    for path in glob.glob(f"/proc/{os.getpid()}/task/*/children"):
        try:
            with open(path) as f:
                pids.update(int(pid) for pid in f.read().split())
        except OSError:
            continue
    return pids


def _peak_rss() -> str:
    """sentry's VmHWM in kB, from /proc/self/status ("?" if unreadable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return line.split()[1]
    except OSError:
        pass
    return "?"
