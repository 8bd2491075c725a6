"""FUSE in the sandbox: the daemon and its clients both run inside sentry.

sentry emulates /dev/fuse and mount(2), so an unmodified libfuse daemon
started inside the sandbox mounts a file system that only the sandbox sees,
and sentry's FUSE client serves the app's calls on it. Each test runs one
``sh -c`` script (tests/fuse/sandbox_helpers.py): the daemon starts without
``-f`` (it daemonizes once mounted), the clients run, ``fusermount3 -u``
unmounts. The same script also runs natively, on the host kernel's FUSE, and
the two must agree; the facts test_fuse_native.py pins are checked on the
sandbox's side too. Each test names the native test it mirrors. After every
sandboxed run the host must show no mount and no process left over.

Where the sandbox differs from Linux because of a confirmed sentry bug, the
test stays as strict as the native fact and is marked xfail(strict=True) with
the exact difference as its reason; the rest of the scenario is checked by a
passing neighbour, so that one known bug hides nothing else.

Where Linux's answer depends on its page cache (a zero-sized WRITE reply is
EIO through the page cache, 0 with direct I/O) sentry must give Linux's
answer for each mode, which the tests check. The request pattern of
page-cache reads (readahead, and sentry's 128 KiB chunks) is not compared.

Needs root and /dev/fuse for the native runs; ``make install`` installs the
daemons.
"""

from __future__ import annotations

import hashlib
import os
import random
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from conftest import finish, read_cmdline, run_native, run_sandbox
from fuse.helpers import (
    LISTING_ENV,
    io_pattern,
    is_mounted,
    make_squashfs,
    read_log,
    read_result,
    require_fuse,
    require_tool,
    rw_family_exe,
    squashfs_commands,
    squashfs_expected_hashes,
    testfs_data,
    unmount,
)
from fuse.sandbox_helpers import (
    Pair,
    Script,
    dd_counts,
    fuse_io,
    log_mark,
    log_sections,
    mountinfo_step,
    split_output,
    testfs_daemon_argv,
    umount,
)
from test_fuse_native import RW_FAMILY_PINNED, SQUASH_FIND

# A script must finish well within this (sentry must not hang).
SCRIPT_TIMEOUT = 60


def processes_under(root: Path) -> list[str]:
    """Command lines of live processes that name a path under root."""
    found = []
    for entry in os.listdir("/proc"):
        cmdline = read_cmdline(entry) if entry.isdigit() else None
        if cmdline and str(root).encode() in cmdline:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


@pytest.fixture
def both(tmp_path):
    """Factory: both(build, env=None) runs the script that build(script,
    root) writes natively and in the sandbox, each in its own root folder
    (tmp_path/native, tmp_path/sandbox, with an empty ``mnt`` in each);
    returns a Pair. Native mounts left behind by a failure are undone."""
    roots: list[Path] = []

    def _both(build, *, env=None):
        results, kinds = {}, {}
        for kind, runner in (("native", run_native), ("sandbox", run_sandbox)):
            if kind == "native":
                require_fuse()
            root = tmp_path / kind
            root.mkdir()
            (root / "mnt").mkdir()
            roots.append(root)
            kinds[kind] = root
            script = Script(root)
            build(script, root)
            results[kind] = script.run(runner, timeout=SCRIPT_TIMEOUT, env=env)
            if kind == "sandbox":
                # The host never sees the sandbox's mounts, and sentry leaves
                # no daemon behind.
                for mnt in root.glob("mnt*"):
                    assert not is_mounted(mnt), f"{mnt} is mounted on the host"
                assert processes_under(root) == [], "sentry left processes behind"
        return Pair(results.get("native"), results["sandbox"], kinds)

    yield _both
    for root in roots:
        for mnt in root.glob("mnt*"):
            unmount(mnt)


def build_testfs_io(opts, *io_steps, data="data"):
    """build() for: mount testfs with opts and log ROOT/log, run fuse_io
    with io_steps on ROOT/mnt/DATA (step "io"), unmount."""

    def build(s, root):
        mnt, log = root / "mnt", root / "log"
        s.step("mount", testfs_daemon_argv(mnt, *opts, log=log))
        s.step("io", fuse_io(mnt / data, *io_steps))
        s.step("umount", umount(mnt))

    return build


def run_testfs_io(both, opts, *io_steps):
    """Run build_testfs_io natively and in the sandbox; check the steps
    agree; return (sandboxed fuse_io lines, native log, sandboxed log)."""
    pair = both(build_testfs_io(opts, *io_steps))
    pair.assert_steps_same()
    assert pair.sandbox["mount"].status == 0
    assert pair.sandbox["umount"].status == 0
    return pair.sandbox["io"].lines, pair.roots["native"] / "log", pair.roots["sandbox"] / "log"


def reads(log):
    return read_log(log, "READ")


def writes(log):
    return read_log(log, "WRITE")


# ------------------------------------------------------------ testfs tree


@pytest.mark.slow
def test_testfs_tree(both):
    """Mirrors test_testfs_tree: names, types, modes, sizes, the link, the
    data, statfs; create, truncate (down and up), chmod, utime, unlink, and
    a write past the end that grows the file."""

    def build(s, root):
        mnt = root / "mnt"
        new = mnt / "dir" / "new"
        s.step("mount", testfs_daemon_argv(mnt, "data_size=100000"))
        s.step("fstype", f"{mountinfo_step(mnt)} | cut -d' ' -f1")
        s.step("ls", ["ls", "-A", mnt])
        s.step("ls dir", ["ls", "-A", mnt / "dir"])
        s.step("stat", ["stat", "-c", "%n %F %a %s", mnt / "data", mnt / "dir", mnt / "link"])
        s.step("readlink", ["readlink", mnt / "link"])
        s.step("sha256sum", ["sha256sum", mnt / "data", mnt / "link"])
        s.step("statfs", ["stat", "-f", "-c", "%S %l %T", mnt])
        s.step("create", f"printf hello > {new} && ls -A {mnt}/dir && cat {new}")
        s.step("truncate down", f"truncate -s 2 {new} && od -An -c {new}")
        s.step("truncate up", f"truncate -s 4 {new} && od -An -c {new}")
        s.step("chmod", f"chmod 600 {new} && stat -c %a {new}")
        s.step("utime", f"touch -a -d @1000 {new} && touch -m -d @2000 {new} && stat -c %Y {new}")
        s.step("unlink", f"rm {new} && ls -A {mnt}/dir")
        s.step("grow", fuse_io(mnt / "data", "open:rw", "pwrite:1:100000", "close"))
        s.step("size", ["stat", "-c", "%s", mnt / "data"])
        s.step("umount", umount(mnt))

    pair = both(build)
    pair.assert_steps_same()
    sb = pair.sandbox
    assert sb["fstype"].stdout == "fuse.testfs\n"
    assert sb["ls"].lines == ["data", "dir", "link"]
    assert sb["ls dir"].stdout == ""
    assert sb["stat"].lines == [
        "ROOT/mnt/data regular file 644 100000",
        "ROOT/mnt/dir directory 755 4096",
        "ROOT/mnt/link symbolic link 777 4",
    ]
    assert sb["readlink"].stdout == "data\n"
    digest = hashlib.sha256(testfs_data(0, 100000)).hexdigest()
    assert sb["sha256sum"].lines == [f"{digest}  ROOT/mnt/data", f"{digest}  ROOT/mnt/link"]
    assert sb["statfs"].stdout == "4096 255 fuseblk\n"  # FUSE_SUPER_MAGIC
    assert sb["create"].lines == ["new", "hello"]
    assert sb["truncate up"].stdout.split() == ["h", "e", "\\0", "\\0"]
    assert sb["chmod"].stdout == "600\n"
    assert sb["utime"].stdout == "2000\n"
    assert sb["unlink"].stdout == ""
    assert sb["size"].stdout == "100001\n"


