"""The ptrace platform: the app runs as ordinary host processes, traced.

Some facts about ptrace
-----------------------
- A tracee is a thread. Only the thread that attached it may make ptrace
  requests for it, and children auto-attached by TRACEFORK/VFORK/CLONE belong
  to that same thread: sentry makes every ptrace call from its one thread.
- With a seccomp filter returning SECCOMP_RET_TRACE and TRACESECCOMP set, a
  trapped syscall gives one stop (PTRACE_EVENT_SECCOMP) before it runs;
  untrapped ones give none. At that stop the syscall can be skipped (orig_rax
  = -1, rax = result), replaced (orig_rax = another number; seccomp runs
  again on it) or let through; PTRACE_SYSCALL from it also gives the
  syscall-exit stop, where the result can be read or changed.
- Without a tracer with TRACESECCOMP, RET_TRACE fails the syscall with
  ENOSYS, so the app must be seized before its first trapped syscall.
- With PTRACE_SEIZE, group-stops (SIGSTOP, SIGTSTP, ...) are reported as
  PTRACE_EVENT_STOP carrying the stop signal and must be resumed with
  PTRACE_LISTEN so that the stop holds until SIGCONT; a new task's first stop
  and a PTRACE_INTERRUPT stop are PTRACE_EVENT_STOP with SIGTRAP.
- A new task's first stop and its parent's fork event come in either order.
- When a non-leader thread execs, the other threads vanish and the execing
  thread takes the leader's tid; PTRACE_EVENT_EXEC reports the former tid.
- EXITKILL: if sentry dies, even by SIGKILL, every tracee is killed.
- Any request can fail with ESRCH: a SIGKILL takes effect even in a stop.

What this means for sentry
--------------------------
The wait loop runs in the C helper: seccomp stops of syscalls that pass
through (their fd arguments name no sentry file) are resumed there, so a
pass-through costs one stop and three host syscalls and never enters Python.
Everything else becomes a :class:`~sentry.platform.platform.Stop` for the
kernel. To *park* a task (leave it waiting while sentry serves others), its
syscall is replaced by ``pause()`` and it is resumed to the exit stop: it
sleeps interruptibly in the host kernel, so a signal for it wakes it (sentry
sees the exit stop and decides EINTR or restart, as Linux would), SIGKILL
kills it, and :meth:`PtracePlatform.interrupt` wakes it when its result is
ready.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import struct
from collections.abc import Iterable, Mapping, Sequence

from sentry.abi.linux import CLONE_VFORK, CLONE_VM
from sentry.errors import SyscallError
from sentry.platform.namespaces import Plan, Sandbox, SandboxError, namespace_error
from sentry.platform.platform import Scratch, Stop, StopKind, TaskExited
from sentry.platform.ptrace import arch_amd64 as arch
from sentry.platform.ptrace import helper, memory, seccomp
from sentry.platform.ptrace.helper import check, ffi, lib, peek_user, ptrace
from sentry.platform.seccomp_rules import SECCOMP_RET_ALLOW, Rule

OPTIONS = (
    helper.PTRACE_O_TRACESYSGOOD
    | helper.PTRACE_O_TRACEFORK
    | helper.PTRACE_O_TRACEVFORK
    | helper.PTRACE_O_TRACECLONE
    | helper.PTRACE_O_TRACEEXEC
    | helper.PTRACE_O_TRACESECCOMP
    | helper.PTRACE_O_EXITKILL
)

STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})

PTRACE_SYSCALL_INFO_ENTRY = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
SETUP_TIMEOUT = 30  # seconds for init to set up the sandbox

_NEW_TASK_EVENTS = {
    helper.PTRACE_EVENT_FORK,
    helper.PTRACE_EVENT_VFORK,
    helper.PTRACE_EVENT_CLONE,
}


class PtraceAddressSpace:
    """Implements AddressSpace for one tracee (by its tid).

    Copies use process_vm_readv/writev, with ``/proc/<pid>/mem`` for the
    writable pages that process_vm_writev refuses (see ``memory.py``); they
    need no ptrace stop. A tracee that is gone gives SyscallError(ESRCH),
    not TaskExited; more than 1024 ranges, SyscallError(EINVAL).
    """

    def __init__(self, tid: int) -> None:
        self.tid = tid

    def copy_in(self, addr: int, length: int) -> bytes:
        """Implements AddressSpace.copy_in."""
        return memory.copy_in(self.tid, addr, length)

    def copy_out(self, addr: int, data: bytes | bytearray | memoryview) -> int:
        """Implements AddressSpace.copy_out."""
        return memory.copy_out(self.tid, addr, data)

    def poke(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        """Implements AddressSpace.poke."""
        memory.poke(self.tid, addr, data)

    def copy_in_iov(self, iov: Sequence[tuple[int, int]]) -> bytes:
        """Implements AddressSpace.copy_in_iov."""
        return memory.copy_in_iov(self.tid, iov)

    def copy_in_iov_into(self, iov: Sequence[tuple[int, int]], buf: bytearray | memoryview) -> int:
        """Implements AddressSpace.copy_in_iov_into."""
        return memory.copy_in_iov_into(self.tid, iov, buf)

    def copy_out_iov(
        self, iov: Sequence[tuple[int, int]], data: bytes | bytearray | memoryview
    ) -> int:
        """Implements AddressSpace.copy_out_iov."""
        return memory.copy_out_iov(self.tid, iov, data)

    def read_string(self, addr: int, limit: int = memory.PATH_MAX) -> bytes:
        """Implements AddressSpace.read_string: page by page, so that a string
        ending just before an unmapped page is still read."""
        return memory.read_string(self.tid, addr, limit)


class PtracePlatform:
    """Implements Platform with ptrace and a seccomp filter.

    Must be created, and used, from one thread only (see the module notes).
    A ptrace request that needs a stop fails with ESRCH when the tracee is
    not in one, so a call made outside its precondition raises TaskExited.
    """

    def __init__(self, spin_us: int = 0) -> None:
        with open("/proc/sys/kernel/pid_max") as f:
            check(lib.sentry_init(int(f.read())))
        lib.sentry_set_spin(spin_us * 1000)
        # Orphans of the app are reparented to sentry, which reaps them; and
        # no same-uid process may read sentry's memory or ptrace it.
        check(lib.sentry_prctl(PR_SET_CHILD_SUBREAPER, 1))
        check(lib.sentry_prctl(PR_SET_DUMPABLE, 0))
        self._event = ffi.new("struct sentry_event *")
        self._code = ffi.new("int *")
        self.init_pid = 0  # the sandbox's init, once spawned
        self._ctl: socket.socket | None = None

    # -- policy ---------------------------------------------------------

    def set_policy(
        self,
        nr: int,
        fd_args: Sequence[int],
        any_fd: bool,
        slow: bool,
        global_fds: bool = False,
        paths: Sequence[tuple[int, int]] = (),
    ) -> None:
        """Implements Platform.set_policy.

        The C helper decides, in its wait loop: a path is read from the
        tracee and walked lexically, from its dirfd or cwd through
        ``/proc/<tid>``, as ``vfs.locate`` would (see ``_helper.c``); one
        that cannot be decided in C (unreadable, or relative to a sentry fd)
        goes to the kernel. Numbers from 1024 up always reach the kernel.
        Raises ValueError for more than two paths.
        """
        if len(paths) > 2:
            raise ValueError("at most two paths per syscall")
        value = sum(1 << i for i in fd_args)
        value |= helper.POLICY_ANY_FD if any_fd else 0
        value |= helper.POLICY_SLOW if slow else 0
        value |= helper.POLICY_GLOBAL if global_fds else 0
        value |= helper.POLICY_PATHS if paths else 0
        for index in range(2):
            path_arg, dirfd_arg = paths[index] if index < len(paths) else (-1, -1)
            lib.sentry_set_path_args(nr, index, path_arg, dirfd_arg)
        lib.sentry_set_policy(nr, value)

    def set_prefixes(self, prefixes: Iterable[str], names: Iterable[str] = ()) -> None:
        """Implements Platform.set_prefixes: each prefix's last name joins
        ``names``, so that a relative path naming none of them is decided
        without reading its base; each list may take about 64 KiB."""
        prefixes = list(prefixes)
        last = {os.path.basename(p) for p in prefixes} | set(names)
        blob = b"".join(os.fsencode(p) + b"\0" for p in prefixes)
        blob_last = b"".join(os.fsencode(n) + b"\0" for n in sorted(last) if n)
        check(lib.sentry_set_prefixes(blob, len(blob), blob_last, len(blob_last)))

    def set_cwd_elsewhere(self, tid: int, elsewhere: bool) -> None:
        """Implements Platform.set_cwd_elsewhere."""
        lib.sentry_set_cwd_elsewhere(tid, int(elsewhere))

    def new_fd_table(self) -> int:
        """Implements Platform.new_fd_table: a bitmap in the C helper's fast
        path; freed slots are reused, up to 65534 tables."""
        return check(lib.sentry_table_new())

    def free_fd_table(self, slot: int) -> None:
        """Implements Platform.free_fd_table."""
        lib.sentry_table_free(slot)

    def mark_fd(self, slot: int, fd: int, owned: bool) -> None:
        """Implements Platform.mark_fd: fds from 4096 up are not tracked one
        by one: any such fd argument counts as sentry's in a table that holds
        a sentry fd, and marking one keeps the table counted as holding one
        until it is freed (more stops, never fewer)."""
        lib.sentry_table_set(slot, fd, int(owned))

    def bind_task(self, tid: int, slot: int) -> None:
        """Implements Platform.bind_task."""
        lib.sentry_bind_tid(tid, slot)

    def catch_signal(self, signo: int) -> None:
        """Implements Platform.catch_signal: a handler in the C helper, which
        makes the wait return at once, race-free (see ``sentry_wait``)."""
        check(lib.sentry_catch_signal(signo))

    # -- processes ------------------------------------------------------

    def spawn(
        self,
        path: str,
        argv: Sequence[str],
        env: dict[str, str],
        traced: Iterable[int],
        policy: Mapping[int, Rule],
        sandbox: Sandbox | None = None,
    ) -> int:
        """Implements Platform.spawn.

        The child waits until it is seized (PTRACE_SEIZE, TRACESECCOMP among
        the options), then installs the seccomp filter (see ``seccomp.py``)
        and execs, so that no trapped syscall runs untraced (RET_TRACE without
        a tracer fails it with ENOSYS). A failed execve's errno comes back on
        a close-on-exec pipe.
        With ``sandbox``, the sandbox's init forks the app (see
        ``_sandbox.c``). If the seize fails (sentry itself traced, or Yama's
        ``ptrace_scope``), the app is killed and SandboxError raised.
        """
        filt = seccomp.build_filter(traced, policy)
        go_r, go_w = os.pipe()
        self._err_r, err_w = os.pipe()
        c_args = [ffi.new("char[]", os.fsencode(a)) for a in argv]
        c_env = [ffi.new("char[]", os.fsencode(f"{k}={v}")) for k, v in env.items()]
        argv_p = ffi.new("char *[]", c_args + [ffi.NULL])
        env_p = ffi.new("char *[]", c_env + [ffi.NULL])
        os.set_inheritable(go_r, True)
        os.set_inheritable(err_w, False)
        try:
            if sandbox is None:
                pid = check(
                    lib.sentry_spawn(
                        os.fsencode(path), argv_p, env_p, ffi.from_buffer(filt),
                        len(filt) // 8, go_r, err_w,
                    )
                )
            else:
                pid = self._spawn_sandbox(path, argv_p, env_p, filt, sandbox, go_r, err_w)
        finally:
            os.close(go_r)
            os.close(err_w)
        try:
            ptrace(helper.PTRACE_SEIZE, pid, 0, OPTIONS)
        except SyscallError as err:
            self.kill(self.init_pid or pid, signal.SIGKILL)
            raise SandboxError(
                f"cannot trace the app: {os.strerror(err.errno)} (is sentry itself being traced, "
                "or does the Yama LSM's kernel.yama.ptrace_scope forbid it?)"
            ) from None
        finally:
            os.write(go_w, b"g")
            os.close(go_w)
        return pid

    def _spawn_sandbox(
        self, path: str, argv_p: object, env_p: object, filt: bytes, sandbox: Sandbox,
        go_r: int, err_w: int,
    ) -> int:
        """Start init in the sandbox's namespaces; the app's host pid."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        plan = bytes(sandbox.plan)
        try:
            init = lib.sentry_spawn_sandbox(
                os.fsencode(path), argv_p, env_p, ffi.from_buffer(filt), len(filt) // 8,
                sandbox.namespaces, ffi.from_buffer(bytearray(plan)), len(plan),
                sandbox.foreground_tty, theirs.fileno(), go_r, err_w,
            )
        finally:
            theirs.close()
        if init < 0:
            ours.close()
            raise SandboxError(namespace_error(-init, sandbox.namespaces))
        try:
            ours.settimeout(SETUP_TIMEOUT)
            if ours.recv(1) != b"r":
                raise SandboxError("the sandbox's init died")
            self._map_ids(init, sandbox)
            ours.send(b"g")
            app = self._handshake(ours, sandbox)
        except (SandboxError, TimeoutError) as err:
            ours.close()
            self.kill(init, signal.SIGKILL)
            os.waitpid(init, 0)
            if isinstance(err, TimeoutError):
                raise SandboxError("the sandbox's init did not start in time") from None
            raise
        self.init_pid, self._ctl = init, ours
        return app

    @staticmethod
    def _map_ids(init: int, sandbox: Sandbox) -> None:
        """Write init's id maps (setgroups first: an unprivileged gid map
        needs it denied)."""
        for name, text in (
            ("setgroups", sandbox.setgroups),
            ("uid_map", sandbox.uid_map),
            ("gid_map", sandbox.gid_map),
        ):
            try:
                with open(f"/proc/{init}/{name}", "w") as f:
                    f.write(text)
            except OSError as err:
                raise SandboxError(f"cannot write the sandbox's {name}: {err.strerror}") from None

    @staticmethod
    def _handshake(ours: socket.socket, sandbox: Sandbox) -> int:
        """Wait for init's word that the plan ran and for the app's message,
        whose credentials carry its host pid."""
        app = 0
        for _ in range(2):
            data, ancillary, _, _ = ours.recvmsg(8, socket.CMSG_SPACE(12))
            if len(data) == 8:
                result, failed = struct.unpack("=ii", data)
                if result < 0:
                    step = sandbox.plan.descriptions[failed] if failed >= 0 else "fork the app"
                    raise SandboxError(f"{step}: {os.strerror(-result)}")
                continue
            for level, kind, value in ancillary:
                if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS):
                    app = struct.unpack("=iII", value[:12])[0]
            if not data:
                raise SandboxError("the sandbox's init died")
        ours.settimeout(None)
        if not app:
            raise SandboxError("the app did not start")
        return app

    def run_plan(self, plan: Plan) -> None:
        """Implements Platform.run_plan: the plan goes to init over its
        control socket, and init answers with the result."""
        if self._ctl is None:
            raise SyscallError(errno.ENOSYS)
        self._ctl.send(bytes(plan))
        result, _ = struct.unpack("=ii", self._ctl.recv(8))
        check(result)

    def exec_error(self) -> int:
        """Implements Platform.exec_error: reads the pipe that the child
        writes a failed execve's errno to (a successful execve closes it),
        then closes it."""
        data = os.read(self._err_r, 4)
        os.close(self._err_r)
        return int.from_bytes(data, "little") if len(data) == 4 else 0

    def stop_counts(self) -> tuple[int, int]:
        """Implements Platform.stop_counts: every ptrace stop waited for, of
        any kind, and the seccomp stops resumed in C (pass-through)."""
        counts = ffi.new("long[2]")
        lib.sentry_stop_counts(counts, counts + 1)
        return int(counts[0]), int(counts[1])

    def wait(self) -> Stop:
        """Implements Platform.wait: the loop runs in the C helper, which
        resumes pass-through seccomp stops itself and polls for up to
        ``spin_us`` (see ``lookup``) before it sleeps."""
        while True:
            result = lib.sentry_wait(self._event)
            if result == -errno.EINTR:
                signo = lib.sentry_take_signal(self._code)
                if signo:
                    return Stop(StopKind.HOST_SIGNAL, value=signo, code=self._code[0])
                continue
            check(result)
            stop = self._decode(self._event)
            if stop is not None:
                return stop

    def _decode(self, ev: object) -> Stop | None:
        tid, status = ev.tid, ev.status  # type: ignore[attr-defined]
        if os.WIFEXITED(status):
            lib.sentry_hold_tid(tid, 0)
            return Stop(StopKind.EXITED, tid, os.WEXITSTATUS(status))
        if os.WIFSIGNALED(status):
            lib.sentry_hold_tid(tid, 0)
            return Stop(StopKind.KILLED, tid, os.WTERMSIG(status))
        sig = os.WSTOPSIG(status)
        event = status >> 16
        try:
            if event == helper.PTRACE_EVENT_SECCOMP:
                if not ev.has_info:  # type: ignore[attr-defined]
                    return None  # vanished between the two waits
                info = lib.sentry_event_info(ev)
                return Stop(
                    StopKind.SYSCALL, tid, nr=int(info.nr), args=tuple(info.args), arch=info.arch
                )
            if sig == signal.SIGTRAP | 0x80:
                if lib.sentry_syscall_op(tid) == PTRACE_SYSCALL_INFO_ENTRY:
                    return Stop(StopKind.SYSCALL_ENTRY, tid)
                lib.sentry_hold_tid(tid, 0)
                return Stop(StopKind.SYSCALL_EXIT, tid, self.syscall_result(tid))
            if event in _NEW_TASK_EVENTS:
                return Stop(
                    StopKind.NEW_TASK,
                    tid,
                    self._event_msg(tid),
                    clone_flags=self._clone_flags(tid, event),
                )
            if event == helper.PTRACE_EVENT_EXEC:
                return Stop(StopKind.EXEC, tid, self._event_msg(tid))
            if event == helper.PTRACE_EVENT_STOP:
                kind = StopKind.GROUP_STOP if sig in STOP_SIGNALS else StopKind.TRAP_STOP
                return Stop(kind, tid, sig)
            if event:
                return Stop(StopKind.TRAP_STOP, tid, sig)
            return Stop(StopKind.SIGNAL, tid, sig)
        except TaskExited:
            return None

    def _event_msg(self, tid: int) -> int:
        msg = ffi.new("unsigned long *")
        ptrace(helper.PTRACE_GETEVENTMSG, tid, 0, int(ffi.cast("uintptr_t", msg)))
        return int(msg[0])

    def _clone_flags(self, tid: int, event: int) -> int:
        if event == helper.PTRACE_EVENT_FORK:
            return 0
        if event == helper.PTRACE_EVENT_VFORK:
            return CLONE_VM | CLONE_VFORK
        nr = peek_user(tid, arch.ORIG_RAX)
        first = peek_user(tid, arch.RDI)
        if nr == arch.CLONE3:
            try:  # struct clone_args begins with its u64 flags
                return int.from_bytes(memory.copy_in(tid, first, 8), "little")
            except SyscallError:
                return 0
        return first

    # -- resuming -------------------------------------------------------

    def resume(self, tid: int, signal: int = 0) -> None:
        """Implements Platform.resume: PTRACE_CONT."""
        ptrace(helper.PTRACE_CONT, tid, 0, signal)

    def resume_to_exit(self, tid: int, signal: int = 0) -> None:
        """Implements Platform.resume_to_exit: PTRACE_SYSCALL."""
        ptrace(helper.PTRACE_SYSCALL, tid, 0, signal)

    def listen(self, tid: int) -> None:
        """Implements Platform.listen: PTRACE_LISTEN (PTRACE_CONT would end
        the group-stop)."""
        ptrace(helper.PTRACE_LISTEN, tid, 0, 0)

    def skip_and_resume(self, tid: int, result: int) -> None:
        """Implements Platform.skip_and_resume: one call into the C helper
        (two POKEUSERs and PTRACE_CONT). Only ESRCH is reported (as
        TaskExited); another failure is ignored."""
        if lib.sentry_skip_resume(tid, result) == -errno.ESRCH:
            raise TaskExited(tid)

    def skip_syscall(self, tid: int, result: int) -> None:
        """Implements Platform.skip_syscall: orig_rax = -1, rax = ``result``."""
        ptrace(helper.PTRACE_POKEUSER, tid, arch.ORIG_RAX, arch.SKIP_SYSCALL & (2**64 - 1))
        ptrace(helper.PTRACE_POKEUSER, tid, arch.RAX, result & (2**64 - 1))

    def set_result(self, tid: int, result: int, nr: int) -> None:
        """Implements Platform.set_result: orig_rax = ``nr`` (the call that a
        restart re-executes), rax = ``result``."""
        ptrace(helper.PTRACE_POKEUSER, tid, arch.ORIG_RAX, nr)
        ptrace(helper.PTRACE_POKEUSER, tid, arch.RAX, result & (2**64 - 1))

    def syscall_result(self, tid: int) -> int:
        """Implements Platform.syscall_result: rax, read as signed."""
        value = peek_user(tid, arch.RAX)
        return value - 2**64 if value >= 2**63 else value

    def park(self, tid: int) -> None:
        """Implements Platform.park: the syscall is replaced by ``pause()``
        and the task resumed with PTRACE_SYSCALL (see the module notes)."""
        ptrace(helper.PTRACE_POKEUSER, tid, arch.ORIG_RAX, arch.PARK_SYSCALL)
        ptrace(helper.PTRACE_SYSCALL, tid, 0, 0)

    def save_regs(self, tid: int) -> list[int]:
        """Implements Platform.save_regs: PTRACE_GETREGS, the words of
        ``struct user_regs_struct``."""
        regs = ffi.new("uint64_t[]", arch.REGS_WORDS)
        self._check_task(tid, lib.sentry_getregs(tid, regs))
        return list(regs)

    def inject(
        self, tid: int, nr: int, args: Sequence[int], rewind: bool, at: int | None = None
    ) -> None:
        """Implements Platform.inject.

        Sets orig_rax to ``nr`` (and the argument registers) and resumes with
        PTRACE_SYSCALL. At a seccomp stop, seccomp then runs again on ``nr``
        (hence the SYSCALL stop of a trapped one); at a syscall-exit stop,
        rip goes back over the syscall instruction, or to ``at`` (and rax =
        ``nr``), which the task executes. The fast path holds the task's
        stops for Python until the exit (``sentry_hold_tid``).
        """
        lib.sentry_hold_tid(tid, 1)
        regs = self.save_regs(tid)
        if rewind:
            regs[arch.I_RIP] = at if at is not None else regs[arch.I_RIP] - arch.SYSCALL_INSN_SIZE
            regs[arch.I_RAX] = nr
        regs[arch.I_ORIG_RAX] = nr
        for index, value in zip(arch.I_ARGS, args, strict=False):
            regs[index] = value & (2**64 - 1)
        self._set_regs(tid, regs)
        ptrace(helper.PTRACE_SYSCALL, tid, 0, 0)

    def syscall_instruction(self, tid: int) -> int:
        """Implements Platform.syscall_instruction: the first ``syscall``
        bytes (0f 05) of the vDSO; run from there they are that instruction,
        whatever instruction they are part of."""
        try:
            with open(f"/proc/{tid}/maps", "rb") as maps:
                vdso = next((line for line in maps if line.rstrip().endswith(b"[vdso]")), None)
        except OSError:
            raise SyscallError(errno.ESRCH) from None
        if vdso is None:
            raise SyscallError(errno.ENOENT)
        start, end = (int(a, 16) for a in vdso.split()[0].split(b"-"))
        at = memory.copy_in(tid, start, end - start).find(arch.SYSCALL_INSN)
        if at < 0:
            raise SyscallError(errno.ENOENT)
        return start + at

    def restore_regs(self, tid: int, regs: list[int], nr: int, result: int) -> None:
        """Implements Platform.restore_regs: one PTRACE_SETREGS, with
        orig_rax = ``nr`` and rax = ``result``."""
        regs = list(regs)
        regs[arch.I_ORIG_RAX] = nr
        regs[arch.I_RAX] = result & (2**64 - 1)
        self._set_regs(tid, regs)

    def scratch(self, tid: int, regs: list[int], data: Scratch) -> int:
        """Implements Platform.scratch: ``data`` goes below the red zone of
        the task's stack (the 128 bytes under rsp), 16-byte aligned."""
        blob = data(0) if callable(data) else data
        addr = (regs[arch.I_RSP] - arch.RED_ZONE - len(blob)) & ~15
        memory.copy_out(tid, addr, data(addr) if callable(data) else blob)
        return addr

    def filter_program(self, traced: Iterable[int], policy: Mapping[int, Rule]) -> bytes:
        """Implements Platform.filter_program: the filter of ``spawn`` (see
        ``seccomp.py``), but SECCOMP_RET_ALLOW for the numbers in neither."""
        return seccomp.build_filter(traced, policy, default=SECCOMP_RET_ALLOW)

    def _set_regs(self, tid: int, regs: list[int]) -> None:
        self._check_task(tid, lib.sentry_setregs(tid, ffi.new("uint64_t[]", regs)))

    @staticmethod
    def _check_task(tid: int, result: int) -> None:
        if result == -errno.ESRCH:
            raise TaskExited(tid)
        check(result)

    def interrupt(self, tid: int) -> None:
        """Implements Platform.interrupt: PTRACE_INTERRUPT ends the task's
        ``pause()``, whose exit stop is then reported."""
        ptrace(helper.PTRACE_INTERRUPT, tid, 0, 0)

    def kill(self, pid: int, signo: int) -> None:
        """Implements Platform.kill: kill(2); a failure other than ESRCH
        raises OSError (not SyscallError)."""
        try:
            os.kill(pid, signo)
        except ProcessLookupError:
            pass

    def take_fd(self, pid: int, fd: int) -> int:
        """Implements Platform.take_fd: pidfd_open and pidfd_getfd (Linux
        5.6); a process that is gone gives SyscallError(ESRCH)."""
        return check(lib.sentry_getfd(pid, fd))

    def address_space(self, tid: int) -> PtraceAddressSpace:
        """Implements Platform.address_space: no syscall."""
        return PtraceAddressSpace(tid)
