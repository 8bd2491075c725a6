"""Unit tests of sentry's pure logic: the seccomp filter program, the fd
table model, strace formatting and CLI parsing. (Behaviour is tested end to
end, with real processes, in the other files.)"""

from __future__ import annotations

import errno
import struct

import pytest

from sentry.abi.linux_amd64 import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, SYSCALL_NUMBERS
from sentry.cli import parse_cpus, resolve
from sentry.kernel.fd_table import FDTable
from sentry.platform.ptrace import seccomp
from sentry.platform.seccomp_rules import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_TRACE,
    ArgCase,
    ArgRule,
    arg_any,
    arg_eq,
    errno_action,
)
from sentry.syscalls import linux64, policy
from sentry.syscalls.strace import format_result, open_flags
from sentry.vfs.lock import F_RDLCK, F_UNLCK, F_WRLCK, OFFSET_MAX, FileLocks

ALLOW, TRACE = SECCOMP_RET_ALLOW, SECCOMP_RET_TRACE
ENOSYS, EPERM, EINVAL = (errno_action(e) for e in (errno.ENOSYS, errno.EPERM, errno.EINVAL))
MMAP = SYSCALL_NUMBERS["mmap"]


class ArgsRead(Exception):
    """The program read an argument register where they are unknown."""


def trace_bpf(
    program: bytes, nr: int, arch: int = AUDIT_ARCH_X86_64, args: tuple | None = (0,) * 6
) -> tuple[int, int]:
    """Interpret a classic-BPF seccomp program on one struct seccomp_data;
    its action and the number of compares it took.

    With ``args`` None, reading an argument raises ArgsRead: the kernel's
    seccomp action cache (seccomp_is_const_allow) runs a filter that way.
    """
    data = struct.pack("=IIQ6Q", nr, arch, 0, *(args or (0,) * 6))
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    pc, acc, compares = 0, 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == seccomp.BPF_LD | seccomp.BPF_W | seccomp.BPF_ABS:
            if args is None and k >= 16:
                raise ArgsRead(nr)
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code == seccomp.BPF_JMP | seccomp.BPF_JA:
            pc += 1 + k
        elif code & 0x07 == seccomp.BPF_JMP:
            taken = {
                seccomp.BPF_JEQ: acc == k,
                seccomp.BPF_JGE: acc >= k,
                seccomp.BPF_JSET: bool(acc & k),
            }[code & 0xF0]
            compares += 1
            pc += 1 + (jt if taken else jf)
        elif code == seccomp.BPF_RET | seccomp.BPF_K:
            return k, compares
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


def run_bpf(program: bytes, nr: int, arch: int = AUDIT_ARCH_X86_64, args: tuple = (0,) * 6) -> int:
    """The action of ``program`` for one syscall."""
    return trace_bpf(program, nr, arch, args)[0]


@pytest.fixture(scope="module")
def program() -> bytes:
    return seccomp.build_filter(linux64.TABLE, policy.POLICY)


def test_policy_classifies_every_known_syscall_once() -> None:
    for name, nr in SYSCALL_NUMBERS.items():
        owned, ruled = nr in linux64.TABLE, nr in policy.POLICY
        # mmap and ioctl are owned, and their rules say when they are traced.
        assert owned != ruled or name in ("mmap", "ioctl"), name


def test_filter_refuses_tiocsti_and_traces_other_ioctls(program: bytes) -> None:
    ioctl = SYSCALL_NUMBERS["ioctl"]
    assert run_bpf(program, ioctl, args=(0, 0x5412, 0, 0, 0, 0)) == EPERM
    assert run_bpf(program, ioctl, args=(0, 0x5401, 0, 0, 0, 0)) == TRACE


def test_filter_follows_the_policy_from_arch_and_nr_alone(program: bytes) -> None:
    """Every syscall without an argument rule is decided without reading an
    argument, so each allowed one is in the kernel's action cache."""
    for nr in range(601):
        rule = policy.POLICY.get(nr, TRACE if nr in linux64.TABLE else ENOSYS)
        if isinstance(rule, ArgRule):
            continue
        assert run_bpf(program, nr, args=None) == rule, nr
    assert run_bpf(program, SYSCALL_NUMBERS["getppid"], args=None) == ALLOW


