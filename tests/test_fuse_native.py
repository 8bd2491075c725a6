"""FUSE on the native kernel: the oracle for sentry's FUSE client.

Real libfuse daemons (tests/fuse/testfs.c, bindfs, squashfuse) serve real
kernel FUSE mounts, and the file operations run natively through small
programs (tests/fuse/fuse_io.c, tests/c/rw_family.c). What the programs print
and what testfs logs (one line per request) is what sentry must reproduce
when it serves the same daemons itself.

To see the kernel's exact request pattern natively, the tests mount testfs
with ``-o direct_io`` (testfs then opens files with FOPEN_DIRECT_IO): each
read(2)/write(2) becomes FUSE requests that match the call. Without it the
page cache adds readahead (a 40 KiB read with max_read=4096 gave 11 READs of
4096) and cuts buffered writes at the file's page boundaries when max_pages is
small. ``max_read=N`` is a mount
option (it shows in the mount's options; testfs also sets conn->max_read,
which libfuse requires to match); ``testfs_max_write=N`` is sent in the INIT
reply. libfuse also derives the INIT reply's max_pages from max_write, so with
max_write=4096 a direct write carries one page of the caller's buffer per
WRITE: the split then follows the buffer's page boundaries. fuse_io uses a
page-aligned buffer unless told otherwise.

Needs root and /dev/fuse; ``make install`` installs fuse3, libfuse3-dev,
bindfs, squashfuse and squashfs-tools.
"""

from __future__ import annotations

import os
import stat
import threading

import pytest
from conftest import run_native, wait_for
from fuse.helpers import (
    TESTFS_DATA_SIZE,
    clear_log,
    fuse_daemon,
    io_pattern,
    is_mounted,
    make_squashfs,
    mount_bindfs,
    mount_info,
    mount_squashfuse,
    mount_testfs,
    read_log,
    read_result,
    run_fuse_io,
    run_rw_family,
    run_squashfs_commands,
    squashfs_expected_hashes,
    testfs_argv,
    testfs_data,
)


def io(path, *steps):
    return run_fuse_io(run_native, path, *steps)


def reads(log):
    return read_log(log, "READ")


def writes(log):
    return read_log(log, "WRITE")


@pytest.fixture
def log(tmp_path):
    return tmp_path / "testfs.log"


@pytest.fixture
def mnt(tmp_path):
    return tmp_path / "mnt"


# ---------------------------------------------------------------- testfs


def test_testfs_tree(mnt):
    with mount_testfs(mnt, "data_size=100000"):
        info = mount_info(mnt)
        assert info["fstype"] == "fuse.testfs"
        assert sorted(os.listdir(mnt)) == ["data", "dir", "link"]
        assert os.listdir(mnt / "dir") == []
        st = os.lstat(mnt / "data")
        assert (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)) == (stat.S_IFREG, 0o644)
        assert st.st_size == 100000
        assert stat.S_ISDIR(os.lstat(mnt / "dir").st_mode)
        assert os.readlink(mnt / "link") == "data"
        assert (mnt / "data").read_bytes() == testfs_data(0, 100000)
        assert (mnt / "link").read_bytes() == testfs_data(0, 100000)
        sv = os.statvfs(mnt)
        assert (sv.f_bsize, sv.f_namemax) == (4096, 255)

        # create, write, truncate, chmod, unlink
        new = mnt / "dir" / "new"
        new.write_bytes(b"hello")
        assert sorted(os.listdir(mnt / "dir")) == ["new"]
        os.truncate(new, 2)
        assert new.read_bytes() == b"he"
        os.truncate(new, 4)
        assert new.read_bytes() == b"he\0\0"
        os.chmod(new, 0o600)
        assert stat.S_IMODE(os.stat(new).st_mode) == 0o600
        os.utime(new, (1000, 2000))
        assert os.stat(new).st_mtime == 2000
        os.unlink(new)
        assert os.listdir(mnt / "dir") == []
        with open(mnt / "data", "r+b") as f:
            f.seek(TESTFS_DATA_SIZE)  # past the end: the file grows with a hole
            f.write(b"x")
        assert os.stat(mnt / "data").st_size == TESTFS_DATA_SIZE + 1
    assert not is_mounted(mnt)


