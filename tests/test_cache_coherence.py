"""The FUSE client's buffer cache against Linux's page cache.

Each test runs one small Python program (``APP``, a scenario per test)
natively on a kernel mount of a FUSE server and inside sentry with the same
server behind ``--fuse`` (or ``--mount``) at the same path; stdout must be
the same, and is also pinned where Linux's behaviour is clear. The server is
mostly ``fuse/coherence_server.py``: a memfs that the program changes
behind the client's back (``mutate``), or that sends notifications
(``inval``, ``store``, ``retrieve``) or fails WRITEs (``fail_writes``), on
a command the program writes to a FIFO. The native mounts need root; the
tests skip without it.

Where sentry legitimately differs (it caches 128 KiB chunks where Linux
caches pages), each side's output is pinned and the test says why.
Everywhere else sentry must print what Linux prints.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from conftest import SHARED_BINDS, run_native
from fuse.helpers import fuse_daemon

from sentry import Sandbox
from sentry.sandbox import RunResult

SERVER = Path(__file__).resolve().parent / "fuse" / "coherence_server.py"
# Seconds for one run of the program (its children get less).
APP_TIMEOUT = 30

# The program. argv: SCENARIO MNT CONTROL_DIR SRC ARG...; it prints one line
# per step, data as a repr when short, else as runs ("a*4096 b*10").
APP = r"""
import errno, itertools, os, subprocess, sys, time

SCENARIO, MNT, CTL, SRC, ARGS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
F = os.path.join(MNT, "f")


def ctl(command):
    with open(os.path.join(CTL, "cmd"), "w") as f:
        f.write(command + "\n")
    with open(os.path.join(CTL, "ack")) as f:
        answer = f.readline().strip()
    if answer != "ok":
        print(command.split()[0], "->", answer)


def show(what, call, *args):
    try:
        value = call(*args)
    except OSError as err:
        value = "-1 " + errno.errorcode[err.errno]
    if value is None:
        value = 0
    elif isinstance(value, bytes) and len(value) > 40:
        value = " ".join(f"{chr(k)}*{len(list(g))}" for k, g in itertools.groupby(value))
    print(f"{what}: {value}", flush=True)


def create(data, path=F):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.close(fd)


def retrieved(path=F):
    return os.getxattr(path, "user.retrieved")


def keep_cache():
    create(b"A" * 16)
    old = os.open(F, os.O_RDONLY)
    show("first read", os.pread, old, 100, 0)
    ctl("mutate f 4 BBBB")
    show("same fd", os.pread, old, 100, 0)
    new = os.open(F, os.O_RDONLY)
    show("new open", os.pread, new, 100, 0)
    show("first fd again", os.pread, old, 100, 0)


def inval():
    create(b"A" * 16)
    fd = os.open(F, os.O_RDONLY)
    show("read", os.pread, fd, 100, 0)
    ctl("mutate f 4 BBBB")
    show("after mutate", os.pread, fd, 100, 0)
    ctl("inval f -1 0")
    show("after inval of the attributes", os.pread, fd, 100, 0)
    ctl("inval f 0 0")
    show("after inval to the end", os.pread, fd, 100, 0)
    ctl("mutate f 0 CC")
    ctl("inval f 0 16")
    show("after inval of [0, 16)", os.pread, fd, 100, 0)


def inval_partial():
    create(b"a" * 4096 + b"b" * 4096 + b"c" * 4096)
    fd = os.open(F, os.O_RDONLY)
    show("read", os.pread, fd, 20000, 0)
    for off, text in ((0, "X"), (4096, "Y"), (8192, "Z")):
        ctl(f"mutate f {off} {text}")
    ctl("inval f 8192 4096")
    for off, size in ((0, 12288), (8192, 100)):
        ctl(f"retrieve f {off} {size}")
        print(f"retrieve {off} {size}: {len(retrieved())} bytes")
    show("read", os.pread, fd, 20000, 0)
    ctl("inval f 0 0")
    show("read after inval of all", os.pread, fd, 20000, 0)