def test_filter_refuses_what_reaches_outside(program: bytes) -> None:
    for name, action in [
        ("ptrace", EPERM),
        ("process_vm_writev", EPERM),
        ("bpf", EPERM),
        ("setns", EPERM),
        ("perf_event_open", errno_action(errno.EACCES)),
        ("fsopen", ENOSYS),
        ("io_uring_setup", ENOSYS),
        ("clone3", ENOSYS),
        ("keyctl", ENOSYS),
        ("kill", ALLOW),
        ("socket", ALLOW),
        ("name_to_handle_at", ALLOW),
        ("open_by_handle_at", EPERM),
    ]:
        assert run_bpf(program, SYSCALL_NUMBERS[name]) == action, name
    for nr in (470, 600, 1000, 0x3FFFFFFF):
        assert run_bpf(program, nr) == ENOSYS, nr


def test_filter_traces_mmap_only_with_a_file(program: bytes) -> None:
    assert run_bpf(program, MMAP, args=(0, 4096, 3, 0x22, 2**64 - 1, 0)) == ALLOW
    assert run_bpf(program, MMAP, args=(0, 4096, 1, 0x02, 3, 0)) == TRACE


def test_filter_checks_clone_and_unshare_flags(program: bytes) -> None:
    clone, unshare = SYSCALL_NUMBERS["clone"], SYSCALL_NUMBERS["unshare"]
    thread = 0x003D0F00  # glibc's pthread_create flags
    assert run_bpf(program, clone, args=(thread, 1, 0, 0, 0, 0)) == ALLOW
    assert run_bpf(program, clone, args=(0x11 | 2**40, 0, 0, 0, 0, 0)) == ALLOW  # fork
    for flag in (policy.CLONE_UNTRACED, policy.CLONE_NEWUSER, policy.CLONE_NEWNS,
                 policy.CLONE_NEWPID, policy.CLONE_NEWNET, policy.CLONE_NEWCGROUP):
        assert run_bpf(program, clone, args=(0x11 | flag, 0, 0, 0, 0, 0)) == EPERM, hex(flag)
    assert run_bpf(program, unshare, args=(0x400 | 0x200 | 0x40000, 0, 0, 0, 0, 0)) == ALLOW
    for flag in (policy.CLONE_NEWUSER, policy.CLONE_NEWNS, policy.CLONE_NEWTIME,
                 policy.CLONE_NEWIPC, policy.CLONE_NEWUTS):
        assert run_bpf(program, unshare, args=(flag, 0, 0, 0, 0, 0)) == EPERM, hex(flag)


def test_filter_refuses_a_seccomp_listener(program: bytes) -> None:
    nr = SYSCALL_NUMBERS["seccomp"]
    listener = policy.SECCOMP_FILTER_FLAG_NEW_LISTENER
    assert run_bpf(program, nr, args=(1, listener | 1, 0, 0, 0, 0)) == EINVAL
    assert run_bpf(program, nr, args=(1, 1, 0, 0, 0, 0)) == ALLOW  # TSYNC
    assert run_bpf(program, nr, args=(0, 0, 0, 0, 0, 0)) == ALLOW  # strict mode
    assert run_bpf(program, nr, args=(3, listener, 0, 0, 0, 0)) == ALLOW  # not a filter


def test_filter_checks_personality(program: bytes) -> None:
    nr = SYSCALL_NUMBERS["personality"]
    for persona in (0, 0xFFFFFFFF, 0x0040000, 0x0008, 0x0020008, 2**32):
        assert run_bpf(program, nr, args=(persona, 0, 0, 0, 0, 0)) == ALLOW, hex(persona)
    # READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, PER_SVR4, PER_BSD, 0xfffffffe
    for persona in (0x0400000, 0x0100000, 0x4100001, 0x0006, 0xFFFFFFFE):
        assert run_bpf(program, nr, args=(persona, 0, 0, 0, 0, 0)) == EPERM, hex(persona)


def test_filter_never_allows_other_abis(program: bytes) -> None:
    assert run_bpf(program, 5, arch=AUDIT_ARCH_I386) == TRACE
    assert run_bpf(program, 39, arch=AUDIT_ARCH_I386, args=None) == TRACE
    for nr in (39, 0x200, 0x3FFFFFFF, 0xBFFFFFFF):
        assert run_bpf(program, 0x40000000 | nr) == TRACE, hex(nr)


def test_filter_is_short_and_a_lookup_is_a_few_compares(program: bytes) -> None:
    assert len(program) // 8 < 200
    depth = max(trace_bpf(program, nr)[1] for nr in range(601))
    assert depth <= 12
    # argument rules add their tests to the search
    nr = SYSCALL_NUMBERS["seccomp"]
    assert trace_bpf(program, nr, args=(1, 8, 0, 0, 0, 0))[1] <= depth + 2