def test_testfs_log_lines(mnt, log):
    """The log has one line per request, the opcode first."""
    with mount_testfs(mnt, "direct_io", log=log):
        io(mnt / "data", "open:r", "pread:10:20", "close")
        # RELEASE is sent asynchronously, after close(2) has returned.
        wait_for(lambda: "RELEASE" in read_log(log), timeout=5, what="RELEASE")
    lines = read_log(log)
    assert lines[0].startswith("INIT ")
    assert "LOOKUP data" in lines
    assert "READ off=20 size=10" in lines
    assert lines.index("OPEN ino=2") < lines.index("READ off=20 size=10") < lines.index("FLUSH")
    assert lines.index("FLUSH") < lines.index("RELEASE")


def test_testfs_multithreaded(mnt, log):
    """Without -s, libfuse serves requests on several threads."""
    outs = {}

    def reader(i):
        outs[i] = io(mnt / "data", "open:r", f"pread:{1 << 20}:0", "close")

    with mount_testfs(mnt, "max_read=16384", "direct_io", log=log, threads=True):
        threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    expected = ["open:r = fd", read_result(f"pread:{1 << 20}:0", testfs_data()), "close = 0"]
    assert outs == {i: expected for i in range(4)}
    assert len(reads(log)) == 4 * 64


# ------------------------------------------------------------------ reads


def test_read_small_max_read(mnt, log):
    """gVisor's ReadSmallMaxRead: max_read=4096, one 40 KiB read(2) is
    exactly 10 READs of 4096 at offsets i*4096."""
    with mount_testfs(mnt, "max_read=4096", "direct_io", log=log):
        assert "max_read=4096" in mount_info(mnt)["super_options"].split(",")
        assert read_log(log, "INIT") == [
            "INIT max_write=1048576 max_read=4096 max_readahead=131072"
        ]
        out = io(mnt / "data", "open:r", "read:40960", "tell", "close")
    assert out == [
        "open:r = fd",
        read_result("read:40960", testfs_data(0, 40960)),
        "tell = 40960",
        "close = 0",
    ]
    assert reads(log) == [f"READ off={i * 4096} size=4096" for i in range(10)]


def test_read_default_max_read(mnt, log):
    """Without max_read, the 40 KiB read is one READ."""
    with mount_testfs(mnt, "direct_io", log=log):
        out = io(mnt / "data", "open:r", "read:40960", "close")
    assert out[1] == read_result("read:40960", testfs_data(0, 40960))
    assert reads(log) == ["READ off=0 size=40960"]


def test_read_megabyte_follows_buffer_pages(mnt, log):
    """libfuse's INIT reply gives max_pages=256: a direct read carries at most
    256 pages of the caller's buffer, so a 1 MiB read into a buffer that
    starts 48 bytes into a page is split at the 256th page."""
    mib = 1 << 20
    with mount_testfs(mnt, "direct_io", log=log):
        aligned = io(mnt / "data", "open:r", f"pread:{mib}:0", "close")
        first = reads(log)
        clear_log(log)
        unaligned = io(mnt / "data", "open:r", "bufoff:48", f"pread:{mib}:0", "close")
        second = reads(log)
    assert aligned[1] == unaligned[2] == read_result(f"pread:{mib}:0", testfs_data())
    assert first == [f"READ off=0 size={mib}"]
    assert second == [f"READ off=0 size={mib - 48}", f"READ off={mib - 48} size=48"]


def test_read_partial(mnt, log):
    """gVisor's ReadPartial: 1-, 3- and 5-byte reads move the offset 0, 1, 4, 9."""
    with mount_testfs(mnt, "direct_io", log=log):
        out = io(mnt / "data", "open:r", "read:1", "read:3", "read:5", "tell", "close")
    assert out == [
        "open:r = fd",
        read_result("read:1", testfs_data(0, 1)),
        read_result("read:3", testfs_data(1, 3)),
        read_result("read:5", testfs_data(4, 5)),
        "tell = 9",
        "close = 0",
    ]
    assert reads(log) == ["READ off=0 size=1", "READ off=1 size=3", "READ off=4 size=5"]


