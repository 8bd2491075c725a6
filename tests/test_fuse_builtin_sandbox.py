"""The built-in FUSE servers inside sentry (``sentry run --mount``) against
the same servers mounted by the host kernel.

Each workload runs twice at the same path: natively, on the kernel's FUSE
mount of ``python -m sentry.fuse_server``, and in the sandbox with
``--mount PATH=SERVER`` (a passthrough server gets a fresh copy of its
directory each time). Exit status, stdout and stderr must be the same; for
workloads whose output does not depend on the file system (cp, tar, git,
sqlite3) they must also match a plain host directory.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, SHARED_BINDS, kill_and_reap, kill_daemon_mid_run, run_native
from fuse.helpers import fuse_daemon, fuse_io_exe, require_fuse, require_tool, run_rw_family

from sentry import Sandbox

SERVERS = ["memfs", "passthrough"]
TIMEOUT = 120
ENV = {
    "PATH": "/usr/bin:/bin",
    "LC_ALL": "C",
    "TZ": "UTC",
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}


class Runs:
    """Runs a command natively on a kernel mount of ``server`` at ``mnt``,
    in the sandbox with ``--mount mnt=server``, and in a plain directory."""

    def __init__(self, server: str, base: Path) -> None:
        self.server = server
        self.base = base
        self.mnt = base / "mnt"
        self.mnt.mkdir()
        self.count = 0

    def _source(self) -> Path:
        self.count += 1
        src = self.base / f"src{self.count}"
        src.mkdir()
        return src

    def _argv(self, src: Path) -> list[str]:
        server = ["passthrough", str(src)] if self.server == "passthrough" else ["memfs"]
        return [sys.executable, "-P", "-m", "sentry.fuse_server", *server, str(self.mnt)]

    def _spec(self, src: Path) -> str:
        return (
            f"{self.mnt}=passthrough:{src}"
            if self.server == "passthrough"
            else f"{self.mnt}=memfs"
        )

    def native(self, argv, **kw):
        require_fuse()
        with fuse_daemon(self._argv(self._source()), self.mnt, what=self.server):
            return run_native(argv, cwd=self.mnt, env=ENV, timeout=TIMEOUT, **kw)

    def sandbox(self, argv, **kw):
        box = Sandbox(binds=SHARED_BINDS, mounts=[self._spec(self._source())])
        return box.run([str(a) for a in argv], cwd=str(self.base), env=ENV, timeout=TIMEOUT, **kw)

    def plain(self, argv, **kw):
        return run_native(argv, cwd=self._source(), env=ENV, timeout=TIMEOUT, **kw)


@pytest.fixture(params=SERVERS)
def runs(request, tmp_path):
    return Runs(request.param, tmp_path)


def outcome(res):
    return (res.returncode, res.stdout.decode(errors="replace"), res.stderr.decode())


def in_mnt(runs: Runs, script: str) -> list[str]:
    """``sh -c 'cd MNT && SCRIPT'``: the sandbox starts outside the mount."""
    return ["sh", "-c", f"cd {runs.mnt} && {script}"]


FUSE_IO_CASES = {
    "write-read": ["open:rwc", "write:10000", "seek:0", "read:20000", "fstat", "close"],
    "holes": ["open:rwc", "pwrite:100:100000", "pread:4096:0", "pread:200:99950", "fstat"],
    "append": ["open:wc", "write:5000", "close", "open:wa", "write:3000", "fstat", "tell"],
    "truncate": ["open:wc", "write:9000", "close", "open:rwt", "fstat", "read:100", "close"],
    "big": ["open:rwc", "write:3000000", "pread:3000000:0", "pread:1048576:1000000", "fsync"],
    "excl": ["open:wcx", "close", "open:wcx"],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", FUSE_IO_CASES)
def test_fuse_io(runs, case):
    argv = [fuse_io_exe(), runs.mnt / "f", *FUSE_IO_CASES[case]]
    native, sandboxed = runs.native(argv), runs.sandbox(argv)
    assert outcome(sandboxed) == outcome(native)
    assert native.returncode == 0 and native.stderr == b""


@pytest.mark.slow
def test_thousands_of_short_requests_lose_no_reply(runs):
    # Each open waits about 0.1 ms for the server while its task is held
    # (timers then fire every millisecond): a SIGALRM that once arrived
    # during the SIGIO of a reply made sentry lose the reply, and the app
    # hung (1 run in 5 at this size). Now every reply is taken.
    script = (
        "import os\n"
        "open('f', 'w').close()\n"
        "for _ in range(3000): os.close(os.open('f', os.O_RDONLY))\n"
        "print('done')\n"
    )
    argv = in_mnt(runs, f"{sys.executable} -I -c {shlex.quote(script)}")
    assert outcome(runs.sandbox(argv)) == outcome(runs.native(argv))


@pytest.mark.slow
def test_rw_family(runs):
    native = run_rw_family(runs.mnt, lambda argv, timeout: runs.native(argv))
    sandboxed = run_rw_family(runs.mnt, lambda argv, timeout: runs.sandbox(argv))
    assert sandboxed == native


@pytest.mark.slow
def test_cp_r_source_tree(runs):
    tree = REPO_ROOT / "sentry"
    script = (
        f"cp -rL {tree} t && diff -r {tree} t && "
        "find t -name __pycache__ -prune -o -printf '%y %m %s %P\\n' | sort && "
        "find t -type f -name '*.py' | sort | xargs sha256sum | sha256sum && "
        "rm -r t && ls -A"
    )
    results = [outcome(run(in_mnt(runs, script))) for run in (runs.native, runs.sandbox)]
    assert results[1] == results[0]
    assert results[0][0] == 0 and results[0][2] == ""


@pytest.mark.slow
def test_dotdot_stays_in_the_mount(runs):
    """``..`` from a directory below the mount's root is its parent in the
    mount, and ``..`` of the root is the mount point's parent: ``ls ..``,
    ``cd ../..``, ``find`` from a deep directory and Python's ``os.chdir``
    give what the kernel's mount gives."""
    chdirs = (
        "import os; os.chdir('a/b/c'); os.chdir('..'); print(os.getcwd()); "
        "os.chdir('../..'); print(os.getcwd(), os.stat('.').st_ino == os.stat('a/..').st_ino); "
        "os.chdir('..'); print(os.getcwd())"
    )
    script = (
        "mkdir -p a/b/c/d && touch a/f a/b/g a/b/c/h && "
        "for i in 1 2 3 4 5 6 7 8 9; do mkdir -p a/b/c/d/e$i/x && touch a/b/c/d/e$i/x/y; done && "
        "cd a/b/c && ls .. && ls ../.. && find ../.. | sort && find ../../.. -type f | wc -l && "
        "cd d/e1/x && ls ../../../../../b && cd ../../../../.. && pwd -P && ls && "
        "cd .. && pwd -P && "
        f'cd {runs.mnt} && {sys.executable} -c "{chdirs}"'
    )
    native = outcome(runs.native(in_mnt(runs, script)))
    assert outcome(runs.sandbox(in_mnt(runs, script))) == native
    assert native[0] == 0 and native[2] == "", native