def test_filter_reaches_far_targets_through_ja() -> None:
    """A policy with thousands of ranges needs jumps past 255 instructions."""
    actions = (ALLOW, TRACE, EPERM, ENOSYS)
    rules = {nr: actions[(nr * 7) % 4] for nr in range(1200)}
    rules[600] = ArgRule((ArgCase(EINVAL, (arg_eq(2, 9), arg_any(0, 4))),), ALLOW)
    prog = seccomp.build_filter([], rules, default=EPERM)
    codes = {struct.unpack_from("=H", prog, i)[0] for i in range(0, len(prog), 8)}
    assert seccomp.BPF_JMP | seccomp.BPF_JA in codes
    for nr in range(1202):
        if nr != 600:
            action, compares = trace_bpf(prog, nr, args=None)
            assert action == rules.get(nr, EPERM), nr
            assert compares <= 12, nr
    assert run_bpf(prog, 600, args=(4, 0, 9, 0, 0, 0)) == EINVAL
    assert run_bpf(prog, 600, args=(4, 0, 8, 0, 0, 0)) == ALLOW
    assert run_bpf(prog, 600, args=(3, 0, 9, 0, 0, 0)) == ALLOW


def test_filter_traces_what_the_kernel_serves_beyond_the_table() -> None:
    """A handler added for getppid traps it; mmap keeps its argument rule."""
    prog = seccomp.build_filter([*linux64.TABLE, SYSCALL_NUMBERS["getppid"]], policy.POLICY)
    assert run_bpf(prog, SYSCALL_NUMBERS["getppid"]) == TRACE
    assert run_bpf(prog, MMAP, args=(0, 4096, 3, 0x22, 2**64 - 1, 0)) == ALLOW


def test_table_names_are_the_x86_64_numbers() -> None:
    assert SYSCALL_NUMBERS["read"] == 0
    assert SYSCALL_NUMBERS["execve"] == 59
    assert SYSCALL_NUMBERS["readv"] == 19
    assert SYSCALL_NUMBERS["openat2"] == 437
    assert SYSCALL_NUMBERS["fchmodat2"] == 452


class _Files:
    """Records the fd-table calls FDTable makes on its platform."""

    def __init__(self) -> None:
        self.marked: dict[int, set[int]] = {}
        self.bound: dict[int, int] = {}
        self.freed: list[int] = []

    def new_fd_table(self) -> int:
        slot = len(self.marked) + 1
        self.marked[slot] = set()
        return slot

    def free_fd_table(self, slot: int) -> None:
        self.freed.append(slot)

    def mark_fd(self, slot: int, fd: int, owned: bool) -> None:
        (self.marked[slot].add if owned else self.marked[slot].discard)(fd)

    def bind_task(self, tid: int, slot: int) -> None:
        self.bound[tid] = slot


class _File:
    def __init__(self) -> None:
        self.refs = 0
        self.closed_by_tables: list[object] = []  # whose POSIX locks went

    def inc_ref(self) -> None:
        self.refs += 1

    def dec_ref(self) -> None:
        self.refs -= 1

    def close_fd(self, t: object) -> None:
        self.dec_ref()

    def closed_by(self, owner: object) -> None:
        self.closed_by_tables.append(owner)


class _Group:
    def __init__(self) -> None:
        self.tasks: dict[int, object] = {}


class _Task:
    def __init__(self, tid: int) -> None:
        self.tid = tid
        self.group = _Group()
        self.fd_table: FDTable | None = None


def test_fd_table_fork_exec_and_release() -> None:
    platform = _Files()
    table = FDTable(platform)  # type: ignore[arg-type]
    parent, child = _Task(1), _Task(2)
    table.bind(parent)
    keep, cloexec = _File(), _File()
    table.install(3, keep, cloexec=False)
    table.install(4, cloexec, cloexec=True)
    assert platform.marked[table.slot] == {3, 4}

    forked = table.fork()
    forked.bind(child)
    assert (keep.refs, cloexec.refs) == (2, 2)
    assert platform.bound == {1: table.slot, 2: forked.slot}

    after = forked.exec(child)  # type: ignore[arg-type]
    assert after is forked and list(after) == [3]
    assert platform.marked[forked.slot] == {3}
    assert (keep.refs, cloexec.refs) == (2, 1)
    assert cloexec.closed_by_tables == [forked] and keep.closed_by_tables == []

    forked.unbind(child)  # type: ignore[arg-type]
    table.unbind(parent)  # type: ignore[arg-type]
    assert (keep.refs, cloexec.refs) == (0, 0)
    assert sorted(platform.freed) == [table.slot, forked.slot]