def test_pread_keeps_offset(mnt, log):
    with mount_testfs(mnt, "direct_io", log=log):
        out = io(mnt / "data", "open:r", "pread:5:1000", "tell", "close")
    assert out[1:3] == [read_result("pread:5:1000", testfs_data(1000, 5)), "tell = 0"]
    assert reads(log) == ["READ off=1000 size=5"]


def test_read_zero_sends_nothing(mnt, log):
    """gVisor's ReadZero: a 0-byte read returns 0 without a READ."""
    with mount_testfs(mnt, "direct_io", log=log):
        out = io(mnt / "data", "open:r", "read:0", "pread:0:100", "close")
    assert out[1:3] == ["read:0 = 0 sum=811c9dc5", "pread:0:100 = 0 sum=811c9dc5"]
    assert reads(log) == []


def test_read_at_eof(mnt, log):
    """A READ past the end gets an empty reply, and the read returns 0."""
    with mount_testfs(mnt, "data_size=100", "direct_io", log=log):
        out = io(mnt / "data", "open:r", "pread:50:80", "pread:50:100", "pread:50:5000")
    assert out[1:] == [
        read_result("pread:50:80", testfs_data(80, 20)),
        "pread:50:100 = 0 sum=811c9dc5",
        "pread:50:5000 = 0 sum=811c9dc5",
    ]
    # With direct_io the kernel asks even past the known size.
    assert reads(log) == [
        "READ off=80 size=50",
        "READ off=100 size=50",
        "READ off=5000 size=50",
    ]


@pytest.mark.parametrize(
    ("short", "returned"),
    [(3, 2), (5, 0), (4096, 0)],
    ids=["ReadShort", "ReadShortEOF", "header-only"],
)
def test_read_short(mnt, log, short, returned):
    """gVisor's ReadShort and ReadShortEOF: a 2-byte reply to a 5-byte read
    returns 2; a header-only reply returns 0."""
    with mount_testfs(mnt, "direct_io", f"short_read={short}", log=log):
        out = io(mnt / "data", "open:r", "read:5", "tell", "close")
    assert out == [
        "open:r = fd",
        read_result("read:5", testfs_data(0, returned)),
        f"tell = {returned}",
        "close = 0",
    ]
    assert reads(log) == ["READ off=0 size=5"]


def test_read_small_max_read_short_last(mnt, log):
    """gVisor's ReadSmallMaxReadShort: the last of 10 fragments half-filled
    gives 40960 - 2048."""
    with mount_testfs(mnt, "max_read=4096", "direct_io", "short_read_at=36864", log=log):
        out = io(mnt / "data", "open:r", "read:40960", "close")
    assert out[1] == read_result("read:40960", testfs_data(0, 38912))
    assert reads(log) == [f"READ off={i * 4096} size=4096" for i in range(10)]


def test_read_small_max_read_short_middle(mnt, log):
    """Linux stops at the first short fragment and returns what it has (gVisor
    went on and packed later data after the short piece)."""
    with mount_testfs(mnt, "max_read=4096", "direct_io", "short_read_at=8192", log=log):
        out = io(mnt / "data", "open:r", "read:40960", "tell", "close")
    assert out[1:3] == [read_result("read:40960", testfs_data(0, 10240)), "tell = 10240"]
    assert reads(log) == [f"READ off={i * 4096} size=4096" for i in range(3)]


def test_read_short_through_page_cache(mnt, log):
    """Through the page cache a short READ reply means EOF: the read stops
    there. (How many READs readahead sends is not pinned.)"""
    with mount_testfs(mnt, "max_read=4096", "short_read_at=8192", log=log):
        out = io(mnt / "data", "open:r", "read:40960", "read:40960", "close")
    assert out[1:3] == [
        read_result("read:40960", testfs_data(0, 10240)),
        "read:40960 = 0 sum=811c9dc5",
    ]
    for line in reads(log):
        off, size = (int(f.split("=")[1]) for f in line.split()[1:])
        assert off % 4096 == 0 and size == 4096, line


