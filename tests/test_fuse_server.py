"""sentry's built-in FUSE servers (sentry/fuse_server) as the Linux kernel mounts them.

Each server runs as ``python -m sentry.fuse_server`` on a native kernel
mount, and Linux is the oracle: the same programs run on a memfs mount, on a
passthrough mount of a host tmpfs folder and on a plain host tmpfs, and must
give the same results. tmpfs is the reference because memfs imitates it,
down to st_blocks, directory sizes and SEEK_DATA; where a result may
legitimately differ the test says why and normalizes only that.

The three file systems are mounted once for the module and every test works
in a fresh folder of each (``dirs``); at the end both servers must have
logged nothing and exited 0 after the unmount. Tests of a server's life
(unmount, SIGTERM, usage errors) start their own, and the raw-protocol tests
speak FUSE to a server over a SOCK_SEQPACKET socketpair, sentry's transport.

Needs root and /dev/fuse (native mounts), like test_fuse_native.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_native
from fuse.helpers import (
    COMMAND_TIMEOUT,
    EXIT_TIMEOUT,
    fuse_daemon,
    is_mounted,
    mount_info,
    require_fuse,
    require_tool,
    run_fuse_io,
    run_rw_family,
)

from sentry.abi import fuse

SERVER = [sys.executable, "-P", "-m", "sentry.fuse_server"]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
AT_FDCWD = -100
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2
SO_SNDBUFFORCE = 32  # asm-generic/socket.h; Python's socket module lacks it
SYS_GETDENTS64 = {"x86_64": 217, "aarch64": 61}.get(os.uname().machine)


# ------------------------------------------------------------- mounts


@contextlib.contextmanager
def host_tmpfs(path: Path) -> Iterator[Path]:
    """Mount a fresh tmpfs on path (the oracle); always unmount it."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", path], check=True, timeout=COMMAND_TIMEOUT)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], timeout=COMMAND_TIMEOUT)


def mounted_elsewhere(dev: int) -> bool:
    """Whether a mount namespace other than ours still has a mount of device dev.

    A namespace created while our mount existed (a concurrent runsc's gofer,
    say) holds a copy of it that our unmount does not remove: the kernel
    then keeps the connection, and the server rightly keeps serving it.
    """
    wanted = f"{os.major(dev)}:{os.minor(dev)}"
    ours = os.readlink("/proc/self/ns/mnt")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") == ours:
                continue
            with open(f"/proc/{pid}/mountinfo") as f:
                if any(line.split(" ", 3)[2] == wanted for line in f):
                    return True
        except OSError:
            continue
    return False


def exit_after_unmount(proc: subprocess.Popen, mnt: Path, command: list) -> int:
    """Unmount mnt with ``COMMAND MNT``, then return the server's exit status.

    Only if another mount namespace keeps the connection alive does the
    server get a SIGTERM (it cannot see the unmount then); otherwise it must
    exit by itself.
    """
    dev = os.stat(mnt).st_dev
    check_output([*command, mnt])
    try:
        return proc.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        if not mounted_elsewhere(dev):
            raise
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=EXIT_TIMEOUT)


@contextlib.contextmanager
def serving(args: list, mnt: Path) -> Iterator[subprocess.Popen]:
    """Run ``python -m sentry.fuse_server ARGS MNT``; yield its Popen once mounted.

    On the way out: the server must have logged nothing, and must exit 0
    once unmounted.
    """
    with fuse_daemon([*SERVER, *args, mnt], mnt, what=f"fuse_server {args[0]}") as proc:
        yield proc
        assert proc.output() == "", proc.output()
        assert exit_after_unmount(proc, mnt, ["umount", "-l"]) == 0


@dataclass
class Mounts:
    tmpfs: Path
    memfs: Path
    passthrough: Path
    backing: Path  # the host tmpfs behind the passthrough mount


@pytest.fixture(scope="module")
def mounts(tmp_path_factory) -> Iterator[Mounts]:
    require_fuse()
    base = tmp_path_factory.mktemp("servers")
    with contextlib.ExitStack() as stack:
        tmpfs = stack.enter_context(host_tmpfs(base / "tmpfs"))
        backing = stack.enter_context(host_tmpfs(base / "backing"))
        stack.enter_context(serving(["memfs"], base / "memfs"))
        stack.enter_context(serving(["passthrough", backing], base / "passthrough"))
        yield Mounts(tmpfs, base / "memfs", base / "passthrough", backing)


@pytest.fixture
def dirs(mounts, request) -> dict[str, Path]:
    """A fresh folder, named after the test, on tmpfs, memfs and passthrough."""
    name = re.sub(r"\W", "_", request.node.name)
    out = {}
    for kind in ("tmpfs", "memfs", "passthrough"):
        path = getattr(mounts, kind) / name
        path.mkdir()
        out[kind] = path
    return out


def same_everywhere(dirs: dict[str, Path], check: Callable[[Path], object]) -> object:
    """Run check on each folder; memfs and passthrough must give tmpfs's result."""
    results = {kind: check(path) for kind, path in dirs.items()}
    for kind in ("memfs", "passthrough"):
        assert results[kind] == results["tmpfs"], kind
    return results["tmpfs"]


def outcome(call: Callable, *args, **kw) -> object:
    """What call(*args, **kw) returns, or the name of the errno it fails with."""
    try:
        return call(*args, **kw)
    except OSError as err:
        return errno.errorcode[err.errno]


def as_user(uid: int) -> list[str]:
    """The argv prefix that runs a command as uid (and gid uid, no other groups).

    The ambient CAP_DAC_READ_SEARCH only lets it reach its files (pytest's
    0700 tmp folders, an interpreter under /root); it grants no writes.
    """
    setpriv = require_tool("setpriv")
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]  # fmt: skip