def store():
    create(b"A" * 16)
    fd = os.open(F, os.O_RDONLY)
    show("read", os.pread, fd, 100, 0)
    ctl("store f 4 SSSS")
    show("after store", os.pread, fd, 100, 0)
    show("new open", os.pread, os.open(F, os.O_RDONLY), 100, 0)
    ctl("retrieve f 0 16")
    show("retrieved", retrieved)
    ctl("inval f 0 0")
    show("the server's data", os.pread, fd, 100, 0)


def store_past_eof():
    create(b"A" * 16)
    fd = os.open(F, os.O_RDONLY)
    show("read", os.pread, fd, 100, 0)
    ctl("store f 16 ZZ")
    show("after store past EOF", os.pread, fd, 100, 0)


def store_uncached():
    create(b"a" * 8192)
    ctl("inval f 0 0")
    ctl("store f 0 " + "S" * 4096)
    show("read", os.pread, os.open(F, os.O_RDONLY), 10000, 0)


def retrieve():
    data = bytes(b"0123456789"[i % 10] for i in range(10000))
    create(data)
    fd = os.open(F, os.O_RDONLY)
    show("read", lambda: len(os.pread(fd, 20000, 0)))
    for off, size in ((0, 10), (100, 5000), (4090, 20), (9000, 4096), (0, 65536),
                      (10000, 5), (20000, 10)):
        ctl(f"retrieve f {off} {size}")
        got = retrieved()
        same = got == data[off : off + len(got)]
        print(f"retrieve {off} {size}: {len(got)} bytes, {'cached' if same else 'WRONG'}")
    g = os.path.join(MNT, "g")
    create(b"g" * 100, g)
    ctl("inval g 0 0")
    ctl("retrieve g 0 100")
    print(f"retrieve of an uncached file: {len(retrieved(g))} bytes")


def inval_dirty():
    create(b"a" * 100)
    fd = os.open(F, os.O_RDWR)
    show("read", os.pread, fd, 200, 0)
    show("pwrite", os.pwrite, fd, b"hello", 0)
    ctl("inval f 0 0")
    show("read after inval", os.pread, fd, 200, 0)
    show("fsync", os.fsync, fd)
    ctl("inval f 0 0")
    show("the server's data", os.pread, fd, 200, 0)


def two_processes():
    reader = "import sys; print(open(sys.argv[1], 'rb').read())"

    def child():
        res = subprocess.run([sys.executable, "-P", "-c", reader, F],
                             capture_output=True, timeout=20)
        return res.stdout.decode().strip() + res.stderr.decode()

    create(b"0123456789")
    show("other process", child)
    rfd = os.open(F, os.O_RDONLY)
    show("read fd", os.pread, rfd, 100, 0)
    wfd = os.open(F, os.O_WRONLY)
    show("pwrite", os.pwrite, wfd, b"ab", 2)
    show("other process", child)
    show("read fd", os.pread, rfd, 100, 0)
    show("pwrite at EOF", os.pwrite, wfd, b"XYZ", 10)
    show("other process", child)
    show("read fd", os.pread, rfd, 100, 0)
    os.close(wfd)
    show("other process after close", child)


def auto_inval():
    host = os.path.join(SRC, "f")
    with open(host, "wb") as f:
        f.write(b"old old old")
    fd = os.open(F, os.O_RDONLY)
    show("read", os.pread, fd, 100, 0)
    with open(host, "r+b") as f:
        f.write(b"NEW")
    show("at once", os.pread, fd, 100, 0)
    time.sleep(1.2)
    show("after the attribute timeout", os.pread, fd, 100, 0)
    with open(host, "r+b") as f:
        f.write(b"new")  # the same size: only the mtime tells
    time.sleep(1.2)
    show("after a same-size change", os.pread, fd, 100, 0)