@pytest.mark.parametrize("err", ["EIO", "EACCES", "ENOSPC", "ESTALE"])
def test_read_error_passes_through(mnt, log, err):
    with mount_testfs(mnt, "direct_io", f"read_error={err}", log=log):
        out = io(mnt / "data", "open:r", "read:5", "tell", "close")
    assert out == ["open:r = fd", f"read:5 = -1 {err}", "tell = 0", "close = 0"]
    assert reads(log) == ["READ off=0 size=5"]


# ----------------------------------------------------------------- writes


@pytest.mark.parametrize("mode", ["direct_io", "write-through"])
def test_write_small_max_write(mnt, log, mode):
    """gVisor's WriteSmallMaxWrite: with max_write=4096 a 16 KiB write is 4
    WRITEs of 4096, both with direct_io and through the page cache (which,
    without writeback cache, writes through at once)."""
    opts = ["testfs_max_write=4096"] + (["direct_io"] if mode == "direct_io" else [])
    with mount_testfs(mnt, *opts, log=log):
        out = io(mnt / "data", "open:rw", "write:16384", "tell", "close")
        writes_seen = writes(log)
        back = io(mnt / "data", "open:r", "pread:16384:0", "pread:16:16384", "close")
    assert out == ["open:rw = fd", "write:16384 = 16384", "tell = 16384", "close = 0"]
    assert writes_seen == [f"WRITE off={i * 4096} size=4096" for i in range(4)]
    assert back[1:3] == [
        read_result("pread:16384:0", io_pattern(16384)),
        read_result("pread:16:16384", testfs_data(16384, 16)),
    ]


def test_write_unaligned_buffer(mnt, log):
    """With max_write=4096 libfuse grants max_pages=1, so a direct write takes
    one page of the caller's buffer per WRITE; through the page cache the
    split follows the file's pages instead."""
    with mount_testfs(mnt, "testfs_max_write=4096", "direct_io", log=log):
        out = io(mnt / "data", "open:w", "bufoff:2272", "pwrite:16384:100", "close")
    assert out[2] == "pwrite:16384:100 = 16384"
    sizes = [1824, 4096, 4096, 4096, 2272]
    offs = [100 + sum(sizes[:i]) for i in range(5)]
    assert writes(log) == [f"WRITE off={o} size={s}" for o, s in zip(offs, sizes, strict=True)]

    with mount_testfs(mnt, "testfs_max_write=4096", log=log):
        clear_log(log)
        out = io(mnt / "data", "open:w", "bufoff:2272", "pwrite:16384:100", "close")
    assert out[2] == "pwrite:16384:100 = 16384"
    sizes = [3996, 4096, 4096, 4096, 100]
    offs = [100, 4096, 8192, 12288, 16384]
    assert writes(log) == [f"WRITE off={o} size={s}" for o, s in zip(offs, sizes, strict=True)]


def test_write_big_is_one_request(mnt, log):
    """libfuse 3 offers max_write 1 MiB: a 300 KiB write is one WRITE."""
    with mount_testfs(mnt, log=log):
        out = io(mnt / "data", "open:w", "pwrite:307200:0", "close")
    assert out[1] == "pwrite:307200:0 = 307200"
    assert writes(log) == ["WRITE off=0 size=307200"]


def test_pwrite(mnt, log):
    with mount_testfs(mnt, "direct_io", log=log):
        out = io(mnt / "data", "open:rw", "pwrite:10:1000", "tell", "pread:12:999", "close")
    assert out[1:4] == [
        "pwrite:10:1000 = 10",
        "tell = 0",
        read_result("pread:12:999", testfs_data(999, 1) + io_pattern(10) + testfs_data(1010, 1)),
    ]
    assert writes(log) == ["WRITE off=1000 size=10"]


def test_write_zero_sends_nothing(mnt, log):
    """gVisor's WriteZero: a 0-byte write returns 0 without a WRITE."""
    with mount_testfs(mnt, "direct_io", log=log):
        out = io(mnt / "data", "open:w", "write:0", "close")
    assert out[1] == "write:0 = 0"
    assert writes(log) == []


