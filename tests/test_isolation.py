"""Syscalls that could slip past sentry's interception, and partial copies.

- A 64-bit process can make i386 syscalls with ``int $0x80`` and x32 ones
  with bit 30 set in the syscall number. The numbers mean different things in
  those ABIs (i386 5 is open, x86_64 5 is fstat), so a filter that only knows
  x86_64 numbers lets them through unseen. Sentry must refuse them: here we
  deliberately differ from native Linux.
- Reads into partly unmapped buffers must give exactly the kernel's partial
  counts and EFAULTs.
"""

import os
import re

import pytest
from conftest import run_native, run_sandbox

from sentry.pytest_plugin import Both

ENOSYS = 38


def _parse_int80(stdout):
    text = stdout.decode()
    m = re.search(r"^int80 open: (-?\d+)$", text, re.M)
    x = re.search(r"^x32 getpid: (-?\d+)$", text, re.M)
    assert m and x, text
    return int(m.group(1)), int(x.group(1)), text


def test_int80_native_half(c_program):
    """Natively, on a kernel with IA32 emulation, int $0x80 opens the file."""
    exe = c_program("int80")
    r = run_native([exe])
    assert r.returncode == 0, r.stderr
    opened, x32, text = _parse_int80(r.stdout)
    if opened == -ENOSYS:
        pytest.skip("this kernel has no IA32 emulation (int $0x80 gives ENOSYS)")
    assert opened >= 0, text
    with open("/etc/hostname", "rb") as f:
        size = len(f.read())
    assert f"int80 read: {size}" in text
    # x32 is compiled out of most kernels (ENOSYS); where it is in, it works.
    assert x32 == -ENOSYS or x32 > 0


def test_int80_open_is_refused(c_program):
    exe = c_program("int80")
    r = run_sandbox([exe])
    opened, _, text = _parse_int80(r.stdout)
    assert opened == -ENOSYS, f"int $0x80 open() under sentry returned {opened}:\n{text}"
    assert "int80 read" not in text
    assert r.returncode == 0, r.stderr


def test_x32_syscall_is_refused(c_program):
    exe = c_program("int80")
    r = run_sandbox([exe])
    _, x32, text = _parse_int80(r.stdout)
    assert -4095 <= x32 < 0, f"x32 getpid under sentry succeeded ({x32}):\n{text}"
    assert r.returncode == 0, r.stderr


@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "in.bin"
    path.write_bytes(os.urandom(3 * 4096 + 517))
    return path


def test_partial_read_native_half(c_program, big_file, tmp_path):
    exe = c_program("partial_read")
    r = run_native([exe, big_file, tmp_path / "out"])
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    for line in [
        "read straddling: ret=100 errno=0",
        "read unmapped: ret=-1 errno=EFAULT",
        "pread straddling: ret=10 errno=0",
        "readv second unmapped: ret=64 errno=0",
        "readv first straddling: ret=30 errno=0",
        "readv iov unmapped: ret=-1 errno=EFAULT",
        "write straddling: ret=100 errno=0",
        "write unmapped: ret=-1 errno=EFAULT",
        "out size: 100",
    ]:
        assert line in text.splitlines(), text


def test_partial_read_matches_native(c_program, big_file, tmp_path):
    exe = c_program("partial_read")
    native = run_native([exe, big_file, tmp_path / "out-native"])
    sandboxed = run_sandbox([exe, big_file, tmp_path / "out-sandbox"])
    Both(native, sandboxed).assert_same()
    assert (tmp_path / "out-sandbox").read_bytes() == (tmp_path / "out-native").read_bytes()