def test_testfs_log_lines(both):
    """Mirrors test_testfs_log_lines: one log line per request; OPEN, READ,
    FLUSH and RELEASE come in that order."""

    def build(s, root):
        mnt, log = root / "mnt", root / "log"
        s.step("mount", testfs_daemon_argv(mnt, "direct_io", log=log))
        s.step("io", fuse_io(mnt / "data", "open:r", "pread:10:20", "close"))
        # RELEASE is sent asynchronously, after close(2) has returned.
        s.step(
            "release",
            f"n=0; until grep -q RELEASE {log} || [ $n -ge 100 ]; do sleep 0.05; "
            "n=$((n+1)); done; grep -c RELEASE " + str(log),
        )
        s.step("umount", umount(mnt))

    pair = both(build)
    pair.assert_steps_same()
    for kind, root in pair.roots.items():
        lines = read_log(root / "log")
        assert lines[0].startswith("INIT "), kind
        assert "LOOKUP data" in lines, kind
        assert "READ off=20 size=10" in lines, kind
        i = lines.index
        assert i("OPEN ino=2") < i("READ off=20 size=10") < i("FLUSH") < i("RELEASE"), kind
    assert pair.sandbox["io"].lines[1] == read_result("pread:10:20", testfs_data(20, 10))


@pytest.mark.slow
def test_testfs_multithreaded(both):
    """Mirrors test_testfs_multithreaded: without -s, libfuse serves on
    several threads; 4 readers of 1 MiB at once all get the right data."""
    mib = 1 << 20

    def build(s, root):
        mnt, log = root / "mnt", root / "log"
        s.step(
            "mount", testfs_daemon_argv(mnt, "max_read=16384", "direct_io", log=log, threads=True)
        )
        argv = shlex.join(fuse_io(mnt / "data", "open:r", f"pread:{mib}:0", "close"))
        s.step(
            "readers",
            f"for i in 1 2 3 4; do {argv} > {root}/out.$i & done; wait; cat {root}/out.*",
        )
        s.step("umount", umount(mnt))

    pair = both(build)
    pair.assert_steps_same()
    one = ["open:r = fd", read_result(f"pread:{mib}:0", testfs_data()), "close = 0"]
    assert pair.sandbox["readers"].lines == one * 4
    for kind, root in pair.roots.items():
        assert len(reads(root / "log")) == 4 * 64, kind


# ------------------------------------------------------------------ reads


def test_read_small_max_read(both):
    """Mirrors test_read_small_max_read (gVisor's ReadSmallMaxRead):
    max_read=4096, one 40 KiB read(2) is exactly 10 READs of 4096 at offsets
    i*4096, and the data is right."""

    def build(s, root):
        mnt, log = root / "mnt", root / "log"
        s.step("mount", testfs_daemon_argv(mnt, "max_read=4096", "direct_io", log=log))
        s.step("io", fuse_io(mnt / "data", "open:r", "read:40960", "tell", "close"))
        s.step("umount", umount(mnt))

    pair = both(build)
    pair.assert_steps_same()
    assert pair.sandbox["io"].lines == [
        "open:r = fd",
        read_result("read:40960", testfs_data(0, 40960)),
        "tell = 40960",
        "close = 0",
    ]
    expected = [f"READ off={i * 4096} size=4096" for i in range(10)]
    for kind, root in pair.roots.items():
        assert read_log(root / "log", "INIT") == [
            "INIT max_write=1048576 max_read=4096 max_readahead=131072"
        ], kind
        assert reads(root / "log") == expected, kind


def test_mountinfo_shows_max_read(both):
    """Mirrors the mount_info check of test_read_small_max_read: the mount's
    super options include max_read=4096, as Linux's fuse_show_options
    prints them."""

    def build(s, root):
        mnt = root / "mnt"
        s.step("mount", testfs_daemon_argv(mnt, "max_read=4096", "direct_io"))
        s.step("mountinfo", mountinfo_step(mnt))
        s.step("umount", umount(mnt))

    pair = both(build)
    assert pair.native["mountinfo"].stdout.split()[0] == "fuse.testfs"
    assert "max_read=4096" in pair.native["mountinfo"].stdout.split()[1].split(",")
    pair.assert_steps_same()


MIB = 1 << 20