def writeback_error():
    error = ARGS[0]
    ctl(f"fail_writes {error}")
    fd = os.open(F, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    show("write", os.write, fd, b"x" * 100)
    show("fsync", os.fsync, fd)
    show("fsync again", os.fsync, fd)
    show("close", os.close, fd)
    fd = os.open(F, os.O_RDWR)
    show("write", os.pwrite, fd, b"y" * 10, 0)
    show("close after a failed writeback", os.close, fd)


def writeback_error_later_open():
    ctl("fail_writes ENOSPC")
    fd = os.open(F, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    show("write", os.write, fd, b"x" * 100)
    show("close", os.close, fd)
    ctl("fail_writes 0")
    fd = os.open(F, os.O_RDWR)
    show("fsync of a later open", os.fsync, fd)
    show("fsync again", os.fsync, fd)


def writeback_error_keeps_data():
    ctl("fail_writes ENOSPC")
    fd = os.open(F, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    show("write", os.write, fd, b"x" * 100)
    show("fsync", os.fsync, fd)
    show("read", os.pread, fd, 200, 0)


def writeback_size():
    fd = os.open(F, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    show("write", os.write, fd, b"a" * 100)
    show("fsync", os.fsync, fd)
    ctl("mutate f 100 MORE")
    ctl("inval f -1 0")
    show("size", lambda: os.fstat(fd).st_size)
    show("read", os.pread, fd, 200, 0)


def write_through_error():
    create(b"a" * 10)
    for error in ARGS:
        ctl(f"fail_writes {error}")
        fd = os.open(F, os.O_RDWR)
        show(f"write, {error}", os.write, fd, b"x" * 100)
        show("fsync", os.fsync, fd)
        show("read", os.pread, fd, 200, 0)
        show("close", os.close, fd)
    ctl("fail_writes 0")


def stat_after_read():
    create(b"a" * 100)
    fd = os.open(F, os.O_RDONLY)
    show("read", os.pread, fd, 200, 0)
    ctl("mutate f 100 MORE")
    show("size", lambda: os.fstat(fd).st_size)


globals()[SCENARIO]()
"""


# ------------------------------------------------------------ servers


def coherence(*options: str) -> tuple[str, ...]:
    """The coherence server with these options."""
    return ("coherence", *options)


MEMFS = ("memfs",)
MEMFS_WRITEBACK = ("memfs", "--writeback")
PASSTHROUGH = ("passthrough",)


def native_argv(server: tuple[str, ...], mnt: Path, ctl: Path, src: Path) -> list[str]:
    kind, *options = server
    if kind == "coherence":
        return [sys.executable, "-P", str(SERVER), str(mnt), "--control", str(ctl), *options]
    head = [sys.executable, "-P", "-m", "sentry.fuse_server", kind]
    return [*head, *([str(src)] if kind == "passthrough" else []), *options, str(mnt)]


def sandbox(server: tuple[str, ...], mnt: Path, ctl: Path, src: Path) -> Sandbox:
    kind, *options = server
    if kind == "coherence":
        argv = [sys.executable, "-P", str(SERVER), "{}", "--control", str(ctl), *options]
        return Sandbox(binds=SHARED_BINDS, fuse=[f"{mnt}={shlex.join(argv)}"])
    if kind == "passthrough":
        return Sandbox(binds=SHARED_BINDS, mounts=[f"{mnt}=passthrough:{src}"])
    return Sandbox(binds=SHARED_BINDS, mounts=[f"{mnt}=memfs" + (":writeback" if options else "")])


# ------------------------------------------------------------ running


def run_app(tmp_path: Path, server: tuple[str, ...], scenario: str, *args: str) -> dict:
    """Run APP's scenario natively and in sentry; return {"native": stdout,
    "sentry": stdout}. Each run must exit 0 with nothing on stderr. The
    native mount is always unmounted and its server reaped; sentry stops
    its own."""
    mnt, src = tmp_path / "mnt", tmp_path / "src"
    mnt.mkdir(exist_ok=True)
    src.mkdir(exist_ok=True)
    outputs = {}
    for where in ("native", "sentry"):
        ctl = tmp_path / f"ctl-{where}"
        ctl.mkdir()
        argv = [sys.executable, "-P", "-c", APP, scenario, str(mnt), str(ctl), str(src), *args]
        if where == "native":
            with fuse_daemon(native_argv(server, mnt, ctl, src), mnt, what=server[0]) as daemon:
                res: RunResult = run_native(argv, timeout=APP_TIMEOUT)
                server_log = daemon.output()
        else:
            res = sandbox(server, mnt, ctl, src).run(argv, timeout=APP_TIMEOUT)
            server_log = "(on sentry's stderr)"
        assert (res.returncode, res.stderr) == (0, b""), f"{where}: {res}\nserver: {server_log}"
        outputs[where] = res.stdout.decode(errors="replace")
        for name in list(src.iterdir()):
            name.unlink()
    return outputs


def assert_both(outputs: dict, expected: str) -> None:
    """Both runs printed ``expected``."""
    assert outputs["native"] == expected
    assert outputs["sentry"] == expected


def assert_like_linux(outputs: dict, expected: str) -> None:
    """Linux printed ``expected``, and sentry printed the same."""
    assert outputs["native"] == expected
    assert outputs["sentry"] == expected, f"sentry printed:\n{outputs['sentry']}"


def lines(*text: str) -> str:
    return "".join(line + "\n" for line in text)


# ------------------------------------------------------------- tests


@pytest.mark.slow
@pytest.mark.parametrize(
    "server",
    [coherence(), coherence("--writeback"), coherence("--direct-io"), MEMFS, MEMFS_WRITEBACK],
    ids=["write-through", "writeback", "direct-io", "memfs", "memfs-writeback"],
)
def test_a_write_is_seen_by_other_processes_and_fds(tmp_path, server):
    """One process writes; another process and another fd read the new
    bytes at once (writeback caching too: the cache is shared)."""
    outputs = run_app(tmp_path, server, "two_processes")
    assert_both(
        outputs,
        lines(
            "other process: b'0123456789'",
            "read fd: b'0123456789'",
            "pwrite: 2",
            "other process: b'01ab456789'",
            "read fd: b'01ab456789'",
            "pwrite at EOF: 3",
            "other process: b'01ab456789XYZ'",
            "read fd: b'01ab456789XYZ'",
            "other process after close: b'01ab456789XYZ'",
        ),
    )


STALE = "b'AAAAAAAAAAAAAAAA'"
FRESH = "b'AAAABBBBAAAAAAAA'"


@pytest.mark.slow
@pytest.mark.parametrize(
    "options, same_fd, new_open, first_fd_again",
    [
        ((), STALE, STALE, STALE),
        (("--no-keep-cache",), STALE, FRESH, FRESH),
        (("--direct-io",), FRESH, FRESH, FRESH),
    ],
    ids=["keep-cache", "no-keep-cache", "direct-io"],
)
def test_a_change_behind_the_clients_back(tmp_path, options, same_fd, new_open, first_fd_again):
    """FOPEN_KEEP_CACHE keeps cached data across opens, so a change the
    client was not told of stays unseen; without it an open drops the
    cache (for every fd of the file); FOPEN_DIRECT_IO never caches."""
    outputs = run_app(tmp_path, coherence(*options), "keep_cache")
    assert_both(
        outputs,
        lines(
            f"first read: {STALE}",
            f"same fd: {same_fd}",
            f"new open: {new_open}",
            f"first fd again: {first_fd_again}",
        ),
    )


def test_inval_inode_after_a_change(tmp_path):
    """INVAL_INODE with off < 0 drops the attributes only; with a range it
    drops the cached data (len 0: to the end)."""
    outputs = run_app(tmp_path, coherence(), "inval")
    assert_both(
        outputs,
        lines(
            f"read: {STALE}",
            f"after mutate: {STALE}",
            f"after inval of the attributes: {STALE}",
            f"after inval to the end: {FRESH}",
            "after inval of [0, 16): b'CCAABBBBAAAAAAAA'",
        ),
    )


@pytest.mark.slow
def test_inval_inode_of_one_page(tmp_path):
    """INVAL_INODE of page 2 of a 3-page file, all cached and all changed
    behind the client's back.

    Linux drops page 2 only: RETRIEVE then finds pages 0 and 1 (8192
    bytes), and a read shows the stale pages 0 and 1 with the new page 2.
    Sentry caches 128 KiB chunks and drops the whole chunk holding the
    range: RETRIEVE finds nothing, and the read is fresh throughout. Both
    are coherent (dropping more than asked only costs a READ)."""
    outputs = run_app(tmp_path, coherence(), "inval_partial")
    fresh = "X*1 a*4095 Y*1 b*4095 Z*1 c*4095"
    common = lines("read: a*4096 b*4096 c*4096")
    after = lines(f"read after inval of all: {fresh}")
    assert (
        outputs["native"]
        == common
        + lines(
            "retrieve 0 12288: 8192 bytes",
            "retrieve 8192 100: 0 bytes",
            "read: a*4096 b*4096 Z*1 c*4095",
        )
        + after
    )
    assert (
        outputs["sentry"]
        == common
        + lines(
            "retrieve 0 12288: 0 bytes",
            "retrieve 8192 100: 0 bytes",
            f"read: {fresh}",
        )
        + after
    )


@pytest.mark.slow
def test_store_into_a_cached_range(tmp_path):
    """STORE changes what reads and RETRIEVE see, through every fd; the
    server's data is unchanged, as a read after INVAL_INODE shows."""
    outputs = run_app(tmp_path, coherence(), "store")
    stored = "b'AAAASSSSAAAAAAAA'"
    assert_both(
        outputs,
        lines(
            f"read: {STALE}",
            f"after store: {stored}",
            f"new open: {stored}",
            f"retrieved: {stored}",
            f"the server's data: {STALE}",
        ),
    )


@pytest.mark.slow
def test_retrieve_returns_the_cached_bytes(tmp_path):
    """RETRIEVE of a cached file returns exactly the bytes asked for (not
    whole pages: Linux's fuse_retrieve sends the range), cut at the end
    of file; past the end of file, and for a file with nothing cached,
    none."""
    outputs = run_app(tmp_path, coherence(), "retrieve")
    assert_both(
        outputs,
        lines(
            "read: 10000",
            "retrieve 0 10: 10 bytes, cached",
            "retrieve 100 5000: 5000 bytes, cached",
            "retrieve 4090 20: 20 bytes, cached",
            "retrieve 9000 4096: 1000 bytes, cached",
            "retrieve 0 65536: 10000 bytes, cached",
            "retrieve 10000 5: 0 bytes, cached",
            "retrieve 20000 10: 0 bytes, cached",
            "retrieve of an uncached file: 0 bytes",
        ),
    )


@pytest.mark.slow
def test_auto_inval_data_sees_a_change_on_the_host(tmp_path):
    """Passthrough asks for AUTO_INVAL_DATA with 1 s attribute timeouts:
    a change made on the host stays unseen while the attributes are
    valid, and is read after they expire (by size, and by mtime alone)."""
    outputs = run_app(tmp_path, PASSTHROUGH, "auto_inval")
    assert_both(
        outputs,
        lines(
            "read: b'old old old'",
            "at once: b'old old old'",
            "after the attribute timeout: b'NEW old old'",
            "after a same-size change: b'new old old'",
        ),
    )


@pytest.mark.slow
@pytest.mark.parametrize("error", ["ENOSPC", "EIO"])
def test_writeback_error_goes_to_the_next_fsync_or_close(tmp_path, error):
    """Under writeback caching write() succeeds; the failed writeback is
    reported once, by the next fsync, or by close when no fsync came."""
    outputs = run_app(tmp_path, coherence("--writeback"), "writeback_error", error)
    assert_both(
        outputs,
        lines(
            "write: 100",
            f"fsync: -1 {error}",
            "fsync again: 0",
            "close: 0",
            "write: 10",
            f"close after a failed writeback: -1 {error}",
        ),
    )


@pytest.mark.slow
def test_write_through_error_fails_the_write(tmp_path):
    """Without writeback caching the WRITE's error is write()'s, as is."""
    outputs = run_app(tmp_path, coherence(), "write_through_error", "ENOSPC", "EIO", "EDQUOT")
    expected = ""
    for error in ("ENOSPC", "EIO", "EDQUOT"):
        expected += lines(
            f"write, {error}: -1 {error}", "fsync: 0", "read: b'aaaaaaaaaa'", "close: 0"
        )
    assert_both(outputs, expected)


# ---------------------------------------------- differences from Linux


@pytest.mark.slow
def test_writeback_error_errno_of_fsync(tmp_path):
    outputs = run_app(tmp_path, coherence("--writeback"), "writeback_error", "EDQUOT")
    expected = lines(
        "write: 100",
        "fsync: -1 EDQUOT",
        "fsync again: 0",
        "close: 0",
        "write: 10",
        "close after a failed writeback: -1 EIO",
    )
    assert_like_linux(outputs, expected)


@pytest.mark.slow
def test_writeback_error_reported_by_close_reaches_a_later_fsync(tmp_path):
    outputs = run_app(tmp_path, coherence("--writeback"), "writeback_error_later_open")
    assert_like_linux(
        outputs,
        lines(
            "write: 100",
            "close: -1 ENOSPC",
            "fsync of a later open: -1 ENOSPC",
            "fsync again: 0",
        ),
    )


@pytest.mark.slow
def test_writeback_cache_keeps_the_clients_size(tmp_path):
    outputs = run_app(tmp_path, coherence("--writeback"), "writeback_size")
    assert_like_linux(outputs, lines("write: 100", "fsync: 0", "size: 100", "read: a*100"))


@pytest.mark.slow
def test_writeback_error_keeps_the_written_bytes(tmp_path):
    outputs = run_app(tmp_path, coherence("--writeback"), "writeback_error_keeps_data")
    assert_like_linux(outputs, lines("write: 100", "fsync: -1 ENOSPC", "read: x*100"))


@pytest.mark.slow
def test_inval_inode_writes_dirty_data_back(tmp_path):
    outputs = run_app(tmp_path, coherence("--writeback"), "inval_dirty")
    hello = "h*1 e*1 l*2 o*1 a*95"
    assert_like_linux(
        outputs,
        lines(
            "read: a*100",
            "pwrite: 5",
            f"read after inval: {hello}",
            "fsync: 0",
            f"the server's data: {hello}",
        ),
    )


@pytest.mark.slow
def test_store_past_eof(tmp_path):
    outputs = run_app(tmp_path, coherence(), "store_past_eof")
    assert_like_linux(outputs, lines(f"read: {STALE}", f"after store past EOF: {STALE}"))


@pytest.mark.slow
def test_store_into_an_uncached_page(tmp_path):
    outputs = run_app(tmp_path, coherence(), "store_uncached")
    assert_like_linux(outputs, lines("read: S*4096 a*4096"))


@pytest.mark.slow
def test_stat_after_a_read_asks_the_server(tmp_path):
    outputs = run_app(tmp_path, coherence(), "stat_after_read")
    assert_like_linux(outputs, lines("read: a*100", "size: 104"))