# The edge scripts (tests/fuse/): each prints every call and its result; the
# lines must be the same on the kernel's mount and in the sandbox. Lines that
# each script's output must hold show that it reached its interesting cases.
EDGE_SCRIPTS = {
    # "." and ".." as a last component, trailing slashes, renames onto the
    # same file, an ancestor or a descendant.
    "path_edges.py": ["rename d d/sub/x EINVAL\n"],
    # O_PATH fds, fds of the wrong mode, directories opened with O_TRUNC,
    # O_DIRECT or O_TMPFILE, offsets near 2^63, RLIMIT_FSIZE (a short write,
    # then EFBIG and SIGXFSZ; appends and truncates too).
    "fd_edges.py": ["fsize write past 500\nfsize write at EFBIG\n", "fsize append at EFBIG\n"],
    # openat2's struct, flags and RESOLVE_* restrictions, statx, utimensat,
    # faccessat2 and the xattr calls' checks.
    "flag_edges.py": ["openat2 BENEATH d/../.. EXDEV\n", "openat2 CACHED creat EAGAIN\n"],
    # default_permissions: mode bits, owners, groups, sticky directories,
    # setattr's rules, access(2), exec and chdir, as another uid and as root
    # without each DAC, FOWNER, CHOWN or FSETID capability.
    "perm_edges.py": [
        "read theirs EACCES\n",
        "unlink sticky/of_other EPERM\n",
        "sgid mode 0o755\n",
        "exec prog_nox EACCES\n",
        "write theirs EACCES\n",
    ],
    # Record locks (classic and OFD) and flock between processes and files:
    # conflicts, F_GETLK, splits and merges, release at any close, waits,
    # EDEADLK and the errors.
    "lock_edges.py": [
        "child: b [0,100) write 0\n",
        "child: a [50,60) read EAGAIN\n",
        "child: a [0,1) write after 0\n",
        "parent: setlkw b EDEADLOCK\n",
        "setlkw on an fd closed meanwhile EBADF\n",
        "flock other file ok\n",
    ],
    # O_CREAT through a dangling symlink, symlink loops, the *at calls with
    # AT_EMPTY_PATH, chmod of a symlink, links in do_linkat's order,
    # getdents64 into a buffer that runs into an unmapped page.
    "link_edges.py": [
        "creat via dangling made\n",
        "link dir onto existing EEXIST\n",
        "getdents into unmapped tail some\n",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EDGE_SCRIPTS))