# Simple fuse_io cases on testfs, each mirroring a native test:
# id -> (testfs options, fuse_io steps, expected output, opcode, expected log).
IO_CASES = {
    "read_default_max_read": (
        ["direct_io"],
        ["open:r", "read:40960", "close"],
        ["open:r = fd", read_result("read:40960", testfs_data(0, 40960)), "close = 0"],
        "READ",
        ["READ off=0 size=40960"],
    ),
    "read_megabyte_aligned": (
        ["direct_io"],
        ["open:r", f"pread:{MIB}:0", "close"],
        ["open:r = fd", read_result(f"pread:{MIB}:0", testfs_data()), "close = 0"],
        "READ",
        [f"READ off=0 size={MIB}"],
    ),
    "read_megabyte_follows_buffer_pages": (
        ["direct_io"],
        ["open:r", "bufoff:48", f"pread:{MIB}:0", "close"],
        [
            "open:r = fd",
            "bufoff:48 = 0",
            read_result(f"pread:{MIB}:0", testfs_data()),
            "close = 0",
        ],
        "READ",
        [f"READ off=0 size={MIB - 48}", f"READ off={MIB - 48} size=48"],
    ),
    "read_partial": (
        ["direct_io"],
        ["open:r", "read:1", "read:3", "read:5", "tell", "close"],
        [
            "open:r = fd",
            read_result("read:1", testfs_data(0, 1)),
            read_result("read:3", testfs_data(1, 3)),
            read_result("read:5", testfs_data(4, 5)),
            "tell = 9",
            "close = 0",
        ],
        "READ",
        ["READ off=0 size=1", "READ off=1 size=3", "READ off=4 size=5"],
    ),
    "pread_keeps_offset": (
        ["direct_io"],
        ["open:r", "pread:5:1000", "tell", "close"],
        [
            "open:r = fd",
            read_result("pread:5:1000", testfs_data(1000, 5)),
            "tell = 0",
            "close = 0",
        ],
        "READ",
        ["READ off=1000 size=5"],
    ),
    "read_zero_sends_nothing": (
        ["direct_io"],
        ["open:r", "read:0", "pread:0:100", "close"],
        ["open:r = fd", "read:0 = 0 sum=811c9dc5", "pread:0:100 = 0 sum=811c9dc5", "close = 0"],
        "READ",
        [],
    ),
    "read_at_eof": (
        ["data_size=100", "direct_io"],
        ["open:r", "pread:50:80", "pread:50:100", "pread:50:5000"],
        [
            "open:r = fd",
            read_result("pread:50:80", testfs_data(80, 20)),
            "pread:50:100 = 0 sum=811c9dc5",
            "pread:50:5000 = 0 sum=811c9dc5",
        ],
        "READ",
        ["READ off=80 size=50", "READ off=100 size=50", "READ off=5000 size=50"],
    ),
    "write_unaligned_buffer_direct_io": (
        ["testfs_max_write=4096", "direct_io"],
        ["open:w", "bufoff:2272", "pwrite:16384:100", "close"],
        ["open:w = fd", "bufoff:2272 = 0", "pwrite:16384:100 = 16384", "close = 0"],
        "WRITE",
        [
            "WRITE off=100 size=1824",
            "WRITE off=1924 size=4096",
            "WRITE off=6020 size=4096",
            "WRITE off=10116 size=4096",
            "WRITE off=14212 size=2272",
        ],
    ),
    "write_unaligned_buffer_page_cache": (
        ["testfs_max_write=4096"],
        ["open:w", "bufoff:2272", "pwrite:16384:100", "close"],
        ["open:w = fd", "bufoff:2272 = 0", "pwrite:16384:100 = 16384", "close = 0"],
        "WRITE",
        [
            "WRITE off=100 size=3996",
            "WRITE off=4096 size=4096",
            "WRITE off=8192 size=4096",
            "WRITE off=12288 size=4096",
            "WRITE off=16384 size=100",
        ],
    ),
    "write_big_is_one_request": (
        [],
        ["open:w", "pwrite:307200:0", "close"],
        ["open:w = fd", "pwrite:307200:0 = 307200", "close = 0"],
        "WRITE",
        ["WRITE off=0 size=307200"],
    ),
    "pwrite": (
        ["direct_io"],
        ["open:rw", "pwrite:10:1000", "tell", "pread:12:999", "close"],
        [
            "open:rw = fd",
            "pwrite:10:1000 = 10",
            "tell = 0",
            read_result(
                "pread:12:999", testfs_data(999, 1) + io_pattern(10) + testfs_data(1010, 1)
            ),
            "close = 0",
        ],
        "WRITE",
        ["WRITE off=1000 size=10"],
    ),
    "write_zero_sends_nothing": (
        ["direct_io"],
        ["open:w", "write:0", "close"],
        ["open:w = fd", "write:0 = 0", "close = 0"],
        "WRITE",
        [],
    ),
    "append_with_direct_io": (
        ["data_size=1000", "direct_io"],
        ["open:wa", "write:10", "tell", "fstat", "close"],
        ["open:wa = fd", "write:10 = 10", "tell = 1010", "fstat = 1010", "close = 0"],
        "WRITE",
        ["WRITE off=1000 size=10"],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(IO_CASES))
def test_testfs_io(both, case):
    """Mirrors the native test of the same name (test_<case>, or the
    aligned and unaligned halves of test_read_megabyte_follows_buffer_pages
    and test_write_unaligned_buffer): fuse_io's output and the daemon's
    READs or WRITEs are Linux's."""
    opts, steps, expected_out, op, expected_log = IO_CASES[case]
    out, nlog, slog = run_testfs_io(both, opts, *steps)
    assert out == expected_out
    assert read_log(nlog, op) == expected_log
    assert read_log(slog, op) == expected_log


@pytest.mark.parametrize(
    ("short", "returned"),
    [(3, 2), (5, 0), (4096, 0)],
    ids=["ReadShort", "ReadShortEOF", "header-only"],
)
def test_read_short(both, short, returned):
    """Mirrors test_read_short: a 2-byte reply to a 5-byte read returns 2; a
    header-only reply returns 0."""
    out, nlog, slog = run_testfs_io(
        both, ["direct_io", f"short_read={short}"], "open:r", "read:5", "tell", "close"
    )
    assert out == [
        "open:r = fd",
        read_result("read:5", testfs_data(0, returned)),
        f"tell = {returned}",
        "close = 0",
    ]
    assert reads(slog) == reads(nlog) == ["READ off=0 size=5"]


@pytest.mark.parametrize(
    ("at", "returned", "nreads"),
    [(8192, 10240, 3), (36864, 38912, 10)],
    ids=["middle", "last"],
)
def test_read_small_max_read_short_fragment(both, at, returned, nreads):
    """Mirrors test_read_small_max_read_short_middle and _short_last: a
    half-filled fragment ends the read there (10240 after 3 READs when it is
    the one at 8192)."""
    out, nlog, slog = run_testfs_io(
        both,
        ["max_read=4096", "direct_io", f"short_read_at={at}"],
        "open:r",
        "read:40960",
        "tell",
        "close",
    )
    assert out[1:3] == [read_result("read:40960", testfs_data(0, returned)), f"tell = {returned}"]
    expected = [f"READ off={i * 4096} size=4096" for i in range(nreads)]
    assert reads(slog) == reads(nlog) == expected


def _page_reads_only(log):
    for line in reads(log):
        off, size = (int(f.split("=")[1]) for f in line.split()[1:])
        assert off % 4096 == 0 and size == 4096, line


def test_read_short_through_page_cache(both):
    """Mirrors the first read of test_read_short_through_page_cache: without
    direct_io a short READ reply ends the read. (The READs are not
    compared: Linux's come from readahead; each must be a page at a page
    offset.)"""
    out, nlog, slog = run_testfs_io(
        both, ["max_read=4096", "short_read_at=8192"], "open:r", "read:40960", "close"
    )
    assert out[1] == read_result("read:40960", testfs_data(0, 10240))
    _page_reads_only(slog)


def test_read_after_short_read_through_page_cache(both):
    """Mirrors the second read of test_read_short_through_page_cache: the
    read after a short one returns 0 (end of file)."""
    out, nlog, slog = run_testfs_io(
        both,
        ["max_read=4096", "short_read_at=8192"],
        "open:r",
        "read:40960",
        "read:40960",
        "close",
    )
    assert out[1:3] == [
        read_result("read:40960", testfs_data(0, 10240)),
        "read:40960 = 0 sum=811c9dc5",
    ]
    _page_reads_only(slog)


@pytest.mark.parametrize("err", ["EIO", "EACCES", "ENOSPC", "ESTALE"])
def test_read_error_passes_through(both, err):
    """Mirrors test_read_error_passes_through."""
    out, nlog, slog = run_testfs_io(
        both, ["direct_io", f"read_error={err}"], "open:r", "read:5", "tell", "close"
    )
    assert out == ["open:r = fd", f"read:5 = -1 {err}", "tell = 0", "close = 0"]
    assert reads(slog) == reads(nlog) == ["READ off=0 size=5"]


# ----------------------------------------------------------------- writes


@pytest.mark.parametrize("mode", ["direct_io", "write-through"])
def test_write_small_max_write(both, mode):
    """Mirrors test_write_small_max_write (gVisor's WriteSmallMaxWrite): with
    max_write=4096 a 16 KiB write is 4 WRITEs of 4096, with direct_io and
    through the page cache."""
    opts = ["testfs_max_write=4096"] + (["direct_io"] if mode == "direct_io" else [])

    def build(s, root):
        mnt, log = root / "mnt", root / "log"
        s.step("mount", testfs_daemon_argv(mnt, *opts, log=log))
        s.step("write", fuse_io(mnt / "data", "open:rw", "write:16384", "tell", "close"))
        s.step("mark", log_mark(log, "back"))
        s.step("back", fuse_io(mnt / "data", "open:r", "pread:16384:0", "pread:16:16384", "close"))
        s.step("umount", umount(mnt))

    pair = both(build)
    pair.assert_steps_same()
    assert pair.sandbox["write"].lines == [
        "open:rw = fd",
        "write:16384 = 16384",
        "tell = 16384",
        "close = 0",
    ]
    assert pair.sandbox["back"].lines[1:3] == [
        read_result("pread:16384:0", io_pattern(16384)),
        read_result("pread:16:16384", testfs_data(16384, 16)),
    ]
    expected = [f"WRITE off={i * 4096} size=4096" for i in range(4)]
    for kind, root in pair.roots.items():
        assert log_sections(root / "log", "WRITE")[""] == expected, kind


@pytest.mark.parametrize("mode", ["direct_io", "write-through"])
def test_write_short(both, mode):
    """Mirrors test_write_short (gVisor's WriteShort): a reply of 5 for a
    10-byte WRITE returns 5."""
    opts = ["short_write=5"] + (["direct_io"] if mode == "direct_io" else [])
    out, nlog, slog = run_testfs_io(
        both, opts, "open:rw", "write:10", "tell", "pread:6:0", "close"
    )
    assert out[1:4] == [
        "write:10 = 5",
        "tell = 5",
        read_result("pread:6:0", io_pattern(5) + testfs_data(5, 1)),
    ]
    assert writes(slog) == writes(nlog) == ["WRITE off=0 size=10"]


def test_write_short_stops_at_first_fragment(both):
    """Mirrors test_write_short_stops_at_first_fragment."""
    out, nlog, slog = run_testfs_io(
        both,
        ["testfs_max_write=4096", "direct_io", "short_write=1"],
        "open:w",
        "write:16384",
        "tell",
        "close",
    )
    assert out[1:3] == ["write:16384 = 4095", "tell = 4095"]
    assert writes(slog) == writes(nlog) == ["WRITE off=0 size=4096"]


@pytest.mark.parametrize(
    ("mode", "result"),
    [("direct_io", "write:10 = 0"), ("write-through", "write:10 = -1 EIO")],
)
def test_write_short_zero(both, mode, result):
    """Mirrors test_write_short_zero (gVisor's WriteShortZero): a WRITE
    reply of size 0 is EIO for a buffered write and 0 for a direct one;
    sentry, without a page cache, must give the answer of each mode."""
    opts = ["zero_write"] + (["direct_io"] if mode == "direct_io" else [])
    out, nlog, slog = run_testfs_io(both, opts, "open:w", "write:10", "tell", "close")
    assert out[1:3] == [result, "tell = 0"]
    assert writes(slog) == writes(nlog) == ["WRITE off=0 size=10"]


@pytest.mark.parametrize("err", ["EIO", "ENOSPC", "EFBIG"])
def test_write_error_passes_through(both, err):
    """Mirrors test_write_error_passes_through."""
    out, _, _ = run_testfs_io(
        both, ["direct_io", f"write_error={err}"], "open:w", "write:10", "close"
    )
    assert out[1:] == [f"write:10 = -1 {err}", "close = 0"]


# ------------------------------------------------ open, create and close


def test_create_enosys_falls_back_to_mknod(both):
    """Mirrors test_create_enosys_falls_back_to_mknod: CREATE answered
    ENOSYS is latched; creation goes on with MKNOD + OPEN."""

    def build(s, root):
        mnt, log = root / "mnt", root / "log"
        s.step("mount", testfs_daemon_argv(mnt, "no_create", log=log))
        s.step("a", fuse_io(mnt / "a", "open:wc", "write:3", "close"))
        s.step("b", fuse_io(mnt / "b", "open:wc", "close"))
        s.step("umount", umount(mnt))

    pair = both(build)
    pair.assert_steps_same()
    assert pair.sandbox["a"].lines == ["open:wc = fd", "write:3 = 3", "close = 0"]
    assert pair.sandbox["b"].lines == ["open:wc = fd", "close = 0"]
    expected = [
        "LOOKUP a",
        "CREATE a",
        "MKNOD a",
        "OPEN ino=5",
        "LOOKUP b",
        "MKNOD b",
        "OPEN ino=6",
    ]
    for kind, root in pair.roots.items():
        assert read_log(root / "log", "LOOKUP", "CREATE", "MKNOD", "OPEN") == expected, kind


def test_create(both):
    """Mirrors test_create: O_CREAT|O_EXCL is one CREATE; a second one is
    EEXIST."""

    def build(s, root):
        mnt, log = root / "mnt", root / "log"
        s.step("mount", testfs_daemon_argv(mnt, log=log))
        s.step("create", fuse_io(mnt / "new", "open:rwcx", "write:3", "pread:3:0", "close"))
        s.step("again", fuse_io(mnt / "new", "open:rwcx"))
        s.step("umount", umount(mnt))

    pair = both(build)
    pair.assert_steps_same()
    assert pair.sandbox["create"].lines == [
        "open:rwcx = fd",
        "write:3 = 3",
        read_result("pread:3:0", io_pattern(3)),
        "close = 0",
    ]
    assert pair.sandbox["again"].lines == ["open:rwcx = -1 EEXIST"]
    for kind, root in pair.roots.items():
        assert read_log(root / "log", "CREATE", "MKNOD") == ["CREATE new"], kind


@pytest.mark.parametrize("opt", ["no_create", "direct_io"], ids=["MKNOD", "CREATE"])
def test_created_entry_is_cached(both, opt):
    """Native fact (not pinned by test_fuse_native.py): the entry that
    CREATE (or MKNOD) returns is cached like a LOOKUP's, so stat(2) of the
    new file right after needs no LOOKUP (data's LOOKUP shows the log
    works)."""

    def build(s, root):
        mnt, log = root / "mnt", root / "log"
        s.step("mount", testfs_daemon_argv(mnt, opt, log=log))
        s.step("create", fuse_io(mnt / "a", "open:wc", "close"))
        s.step("mark", log_mark(log, "stat"))
        s.step("stat", ["stat", "-c", "%n %s", mnt / "a", mnt / "data"])
        s.step("umount", umount(mnt))

    pair = both(build)
    pair.assert_steps_same()
    assert pair.sandbox["stat"].lines == ["ROOT/mnt/a 0", "ROOT/mnt/data 1048576"]
    assert log_sections(pair.roots["native"] / "log", "LOOKUP")["stat"] == ["LOOKUP data"]
    assert log_sections(pair.roots["sandbox"] / "log", "LOOKUP")["stat"] == ["LOOKUP data"]


@pytest.mark.parametrize(("opt", "flushes"), [("no_flush", 1), (None, 2)], ids=["ENOSYS", "ok"])
def test_flush_enosys_is_latched(both, opt, flushes):
    """Mirrors test_flush_enosys_is_latched: every close sends FLUSH; an
    ENOSYS reply counts as success (close returns 0) and stops the FLUSHes."""

    def build(s, root):
        mnt, log = root / "mnt", root / "log"
        s.step("mount", testfs_daemon_argv(mnt, *filter(None, [opt]), log=log))
        s.step("first", fuse_io(mnt / "data", "open:r", "close"))
        s.step("second", fuse_io(mnt / "data", "open:r", "close"))
        s.step("umount", umount(mnt))

    pair = both(build)
    pair.assert_steps_same()
    assert pair.sandbox["first"].lines == ["open:r = fd", "close = 0"]
    assert pair.sandbox["second"].lines == ["open:r = fd", "close = 0"]
    for kind, root in pair.roots.items():
        assert read_log(root / "log", "FLUSH") == ["FLUSH"] * flushes, kind


# ------------------------------------------------------------ rw_family

RWF_NOWAIT_LINE = "preadv2(a, [128], 0, RWF_NOWAIT) = "


def build_rw_family(kind):
    def build(s, root):
        mnt = root / "mnt"
        if kind == "bindfs":
            (root / "src").mkdir()
            s.step("mount", ["bindfs", root / "src", mnt])
            target = mnt
        else:
            opts = ["direct_io"] if kind == "testfs-direct_io" else []
            s.step("mount", testfs_daemon_argv(mnt, *opts))
            target = mnt / "dir"
        s.step("rw_family", [rw_family_exe(), target])
        s.step("umount", umount(mnt))

    return build


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["testfs", "testfs-direct_io", "bindfs"])
def test_rw_family(both, kind):
    """Mirrors test_rw_family_is_stable: rw_family prints in the sandbox what
    it prints natively, on testfs (page cache and direct_io) and on bindfs;
    the RWF_NOWAIT line is left to test_rw_family_rwf_nowait."""
    if kind == "bindfs":
        require_tool("bindfs")
    pair = both(build_rw_family(kind))
    for run in (pair.native, pair.sandbox):
        step = run["rw_family"]
        step.stdout = "".join(
            line for line in step.stdout.splitlines(True) if not line.startswith(RWF_NOWAIT_LINE)
        )
    pair.assert_steps_same()
    out = pair.sandbox["rw_family"].stdout
    assert out.endswith("mismatches = 0\n") and "MISMATCH" not in out, out
    lines = out.splitlines()
    for line in RW_FAMILY_PINNED:
        if not line.startswith(RWF_NOWAIT_LINE):
            assert any(o == line or o.startswith(line + " ") for o in lines), line
    if kind == "bindfs":
        assert os.listdir(pair.roots["sandbox"] / "src") == []