@pytest.mark.parametrize("mode", ["direct_io", "write-through"])
def test_write_short(mnt, log, mode):
    """gVisor's WriteShort: a reply of 5 for a 10-byte WRITE returns 5."""
    opts = ["short_write=5"] + (["direct_io"] if mode == "direct_io" else [])
    with mount_testfs(mnt, *opts, log=log):
        out = io(mnt / "data", "open:rw", "write:10", "tell", "pread:6:0", "close")
    assert out[1:4] == [
        "write:10 = 5",
        "tell = 5",
        read_result("pread:6:0", io_pattern(5) + testfs_data(5, 1)),
    ]
    assert writes(log) == ["WRITE off=0 size=10"]


def test_write_short_stops_at_first_fragment(mnt, log):
    """A short reply to the first of 4 fragments ends the write there."""
    with mount_testfs(mnt, "testfs_max_write=4096", "direct_io", "short_write=1", log=log):
        out = io(mnt / "data", "open:w", "write:16384", "tell", "close")
    assert out[1:3] == ["write:16384 = 4095", "tell = 4095"]
    assert writes(log) == ["WRITE off=0 size=4096"]


@pytest.mark.parametrize(
    ("mode", "result"),
    [("direct_io", "write:10 = 0"), ("write-through", "write:10 = -1 EIO")],
)
def test_write_short_zero(mnt, log, mode, result):
    """gVisor's WriteShortZero expects EIO for a WRITE reply of size 0. Linux
    gives EIO only through the page cache; a direct write returns 0."""
    opts = ["zero_write"] + (["direct_io"] if mode == "direct_io" else [])
    with mount_testfs(mnt, *opts, log=log):
        out = io(mnt / "data", "open:w", "write:10", "tell", "close")
    assert out[1:3] == [result, "tell = 0"]
    assert writes(log) == ["WRITE off=0 size=10"]


@pytest.mark.parametrize("err", ["EIO", "ENOSPC", "EFBIG"])
def test_write_error_passes_through(mnt, log, err):
    with mount_testfs(mnt, "direct_io", f"write_error={err}", log=log):
        out = io(mnt / "data", "open:w", "write:10", "close")
    assert out[1] == f"write:10 = -1 {err}"


def test_append_with_direct_io(mnt, log):
    """An O_APPEND write goes to the size the kernel knows."""
    with mount_testfs(mnt, "data_size=1000", "direct_io", log=log):
        out = io(mnt / "data", "open:wa", "write:10", "tell", "fstat", "close")
    assert out[1:4] == ["write:10 = 10", "tell = 1010", "fstat = 1010"]
    assert writes(log) == ["WRITE off=1000 size=10"]


# ------------------------------------------------ open, create and close


def test_create_enosys_falls_back_to_mknod(mnt, log):
    """CREATE answered with ENOSYS is latched: that open and every later
    O_CREAT use MKNOD + OPEN."""
    with mount_testfs(mnt, "no_create", log=log):
        a = io(mnt / "a", "open:wc", "write:3", "close")
        b = io(mnt / "b", "open:wc", "close")
    assert a == ["open:wc = fd", "write:3 = 3", "close = 0"]
    assert b == ["open:wc = fd", "close = 0"]
    ops = read_log(log, "LOOKUP", "CREATE", "MKNOD", "OPEN")
    assert ops == [
        "LOOKUP a",
        "CREATE a",
        "MKNOD a",
        "OPEN ino=5",
        "LOOKUP b",
        "MKNOD b",
        "OPEN ino=6",
    ]


def test_create(mnt, log):
    with mount_testfs(mnt, log=log):
        out = io(mnt / "new", "open:rwcx", "write:3", "pread:3:0", "close")
        again = io(mnt / "new", "open:rwcx")
    assert out == [
        "open:rwcx = fd",
        "write:3 = 3",
        read_result("pread:3:0", io_pattern(3)),
        "close = 0",
    ]
    assert again == ["open:rwcx = -1 EEXIST"]
    assert read_log(log, "CREATE", "MKNOD") == ["CREATE new"]