def test_fd_table_exec_unshares_a_table_shared_with_another_process() -> None:
    platform = _Files()
    table = FDTable(platform)  # type: ignore[arg-type]
    a, b = _Task(1), _Task(2)
    table.bind(a)
    table.bind(b)
    table.install(5, _File(), cloexec=True)
    own = table.exec(a)  # type: ignore[arg-type]
    assert own is not table
    assert list(table) == [5] and list(own) == []


@pytest.mark.parametrize(
    ("flags", "text"),
    [
        (0, "O_RDONLY"),
        (0o2000000, "O_RDONLY|O_CLOEXEC"),
        (0o1 | 0o100 | 0o1000, "O_WRONLY|O_CREAT|O_TRUNC"),
        (0o4010000 | 0o2, "O_RDWR|O_SYNC"),
    ],
)
def test_open_flags(flags: int, text: str) -> None:
    assert open_flags(flags) == text


def test_format_result() -> None:
    assert format_result("openat", 3) == "3"
    assert format_result("openat", -errno.ENOENT) == "-1 ENOENT (No such file or directory)"
    assert format_result("mmap", 0x7F0000001000) == "0x7f0000001000"


def test_parse_cpus() -> None:
    assert parse_cpus("none") is None
    assert parse_cpus("0-2,5") == {0, 1, 2, 5}
    assert len(parse_cpus("same") or ()) == 1
    with pytest.raises(ValueError):
        parse_cpus("x")


