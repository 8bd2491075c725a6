"""Helpers for the FUSE tests: build testfs, mount FUSE daemons, run rw_family.

Every ``mount_*`` context manager starts its daemon in the foreground, waits
until the mount shows in /proc/self/mountinfo, yields the mountpoint and, on
the way out, always unmounts (lazily, so that a dead or stuck daemon cannot
keep it) and reaps or kills the daemon. Mountpoints are meant to be tmp_path
folders.

The daemons run natively here. Sandbox variants can reuse ``testfs_argv``,
``testfs_data``, ``read_log``, ``run_rw_family`` and ``squashfs_commands`` with
a sandbox runner, and compare with the native results.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

FUSE_DIR = Path(__file__).resolve().parent
TESTS_DIR = FUSE_DIR.parent
TESTFS_SRC = FUSE_DIR / "testfs.c"
FUSE_IO_SRC = FUSE_DIR / "fuse_io.c"
RW_FAMILY_SRC = TESTS_DIR / "c" / "rw_family.c"

# Seconds to wait for a daemon to mount, and for it to exit after unmount.
MOUNT_TIMEOUT = 10
EXIT_TIMEOUT = 5
# Every other child process.
COMMAND_TIMEOUT = 60

# The size of testfs's /data unless data_size= says otherwise.
TESTFS_DATA_SIZE = 1 << 20


# ------------------------------------------------------------- building

_build_dir: Path | None = None
_built: dict[tuple, Path] = {}


def _out_dir() -> Path:
    global _build_dir
    if _build_dir is None:
        _build_dir = Path(tempfile.mkdtemp(prefix="sentry-fuse-bin-"))
        atexit.register(shutil.rmtree, _build_dir, True)
    return _build_dir


def build_c(src: Path, *, flags=(), pkg=()) -> Path:
    """Compile src with ``gcc -O1 -Wall`` (plus flags and ``pkg-config
    --cflags --libs PKG...``), once per process; return the binary. Skips if
    gcc (or pkg-config, when needed) is missing; fails on a compile error."""
    key = (str(src), tuple(flags), tuple(pkg))
    if key in _built:
        return _built[key]
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    pkg_flags: list[str] = []
    if pkg:
        if shutil.which("pkg-config") is None:
            pytest.skip("pkg-config is not installed")
        p = subprocess.run(
            ["pkg-config", "--cflags", "--libs", *pkg],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        if p.returncode != 0:
            pytest.skip(f"pkg-config {' '.join(pkg)}: {p.stderr.strip()} (run `make install`)")
        pkg_flags = p.stdout.split()
    exe = _out_dir() / src.stem
    # Source first, libraries last: the linker needs that order.
    cmd = [gcc, "-O1", "-Wall", "-o", str(exe), str(src), *flags, *pkg_flags]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        pytest.fail(f"compiling {src} failed:\n{' '.join(cmd)}\n{p.stderr}")
    _built[key] = exe
    return exe


def testfs_exe() -> Path:
    """The testfs binary (tests/fuse/testfs.c against libfuse3)."""
    return build_c(TESTFS_SRC, pkg=["fuse3"])


def fuse_io_exe() -> Path:
    """The fuse_io binary (tests/fuse/fuse_io.c)."""
    return build_c(FUSE_IO_SRC)


def rw_family_exe() -> Path:
    """The rw_family binary (tests/c/rw_family.c)."""
    return build_c(RW_FAMILY_SRC)


def require_fuse():
    """Skip unless this process can mount FUSE natively (root and /dev/fuse)."""
    if os.geteuid() != 0:
        pytest.skip("native FUSE mounts need root here")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("/dev/fuse is missing")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (run `make install`)")
    return path


# --------------------------------------------------------------- mounts


def _unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (\\040 for a space, ...)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_info(mnt) -> dict | None:
    """The last mount on mnt, from /proc/self/mountinfo: a dict with
    ``fstype``, ``source``, ``options`` (per mount) and ``super_options``
    (the filesystem's, e.g. ``rw,user_id=0,group_id=0,max_read=4096``), or
    None if nothing is mounted there."""
    # Resolve the parent only: a stat of the mountpoint itself would ask the
    # daemon, which may be stuck or dead.
    path = os.path.abspath(mnt)
    target = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.rstrip("\n").partition(" - ")
            fields = left.split()
            if _unescape(fields[4]) != target:
                continue
            fstype, source, super_options = right.split(" ", 2)
            found = {
                "fstype": fstype,
                "source": _unescape(source),
                "options": fields[5],
                "super_options": super_options,
            }
    return found


def is_mounted(mnt) -> bool:
    return mount_info(mnt) is not None


def unmount(mnt):
    """Detach whatever FUSE mounts are on mnt (lazily: works with a dead or
    stuck daemon). Never raises for "not mounted"."""
    for _ in range(8):  # stacked mounts come off one at a time
        if not is_mounted(mnt):
            return
        if shutil.which("fusermount3"):
            subprocess.run(
                ["fusermount3", "-u", "-z", "-q", "--", str(mnt)],
                capture_output=True,
                timeout=COMMAND_TIMEOUT,
            )
        if is_mounted(mnt):
            subprocess.run(
                ["umount", "-l", str(mnt)], capture_output=True, timeout=COMMAND_TIMEOUT
            )
    if is_mounted(mnt):
        pytest.fail(f"could not unmount {mnt}")


def _wait_mounted(proc: subprocess.Popen, mnt, stderr_file, what: str):
    deadline = time.monotonic() + MOUNT_TIMEOUT
    while not is_mounted(mnt):
        if proc.poll() is not None:
            stderr_file.seek(0)
            err = stderr_file.read().decode(errors="replace")
            pytest.fail(f"{what} exited with {proc.returncode} before mounting:\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not mount {mnt} within {MOUNT_TIMEOUT} s")
        time.sleep(0.01)


@contextlib.contextmanager
def fuse_daemon(argv, mnt, *, what=None) -> Iterator[subprocess.Popen]:
    """Run a FUSE daemon (in the foreground) that mounts on mnt; yield its
    Popen once the mount is up. Always unmounts and reaps or kills it.
    Its stdout and stderr go to a temporary file, readable through
    ``proc.output()``."""
    require_fuse()
    what = what or Path(str(argv[0])).name
    mnt = Path(mnt)
    if is_mounted(mnt):
        pytest.fail(f"{mnt} is already a mountpoint")
    mnt.mkdir(parents=True, exist_ok=True)
    out = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
    )

    def output() -> str:
        out.seek(0)
        return out.read().decode(errors="replace")

    proc.output = output  # type: ignore[attr-defined]
    try:
        _wait_mounted(proc, mnt, out, what)
        yield proc
    finally:
        try:
            unmount(mnt)
        finally:
            try:
                proc.wait(timeout=EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=EXIT_TIMEOUT)
            out.close()


def testfs_argv(mnt, *opts, log=None, exe=None, threads=False) -> list[str]:
    """The command line that runs testfs on mnt: ``testfs MNT -f -s -o OPTS``
    (without -s if threads). opts are testfs or libfuse options such as
    ``"max_read=4096"``, ``"direct_io"``, ``"short_read=3"``; log is a file
    for the request log."""
    opts = [str(o) for o in opts]
    if log is not None:
        opts.append(f"log={os.path.abspath(log)}")
    argv = [str(exe or testfs_exe()), str(mnt), "-f"]
    if not threads:
        argv.append("-s")
    if opts:
        argv += ["-o", ",".join(opts)]
    return argv


@contextlib.contextmanager
def mount_testfs(mnt, *opts, log=None, exe=None, threads=False) -> Iterator[Path]:
    """Mount testfs on mnt with options opts (see testfs_argv); yield mnt.
    (For the daemon's Popen, use ``fuse_daemon(testfs_argv(...), mnt)``.)"""
    with fuse_daemon(testfs_argv(mnt, *opts, log=log, exe=exe, threads=threads), mnt):
        yield Path(mnt)


@contextlib.contextmanager
def mount_bindfs(src, mnt, *args) -> Iterator[Path]:
    """Mirror directory src on mnt with ``bindfs -f [ARGS] SRC MNT``; yield mnt."""
    bindfs = require_tool("bindfs")
    with fuse_daemon([bindfs, "-f", *args, src, mnt], mnt):
        yield Path(mnt)


@contextlib.contextmanager
def mount_squashfuse(img, mnt, *, lowlevel=False) -> Iterator[Path]:
    """Mount a squashfs image with ``squashfuse -f IMG MNT`` (or
    ``squashfuse_ll``); yield mnt."""
    exe = require_tool("squashfuse_ll" if lowlevel else "squashfuse")
    with fuse_daemon([exe, "-f", img, mnt], mnt):
        yield Path(mnt)


# ----------------------------------------------------------------- data


def testfs_data(off: int = 0, size: int = TESTFS_DATA_SIZE) -> bytes:
    """The bytes of testfs's /data at [off, off+size): byte i is (i*7+3) % 251."""
    return bytes((i * 7 + 3) % 251 for i in range(off, off + size))


def fnv32(data: bytes) -> str:
    """The checksum that fuse_io and rw_family print: 32-bit FNV-1a, 8 hex digits."""
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return f"{h:08x}"


def io_pattern(n: int) -> bytes:
    """What fuse_io's write:N and pwrite:N:OFF write: byte i = (i*13+5) % 256."""
    return bytes((i * 13 + 5) % 256 for i in range(n))


def read_result(step: str, data: bytes) -> str:
    """The line fuse_io prints for a read step that returned data."""
    return f"{step} = {len(data)} sum={fnv32(data)}"


def run_fuse_io(runner, path, *steps: str, timeout=COMMAND_TIMEOUT) -> list[str]:
    """Run ``fuse_io PATH STEP...`` with runner (run_native or a sandbox
    runner); check that it exited 0 with no stderr; return its lines."""
    res = runner([str(fuse_io_exe()), str(path), *steps], timeout=timeout)
    assert res.returncode == 0 and res.stderr == b"", (res.returncode, res.stderr, res.stdout)
    return res.stdout.decode().splitlines()


def read_log(path, *ops: str) -> list[str]:
    """The lines of a testfs log, only those whose opcode (first word) is in
    ops if any are given: ``read_log(log, "READ")``."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    if ops:
        lines = [line for line in lines if line.split(" ", 1)[0] in ops]
    return lines


def clear_log(path):
    """Empty a testfs log (testfs appends, so it may be cleared under it)."""
    Path(path).write_text("")


# The tree that make_squashfs packs: relative path -> bytes, or ("symlink",
# target), or None for a directory.
def _squash_tree() -> dict[str, object]:
    rng = random.Random(20260824)
    return {
        "hello.txt": b"hello, squashfs\n",
        "empty": b"",
        "lines.txt": b"".join(b"line %d\n" % i for i in range(1000)),
        "big.bin": rng.randbytes(2 * 1024 * 1024),  # incompressible, several blocks
        "sub": None,
        "sub/nested.txt": b"nested\n" * 100,
        "sub/deeper": None,
        "sub/deeper/zeros": bytes(300000),  # a sparse-looking file
        "link": ("symlink", "hello.txt"),
        "sub/up": ("symlink", "../big.bin"),
    }


def make_squashfs(tmp_path) -> Path:
    """Build ``tmp_path/image.squashfs`` from a fixed tree in
    ``tmp_path/squashfs-src`` (files including a 2 MiB one, an empty file,
    subdirectories, symlinks); every time stamp is 0 and every owner root, so
    ``ls -la`` of the mount is the same every time. Returns the image."""
    mksquashfs = require_tool("mksquashfs")
    src = Path(tmp_path) / "squashfs-src"
    src.mkdir()
    for rel, content in _squash_tree().items():
        path = src / rel
        if content is None:
            path.mkdir()
        elif isinstance(content, tuple):
            path.symlink_to(content[1])
        else:
            path.write_bytes(content)
            path.chmod(0o644)
    (src / "sub").chmod(0o755)
    (src / "sub" / "deeper").chmod(0o700)
    img = Path(tmp_path) / "image.squashfs"
    p = subprocess.run(
        [
            mksquashfs,
            src,
            img,
            "-noappend",
            "-all-root",
            "-all-time",
            "0",
            "-mkfs-time",
            "0",
            "-no-progress",
            "-quiet",
        ],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    if p.returncode != 0:
        pytest.fail(f"mksquashfs failed:\n{p.stdout}\n{p.stderr}")
    return img


def squashfs_expected_hashes() -> dict[str, str]:
    """sha256 of every regular file in make_squashfs's tree."""
    return {
        rel: hashlib.sha256(content).hexdigest()
        for rel, content in _squash_tree().items()
        if isinstance(content, bytes)
    }


# Deterministic output for ls: C locale, UTC.
LISTING_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"}


def squashfs_commands(mnt) -> dict[str, list[str]]:
    """The commands whose output records a squashfs mount (run them with
    cwd=mnt and env=LISTING_ENV): name -> argv."""
    return {
        "sha256sum": [
            "sh",
            "-c",
            "find . -type f | LC_ALL=C sort | xargs -d '\\n' sha256sum",
        ],
        "ls -la": ["ls", "-laR", "--time-style=+%s", "."],
        "find": ["sh", "-c", "find . -printf '%y %m %s %p %l\\n' | LC_ALL=C sort -k4"],
    }


def run_squashfs_commands(mnt, runner) -> dict[str, str]:
    """Run squashfs_commands(mnt) with runner (run_native or a sandbox
    runner); return name -> stdout. Each must exit 0 with no stderr."""
    out = {}
    for name, argv in squashfs_commands(mnt).items():
        res = runner(argv, cwd=str(mnt), env=LISTING_ENV, timeout=COMMAND_TIMEOUT)
        assert res.returncode == 0, f"{name}: exit {res.returncode}\n{res.stderr!r}"
        assert res.stderr == b"", f"{name}: {res.stderr!r}"
        out[name] = res.stdout.decode()
    return out


# ------------------------------------------------------------ rw_family


def run_rw_family(dirpath, runner, exe=None, timeout=COMMAND_TIMEOUT) -> str:
    """Run rw_family on dirpath with runner (run_native, or a sandbox runner
    taking the same arguments); check that it exited 0 with no stderr and
    found no mismatch; return its output."""
    exe = exe or rw_family_exe()
    res = runner([str(exe), str(dirpath)], timeout=timeout)
    out = res.stdout.decode(errors="replace")
    assert res.returncode == 0, f"rw_family exited {res.returncode}\n{res.stderr!r}\n{out}"
    assert res.stderr == b"", res.stderr
    assert out.endswith("mismatches = 0\n"), out
    assert "MISMATCH" not in out, out
    return out


# Names starting with "test" would be collected by pytest in the modules that
# import them.
for _f in (testfs_exe, testfs_argv, testfs_data):
    _f.__test__ = False  # type: ignore[attr-defined]