def test_edge_script(runs, script):
    """``fuse/<script>`` gives, call by call, what the kernel's mount gives."""
    argv = [sys.executable, REPO_ROOT / "tests" / "fuse" / script]
    native = outcome(runs.native(argv))
    assert outcome(runs.sandbox(in_mnt(runs, " ".join(map(str, argv))))) == native
    assert native[0] == 0 and native[2] == "", native
    for line in EDGE_SCRIPTS[script]:
        assert line in native[1], line


@pytest.mark.slow
def test_fd_passed_by_sendmmsg(runs, c_program):
    """A FUSE file's fd sent with sendmmsg (which sentry does not trace)
    and received with recvmsg reads the file."""
    exe = c_program("scm_sendmmsg")
    script = f"echo hello-sentry > f && {exe} f"
    native = outcome(runs.native(["sh", "-c", f"cd {runs.mnt} && {script}"]))
    assert outcome(runs.sandbox(in_mnt(runs, script))) == native
    assert native[1].endswith("pread 13 hello-sentry\n\n"), native


@pytest.mark.slow
def test_shared_mappings(runs, c_program):
    """MAP_SHARED of a FUSE file as on the kernel's mount: stores seen by
    read(2) and by another process's mapping, write(2) and truncate seen by
    the mappings, SIGBUS past the end, EACCES for a writable mapping of a
    read-only fd; bytes only stored (no msync, no close) reach the file for
    the next process, and for a passthrough server the host's file once the
    app has ended."""
    exe = c_program("mmap_shared")
    script = f"{exe} . && od -An -c -j 1000 -N 9 persist"
    native = outcome(runs.native(in_mnt(runs, script)))
    assert outcome(runs.sandbox(in_mnt(runs, script))) == native
    assert native[0] == 0 and "p   e   r   s   i   s   t   e   d" in native[1], native
    if runs.server == "passthrough":
        stored = (runs.base / f"src{runs.count}" / "persist").read_bytes()
        assert stored[1000:1009] == b"persisted"


MSYNC = """
import mmap, os
fd = os.open("/data/f", os.O_RDWR | os.O_CREAT)
os.ftruncate(fd, 4096)
m = mmap.mmap(fd, 4096)
def host():
    with open("/src/f", "rb") as f:
        return f.read(6)
m[:6] = b"stored"
print(host())
m.flush()
print(host())
m[:6] = b"synced"
os.sync()
print(host())
"""


@pytest.mark.slow
def test_msync_and_sync_send_stores_to_the_host(tmp_path):
    """msync(MS_SYNC) and sync(2) send a shared mapping's stores to a
    passthrough server: the host file (read through a bind, past FUSE) has
    them at once, not at the next write-back."""
    src = tmp_path / "src"
    src.mkdir()
    box = Sandbox(binds=[*SHARED_BINDS, f"{src}:/src"], mounts=[f"/data=passthrough:{src}"])
    res = box.run([sys.executable, "-c", MSYNC], timeout=60)
    assert (res.returncode, res.stdout, res.stderr) == (
        0,
        b"b'\\x00\\x00\\x00\\x00\\x00\\x00'\nb'stored'\nb'synced'\n",
        b"",
    )


