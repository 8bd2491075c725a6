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
from sentry.syscalls import linux64
from sentry.syscalls.strace import format_result, open_flags

ALLOW, TRACE = seccomp.SECCOMP_RET_ALLOW, seccomp.SECCOMP_RET_TRACE
ENOSYS = seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS


def run_bpf(program: bytes, nr: int, arch: int = AUDIT_ARCH_X86_64, args: tuple = (0,) * 6) -> int:
    """Interpret a classic-BPF seccomp program on one struct seccomp_data."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, *args)
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == seccomp.BPF_LD | seccomp.BPF_W | seccomp.BPF_ABS:
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code & 0x07 == seccomp.BPF_JMP:
            op = code & 0xF0
            taken = {
                seccomp.BPF_JEQ: acc == k,
                seccomp.BPF_JGE: acc >= k,
                seccomp.BPF_JSET: bool(acc & k),
            }[op]
            pc += 1 + (jt if taken else jf)
        elif code == seccomp.BPF_RET | seccomp.BPF_K:
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


@pytest.fixture(scope="module")
def program() -> bytes:
    return seccomp.build_filter(linux64.TABLE, linux64.ENOSYS)


def test_filter_traces_exactly_the_table(program: bytes) -> None:
    for nr in range(470):
        expected = TRACE if nr in linux64.TABLE else ENOSYS if nr in linux64.ENOSYS else ALLOW
        if nr == SYSCALL_NUMBERS["mmap"]:
            continue
        assert run_bpf(program, nr) == expected, nr


def test_filter_traces_mmap_only_with_a_file(program: bytes) -> None:
    mmap = SYSCALL_NUMBERS["mmap"]
    assert run_bpf(program, mmap, args=(0, 4096, 3, 0x22, 2**64 - 1, 0)) == ALLOW
    assert run_bpf(program, mmap, args=(0, 4096, 1, 0x02, 3, 0)) == TRACE


def test_filter_never_allows_other_abis(program: bytes) -> None:
    assert run_bpf(program, 5, arch=AUDIT_ARCH_I386) == TRACE
    assert run_bpf(program, 0x40000000 | 39) == TRACE
    assert run_bpf(program, 0x40000000 | 0x200) == TRACE


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

    def inc_ref(self) -> None:
        self.refs += 1

    def dec_ref(self) -> None:
        self.refs -= 1

    def close_fd(self, t: object) -> None:
        self.dec_ref()


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