def test_rw_family_rwf_nowait(both):
    """Mirrors RW_FAMILY_PINNED's "preadv2(a, [128], 0, RWF_NOWAIT) = -1
    EOPNOTSUPP" (the same on every FUSE mount; testfs here)."""
    pair = both(build_rw_family("testfs"))
    line = next(o for o in pair.native["rw_family"].lines if o.startswith(RWF_NOWAIT_LINE))
    assert line == RWF_NOWAIT_LINE + "-1 EOPNOTSUPP"
    pair.assert_steps_same()


# ----------------------------------------------------------------- crash


def test_crash_mid_read(both):
    """Mirrors test_crash_mid_read: testfs aborts on its 4th READ of a 40
    KiB read split in 10: the read returns the 12288 bytes received; every
    later operation fails with ENOTCONN; the mount stays until unmounted.
    sentry must not hang, and exits with the script's status. (close(2) is
    left to test_close_after_crash.)"""

    def build(s, root):
        mnt, log = root / "mnt", root / "log"
        argv = testfs_daemon_argv(
            mnt, "max_read=4096", "direct_io", "crash_after_reads=3", log=log
        )
        s.step("mount", argv)
        s.step("io", fuse_io(mnt / "data", "open:r", "read:40960", "read:40960"))
        s.step("open", fuse_io(mnt / "data", "open:r"))
        s.step("ls", ["ls", mnt])
        s.step("stat", ["stat", "-c", "%F", mnt / "data"])
        s.step("mounted", f"{mountinfo_step(mnt)} | cut -d' ' -f1")
        s.step("umount", umount(mnt))
        s.step("unmounted", mountinfo_step(mnt))
        s.step("ls after", ["ls", "-a", mnt])
        s.raw("exit 7")

    start = time.monotonic()
    pair = both(build)
    pair.assert_steps_same()
    assert pair.native.returncode == pair.sandbox.returncode == 7
    assert pair.sandbox["io"].lines == [
        "open:r = fd",
        read_result("read:40960", testfs_data(0, 12288)),
        "read:40960 = -1 ENOTCONN",
    ]
    assert pair.sandbox["open"].lines == ["open:r = -1 ENOTCONN"]
    assert "Transport endpoint is not connected" in pair.sandbox["ls"].stderr
    assert pair.sandbox["mounted"].stdout == "fuse.testfs\n"
    assert pair.sandbox["umount"].status == 0
    assert pair.sandbox["unmounted"].stdout == ""
    assert pair.sandbox["ls after"].lines == [".", ".."]
    for kind, root in pair.roots.items():
        assert reads(root / "log") == [f"READ off={i * 4096} size=4096" for i in range(4)], kind
        assert read_log(root / "log")[-1] == "ABORT", kind
    assert time.monotonic() - start < 30