def check_output(argv, **kw) -> str:
    """Run argv natively; it must exit 0. Returns stdout + stderr."""
    p = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=COMMAND_TIMEOUT, **kw
    )
    assert p.returncode == 0, (argv, p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p.stdout + p.stderr


# --------------------------------------------------------- libc calls


def _errno_check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def renameat2(old: Path, new: Path, flags: int) -> None:
    _errno_check(_libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags))


def fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    _errno_check(_libc.fallocate(fd, mode, offset, length))


def getxattr_into(path: Path, name: bytes, size: int) -> int:
    """getxattr(2) with a buffer of size bytes (0: ask for the length)."""
    buf = ctypes.create_string_buffer(max(size, 1))
    return _errno_check(_libc.getxattr(os.fsencode(path), name, buf if size else None, size))


def getdents(fd: int, size: int) -> list[tuple[str, int]]:
    """One getdents64(2) call: (name, d_off) of each record."""
    buf = ctypes.create_string_buffer(size)
    n = _errno_check(
        _libc.syscall(ctypes.c_long(SYS_GETDENTS64), ctypes.c_int(fd), buf, ctypes.c_uint(size))
    )
    raw, out, pos = buf.raw[:n], [], 0
    while pos < n:
        d_off = int.from_bytes(raw[pos + 8 : pos + 16], "little", signed=True)
        reclen = int.from_bytes(raw[pos + 16 : pos + 18], "little")
        name = raw[pos + 19 : pos + reclen].split(b"\0", 1)[0]
        out.append((name.decode(), d_off))
        pos += reclen
    return out


def read_entries(fd: int, count: int) -> list[tuple[str, int]]:
    """The next count entries of a directory, over as many getdents64 calls as it takes.

    (One call may return fewer entries than fit: FUSE fills it from one
    READDIR or READDIRPLUS reply, whose records differ in size.)
    """
    out: list[tuple[str, int]] = []
    while len(out) < count and (batch := getdents(fd, 2048)):
        out += batch
    return out[:count]


# ------------------------------------------- differential programs


FUSE_IO_SEQUENCES = [
    # Sequential and positional I/O, a sparse extension past EOF.
    ["open:rwc", "write:100000", "tell", "seek:5000", "read:4096", "pread:70000:90000",
     "fstat", "pwrite:10:200000", "fstat", "read:10", "pread:100:150000", "close"],
    # O_TRUNC, O_APPEND, reading across and past EOF.
    ["open:wc", "write:70000", "close", "open:wt", "fstat", "write:4097", "close",
     "open:wa", "write:3", "tell", "fstat", "close", "open:r", "read:100000", "read:10", "close"],
    # O_EXCL on an existing file, writes at odd offsets from an odd buffer.
    ["open:wc", "close", "open:wcx", "open:rw", "bufoff:7", "pwrite:9000:4093", "fstat",
     "pread:20000:0", "close"],
    # O_DIRECT, aligned and not: tmpfs (6.6+) and FUSE both accept any alignment.
    ["open:rwcd", "write:8192", "pread:4096:0", "bufoff:100", "pwrite:5000:10", "pread:9000:0",
     "fsync", "close"],
    # Large I/O in one call (several FUSE requests of max_write).
    ["open:rwc", "write:3000000", "seek:0", "read:3000000", "pread:1048576:1000000", "close"],
]  # fmt: skip


def test_fuse_io_sequences(dirs):
    def run(d: Path):
        return [
            run_fuse_io(run_native, d / f"f{i}", *steps)
            for i, steps in enumerate(FUSE_IO_SEQUENCES)
        ]

    same_everywhere(dirs, run)


def test_rw_family(dirs):
    same_everywhere(dirs, lambda d: run_rw_family(d, run_native))


# ------------------------------------------------------ real programs


def _tree_listing(root: Path, *, times: bool = True) -> str:
    """Type, mode, links, size, owner, mtime (ns) if times, path and link target of everything."""
    mtime = "%T@ " if times else ""
    return check_output(
        ["find", ".", "-printf", rf"%y %m %n %s %U:%G {mtime}%p %l\n"],
        cwd=root,
        env={"LC_ALL": "C", "PATH": os.environ["PATH"]},
    )


def test_cp_and_diff_a_source_tree(dirs):
    src = REPO_ROOT / "sentry"

    def copy(d: Path):
        check_output(["cp", "-aL", src, d / "tree"])
        check_output(["diff", "-r", src, d / "tree"])
        return sorted(_tree_listing(d / "tree").splitlines())

    same_everywhere(dirs, copy)


def _make_tar_source(src: Path) -> None:
    """A tree with what tar records: modes, owners, ns times, links, holes, a fifo."""
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "empty-dir").mkdir()
    (src / "hello.txt").write_text("hello\n")
    (src / "sub" / "lines.txt").write_text("".join(f"line {i}\n" for i in range(5000)))
    (src / "sub" / "deeper" / "bin").write_bytes(bytes(range(256)) * 1000)
    with open(src / "sparse", "wb") as f:
        f.seek(3 << 20)
        f.write(b"end")
    os.link(src / "hello.txt", src / "sub" / "hard")
    os.symlink("../hello.txt", src / "sub" / "link")
    os.symlink("nowhere", src / "dangling")
    os.mkfifo(src / "fifo", 0o640)
    os.chmod(src / "sub" / "deeper" / "bin", 0o4755)
    os.chmod(src / "sub" / "deeper", 0o2750)
    os.chown(src / "sub" / "lines.txt", 1000, 1001)
    for i, path in enumerate(sorted(src.rglob("*"), reverse=True)):
        os.utime(path, ns=(1_600_000_000_123_456_789 + i, 1_500_000_000_987_654_321 + i),
                 follow_symlinks=False)  # fmt: skip
    os.utime(src, ns=(1_600_000_000_000_000_000, 1_500_000_000_000_000_000))


