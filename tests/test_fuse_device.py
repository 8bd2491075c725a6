"""/dev/fuse and mount(2) inside sentry, against Linux: the same raw-protocol
daemon (fuse/raw_daemon.py) runs on the kernel's /dev/fuse and in sentry and
must see the same result from every call; and FORGET of evicted inodes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
