"""--rootfs DIR: the app runs on another root, an unpacked image, under the
same in-memory overlay as the host's root gets by default: it sees only
DIR's tree (plus its own /proc, /sys and /dev), and what it writes there
stays in the sandbox. Judged from the host: DIR is unchanged."""

from __future__ import annotations

import shutil

import pytest
from conftest import run_native, sentry_cli


def sentry(args, **kw):
    """``sentry ARGS`` with nothing shared (no --bind): the tree is DIR's only."""
    return run_native([*sentry_cli(), *args], **kw)


@pytest.fixture
def rootfs(tmp_path, c_program):
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    shutil.copy(c_program("rootfs_probe"), root / "bin" / "probe")
    return root


def test_rootfs_is_the_root(rootfs):
    res = sentry(["run", f"--rootfs={rootfs}", "--", "/bin/probe", "/usr/bin/env"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().splitlines() == [
        "entry bin",
        "entry dev",
        "entry etc",
        "entry proc",
        "entry sys",
        "host file /usr/bin/env: No such file or directory",
        "write /written: ok",
        "cwd ok: yes",
        "proc: mounted",
    ]
    assert sorted(p.name for p in rootfs.iterdir()) == ["bin", "etc"]


@pytest.mark.slow
def test_rootfs_command_is_found_in_the_rootfs(rootfs):
    """CMD is looked up in DIR's tree (PATH included), not the host's."""
    res = sentry(["run", f"--rootfs={rootfs}", "--", "probe", "/"], env={"PATH": "/bin"})
    assert res.returncode == 0, res.stderr
    res = sentry(["run", f"--rootfs={rootfs}", "--", "sh", "-c", "true"], env={"PATH": "/bin"})
    assert res.returncode == 127
    assert res.stderr == b"sentry: cannot execute sh: No such file or directory\n"


def test_rootfs_must_be_a_directory(tmp_path):
    res = sentry(["run", f"--rootfs={tmp_path / 'missing'}", "--", "true"])
    assert res.returncode == 2
    assert b"bad --rootfs" in res.stderr and res.stderr.count(b"\n") == 1