def test_resolve(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert resolve("sh", "/nonexistent:/bin") == "/bin/sh"
    with pytest.raises(OSError) as missing:
        resolve("no-such-command", "/bin")
    assert missing.value.errno == errno.ENOENT
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(OSError) as denied:
        resolve(str(plain), "")
    assert denied.value.errno == errno.EACCES


def test_record_locks_split_merge_and_conflict() -> None:
    """An owner's new lock replaces its own in the range (splitting them)
    and merges with touching locks of its type; other owners conflict only
    where a write lock overlaps."""

    me, other = object(), object()
    locks = FileLocks()

    def held() -> list[tuple[int, int, int]]:
        return [(r.start, r.end, r.kind) for r in locks.records]

    locks.set_record(me, 1, F_WRLCK, 0, 99)
    locks.set_record(me, 1, F_UNLCK, 40, 59)
    assert held() == [(0, 39, F_WRLCK), (60, 99, F_WRLCK)]
    locks.set_record(me, 1, F_RDLCK, 0, 19)
    locks.set_record(me, 1, F_WRLCK, 40, 59)
    assert held() == [(0, 19, F_RDLCK), (20, 99, F_WRLCK)]
    assert locks.conflict(other, F_RDLCK, 0, 19) is None
    holder = locks.conflict(other, F_RDLCK, 10, 30)
    assert holder is not None and (holder.start, holder.end) == (20, 99)
    assert locks.conflict(me, F_WRLCK, 0, OFFSET_MAX) is None
    locks.release_records(me)
    assert locks.records == [] and locks.empty


def _run(coroutine) -> None:  # type: ignore[no-untyped-def]
    """Run a coroutine that does not wait to its end."""
    with pytest.raises(StopIteration):
        coroutine.send(None)


def test_record_locks_are_bounded_per_file(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Past MAX_RECORDS locks on a file, a new lock is ENOLCK; unlocking
    still works."""
    from sentry.errors import SyscallError
    from sentry.vfs import lock

    class _Inode:
        """A key the lock table can hold weakly, as it holds inodes."""

    monkeypatch.setattr(lock, "MAX_RECORDS", 3)
    key, owner = _Inode(), object()
    for start in (0, 10, 20):
        _run(lock.lock_record(key, owner, 1, F_WRLCK, start, start, False, False))
    with pytest.raises(SyscallError) as refused:
        lock.lock_record(key, owner, 1, F_WRLCK, 30, 30, False, False).send(None)
    assert refused.value.errno == errno.ENOLCK
    _run(lock.lock_record(key, owner, 1, F_UNLCK, 0, OFFSET_MAX, False, False))
    assert lock.file_locks(key, create=False) is None


def test_generic_permission_classes_and_capabilities() -> None:
    """The owner's class decides alone; DAC_READ_SEARCH reads anything and
    searches directories; DAC_OVERRIDE executes only what has an x bit."""
    from sentry.abi.linux import CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    from sentry.auth import Credentials
    from sentry.errors import SyscallError
    from sentry.vfs.permissions import MAY_EXEC, MAY_READ, MAY_WRITE, check

    user = Credentials(1000, 1000, 1000, 1000, (5,))
    root = Credentials(0, 0, 0, 0, (), caps=1 << CAP_DAC_OVERRIDE | 1 << CAP_DAC_READ_SEARCH)
    search_only = Credentials(0, 0, 0, 0, (), caps=1 << CAP_DAC_READ_SEARCH)

    def allowed(creds: Credentials, mode: int, uid: int, gid: int, mask: int) -> bool:
        try:
            check(creds, mode, uid, gid, mask)
        except SyscallError:
            return False
        return True

    regular, directory = 0o100000, 0o040000
    assert not allowed(user, regular | 0o077, 1000, 1000, MAY_READ)  # owner class decides
    assert allowed(user, regular | 0o040, 1, 5, MAY_READ)  # supplementary group
    assert not allowed(user, regular | 0o004, 1, 5, MAY_READ)  # group, not others
    assert allowed(root, regular | 0o000, 1, 1, MAY_READ | MAY_WRITE)
    assert not allowed(root, regular | 0o644, 1, 1, MAY_EXEC)  # no x bit at all
    assert allowed(root, regular | 0o100, 1, 1, MAY_EXEC)
    assert allowed(search_only, regular | 0o000, 1, 1, MAY_READ)
    assert not allowed(search_only, regular | 0o000, 1, 1, MAY_WRITE)
    assert allowed(search_only, directory | 0o000, 1, 1, MAY_READ | MAY_EXEC)
    assert not allowed(search_only, directory | 0o000, 1, 1, MAY_WRITE)


def test_set_id_bits_dropped_by_writes_and_chowns() -> None:
    """A write takes S_ISUID from a regular file, and S_ISGID beside
    S_IXGRP, unless the writer has CAP_FSETID; a chown takes them from any
    non-directory, capability or not."""
    from sentry.abi.linux import CAP_FSETID
    from sentry.auth import Credentials
    from sentry.vfs.permissions import privileges_dropped

    user = Credentials(1000, 1000, 1000, 1000, ())
    root = Credentials(0, 0, 0, 0, (), caps=1 << CAP_FSETID)
    regular, directory = 0o100000, 0o040000
    assert privileges_dropped(user, regular | 0o6777, 1) == 0o6000
    assert privileges_dropped(user, regular | 0o4755, 1) == 0o4000
    assert privileges_dropped(user, regular | 0o2767, 1) == 0  # no S_IXGRP: kept
    assert privileges_dropped(user, regular | 0o0777, 1) == 0
    assert privileges_dropped(user, directory | 0o2775, 1) == 0
    assert privileges_dropped(root, regular | 0o6777, 1) == 0
    assert privileges_dropped(root, regular | 0o6777, 1, chown=True) == 0o6000
    assert privileges_dropped(root, directory | 0o2775, 1, chown=True) == 0


def test_setattr_rules() -> None:
    """chmod drops S_ISGID outside the file's group; a touch needs write
    permission, explicit times the owner; chgrp to one's own group only."""
    from sentry.abi.linux import STATX_ATIME, STATX_GID, STATX_MODE, STATX_MTIME, UTIME_NOW
    from sentry.auth import Credentials
    from sentry.errors import SyscallError
    from sentry.vfs.filesystem import SetStat
    from sentry.vfs.permissions import check_setstat

    user = Credentials(1000, 1000, 1000, 1000, ())
    change = SetStat(mask=STATX_MODE, mode=0o2755)
    check_setstat(user, 0o100644, 1000, 7, change, writable=True)
    assert change.mode == 0o755
    now = (0, UTIME_NOW)
    touch = SetStat(mask=STATX_ATIME | STATX_MTIME, atime=now, mtime=now)
    check_setstat(user, 0o100666, 1, 1, touch, writable=True)
    with pytest.raises(SyscallError) as refused:
        check_setstat(user, 0o100644, 1, 1, touch, writable=False)
    assert refused.value.errno == errno.EACCES
    explicit = SetStat(mask=STATX_ATIME | STATX_MTIME, atime=(1, 0), mtime=(1, 0))
    with pytest.raises(SyscallError) as refused:
        check_setstat(user, 0o100666, 1, 1, explicit, writable=True)
    assert refused.value.errno == errno.EPERM
    with pytest.raises(SyscallError):
        check_setstat(user, 0o100644, 1000, 1000, SetStat(mask=STATX_GID, gid=7), True)
    check_setstat(user, 0o100644, 1000, 7, SetStat(mask=STATX_GID, gid=1000), True)