SQLITE_WAL = """
sqlite3 w.db "pragma journal_mode=wal; create table t(x); insert into t values(1),(2),(3);"
(echo "begin; insert into t values(4);"; sleep 1; echo "select 'writer', count(*) from t;";
 echo "commit;") | sqlite3 w.db &
sleep 0.5
sqlite3 w.db "select 'reader during', count(*) from t;"
ls w.db-shm w.db-wal
wait
sqlite3 w.db "select 'after', count(*), sum(x) from t; pragma integrity_check;"
sqlite3 w.db "pragma journal_mode=delete;" && ls
"""


@pytest.mark.slow
def test_sqlite3_wal_with_a_second_process(runs):
    """SQLite's WAL mode (its -shm file is a shared mapping both processes
    store into): a reader sees the last commit while a writer holds a
    transaction open, then the writer's commit."""
    require_tool("sqlite3")
    native = outcome(runs.native(in_mnt(runs, SQLITE_WAL)))
    assert outcome(runs.sandbox(in_mnt(runs, SQLITE_WAL))) == native
    assert native[0] == 0 and "reader during|3" in native[1] and "after|4|10" in native[1]


ATIME = """
import os
os.mkdir("d"); open("d/x", "w").close(); os.symlink("d/x", "l")
with open("f", "w") as f:
    f.write("hello")
for p in ("d", "l", "f"):
    os.utime(p, (1000, 1000), follow_symlinks=False)
os.stat("d"); os.lstat("l"); os.stat("f")
os.listdir("d"); os.readlink("l"); open("f").read()
print(os.stat("d").st_atime > 1000, os.lstat("l").st_atime > 1000, os.stat("f").st_atime > 1000)
"""


@pytest.mark.slow
def test_atime_after_readdir_readlink_and_read(runs):
    """A stat after readdir, readlink or read asks the daemon for the atime
    again (Linux's fuse_invalidate_atime), so it moves as on the kernel's
    mount."""
    script = runs.base / "atime.py"
    script.write_text(ATIME)
    native = outcome(runs.native([sys.executable, script]))
    assert outcome(runs.sandbox(in_mnt(runs, f"{sys.executable} {script}"))) == native
    assert native[0] == 0 and native[1].startswith("True "), native


@pytest.mark.slow
def test_tmpfs_and_bind_mounts(tmp_path):
    """mount(2) of tmpfs (mode=, size= and ENOSPC past it, a bad option) and bind mounts
    (recursive or not, of a file, a move, umount of a busy mount or one
    with a mount below it) as root of a user namespace: in the sandbox, on
    a memfs mount, as Linux does them natively (``unshare -rm``), and
    ``/proc/self/mounts`` lists them while they last
    (``fuse/mount_cases.sh``)."""
    require_tool("unshare")
    script = REPO_ROOT / "tests" / "fuse" / "mount_cases.sh"
    (tmp_path / "native").mkdir()
    native = run_native(["unshare", "-rm", "sh", script], cwd=tmp_path / "native", timeout=TIMEOUT)
    if "unshare failed" in native.stderr.decode():
        pytest.skip(f"no user namespaces here: {native.stderr.decode().strip()}")
    base = tmp_path / "sandboxed"
    box = Sandbox(binds=SHARED_BINDS, mounts=[f"{base}=memfs"])
    sandboxed = box.run(["sh", "-c", f"cd {base} && sh {script}"], timeout=TIMEOUT, env=ENV)

    def shown(res, where: Path) -> tuple[int, str]:
        return res.returncode, (res.stdout + res.stderr).decode().replace(str(where), "BASE")

    assert shown(sandboxed, base) == shown(native, tmp_path / "native")
    assert b"tmpfs: 0\n700 directory\ndata\nfile\nsize 1024\n" in native.stdout
    assert b"write past size=: 1\nsize 65536\nafter rm: 0\n" in native.stdout


@pytest.mark.slow
def test_exec_from_the_mount(runs):
    """Programs, scripts (nested interpreters, odd ``#!`` lines), a symlink
    to a host program, and the errors (no execute bit, a directory, a
    missing interpreter) as on the kernel's mount (``fuse/exec_cases.sh``)."""
    script = f"sh {REPO_ROOT / 'tests' / 'fuse' / 'exec_cases.sh'} 2>&1"
    native = outcome(runs.native(["sh", "-c", script]))
    assert outcome(runs.sandbox(in_mnt(runs, script))) == native
    assert native[0] == 0 and "hello world\necho: 0\n" in native[1], native