@pytest.mark.slow
def test_tar_extract_and_archive(dirs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _make_tar_source(src)
    tarball = tmp_path / "in.tar"
    check_output(["tar", "--format=posix", "-cf", tarball, "-C", src, "."])
    # Re-archived with everything that varies between runs left out (atime,
    # ctime, header names with pids): the bytes must then match.
    deterministic = [
        "tar", "--format=posix", "--sort=name", "--numeric-owner",
        "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    ]  # fmt: skip

    def extract(d: Path):
        (d / "x").mkdir()
        check_output(["tar", "-xpf", tarball, "-C", d / "x"])
        archive = subprocess.run(
            [*deterministic, "-cf", "-", "-C", d / "x", "."],
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=True,
        ).stdout
        listing = subprocess.run(
            ["tar", "-tv", "--full-time", "--numeric-owner"],
            input=archive,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=True,
        ).stdout.decode()
        return listing, archive, sorted(_tree_listing(d / "x").splitlines())

    listing, _, _ = same_everywhere(dirs, extract)
    assert "./sub/hard link to ./hello.txt" in listing
    assert "-rwsr-xr-x 0/0" in listing


@pytest.mark.slow
def test_git_init_add_commit(dirs, tmp_path):
    git = require_tool("git")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_DATE": "2024-01-02T03:04:05Z",
        "GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z",
        "LC_ALL": "C",
        "TZ": "UTC",
    }
    config = ["-c", "user.name=Tester", "-c", "user.email=t@example.com"]
    config += ["-c", "init.defaultBranch=main", "-c", "gc.auto=0"]

    def repo(d: Path):
        def git_(*args):
            return check_output([git, *config, *args], cwd=d / "repo", env=env)

        (d / "repo").mkdir()
        git_("init", "-q")
        shutil.copytree(REPO_ROOT / "sentry" / "abi", d / "repo" / "abi")
        (d / "repo" / "README").write_text("a test repository\n")
        git_("add", "-A")
        git_("commit", "-q", "-m", "first")
        (d / "repo" / "README").write_text("changed\n")
        git_("mv", "abi/linux.py", "linux.py")
        git_("rm", "-q", "abi/__init__.py")
        git_("commit", "-q", "-a", "-m", "second")
        git_("gc", "-q")
        return (
            git_("log", "--stat", "--format=%H %s"),
            git_("fsck", "--full", "--strict", "--no-progress"),
            git_("status", "--porcelain"),
            git_("count-objects"),
        )

    log, fsck, status, _ = same_everywhere(dirs, repo)
    assert "second" in log and "first" in log
    assert fsck == "" and status == ""


def test_sqlite_transaction(dirs):
    sqlite3 = require_tool("sqlite3")
    inserts = "".join(
        f"INSERT INTO t VALUES ({i}, 'row {i:04d}', {i * 1.5});\n" for i in range(1, 1001)
    )
    script = (
        "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);\n"
        f"BEGIN;\n{inserts}COMMIT;\n"
        "CREATE INDEX t_name ON t(name);\n"
        "UPDATE t SET v = v * 2 WHERE id % 7 = 0;\n"
        "DELETE FROM t WHERE id % 10 = 0;\n"
        "SELECT count(*), sum(v), min(name), max(name) FROM t;\n"
        "VACUUM;\n"
        "PRAGMA integrity_check;\n"
        "SELECT name FROM t WHERE id BETWEEN 495 AND 505;\n"
    )

    def run(d: Path):
        out = []
        # The rollback journal, then WAL (a shared mmap of the -shm file).
        for mode in ("delete", "wal"):
            out.append(
                check_output(
                    [sqlite3, d / f"{mode}.db"],
                    input=f"PRAGMA journal_mode={mode};\n{script}",
                )
            )
        return out

    out = same_everywhere(dirs, run)
    assert "900|" in out[0] and "ok" in out[1]


# ----------------------------------------------------- stat fields


def _stats(root: Path) -> dict[str, tuple]:
    """(mode, nlink, uid, gid, size, blocks, rdev) of everything below root."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(root))
        out[rel] = (
            stat.filemode(st.st_mode),
            st.st_nlink,
            st.st_uid,
            st.st_gid,
            st.st_size,
            st.st_blocks,
            st.st_rdev,
        )
    st = root.lstat()
    out["."] = (stat.filemode(st.st_mode), st.st_nlink, st.st_size, st.st_blocks)
    return out


def test_stat_fields(dirs):
    def build(d: Path):
        (d / "plain").write_bytes(b"x" * 5000)
        os.chmod(d / "plain", 0o640)
        with open(d / "sparse", "wb") as f:
            f.seek((1 << 20) + 5)
            f.write(b"x")
            f.truncate(3 << 20)
        (d / "empty").touch()
        for sub in ("a", "b", "a/c"):
            (d / sub).mkdir()
        os.link(d / "plain", d / "a" / "plain-link")
        os.symlink("plain", d / "short-link")
        os.symlink("t" * 200, d / "long-link")
        os.mkfifo(d / "fifo", 0o600)
        os.mknod(d / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        # Created by another user: the owner is the caller's fsuid/fsgid.
        (d / "shared").mkdir(mode=0o777)
        os.chmod(d / "shared", 0o1777)
        check_output([*as_user(1000), "sh", "-c", ': > "$1"', "sh", d / "shared" / "theirs"])
        check_output([*as_user(1000), "mkdir", d / "shared" / "dir"])
        # chown is honoured; a set-group-ID folder gives its group and bit.
        os.chown(d / "empty", 123, 456)
        (d / "sgid").mkdir()
        os.chown(d / "sgid", 0, 789)
        os.chmod(d / "sgid", 0o2775)
        (d / "sgid" / "file").touch()
        (d / "sgid" / "dir").mkdir()
        # Nanosecond times from touch -d and utime.
        when = "2021-02-03 04:05:06.123456789"
        check_output(["touch", "-d", when, d / "plain"], env={"TZ": "UTC"})
        os.utime(d / "empty", ns=(1_000_000_001, 2_000_000_002))
        times = {
            name: (st.st_atime_ns, st.st_mtime_ns)
            for name in ("plain", "empty")
            for st in [(d / name).stat()]
        }
        return _stats(d), times

    results = {kind: build(d) for kind, d in dirs.items()}
    # passthrough creates with the server's credentials (root), not the
    # caller's, as documented: the one expected difference.
    for name in ("shared/theirs", "shared/dir"):
        st = results["passthrough"][0][name]
        assert st[2:4] == (0, 0), name
        results["passthrough"][0][name] = (*st[:2], 1000, 1000, *st[4:])
    for kind in ("memfs", "passthrough"):
        assert results[kind] == results["tmpfs"], kind
    stats, times = results["tmpfs"]
    assert stats["sparse"][4:6] == (3 << 20, 8)  # one page allocated
    assert stats["shared/theirs"][2:4] == (1000, 1000)
    assert stats["sgid/file"][3] == 789 and stats["sgid/dir"][0] == "drwxr-sr-x"
    assert stats["a"][1] == 3 and stats["plain"][1] == 2
    assert times["plain"] == (1612325106_123456789, 1612325106_123456789)
    assert times["empty"] == (1_000_000_001, 2_000_000_002)


def test_statfs(mounts):
    memfs = os.statvfs(mounts.memfs)
    assert memfs.f_bsize == memfs.f_frsize == 4096
    assert memfs.f_namemax == 255
    assert 0 < memfs.f_bfree <= memfs.f_blocks and 0 < memfs.f_ffree <= memfs.f_files
    host, passthrough = os.statvfs(mounts.backing), os.statvfs(mounts.passthrough)
    assert (passthrough.f_blocks, passthrough.f_bsize, passthrough.f_namemax) == (
        host.f_blocks,
        host.f_bsize,
        host.f_namemax,
    )


@pytest.mark.slow
def test_timestamps_change_as_in_tmpfs(dirs):
    """Which of atime, mtime and ctime each operation changes (tmpfs with relatime)."""

    def changes(d: Path):
        (d / "dir").mkdir()
        (d / "f").write_bytes(b"data")
        watched = [d / "f", d / "dir"]
        steps = [
            ("write", lambda: (d / "f").write_bytes(b"more data")),
            ("read", lambda: (d / "f").read_bytes()),
            ("chmod", lambda: os.chmod(d / "f", 0o600)),
            ("link", lambda: os.link(d / "f", d / "dir" / "g")),
            ("unlink", lambda: os.unlink(d / "dir" / "g")),
            ("setxattr", lambda: os.setxattr(d / "f", "user.k", b"v")),
            ("truncate", lambda: os.truncate(d / "f", 2)),
            ("utime", lambda: os.utime(d / "f", ns=(5, 6))),
            ("rename", lambda: os.rename(d / "f", d / "dir" / "f")),
        ]
        out = []
        for name, step in steps:
            before = [p.stat() for p in watched]
            time.sleep(0.02)  # beyond tmpfs's coarse clock
            step()
            watched[0] = d / "dir" / "f" if name == "rename" else watched[0]
            after = [p.stat() for p in watched]
            out.append(
                (name,)
                + tuple(
                    (a.st_atime_ns != b.st_atime_ns, a.st_mtime_ns != b.st_mtime_ns,
                     a.st_ctime_ns != b.st_ctime_ns)
                    for a, b in zip(after, before, strict=True)
                )
            )  # fmt: skip
        return out

    same_everywhere(dirs, changes)


# ------------------------------------------------- links and xattrs


def test_hard_links_and_symlinks(dirs):
    def links(d: Path):
        f, g = d / "f", d / "g"
        f.write_bytes(b"one")
        os.link(f, g)
        out = [f.stat().st_nlink, f.stat().st_ino == g.stat().st_ino]
        g.write_bytes(b"two")
        out.append(f.read_bytes())
        os.unlink(f)
        out += [g.stat().st_nlink, g.read_bytes()]
        # An open file outlives its last name.
        fd = os.open(g, os.O_RDWR)
        try:
            os.unlink(g)
            os.pwrite(fd, b"three", 0)
            out += [os.fstat(fd).st_nlink, os.pread(fd, 10, 0), outcome(os.stat, g)]
        finally:
            os.close(fd)
        g.write_bytes(b"two")
        (d / "sub").mkdir()
        out.append(outcome(os.link, d / "sub", d / "sub2"))
        out.append(outcome(os.link, d / "missing", d / "x"))
        out.append(outcome(os.link, g, d / "sub"))
        os.symlink("g", d / "s")
        os.symlink("nowhere", d / "dangling")
        os.symlink("loop", d / "loop")
        out += [os.readlink(d / "s"), (d / "s").read_bytes(), (d / "s").lstat().st_size]
        out.append(outcome(os.stat, d / "dangling"))
        out.append(outcome(os.stat, d / "loop"))
        out.append(outcome(os.symlink, "x" * 4095, d / "longest"))
        out.append(outcome(os.symlink, "x" * 4096, d / "too-long"))
        out.append(outcome(os.readlink, d / "g"))
        out.append(outcome(os.mkdir, d / ("n" * 256)))
        return out

    same_everywhere(dirs, links)


def test_xattrs(dirs):
    def xattrs(d: Path):
        f = d / "f"
        f.touch()
        os.symlink("f", d / "s")
        return [
            outcome(os.setxattr, f, "user.a", b"1"),
            outcome(os.setxattr, f, "user.empty", b""),
            outcome(os.setxattr, f, "user.big", bytes(range(256)) * 256),
            outcome(os.getxattr, f, "user.a"),
            outcome(os.getxattr, f, "user.empty"),
            len(os.getxattr(f, "user.big")),
            sorted(os.listxattr(f)),
            outcome(os.setxattr, f, "user.a", b"2", os.XATTR_CREATE),
            outcome(os.setxattr, f, "user.new", b"2", os.XATTR_REPLACE),
            outcome(os.setxattr, f, "user.a", b"22", os.XATTR_REPLACE),
            outcome(os.getxattr, f, "user.a"),
            outcome(os.getxattr, f, "user.missing"),
            outcome(getxattr_into, f, b"user.a", 0),
            outcome(getxattr_into, f, b"user.a", 1),
            outcome(getxattr_into, f, b"user.a", 2),
            outcome(os.removexattr, f, "user.a"),
            outcome(os.removexattr, f, "user.a"),
            outcome(os.setxattr, f, "trusted.t", b"x"),
            outcome(os.getxattr, f, "trusted.t"),
            outcome(os.setxattr, f, "bogus.x", b"x"),
            outcome(os.setxattr, d / "s", "user.l", b"x", follow_symlinks=False),
            outcome(os.setxattr, d, "user.dir", b"d"),
            sorted(os.listxattr(d)),
            sorted(os.listxattr(f)),
        ]

    same_everywhere(dirs, xattrs)


# ---------------------------------------------------------- renames


def test_rename_and_rename2(dirs):
    def renames(d: Path):
        for name in ("a", "b", "c"):
            (d / name).write_text(name)
        for name in ("d1", "d2", "d1/sub", "full", "empty"):
            (d / name).mkdir()
        (d / "full" / "x").touch()
        out = [
            outcome(renameat2, d / "a", d / "b", RENAME_NOREPLACE),
            outcome(renameat2, d / "a", d / "a2", RENAME_NOREPLACE),
            outcome(renameat2, d / "a2", d / "b", RENAME_EXCHANGE),
            (d / "a2").read_text(),
            (d / "b").read_text(),
            outcome(renameat2, d / "c", d / "missing", RENAME_EXCHANGE),
            outcome(renameat2, d / "c", d / "b", RENAME_NOREPLACE | RENAME_EXCHANGE),
            # A file and a folder in different parents swap places.
            outcome(renameat2, d / "c", d / "d2" / "sub", 0),
            outcome(renameat2, d / "d2" / "sub", d / "d1" / "sub", RENAME_EXCHANGE),
            outcome(renameat2, d / "d1", d / "d1" / "sub2", 0),
            outcome(renameat2, d / "d2", d / "full", 0),
            outcome(renameat2, d / "b", d / "empty", 0),
            outcome(renameat2, d / "empty", d / "b", 0),
            outcome(renameat2, d / "d2", d / "empty", 0),
            outcome(renameat2, d / "b", d / "hardlink-target", 0),
        ]
        os.link(d / "hardlink-target", d / "same")
        out.append(outcome(renameat2, d / "same", d / "hardlink-target", 0))
        out.append(outcome(renameat2, d / "a2", d / "a2", RENAME_NOREPLACE))
        return out, sorted(_tree_listing(d, times=False).splitlines())

    out = same_everywhere(dirs, renames)
    assert out[0][:3] == ["EEXIST", None, None]


# ------------------------------------------------------------ holes


def test_sparse_files_fallocate_and_seek(dirs):
    def sparse(d: Path):
        fd = os.open(d / "f", os.O_CREAT | os.O_RDWR, 0o644)
        out = []

        def record(*extra):
            st = os.fstat(fd)
            seeks = [
                outcome(os.lseek, fd, off, whence)
                for off in (0, 5000, 65536, 200000, 3 << 20)
                for whence in (os.SEEK_DATA, os.SEEK_HOLE)
            ]
            out.append((*extra, st.st_size, st.st_blocks, seeks))

        try:
            os.pwrite(fd, b"a" * 10, 0)
            os.pwrite(fd, b"b", 300000)
            record("writes")
            fallocate(fd, FALLOC_FL_KEEP_SIZE, 65536, 65536)
            record("keep-size")
            os.pwrite(fd, b"c", 70000)
            record("write into it")
            fallocate(fd, 0, 400000, 10000)
            record("grow")
            fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 8192)
            record("punch", os.pread(fd, 20, 0))
            out.append(outcome(fallocate, fd, 0x10, 0, 4096))  # ZERO_RANGE: not on tmpfs
            os.ftruncate(fd, 5000)
            record("shrink")
            os.ftruncate(fd, 100000)
            record("grow again", os.pread(fd, 10, 4995))
        finally:
            os.close(fd)
        return out

    same_everywhere(dirs, sparse)


# ---------------------------------------------------------- readdir


@pytest.mark.slow
@pytest.mark.skipif(SYS_GETDENTS64 is None, reason="getdents64 number unknown here")
def test_readdir_offsets_survive_changes(dirs):
    """Every entry that stays is seen exactly once while others come and go,
    and a saved offset (telldir/seekdir) leads back to the same entries."""
    for d in dirs.values():
        keep = {f"keep{i}" for i in range(500)}
        gone = {f"gone{i}" for i in range(500)}
        new = {f"new{i}" for i in range(500)}
        for i in range(500):
            (d / f"keep{i}").touch()
            (d / f"gone{i}").touch()
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            seen = getdents(fd, 2048)
            for name in gone:
                os.unlink(d / name)
            for name in new:
                (d / name).touch()
            while batch := getdents(fd, 2048):
                seen += batch
            names = [name for name, _ in seen]
            assert len(names) == len(set(names)), d
            assert keep <= set(names), d
            assert set(names) <= keep | gone | new | {".", ".."}, d

            os.lseek(fd, 0, os.SEEK_SET)
            first = getdents(fd, 2048)
            mark = os.lseek(fd, 0, os.SEEK_CUR)
            following = read_entries(fd, 40)
            for name, _ in first:
                if name.startswith("new"):
                    os.unlink(d / name)
            for i in range(100):
                (d / f"later{i}").touch()
            os.lseek(fd, mark, os.SEEK_SET)
            assert read_entries(fd, 40) == following, d
        finally:
            os.close(fd)


# ------------------------------------------------------ many files


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["memfs", "passthrough"])
def test_ten_thousand_files(mounts, kind):
    root = getattr(mounts, kind) / "many"
    root.mkdir()
    start = time.monotonic()
    paths = [str(root / f"file{i}") for i in range(10_000)]
    for path in paths:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
    assert all(os.stat(path).st_size == 0 for path in paths)
    assert len(os.listdir(root)) == 10_000
    for path in paths:
        os.unlink(path)
    assert os.listdir(root) == []
    os.rmdir(root)
    assert time.monotonic() - start < 30


# ------------------------------------------------------ passthrough


def test_passthrough_shows_changes_both_ways(mounts, request):
    name = request.node.name
    mnt, host = mounts.passthrough / name, mounts.backing / name
    mnt.mkdir()
    (mnt / "from-mount").write_text("written through the mount\n")
    assert (host / "from-mount").read_text() == "written through the mount\n"
    os.rename(mnt / "from-mount", mnt / "renamed")
    assert sorted(os.listdir(host)) == ["renamed"]
    (host / "from-host").write_text("written on the host\n")
    (host / "host-dir").mkdir()
    assert (mnt / "from-host").read_text() == "written on the host\n"
    assert sorted(os.listdir(mnt)) == ["from-host", "host-dir", "renamed"]
    st, host_st = (mnt / "renamed").stat(), (host / "renamed").stat()
    assert (st.st_ino, st.st_mtime_ns, st.st_blocks) == (
        host_st.st_ino,
        host_st.st_mtime_ns,
        host_st.st_blocks,
    )


@pytest.mark.slow
def test_passthrough_of_a_disk_folder(mounts, tmp_path):
    """O_DIRECT works on any host file system: the server opens host files
    without it (the caller's unaligned buffers and offsets would fail on most
    disks), so the results are tmpfs's, which accepts any alignment."""
    src, mnt = tmp_path / "src", tmp_path / "mnt"
    src.mkdir()
    (mounts.tmpfs / "disk-folder").mkdir()
    with serving(["passthrough", src], mnt):
        for i, steps in enumerate(FUSE_IO_SEQUENCES):
            expected = run_fuse_io(run_native, mounts.tmpfs / "disk-folder" / f"f{i}", *steps)
            assert run_fuse_io(run_native, mnt / f"f{i}", *steps) == expected


def test_passthrough_read_only(tmp_path):
    src, mnt = tmp_path / "src", tmp_path / "mnt"
    (src / "dir").mkdir(parents=True)
    (src / "file").write_text("content\n")
    with serving(["passthrough", src, "--ro"], mnt):
        assert mount_info(mnt)["options"].startswith("ro,")
        assert (mnt / "file").read_text() == "content\n"
        assert os.listdir(mnt / "dir") == []
        changes = [
            (os.open, mnt / "file", os.O_WRONLY),
            (os.open, mnt / "file", os.O_RDONLY | os.O_TRUNC),
            (os.open, mnt / "new", os.O_CREAT | os.O_WRONLY),
            (os.mkdir, mnt / "newdir"),
            (os.unlink, mnt / "file"),
            (os.rmdir, mnt / "dir"),
            (os.rename, mnt / "file", mnt / "moved"),
            (os.chmod, mnt / "file", 0o600),
            (os.truncate, mnt / "file", 0),
            (os.setxattr, mnt / "file", "user.x", b"1"),
            (os.symlink, "file", mnt / "link"),
        ]
        assert [outcome(call, *args) for call, *args in changes] == ["EROFS"] * len(changes)
    assert (src / "file").read_text() == "content\n"


# ------------------------------------------------------ server life


@pytest.mark.parametrize("command", [["umount"], ["fusermount3", "-u"]])
def test_unmount_ends_the_server(tmp_path, command):
    require_tool(command[0])
    mnt = tmp_path / "mnt"
    with fuse_daemon([*SERVER, "memfs", mnt], mnt) as proc:
        (mnt / "f").write_text("x")
        assert exit_after_unmount(proc, mnt, command) == 0
        assert proc.output() == ""


def test_sigterm_ends_the_server_and_unmounts(tmp_path):
    mnt = tmp_path / "mnt"
    with fuse_daemon([*SERVER, "memfs", mnt], mnt) as proc:
        (mnt / "f").write_text("x")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=EXIT_TIMEOUT) == 0
        assert not is_mounted(mnt)
        assert proc.output() == ""