def test_flush_enosys_is_latched(mnt, log):
    """Every close sends FLUSH; an ENOSYS reply counts as success and stops
    the FLUSHes."""
    with mount_testfs(mnt, "no_flush", log=log):
        first = io(mnt / "data", "open:r", "close")
        second = io(mnt / "data", "open:r", "close")
    assert first == second == ["open:r = fd", "close = 0"]
    assert read_log(log, "FLUSH") == ["FLUSH"]
    with mount_testfs(mnt, log=log):
        clear_log(log)
        io(mnt / "data", "open:r", "close")
        io(mnt / "data", "open:r", "close")
    assert read_log(log, "FLUSH") == ["FLUSH", "FLUSH"]


# ------------------------------------------------------------ rw_family

# Outputs of rw_family, kept for the cross-mount comparison: kind -> text.
RW_FAMILY_OUTPUTS: dict[str, str] = {}

# Lines that every FUSE mount here prints (the rest is compared as a whole).
RW_FAMILY_PINNED = [
    "preadv2(a, [128], 0, RWF_NOWAIT) = -1 EOPNOTSUPP",
    "preadv2(a, [128], 0, 0x40000000) = -1 EOPNOTSUPP",
    "pwritev2(a, [64], 0, 0x40000000) = -1 EOPNOTSUPP",
    "lseek(a, 0, SEEK_HOLE) = 2100",
    "lseek(a, 2100, SEEK_DATA) = -1 ENXIO",
    "read(closed, 10) = -1 EBADF",
    "read(a O_WRONLY, 10) = -1 EBADF",
    "pread(a, 10, -1) = -1 EINVAL",
    "lseek(a, 0, 99) = -1 EINVAL",
    "read(dir, 10) = -1 EISDIR",
    "open(dir, O_WRONLY) = -1 EISDIR",
    "pread(pipe, 3, 0) = -1 ESPIPE",
    "pread(a, 200, 0) into unmapped memory = -1 EFAULT",
    "pwrite(a, 200, 100) from unmapped memory = -1 EFAULT",
    "lseek(a, 0, SEEK_CUR) after the partial read = 100",
    "getdents64(dir) = 3 names: rwf.a:8 rwf.b:8 rwf.c:8",
    "getdents64(dir after unlink) = 0 names:",
    "pwrite(a, 10, 0) after unlink = 10",
]


def _rw_family_once(kind, tmp_path, n) -> str:
    mnt = tmp_path / f"mnt-{kind}-{n}"
    if kind == "bindfs":
        src = tmp_path / f"src-{n}"
        src.mkdir()
        with mount_bindfs(src, mnt):
            out = run_rw_family(mnt, run_native)
        assert os.listdir(src) == []
        return out
    opts = ["direct_io"] if kind == "testfs-direct_io" else []
    with mount_testfs(mnt, *opts):
        return run_rw_family(mnt / "dir", run_native)


def _rw_family_output(kind, tmp_path) -> str:
    if kind not in RW_FAMILY_OUTPUTS:
        first = _rw_family_once(kind, tmp_path, 1)
        second = _rw_family_once(kind, tmp_path, 2)
        assert first == second, f"rw_family output differs between two {kind} mounts"
        (tmp_path / f"rw_family-{kind}.txt").write_text(first)
        RW_FAMILY_OUTPUTS[kind] = first
    return RW_FAMILY_OUTPUTS[kind]


RW_KINDS = ["testfs", "testfs-direct_io", "bindfs"]


@pytest.mark.parametrize("kind", RW_KINDS)
def test_rw_family_is_stable(tmp_path, kind):
    """rw_family prints the same on two fresh mounts, finds the data it wrote
    (run_rw_family checks "mismatches = 0") and gives the expected errnos."""
    out = _rw_family_output(kind, tmp_path).splitlines()
    for line in RW_FAMILY_PINNED:
        assert any(o == line or o.startswith(line + " ") for o in out), line
    partial = [o for o in out if "with 100 mapped bytes" in o]
    assert all(" = 100" in o for o in partial) and len(partial) == 3, partial


def test_rw_family_same_on_every_fuse_mount(tmp_path):
    """testfs (page cache or direct_io) and bindfs give the same output."""
    outs = {kind: _rw_family_output(kind, tmp_path) for kind in RW_KINDS}
    assert outs["testfs-direct_io"] == outs["testfs"]
    assert outs["bindfs"] == outs["testfs"]


# ----------------------------------------------------------------- crash