def test_close_after_crash(both):
    """Mirrors the close of test_crash_mid_read: close(2) after the daemon
    died fails with ENOTCONN."""
    out, _, _ = run_testfs_io(
        both,
        ["max_read=4096", "direct_io", "crash_after_reads=3"],
        "open:r",
        "read:40960",
        "close",
    )
    assert out[2] == "close = -1 ENOTCONN"


@pytest.mark.parametrize(
    ("mode", "first"),
    [
        pytest.param(
            "direct_io",
            "ECONNABORTED",
        ),
        ("page-cache", "ENOTCONN"),
    ],
)
def test_crash_during_only_read(both, mode, first):
    """Mirrors test_crash_during_only_read: a direct READ in flight when the
    daemon dies fails with ECONNABORTED, a page-cache read with ENOTCONN;
    later calls get ENOTCONN. (close(2): test_close_after_crash.)"""
    opts = ["crash_after_reads=0"] + (["direct_io"] if mode == "direct_io" else [])
    out, _, _ = run_testfs_io(both, opts, "open:r", "read:100", "read:100")
    assert out == ["open:r = fd", f"read:100 = -1 {first}", "read:100 = -1 ENOTCONN"]


# ---------------------------------------------------------------- unmount


@pytest.mark.slow
def test_unmount_from_inside_shows_host_dir(tmp_path, sandbox_popen):
    """`fusermount3 -u` in the sandbox unmounts; the mountpoint then shows
    the host's (empty) folder again. While the sandbox has it mounted, the
    host sees the empty folder and no mount."""
    root = tmp_path
    # The mountpoint's parent stays untouched, so that ".." lists the same.
    mnt, log = root / "parent" / "mnt", root / "log"
    mnt.mkdir(parents=True)
    ready, go = root / "ready", root / "go"
    listing = ["ls", "-la", "--time-style=+%s", mnt]
    s = Script(root)
    s.step("before", listing)
    s.step("mount", testfs_daemon_argv(mnt, log=log))
    s.step("during", ["ls", mnt])
    s.step("mountinfo during", f"{mountinfo_step(mnt)} | cut -d' ' -f1")
    s.step(
        "handshake",
        f"touch {ready}; n=0; while [ ! -e {go} ] && [ $n -lt 400 ]; do sleep 0.05; "
        f"n=$((n+1)); done; [ -e {go} ]",
    )
    s.step("umount", umount(mnt))
    s.step("mountinfo after", mountinfo_step(mnt))
    s.step("after", listing)
    s.step("stat after", ["stat", "-c", "%d %i %F %a", mnt])
    proc = sandbox_popen(["sh", "-c", s.text()], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + SCRIPT_TIMEOUT
    while not ready.exists():
        assert proc.poll() is None, finish(proc)
        assert time.monotonic() < deadline, "the sandbox did not mount"
        time.sleep(0.02)
    # The host: no mount, an empty folder.
    assert not is_mounted(mnt)
    assert os.listdir(mnt) == []
    go.touch()
    out, err = proc.communicate(timeout=SCRIPT_TIMEOUT)
    res = split_output(s, subprocess.CompletedProcess([], proc.returncode, out, err))
    assert res.returncode == 0, res.describe()
    for name in res.steps:
        assert res[name].status == 0 and res[name].stderr == "", (name, res.describe())
    assert res["during"].lines == ["data", "dir", "link"]
    assert res["mountinfo during"].stdout == "fuse.testfs\n"
    assert res["mountinfo after"].stdout == ""
    native = run_native(listing).stdout.decode().replace(str(root), "ROOT")
    assert res["before"].stdout == res["after"].stdout == native
    st = os.stat(mnt)
    assert res["stat after"].stdout == f"{st.st_dev} {st.st_ino} directory 755\n"


def test_leftover_daemon_is_killed(tmp_path):
    """A script that mounts and exits without unmounting: sentry ends the
    daemon it left, exits with the script's status at once, and the host
    sees no mount."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    s = Script(tmp_path)
    s.step("mount", testfs_daemon_argv(mnt, "direct_io"))
    s.step("ls", ["ls", mnt])
    s.raw("exit 5")
    start = time.monotonic()
    res = s.run(run_sandbox, timeout=SCRIPT_TIMEOUT)
    assert time.monotonic() - start < 20
    assert res.returncode == 5, res.describe()
    assert res["ls"].lines == ["data", "dir", "link"]
    assert processes_under(tmp_path) == []
    assert not is_mounted(mnt)
    assert os.listdir(mnt) == []


def test_unmount_busy(both):
    """Native fact (not pinned by test_fuse_native.py): a plain unmount of a
    mount that a process uses (its cwd, an open file) fails with EBUSY and
    leaves the mount; a lazy one (-z) detaches it at once."""

    def build(s, root):
        mnt = root / "mnt"
        s.step("mount", testfs_daemon_argv(mnt))
        s.step("cwd busy", f"(cd {mnt} && fusermount3 -u {mnt}; r=$?; ls; exit $r)")
        s.step("fd busy", f"(exec 3<{mnt}/data; fusermount3 -u {mnt}; r=$?; exit $r)")
        s.step("lazy", f"(cd {mnt} && fusermount3 -u -z {mnt}; r=$?; ls; exit $r)")
        s.step("after", ["ls", "-A", mnt])

    pair = both(build)
    busy = "fusermount3: failed to unmount ROOT/mnt: Device or resource busy\n"
    assert (pair.native["cwd busy"].status, pair.native["cwd busy"].stderr) == (1, busy)
    assert pair.native["lazy"].lines == ["data", "dir", "link"]
    pair.assert_steps_same()


def test_mountinfo_fd_has_an_inode():
    """fstat of an open /proc/self/mountinfo gives the file's device and
    inode, as stat(2) of its path does. (grep compares them with its
    stdout's and refuses a file that looks like its output.)"""
    argv = ["sh", "-c", "grep -c fuse_never_there /proc/self/mountinfo; echo $?"]
    native = run_native(argv)
    sandboxed = run_sandbox(argv)
    assert native.stdout == b"0\n1\n"
    assert (sandboxed.stdout, sandboxed.stderr) == (native.stdout, native.stderr)


# ------------------------------------------------------------- squashfuse


@pytest.fixture(scope="module")
def squash_image(tmp_path_factory):
    return make_squashfs(tmp_path_factory.mktemp("squash"))


@pytest.mark.slow
@pytest.mark.parametrize("lowlevel", [False, True], ids=["squashfuse", "squashfuse_ll"])
def test_squashfuse_listing(both, squash_image, lowlevel):
    """Mirrors test_squashfuse: sha256sum of every file, ls -laR and find
    of the mount are the same in the sandbox as natively."""
    exe = require_tool("squashfuse_ll" if lowlevel else "squashfuse")

    def build(s, root):
        mnt = root / "mnt"
        s.step("mount", [exe, squash_image, mnt])
        for name, argv in squashfs_commands(mnt).items():
            s.step(name, f"(cd {mnt} && {shlex.join(argv)})")
        s.step("up", f"cmp -n 65536 {mnt}/sub/up {mnt}/big.bin")
        s.step("umount", umount(mnt))

    pair = both(build, env=LISTING_ENV)
    pair.assert_steps_same()
    out = {name: pair.sandbox[name].stdout for name in squashfs_commands("x")}
    sums = dict(reversed(line.split("  ", 1)) for line in out["sha256sum"].splitlines())
    assert sums == {f"./{k}": v for k, v in squashfs_expected_hashes().items()}
    assert out["find"] == SQUASH_FIND
    assert not any(line.endswith((" .", " ..")) for line in out["ls -la"].splitlines())


BIG_SIZE = 20 * 1000 * 1000
SMALL_SIZE = 200 * 1000


@pytest.fixture(scope="module")
def big_squash_image(tmp_path_factory):
    """An image with big (20 MB) and small (200 KB) incompressible files;
    returns (image, {name: sha256})."""
    mksquashfs = require_tool("mksquashfs")
    base = tmp_path_factory.mktemp("bigsquash")
    src = base / "src"
    src.mkdir()
    rng = random.Random(4242)
    sums = {}
    for name, size in (("big", BIG_SIZE), ("small", SMALL_SIZE)):
        data = rng.randbytes(size)
        (src / name).write_bytes(data)
        sums[name] = hashlib.sha256(data).hexdigest()
    img = base / "big.squashfs"
    subprocess.run(
        [mksquashfs, src, img, "-noappend", "-all-root", "-quiet", "-no-progress"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return img, sums


def _dd_build(exe, img, runs):
    """build() for: mount img with exe, sha256sum big and small, then dd
    (name -> (file, bs)) each to /dev/null, unmount."""

    def build(s, root):
        mnt = root / "mnt"
        s.step("mount", [exe, img, mnt])
        s.step("sha256sum", ["sha256sum", mnt / "big", mnt / "small"])
        for name, (file, bs) in runs.items():
            s.step(name, ["dd", f"if={mnt / file}", "of=/dev/null", f"bs={bs}"])
        s.step("umount", umount(mnt))

    return build


def _check_dd(pair, sums, expected):
    pair.assert_steps_same("mount", "sha256sum", "umount")
    assert pair.sandbox["sha256sum"].lines == [
        f"{sums['big']}  ROOT/mnt/big",
        f"{sums['small']}  ROOT/mnt/small",
    ]
    for name, counts in expected.items():
        for kind, res in (("native", pair.native), ("sandbox", pair.sandbox)):
            assert res[name].status == 0, (kind, name, res[name].stderr)
            assert res[name].stdout == ""
            assert dd_counts(res[name].stderr) == counts, (kind, name)


@pytest.mark.slow
def test_squashfuse_big_file(both, big_squash_image):
    """A 20 MB file on squashfuse reads whole (sha256sum) and with dd at
    bs=4k, 128k and 1M: the record and byte counts are Linux's."""
    img, sums = big_squash_image
    exe = require_tool("squashfuse")
    runs = {f"dd {bs}": ("big", bs) for bs in ("4k", "128k", "1M")}
    pair = both(_dd_build(exe, img, runs), env=LISTING_ENV)
    _check_dd(
        pair,
        sums,
        {
            "dd 4k": ("4882+1 records in", "4882+1 records out", BIG_SIZE),
            "dd 128k": ("152+1 records in", "152+1 records out", BIG_SIZE),
            "dd 1M": ("19+1 records in", "19+1 records out", BIG_SIZE),
        },
    )


@pytest.mark.slow
def test_squashfuse_exec(both, tmp_path):
    """Programs on squashfuse, a daemon inside the sandbox, run: an ELF
    binary, a script, and one through a symlink, as natively."""
    mksquashfs, exe = require_tool("mksquashfs"), require_tool("squashfuse")
    src = tmp_path / "exec-src"
    (src / "bin").mkdir(parents=True)
    shutil.copy("/bin/echo", src / "bin" / "echo")
    (src / "bin" / "script").write_text('#!/bin/sh\necho "script $0 $*"\n')
    (src / "bin" / "script").chmod(0o755)
    (src / "link").symlink_to("bin/echo")
    img = tmp_path / "exec.squashfs"
    subprocess.run(
        [mksquashfs, src, img, "-noappend", "-all-root", "-quiet", "-no-progress"],
        check=True,
        timeout=60,
    )

    def build(s, root):
        mnt = root / "mnt"
        s.step("mount", [exe, img, mnt])
        s.step("elf", [mnt / "bin" / "echo", "hello"])
        s.step("script", f"(cd {mnt} && bin/script a b)")
        s.step("link", [mnt / "link", "linked"])
        s.step("umount", umount(mnt))

    pair = both(build, env=LISTING_ENV)
    pair.assert_steps_same()
    assert all(step.status == 0 for step in pair.sandbox.steps.values()), pair.sandbox.describe()
    assert pair.sandbox["script"].stdout == "script bin/script a b\n"


@pytest.mark.slow
def test_squashfuse_dd_bs1(both, big_squash_image):
    """dd bs=1 of a 200 KB squashfuse file: 200000 one-byte reads. (Without
    a page cache each is a FUSE READ in the sandbox: about 30 s.)"""
    img, sums = big_squash_image
    exe = require_tool("squashfuse")
    pair = both(_dd_build(exe, img, {"dd 1": ("small", "1")}), env=LISTING_ENV)
    _check_dd(pair, sums, {"dd 1": ("200000+0 records in", "200000+0 records out", SMALL_SIZE)})


# ----------------------------------------------------------------- bindfs

SMALL_TREE = {
    "a.txt": b"alpha\n",
    "b.bin": bytes(range(256)) * 40,
    "sub": None,
    "sub/c.txt": b"gamma\n" * 100,
    "sub/deep": None,
    "sub/deep/d": b"",
}


def _make_tree(where: Path):
    where.mkdir()
    for rel, content in SMALL_TREE.items():
        if content is None:
            (where / rel).mkdir()
        else:
            (where / rel).write_bytes(content)
            (where / rel).chmod(0o644)


def _snapshot(top: Path) -> dict[str, tuple]:
    """rel path -> ("d", mode) / ("f", mode, bytes) / ("l", target)."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(top))
            st = os.lstat(path)
            if os.path.islink(path):
                snap[rel] = ("l", os.readlink(path))
            elif os.path.isdir(path):
                snap[rel] = ("d", st.st_mode & 0o7777)
            else:
                snap[rel] = ("f", st.st_mode & 0o7777, path.read_bytes())
    return snap


@pytest.mark.slow
def test_bindfs_path_edges(both):
    """``fuse/path_edges.py`` on bindfs, a libfuse 2 daemon in the sandbox:
    what Linux decides before asking the daemon (renames onto the same
    file, an ancestor or a descendant, on which libfuse deadlocks) sentry
    decides too, with the same answers."""
    require_tool("bindfs")
    script = Path(__file__).parent / "fuse" / "path_edges.py"

    def build(s, root):
        mnt, src = root / "mnt", root / "src"
        src.mkdir()
        s.step("mount", ["bindfs", src, mnt])
        s.step("edges", f"(cd {mnt} && {sys.executable} {script})")
        s.step("umount", ["fusermount", "-u", mnt])

    pair = both(build, env=LISTING_ENV)
    pair.assert_steps_same()
    assert all(step.status == 0 for step in pair.sandbox.steps.values()), pair.sandbox.describe()


def test_libfuse2_sees_the_unmount(tmp_path):
    """After ``fusermount -u``, bindfs (libfuse 2, in the foreground) finds
    its /dev/fuse polling POLLERR, as on Linux, and so does not try an
    unmount of its own ("failed to unmount")."""
    require_tool("bindfs")
    (tmp_path / "src").mkdir()
    (tmp_path / "mnt").mkdir()
    (tmp_path / "src" / "a").write_text("hi\n")
    script = (
        f"cd {tmp_path} && bindfs -f src mnt & "
        f"while ! grep -q ' {tmp_path}/mnt ' /proc/self/mounts; do sleep 0.05; done; "
        f"cat {tmp_path}/mnt/a && fusermount -u {tmp_path}/mnt && wait $!"
    )
    res = run_sandbox(["sh", "-c", script], timeout=30)
    assert (res.returncode, res.stdout, res.stderr) == (0, b"hi\n", b"")


@pytest.mark.slow
def test_bindfs_read_write(both):
    """bindfs read-write over a folder: cp -r of a tree in and out, tar of
    the mount, mkdir, rename, unlink, symlink, chmod, rmdir, then libfuse 2's
    ``fusermount -u``; the host's folder then holds what the sandbox did, as
    it does natively."""
    require_tool("bindfs")

    def build(s, root):
        mnt, src = root / "mnt", root / "src"
        src.mkdir()
        _make_tree(root / "tree")
        s.raw("umask 022")
        s.step("mount", ["bindfs", src, mnt])
        s.step("cp in", ["cp", "-r", root / "tree", mnt / "in"])
        s.step("cp out", ["cp", "-r", mnt / "in", root / "out"])
        s.step("diff", ["diff", "-r", root / "tree", root / "out"])
        s.step(
            "tar",
            f"tar -C {mnt} --sort=name -cf {root}/mnt.tar in && tar -tf {root}/mnt.tar",
        )
        s.step("mkdir", ["mkdir", mnt / "new"])
        s.step("rename", ["mv", mnt / "in" / "a.txt", mnt / "new" / "renamed.txt"])
        s.step("unlink", ["rm", mnt / "in" / "b.bin"])
        s.step("symlink", ["ln", "-s", "../new/renamed.txt", mnt / "in" / "sym"])
        s.step("read via symlink", ["cat", mnt / "in" / "sym"])
        s.step("chmod", ["chmod", "600", mnt / "in" / "sub" / "c.txt"])
        s.step("rmdir", f"mkdir {mnt}/gone && rmdir {mnt}/gone")
        s.step("find", f"(cd {mnt} && find . -printf '%y %m %s %p %l\\n' | LC_ALL=C sort -k4)")
        # bindfs is a libfuse 2 daemon: its fusermount.
        s.step("umount", ["fusermount", "-u", mnt])

    pair = both(build, env=LISTING_ENV)
    pair.assert_steps_same()
    assert all(step.status == 0 for step in pair.sandbox.steps.values()), pair.sandbox.describe()
    assert pair.sandbox["read via symlink"].stdout == "alpha\n"
    assert pair.sandbox["tar"].lines == [
        "in/",
        "in/a.txt",
        "in/b.bin",
        "in/sub/",
        "in/sub/c.txt",
        "in/sub/deep/",
        "in/sub/deep/d",
    ]
    root = pair.roots["sandbox"]
    with tarfile.open(root / "mnt.tar") as tar:
        got = {m.name.removeprefix("in/"): tar.extractfile(m).read() for m in tar if m.isfile()}
    assert got == {k: v for k, v in SMALL_TREE.items() if v is not None}
    expected = {
        "in": ("d", 0o755),
        "in/sub": ("d", 0o755),
        "in/sub/c.txt": ("f", 0o600, SMALL_TREE["sub/c.txt"]),
        "in/sub/deep": ("d", 0o755),
        "in/sub/deep/d": ("f", 0o644, b""),
        "in/sym": ("l", "../new/renamed.txt"),
        "new": ("d", 0o755),
        "new/renamed.txt": ("f", 0o644, b"alpha\n"),
    }
    assert _snapshot(root / "src") == _snapshot(pair.roots["native"] / "src") == expected
    assert _snapshot(root / "out") == _snapshot(root / "tree")