BUILD = r"""
mkdir proj && cd proj
cat > configure <<'EOS'
#!/bin/sh
srcdir=$(dirname "$0")
echo "configuring in $srcdir"
printf 'all: hello\nhello: %s/hello.c\n' "$srcdir" > Makefile
printf '\tcc -O1 -o hello %s/hello.c\n' "$srcdir" >> Makefile
printf 'test: hello\n\t./hello check\n' >> Makefile
EOS
chmod +x configure
cat > hello.c <<'EOS'
#include <stdio.h>
int main(int c, char **v) { printf("hello %s\n", c > 1 ? v[1] : "-"); }
EOS
./configure && make -s && make -s test && ./hello direct
python3 -m venv --without-pip venv
venv/bin/python -c 'import sys; print(sys.prefix != sys.base_prefix)'
venv/bin/python -c 'import sys; print(sys.prefix.endswith("/proj/venv"))'
"""


@pytest.mark.slow
def test_configure_make_test_and_venv_on_the_mount(runs):
    """``./configure && make && make test`` of a small C project, and a
    Python venv, all on the mount: what a user runs."""
    require_tool("cc")
    build = runs.base / "build.sh"
    build.write_text(BUILD)
    script = f"sh -e {build} 2>&1"
    native = outcome(runs.native(["sh", "-c", script]))
    assert outcome(runs.sandbox(in_mnt(runs, script))) == native
    assert native == (0, "configuring in .\nhello check\nhello direct\nTrue\nTrue\n", ""), native


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    base = tmp_path_factory.mktemp("tarball")
    src = base / "src"
    for i in range(30):
        d = src / f"d{i % 4}" / f"e{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_bytes(bytes(range(256)) * (i * 37 + 1))
    (src / "link").symlink_to("d0/e0/f0")
    (src / "d1" / "hard").hardlink_to(src / "d0" / "e0" / "f0")
    out = base / "t.tar"
    subprocess.run(
        ["tar", "cf", out, "--sort=name", "--mtime=2026-01-01", "-C", src, "."],
        check=True,
        timeout=60,
    )
    return out


@pytest.mark.slow
def test_tar_x(runs, tarball):
    """tar x, then the tree and tar c of it (directory sizes differ between
    file systems, so only the files' sizes are compared)."""
    script = (
        f"tar xf {tarball} && tar tvf {tarball} > /dev/null && "
        "find . -printf '%y %m %n %TY-%Tm-%Td %P %l\\n' | sort && "
        "find . -type f -printf '%s %P\\n' | sort && "
        "tar cf - --sort=name --mtime=2026-01-01 --owner=0 --group=0 --numeric-owner . | sha256sum"
    )
    native = outcome(runs.native(in_mnt(runs, script)))
    assert outcome(runs.sandbox(in_mnt(runs, script))) == native
    plain = outcome(runs.plain(["sh", "-c", script]))
    assert plain == native
    assert native[0] == 0 and native[2] == ""


@pytest.mark.slow
def test_git_init_commit(runs):
    require_tool("git")
    script = (
        "git init -q r && cd r && seq 2000 > n && mkdir d && echo hi > d/h && "
        "git add . && git commit -qm first && echo more >> n && git commit -qam second && "
        "git log --stat --format='%H %s' && git fsck --strict 2>&1 && git gc -q && "
        "git count-objects -v | grep -v size && git status --short"
    )
    native = outcome(runs.native(in_mnt(runs, script)))
    assert outcome(runs.sandbox(in_mnt(runs, script))) == native
    assert outcome(runs.plain(["sh", "-c", script])) == native
    assert native[0] == 0, native


@pytest.mark.slow
def test_sqlite3(runs):
    require_tool("sqlite3")
    inserts = "".join(f"insert into t values({i}, 'row {i}');" for i in range(1000))
    sql = (
        "create table t(x integer primary key, y text);"
        f"begin;{inserts}commit;"
        "select count(*), sum(x), max(y) from t;"
        "update t set y = 'z' where x % 7 = 0;"
        "delete from t where x % 5 = 0;"
        "select count(*), sum(x), count(distinct y) from t;"
        "pragma integrity_check;"
    )
    script = (
        f"sqlite3 db \"{sql}\" && sqlite3 db 'select count(*) from t' && ls -l db | cut -d' ' -f5"
    )
    native = outcome(runs.native(in_mnt(runs, script)))
    assert outcome(runs.sandbox(in_mnt(runs, script))) == native
    assert outcome(runs.plain(["sh", "-c", script])) == native
    assert native[0] == 0, native


