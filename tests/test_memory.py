"""Direct tests of the tracee memory copies, sentry.platform.ptrace.memory.

The target is a real child process (tests/c/mem_target.c) with this layout,
byte i of the region initially holding (i * 7 + 3) & 0xff:

    page 0  RW
    page 1  RW
    page 2  unmapped
    page 3  RW
    page 4  read-only
    page 5  PROT_NONE

copy_out/copy_in must behave like the kernel copying to or from a user
buffer: partial counts are exact, and nothing copied means EFAULT. What the
target really holds is checked two independent ways: the target dumps its own
memory, and /proc/PID/mem is read directly.
"""

import errno
import os
import re
import select
import subprocess
import time

import pytest
from conftest import kill_and_reap


def pattern(start, n):
    return bytes(((i * 7 + 3) & 0xFF) for i in range(start, start + n))


class Target:
    def __init__(self, exe):
        self.proc = subprocess.Popen(
            [str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        line = self._readline()
        m = re.fullmatch(rb"page=(\d+) base=0x([0-9a-f]+)\n", line)
        assert m, line
        self.page = int(m.group(1))
        self.base = int(m.group(2), 16)
        self.pid = self.proc.pid

    def _readline(self, timeout=30.0):
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise AssertionError(f"target did not answer in {timeout} s; got {data!r}")
            chunk = self.proc.stdout.read(1)
            if not chunk:
                raise AssertionError(f"target exited; got {data!r}")
            data += chunk
        return data

    def addr(self, page, offset=0):
        return self.base + page * self.page + offset

    def dump(self, page, offset, n):
        """The target's own view of n bytes at page:offset."""
        off = page * self.page + offset
        self.proc.stdin.write(b"dump %d %d\n" % (off, n))
        return bytes.fromhex(self._readline().decode())

    def proc_mem(self, page, offset, n):
        """n bytes at page:offset read through /proc/PID/mem."""
        with open(f"/proc/{self.pid}/mem", "rb", buffering=0) as f:
            f.seek(self.addr(page, offset))
            return f.read(n)

    def close(self):
        kill_and_reap(self.proc)


@pytest.fixture
def memory():
    from sentry.platform.ptrace import memory

    return memory


@pytest.fixture
def target(c_program):
    t = Target(c_program("mem_target"))
    yield t
    t.close()


def assert_efault(excinfo):
    from sentry.errors import SyscallError

    assert isinstance(excinfo.value, SyscallError), repr(excinfo.value)
    assert excinfo.value.errno == errno.EFAULT


def test_target_native_half(target):
    """The harness itself: the target's dump, /proc/PID/mem and the pattern
    agree, and the hole really is a hole."""
    n = 2 * target.page
    assert target.dump(0, 0, n) == pattern(0, n) == target.proc_mem(0, 0, n)
    assert target.dump(4, 0, 64) == pattern(4 * target.page, 64)
    with pytest.raises(OSError):
        target.proc_mem(2, 0, 16)


# ------------------------------------------------------------ copy_out


def test_copy_out_full(memory, target):
    data = os.urandom(2 * target.page)  # pages 0 and 1
    assert memory.copy_out(target.pid, target.addr(0), data) == len(data)
    assert target.dump(0, 0, len(data)) == data
    assert target.proc_mem(0, 0, len(data)) == data
    assert memory.copy_in(target.pid, target.addr(0), len(data)) == data


def test_copy_out_small_unaligned(memory, target):
    data = b"hello, tracee"
    assert memory.copy_out(target.pid, target.addr(0, 4093), data) == len(data)
    assert target.dump(0, 4090, 20) == pattern(4090, 3) + data + pattern(4106, 4)


def test_copy_out_partial_into_unmapped(memory, target):
    data = os.urandom(200)
    n = memory.copy_out(target.pid, target.addr(1, target.page - 100), data)
    assert n == 100
    assert target.dump(1, target.page - 100, 100) == data[:100]


def test_copy_out_large_partial(memory, target):
    """Starting mid page 0, across page 1 and into the hole: exact count."""
    data = os.urandom(3 * target.page)
    n = memory.copy_out(target.pid, target.addr(0, 1000), data)
    assert n == 2 * target.page - 1000
    assert target.dump(0, 1000, n) == data[:n]


def test_copy_out_unmapped_is_efault(memory, target):
    from sentry.errors import SyscallError

    with pytest.raises(SyscallError) as excinfo:
        memory.copy_out(target.pid, target.addr(2), b"x" * 64)
    assert_efault(excinfo)


def test_copy_out_read_only_is_efault(memory, target):
    """read(2) into a read-only buffer fails with EFAULT; so must copy_out
    (no FOLL_FORCE-style writes through /proc/PID/mem or POKEDATA)."""
    from sentry.errors import SyscallError

    with pytest.raises(SyscallError) as excinfo:
        memory.copy_out(target.pid, target.addr(4), b"x" * 64)
    assert_efault(excinfo)
    assert target.dump(4, 0, 64) == pattern(4 * target.page, 64)


def test_copy_out_partial_into_read_only(memory, target):
    data = os.urandom(100)
    n = memory.copy_out(target.pid, target.addr(3, target.page - 50), data)
    assert n == 50
    assert target.dump(3, target.page - 50, 100) == data[:50] + pattern(4 * target.page, 50)


def test_copy_out_prot_none_is_efault(memory, target):
    from sentry.errors import SyscallError

    with pytest.raises(SyscallError) as excinfo:
        memory.copy_out(target.pid, target.addr(5), b"x")
    assert_efault(excinfo)


def test_copy_out_null_is_efault(memory, target):
    from sentry.errors import SyscallError

    with pytest.raises(SyscallError) as excinfo:
        memory.copy_out(target.pid, 0, b"x")
    assert_efault(excinfo)


# ------------------------------------------------------------- copy_in


def test_copy_in_full(memory, target):
    n = 2 * target.page
    got = memory.copy_in(target.pid, target.addr(0), n)
    assert got == pattern(0, n)
    assert got == target.proc_mem(0, 0, n)


def test_copy_in_read_only_page(memory, target):
    got = memory.copy_in(target.pid, target.addr(4), target.page)
    assert got == pattern(4 * target.page, target.page)


def test_copy_in_partial_into_unmapped(memory, target):
    got = memory.copy_in(target.pid, target.addr(1, target.page - 100), 300)
    assert got == pattern(2 * target.page - 100, 100)


def test_copy_in_partial_into_prot_none(memory, target):
    got = memory.copy_in(target.pid, target.addr(4, target.page - 10), 100)
    assert got == pattern(5 * target.page - 10, 10)


@pytest.mark.parametrize("page", [2, 5], ids=["unmapped", "prot-none"])
def test_copy_in_nothing_readable_is_efault(memory, target, page):
    from sentry.errors import SyscallError

    with pytest.raises(SyscallError) as excinfo:
        memory.copy_in(target.pid, target.addr(page), 16)
    assert_efault(excinfo)


def test_round_trip_across_pages(memory, target):
    """Many small unaligned copies, each read back both ways."""
    import random

    rng = random.Random(1234)
    writable_end = {0: 2, 1: 2, 3: 4}  # page -> first page past its RW run
    for _ in range(50):
        page = rng.choice([0, 1, 3])
        offset = rng.randrange(target.page)
        data = os.urandom(rng.randint(1, 300))
        room = writable_end[page] * target.page - (page * target.page + offset)
        written = memory.copy_out(target.pid, target.addr(page, offset), data)
        assert written == min(len(data), room), (page, offset, len(data))
        assert memory.copy_in(target.pid, target.addr(page, offset), written) == data[:written]
        assert target.proc_mem(page, offset, written) == data[:written]
