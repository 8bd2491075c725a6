"""/dev/fuse and mount(2) inside sentry, against Linux: the same raw-protocol
daemon (fuse/raw_daemon.py) runs on the kernel's /dev/fuse and in sentry and
must see the same result from every call; and FORGET of evicted inodes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import run_native, run_sandbox
from fuse.helpers import read_log, require_fuse, testfs_argv, unmount

HERE = Path(__file__).parent


def test_device_and_mount_rules_match_linux(tmp_path: Path) -> None:
    require_fuse()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    argv = [sys.executable, str(HERE / "fuse" / "raw_daemon.py"), str(mnt)]
    try:
        native = run_native(argv, timeout=30)
    finally:
        unmount(mnt)
    sandboxed = run_sandbox(argv, timeout=30)
    assert native.returncode == 0, native.stderr
    assert sandboxed.returncode == 0, sandboxed.stderr
    assert sandboxed.stdout == native.stdout
    assert b"read after umount: ENODEV" in native.stdout
    assert b"third request: opcode 1" in native.stdout and b"x: EIO" in native.stdout
    assert b"reply, entry with extra bytes: EINVAL" in native.stdout
    assert b"poll after umount: ['0b1000']" in native.stdout


@pytest.mark.slow
def test_evicted_inodes_are_forgotten(tmp_path: Path) -> None:
    mnt, log = tmp_path / "mnt", tmp_path / "testfs.log"
    mnt.mkdir()
    daemon = " ".join(a for a in testfs_argv(mnt, log=log) if a != "-f")  # daemonizes
    script = (
        f"{daemon} && for i in 1 2 3 4 5 6 7 8 9 10; do echo $i > {mnt}/f$i; done && "
        f"ls -l {mnt} > /dev/null && cat {mnt}/f1 && fusermount3 -u {mnt}"
    )
    done = subprocess.run(
        [sys.executable, "-P", str(HERE / "fuse" / "small_cache_kernel.py"), script],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"1\n"
    forgets = read_log(log, "FORGET")
    assert forgets, "no FORGET reached the daemon"
    assert all(line.split()[-1] != "n=0" for line in forgets)


def _fd_semantics(tmp_path: Path, runner: Any, name: str) -> tuple[bytes, list[str]]:
    mnt, log = tmp_path / f"mnt-{name}", tmp_path / f"{name}.log"
    mnt.mkdir()
    program = HERE / "fuse" / "fd_semantics.py"
    daemon = " ".join(a for a in testfs_argv(mnt, "clone_fd", log=log, threads=True) if a != "-f")
    # RELEASE is sent after close(2) has returned: wait (5 s at most) until
    # the daemon has logged it, however loaded the machine.
    script = (
        f"{daemon} && {sys.executable} {program} {mnt}/data; s=$?; "
        f"for i in $(seq 50); do grep -q RELEASE {log} && break; sleep 0.1; done; "
        f"fusermount3 -u {mnt}; exit $s"
    )
    try:
        done = runner(["sh", "-c", script], timeout=60)
    finally:
        unmount(mnt)
    assert done.returncode == 0, done.stderr
    return done.stdout, read_log(log, "FLUSH", "RELEASE")


@pytest.mark.slow
def test_file_descriptions_are_shared_like_linux(tmp_path: Path) -> None:
    require_fuse()
    native_out, native_log = _fd_semantics(tmp_path, run_native, "native")
    sandbox_out, sandbox_log = _fd_semantics(tmp_path, run_sandbox, "sandbox")
    assert sandbox_out == native_out
    logs = (native_log, sandbox_log)
    flushes = [sum(line.startswith("FLUSH") for line in log) for log in logs]
    releases = [sum(line.startswith("RELEASE") for line in log) for log in logs]
    assert releases[1] == releases[0] == 1
    assert flushes[1] == flushes[0]


def _interrupted(tmp_path: Path, runner: Any, name: str) -> tuple[bytes, list[str]]:
    mnt, log = tmp_path / f"mnt-{name}", tmp_path / f"{name}.log"
    mnt.mkdir()
    daemon = testfs_argv(mnt, "slow_read_ms=3000", "direct_io", log=log, threads=True)
    program = HERE / "fuse" / "interrupted_read.py"
    script = (
        f"{' '.join(a for a in daemon if a != '-f')} && {sys.executable} {program} {mnt}/data; "
        f"s=$?; fusermount3 -u {mnt}; exit $s"
    )
    try:
        done = runner(["sh", "-c", script], timeout=60)
    finally:
        unmount(mnt)
    assert done.returncode == 0, done.stderr
    return done.stdout, read_log(log, "READ", "INTERRUPTED")


@pytest.mark.slow
def test_signal_interrupts_a_request_like_linux(tmp_path: Path) -> None:
    require_fuse()
    native = _interrupted(tmp_path, run_native, "native")
    assert native == (
        b"read 4096\n",
        ["READ off=0 size=4096", "INTERRUPTED", "READ off=0 size=4096"],
    )
    assert _interrupted(tmp_path, run_sandbox, "sandbox") == native


def test_fstat_of_the_device_is_the_hosts(run_both):
    """fstat of an open /dev/fuse shows the character device 10:229 with the
    host's mode (the built-in servers check it before serving)."""
    code = (
        "import os; s = os.fstat(os.open('/dev/fuse', os.O_RDWR)); "
        "print(oct(s.st_mode), os.major(s.st_rdev), os.minor(s.st_rdev))"
    )
    both = run_both([sys.executable, "-P", "-c", code])
    native, sandboxed = both.native, both.sandbox
    assert (sandboxed.returncode, sandboxed.stdout) == (0, native.stdout)
    assert native.stdout.split()[1:] == [b"10", b"229"]