@pytest.mark.slow
def test_bad_usage(tmp_path):
    (tmp_path / "file").touch()
    (tmp_path / "sub").mkdir()
    stream, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    cases = [
        [],
        ["ramfs", str(tmp_path)],
        ["memfs"],
        ["memfs", str(tmp_path), "--fd", "0"],
        ["memfs", "--fd", "99"],
        ["memfs", "--fd", "0"],  # /dev/null: a character device, not /dev/fuse
        ["memfs", "--fd", str(stream.fileno())],  # SOCK_STREAM
        ["memfs", str(tmp_path / "missing")],
        ["memfs", str(tmp_path / "file")],
        ["passthrough", str(tmp_path / "missing"), str(tmp_path)],
        ["passthrough", str(tmp_path / "file"), str(tmp_path)],
        ["passthrough", str(tmp_path), str(tmp_path / "sub")],  # a mount inside what it serves
        ["passthrough", "--fd", "0"],
    ]
    try:
        for args in cases:
            p = subprocess.run(
                [*SERVER, *args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                pass_fds=[stream.fileno()],
            )
            assert p.returncode == 2, (args, p.stderr)
            assert p.stdout == "", args
            assert p.stderr.startswith("sentry fuse-server: "), (args, p.stderr)
            assert p.stderr.count("\n") == 1, (args, p.stderr)
        # Mounting natively needs root.
        p = subprocess.run(
            [*as_user(65534), *SERVER, "memfs", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        assert (p.returncode, p.stderr.count("\n")) == (2, 1), p.stderr
        assert "needs root" in p.stderr
    finally:
        stream.close()
        peer.close()


# --------------------------------------------- raw protocol, socketpair


class RawClient:
    """The kernel's side of FUSE over a SOCK_SEQPACKET socket, one request at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.unique = 0
        sock.settimeout(COMMAND_TIMEOUT)
        # A 1 MiB WRITE is one datagram: make room for it.
        sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20)

    def send(self, opcode: int, nodeid: int = 0, body: bytes = b"") -> int:
        self.unique += 2
        header = fuse.InHeader(
            len=fuse.InHeader.SIZE + len(body),
            opcode=opcode,
            unique=self.unique,
            nodeid=nodeid,
            uid=1000,
            gid=1000,
            pid=os.getpid(),
        )
        self.sock.send(header.pack() + body)
        return self.unique

    def call(self, opcode: int, nodeid: int = 0, body: bytes = b"") -> tuple[int, bytes]:
        """Send a request; return (error, body) of its reply."""
        unique = self.send(opcode, nodeid, body)
        data = self.sock.recv(4 << 20)
        out = fuse.OutHeader.unpack(data)
        assert (out.len, out.unique) == (len(data), unique)
        return out.error, data[fuse.OutHeader.SIZE :]

    def init(self, flags: int) -> fuse.InitOut:
        init_in = fuse.InitIn(major=7, minor=45, max_readahead=65536, flags=flags)
        error, body = self.call(fuse.FUSE_INIT, body=init_in.pack())
        assert error == 0
        return fuse.InitOut.unpack(body)


@contextlib.contextmanager
def socket_server(*args: str, logged: int = 0) -> Iterator[RawClient]:
    """A server on one end of a socketpair (``--fd N``); yield a client on the other.

    On the way out the client closes its end: that EOF must make the server
    exit 0, having logged exactly *logged* lines.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen(
        [*SERVER, *args, "--fd", str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    theirs.close()
    try:
        yield RawClient(ours)
        ours.close()  # EOF: the server must exit 0, having logged nothing
        assert proc.wait(timeout=EXIT_TIMEOUT) == 0
        lines = proc.stderr.read().splitlines()
        assert len(lines) == logged, lines
        assert all(line.startswith("sentry fuse-server: ") for line in lines), lines
    finally:
        ours.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=EXIT_TIMEOUT)
        proc.stderr.close()


WANTED_FLAGS = (
    fuse.FUSE_ASYNC_READ
    | fuse.FUSE_ATOMIC_O_TRUNC
    | fuse.FUSE_BIG_WRITES
    | fuse.FUSE_DO_READDIRPLUS
    | fuse.FUSE_READDIRPLUS_AUTO
    | fuse.FUSE_MAX_PAGES
    | fuse.FUSE_PARALLEL_DIROPS
)


def _name(name: bytes) -> bytes:
    return name + b"\0"


def test_raw_protocol_over_a_socketpair():
    with socket_server("memfs") as client:
        assert client.call(fuse.FUSE_GETATTR, 1, bytes(16))[0] == -errno.EIO  # before INIT
        init = client.init(0xFFFFFFFF)  # every flag offered, WRITEBACK_CACHE included
        assert (init.major, init.minor, init.max_readahead) == (7, 31, 65536)
        assert (init.max_write, init.max_pages) == (1 << 20, 256)
        assert init.flags == WANTED_FLAGS
        assert client.call(fuse.FUSE_INIT, body=bytes(64))[0] == -errno.EIO  # a second INIT
        assert client.call(fuse.FUSE_LOOKUP, 1, _name(b"nothing"))[0] == -errno.ENOENT
        unknown = [fuse.FUSE_IOCTL, fuse.FUSE_POLL, fuse.FUSE_GETLK, fuse.FUSE_BMAP]
        unknown += [fuse.FUSE_COPY_FILE_RANGE, fuse.FUSE_TMPFILE, fuse.FUSE_STATX, 999]
        for opcode in unknown:
            assert client.call(opcode, 1, bytes(64))[0] == -errno.ENOSYS, opcode
        # Created by uid/gid 1000 (the header's), mode as sent.
        create = fuse.CreateIn(flags=os.O_RDWR, mode=stat.S_IFREG | 0o640).pack()
        error, body = client.call(fuse.FUSE_CREATE, 1, create + _name(b"f"))
        assert error == 0
        entry = fuse.EntryOut.unpack(body)
        opened = fuse.OpenOut.unpack(body, fuse.EntryOut.SIZE)
        assert (entry.attr.mode, entry.attr.uid, entry.attr.gid) == (0o100640, 1000, 1000)
        # A 1 MiB WRITE and READ, each one datagram.
        data = bytes(range(256)) * 4096
        write = fuse.WriteIn(fh=opened.fh, offset=4096, size=len(data)).pack()
        error, body = client.call(fuse.FUSE_WRITE, entry.nodeid, write + data)
        assert (error, fuse.WriteOut.unpack(body).size) == (0, len(data))
        read = fuse.ReadIn(fh=opened.fh, offset=4096, size=len(data)).pack()
        assert client.call(fuse.FUSE_READ, entry.nodeid, read) == (0, data)
        # FORGET and INTERRUPT get no reply: the next reply is GETATTR's.
        client.send(fuse.FUSE_FORGET, entry.nodeid, fuse.ForgetIn(nlookup=1).pack())
        client.send(fuse.FUSE_INTERRUPT, 0, fuse.InterruptIn(unique=2).pack())
        error, body = client.call(fuse.FUSE_GETATTR, entry.nodeid, bytes(16))
        assert error == 0 and fuse.AttrOut.unpack(body).attr.size == 4096 + len(data)
        # READDIRPLUS: "." and ".." carry no entry, the file does.
        error, body = client.call(fuse.FUSE_OPENDIR, 1, bytes(8))
        fh = fuse.OpenOut.unpack(body).fh
        error, body = client.call(fuse.FUSE_READDIRPLUS, 1, fuse.ReadIn(fh=fh, size=4096).pack())
        entries = [(e.dirent.name, e.entry_out.nodeid) for e in fuse.iter_direntplus(body)]
        assert entries == [(b".", 0), (b"..", 0), (b"f", entry.nodeid)]
        client.call(fuse.FUSE_RELEASEDIR, 1, fuse.ReleaseIn(fh=fh).pack())
        # Forgotten while linked: the inode stays, with its node id.
        mknod = fuse.MknodIn(mode=stat.S_IFREG | 0o600).pack() + _name(b"g")
        g = fuse.EntryOut.unpack(client.call(fuse.FUSE_MKNOD, 1, mknod)[1]).nodeid
        client.send(fuse.FUSE_FORGET, g, fuse.ForgetIn(nlookup=1).pack())
        error, body = client.call(fuse.FUSE_LOOKUP, 1, _name(b"g"))
        assert (error, fuse.EntryOut.unpack(body).nodeid) == (0, g)
        # Unlinked, closed and forgotten: the inode is gone.
        assert client.call(fuse.FUSE_UNLINK, 1, _name(b"f"))[0] == 0
        release = fuse.ReleaseIn(fh=opened.fh).pack()
        assert client.call(fuse.FUSE_RELEASE, entry.nodeid, release)[0] == 0
        error, _ = client.call(fuse.FUSE_GETATTR, entry.nodeid, bytes(16))
        assert error == 0  # the READDIRPLUS lookup still holds it
        client.send(fuse.FUSE_FORGET, entry.nodeid, fuse.ForgetIn(nlookup=1).pack())
        assert client.call(fuse.FUSE_GETATTR, entry.nodeid, bytes(16))[0] == -errno.ESTALE
        # Nothing can be created in a removed directory.
        error, body = client.call(fuse.FUSE_MKDIR, 1, fuse.MkdirIn(mode=0o755).pack() + b"d\0")
        d = fuse.EntryOut.unpack(body).nodeid
        assert client.call(fuse.FUSE_RMDIR, 1, _name(b"d"))[0] == 0
        create = fuse.CreateIn(mode=0o100644).pack() + _name(b"x")
        assert client.call(fuse.FUSE_CREATE, d, create)[0] == -errno.ENOENT


def test_raw_malformed_requests_get_eio_and_one_log_line():
    with socket_server("memfs", logged=2) as client:
        client.init(WANTED_FLAGS)
        assert client.call(fuse.FUSE_SETATTR, 1, bytes(8))[0] == -errno.EIO
        assert client.call(fuse.FUSE_GETATTR, 1)[0] == -errno.EIO
        assert client.call(fuse.FUSE_GETATTR, 1, bytes(16))[0] == 0  # still serving


def test_signals_stop_a_socket_server():
    for signum in (signal.SIGTERM, signal.SIGINT):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with ours, theirs:
            proc = subprocess.Popen(
                [*SERVER, "memfs", "--fd", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
            try:
                RawClient(ours).init(WANTED_FLAGS)
                proc.send_signal(signum)
                assert proc.wait(timeout=EXIT_TIMEOUT) == 0
            finally:
                proc.kill()
                proc.wait(timeout=EXIT_TIMEOUT)


def test_raw_read_only_passthrough_refuses_changes(tmp_path):
    (tmp_path / "file").write_text("content\n")
    with socket_server("passthrough", str(tmp_path), "--ro") as client:
        client.init(WANTED_FLAGS)
        error, body = client.call(fuse.FUSE_LOOKUP, 1, _name(b"file"))
        nodeid = fuse.EntryOut.unpack(body).nodeid
        refused = [
            (fuse.FUSE_OPEN, nodeid, fuse.OpenIn(flags=os.O_WRONLY).pack()),
            (fuse.FUSE_OPEN, nodeid, fuse.OpenIn(flags=os.O_RDONLY | os.O_TRUNC).pack()),
            (fuse.FUSE_SETATTR, nodeid, fuse.SetattrIn(valid=fuse.FATTR_MODE, mode=0).pack()),
            (fuse.FUSE_CREATE, 1, fuse.CreateIn(mode=0o100644).pack() + _name(b"new")),
            (fuse.FUSE_MKDIR, 1, fuse.MkdirIn(mode=0o755).pack() + _name(b"d")),
            (fuse.FUSE_UNLINK, 1, _name(b"file")),
            (fuse.FUSE_SETXATTR, nodeid, fuse.SetxattrIn(size=1).pack() + _name(b"user.x") + b"1"),
        ]
        for opcode, target, body in refused:
            assert client.call(opcode, target, body)[0] == -errno.EROFS, opcode
        error, body = client.call(fuse.FUSE_OPEN, nodeid, fuse.OpenIn(flags=os.O_RDONLY).pack())
        assert error == 0
        read = fuse.ReadIn(fh=fuse.OpenOut.unpack(body).fh, size=100).pack()
        assert client.call(fuse.FUSE_READ, nodeid, read) == (0, b"content\n")
    assert (tmp_path / "file").read_text() == "content\n"


# ------------------------------------------------------------ style


def test_implements_lines_name_their_own_method():
    """Each Operations method a file system overrides says "Implements Operations.<its name>",
    and no other method claims to implement one (gVisor's Allocate drifted)."""
    from sentry.fuse_server.memfs import MemFS
    from sentry.fuse_server.operations import Operations
    from sentry.fuse_server.passthrough import Passthrough

    checked = 0
    for cls in (MemFS, Passthrough):
        for name, member in vars(cls).items():
            doc = getattr(member, "__doc__", None) or ""
            if not name.startswith("_") and callable(getattr(Operations, name, None)):
                assert doc.startswith(f"Implements Operations.{name}"), f"{cls.__name__}.{name}"
                checked += 1
            else:
                assert not doc.startswith("Implements"), f"{cls.__name__}.{name}"
    assert checked > 50