@pytest.mark.slow
def test_mount_target_need_not_exist_on_the_host(tmp_path):
    target = tmp_path / "no" / "such" / "dir"
    res = Sandbox(binds=SHARED_BINDS, mounts=[f"{target}=memfs"]).run(
        ["sh", "-c", f"cd {target} && echo x > f && ls -l f && pwd && stat -c %F ."], timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().splitlines()[1:] == [str(target), "directory"]
    assert not target.exists() and not (tmp_path / "no").exists()


@pytest.mark.slow
def test_passthrough_writes_reach_the_host_dir_and_ro_refuses(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "old").write_text("old\n")
    res = Sandbox(binds=SHARED_BINDS, mounts=[f"/data=passthrough:{src}"]).run(
        ["sh", "-c", "cat /data/old && echo new > /data/new && mkdir /data/d && rm /data/old"],
        timeout=60,
    )
    assert (res.returncode, res.stdout, res.stderr) == (0, b"old\n", b"")
    assert sorted(p.name for p in src.iterdir()) == ["d", "new"]
    assert (src / "new").read_text() == "new\n"
    res = Sandbox(binds=SHARED_BINDS, mounts=[f"/data=passthrough:{src}:ro"]).run(
        ["sh", "-c", "cat /data/new; echo x > /data/new; rm /data/new; mkdir /data/e; ls /data"],
        timeout=60,
    )
    assert res.returncode == 0
    assert res.stdout == b"new\nd\nnew\n"
    assert res.stderr.decode().count("Read-only file system") == 3, res.stderr
    assert sorted(p.name for p in src.iterdir()) == ["d", "new"]


@pytest.mark.slow
def test_server_killed_mid_run(tmp_path):
    """The app gets ENOTCONN, sentry reports the death, nothing hangs. The
    server runs outside the sandbox, where the app cannot see it: the test
    kills it from the host once the app has used the mount."""
    ready, go = tmp_path / "ready", tmp_path / "go"
    script = (
        f"echo a > /data/f && cat /data/f && touch {ready} && "
        f"while [ ! -e {go} ]; do sleep 0.05; done; "
        "cat /data/f; echo status=$?; ls /data; echo status=$?"
    )
    proc = Sandbox(binds=SHARED_BINDS, mounts=["/data=memfs"]).popen(
        ["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err_bytes = kill_daemon_mid_run(
            proc, ready, go, lambda argv: b"sentry.fuse_server" in argv[:4]
        )
    finally:
        kill_and_reap(proc)
    assert proc.returncode == 0
    assert out.decode().splitlines() == ["a", "status=1", "status=2"]
    err = err_bytes.decode()
    assert err.count("Transport endpoint is not connected") == 2, err
    assert (
        "sentry: --mount /data=memfs: the FUSE daemon was killed by signal 9; "
        "files under /data now fail with ENOTCONN" in err
    )


def test_main_example_from_the_readme():
    res = Sandbox(binds=SHARED_BINDS, mounts=["/data=memfs"]).run(
        ["sh", "-c", "seq 100000 > /data/n && wc -l /data/n && ls -l /data"], timeout=60
    )
    lines = res.stdout.decode().splitlines()
    assert res.returncode == 0, res.stderr
    assert lines[0] == "100000 /data/n"
    assert lines[2].startswith("-rw-r--r-- 1 root root 588895 ")


@pytest.mark.slow
def test_two_servers_and_a_daemon_in_one_run(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "in").write_text("from the host\n")
    shutil.copy(REPO_ROOT / "README.md", src / "README.md")
    res = Sandbox(binds=SHARED_BINDS, mounts=["/data=memfs", f"/src=passthrough:{src}:ro"]).run(
        [
            "sh",
            "-c",
            "cp /src/in /data/ && cat /data/in && cmp /src/README.md README.md && "
            "grep -c ' fuse\\.' /proc/self/mounts",
        ],
        cwd=str(REPO_ROOT),
        timeout=60,
    )
    assert (res.returncode, res.stderr) == (0, b"")
    assert res.stdout.decode().splitlines()[0] == "from the host"