def test_crash_mid_read(mnt, log):
    """testfs aborts on its 4th READ of a 40 KiB read split in 10: the read
    returns the 12288 bytes already received; then every operation on the
    mount fails with ENOTCONN, and the mount can still be unmounted."""
    argv = testfs_argv(mnt, "max_read=4096", "direct_io", "crash_after_reads=3", log=log)
    with fuse_daemon(argv, mnt) as daemon:
        out = io(mnt / "data", "open:r", "read:40960", "read:40960", "close")
        assert daemon.wait(timeout=10) == -6  # SIGABRT
        assert out == [
            "open:r = fd",
            read_result("read:40960", testfs_data(0, 12288)),
            "read:40960 = -1 ENOTCONN",
            "close = -1 ENOTCONN",
        ]
        assert io(mnt / "data", "open:r") == ["open:r = -1 ENOTCONN"]
        with pytest.raises(OSError) as e:
            os.listdir(mnt)
        assert e.value.strerror == os.strerror(107)  # ENOTCONN
        assert is_mounted(mnt)
    assert not is_mounted(mnt)
    assert reads(log) == [f"READ off={i * 4096} size=4096" for i in range(4)]
    assert read_log(log)[-1] == "ABORT"


@pytest.mark.parametrize(
    ("mode", "first"),
    [("direct_io", "ECONNABORTED"), ("page-cache", "ENOTCONN")],
)
def test_crash_during_only_read(mnt, log, mode, first):
    """A READ in flight when the daemon dies fails with ECONNABORTED (direct
    I/O); a page-cache read reports ENOTCONN. Later calls get ENOTCONN."""
    opts = ["crash_after_reads=0"] + (["direct_io"] if mode == "direct_io" else [])
    with fuse_daemon(testfs_argv(mnt, *opts, log=log), mnt) as daemon:
        out = io(mnt / "data", "open:r", "read:100", "read:100", "close")
        assert daemon.wait(timeout=10) == -6
    assert out == [
        "open:r = fd",
        f"read:100 = -1 {first}",
        "read:100 = -1 ENOTCONN",
        "close = -1 ENOTCONN",
    ]
    assert not is_mounted(mnt)


# ------------------------------------------------------------- squashfuse

SQUASH_FIND = """\
d 755 0 . 
f 644 2097152 ./big.bin 
f 644 0 ./empty 
f 644 16 ./hello.txt 
f 644 8890 ./lines.txt 
l 777 9 ./link hello.txt
d 755 0 ./sub 
d 700 0 ./sub/deeper 
f 644 300000 ./sub/deeper/zeros 
f 644 700 ./sub/nested.txt 
l 777 10 ./sub/up ../big.bin
"""  # noqa: W291 (find's %l is empty for non-links)


def test_squashfuse(tmp_path):
    """squashfuse (high level) and squashfuse_ll (low level) serve the same
    tree; ls shows no "." and ".." (squashfuse does not return them)."""
    img = make_squashfs(tmp_path)
    outs = {}
    for lowlevel in (False, True):
        mnt = tmp_path / f"mnt-{int(lowlevel)}"
        with mount_squashfuse(img, mnt, lowlevel=lowlevel):
            outs[lowlevel] = run_squashfs_commands(mnt, run_native)
            assert (mnt / "sub" / "up").read_bytes()[:16] == (mnt / "big.bin").read_bytes()[:16]
        assert not is_mounted(mnt)
    assert outs[False] == outs[True]
    out = outs[False]
    sums = dict(reversed(line.split("  ", 1)) for line in out["sha256sum"].splitlines())
    assert sums == {f"./{k}": v for k, v in squashfs_expected_hashes().items()}
    assert out["find"] == SQUASH_FIND
    ls = out["ls -la"].splitlines()
    assert ls[0] == ".:"
    assert ls[1].startswith("total ")
    names = [line.split()[-1] for line in ls[2:8]]
    assert names == ["big.bin", "empty", "hello.txt", "lines.txt", "hello.txt", "sub"]
    assert ls[6].startswith("lrwxrwxrwx 1 root root       9 0 link -> hello.txt")
    assert not any(line.endswith((" .", " ..")) for line in ls)
