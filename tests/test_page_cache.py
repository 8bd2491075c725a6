"""The buffer cache of FUSE files, against a byte-array model and Linux.

A model-based property test (hypothesis): random sequences of read, write,
pread, pwrite, readv, writev, ftruncate, fsync, lseek and fstat from two
processes with their own open files on one file give the same results as a
plain byte-array model, as the same program on a host tmpfs, and in the
sandbox on memfs with the writeback cache off and on. Plus: the cache stays
within --cache-size (sentry's RSS), its options are checked, and
FileCache's chunk walking (spans, STORE, RETRIEVE, writeback runs) is unit
tested.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_BINDS, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry import Sandbox
from sentry.fsimpl.fuse.page_cache import CHUNK_SIZE, FileCache, PageCache

MODEL = Path(__file__).resolve().parent / "fuse" / "cache_model.py"
CHUNK = 128 * 1024
MAX_OFFSET = 3 * CHUNK + 5000
MAX_COUNT = CHUNK + 9000
SHM = Path("/dev/shm")


def pattern(n: int, seed: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * (n // 32 + 1)
    return block[:n]


def shown(data: bytes) -> str:
    return f"{len(data)} {hashlib.sha1(data).hexdigest()[:12]}"


class Model:
    """What Linux does for the operations of cache_model.py, on a bytearray."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.offsets = [0, 0]

    def _write(self, at: int, data: bytes) -> int:
        if not data:
            return 0  # a write of nothing does not extend the file
        if len(self.data) < at:
            self.data.extend(bytes(at - len(self.data)))
        self.data[at : at + len(data)] = data
        return len(data)

    def run(self, op: list) -> str:
        name, proc, args = op[0], op[1], op[2:]
        pos = self.offsets[proc]
        if name in ("write", "writev"):
            data = (
                pattern(args[0], args[1])
                if name == "write"
                else pattern(args[0] + args[1], args[2])
            )
            self.offsets[proc] = pos + self._write(pos, data)
            return str(len(data))
        if name == "pwrite":
            return str(self._write(args[0], pattern(args[1], args[2])))
        if name in ("read", "readv"):
            n = args[0] if name == "read" else args[0] + args[1]
            data = bytes(self.data[pos : pos + n])
            self.offsets[proc] = pos + len(data)
            return shown(data)
        if name == "pread":
            return shown(bytes(self.data[args[0] : args[0] + args[1]]))
        if name == "truncate":
            del self.data[args[0] :]
            self.data.extend(bytes(args[0] - len(self.data)))
            return "0"
        if name == "fsync":
            return "0"
        if name == "lseek":
            base = {0: 0, 1: pos, 2: len(self.data)}[args[1]]
            if base + args[0] < 0:
                return "-1 EINVAL"
            self.offsets[proc] = base + args[0]
            return str(base + args[0])
        if name == "fstat":
            return str(len(self.data))
        raise ValueError(name)

    def lines(self, ops: list) -> list[str]:
        return [f"{i} {op[0]} {op[1]} -> {self.run(op)}" for i, op in enumerate(ops)]


procs = st.integers(0, 1)
offsets = st.integers(0, MAX_OFFSET)
counts = st.integers(0, MAX_COUNT)
seeds = st.integers(0, 1000)
operation = st.one_of(
    st.tuples(st.just("write"), procs, counts, seeds),
    st.tuples(st.just("pwrite"), procs, offsets, counts, seeds),
    st.tuples(st.just("writev"), procs, st.integers(0, 70000), st.integers(0, 70000), seeds),
    st.tuples(st.just("read"), procs, counts),
    st.tuples(st.just("pread"), procs, offsets, counts),
    st.tuples(st.just("readv"), procs, st.integers(0, 70000), st.integers(0, 70000)),
    st.tuples(st.just("truncate"), procs, offsets),
    st.tuples(st.just("fsync"), procs),
    st.tuples(st.just("lseek"), procs, st.integers(-5000, MAX_OFFSET), st.integers(0, 2)),
    st.tuples(st.just("fstat"), procs),
).map(list)
scripts = st.lists(operation, min_size=1, max_size=25)


def run_model_program(runner, path: str, ops: list) -> list[str]:
    res = runner([sys.executable, "-P", str(MODEL), path, json.dumps(ops)])
    assert (res.returncode, res.stderr) == (0, b""), res.stderr.decode()
    return res.stdout.decode().splitlines()


def native(argv):
    return subprocess.run(argv, capture_output=True, timeout=20)


@pytest.fixture(scope="module")
def shm_dir(tmp_path_factory):
    base = SHM if SHM.is_dir() else tmp_path_factory.mktemp("shm")
    path = base / f"sentry-cache-model-{id(tmp_path_factory)}"
    path.mkdir(exist_ok=True)
    yield path
    subprocess.run(["rm", "-rf", str(path)], timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("server", ["memfs", "memfs:writeback"])
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=scripts)
def test_random_io_matches_model_and_tmpfs(server, ops, shm_dir):
    expected = Model().lines(ops)
    host_file = shm_dir / "f"
    host_file.unlink(missing_ok=True)
    assert run_model_program(native, str(host_file), ops) == expected
    box = Sandbox(binds=SHARED_BINDS, mounts=[f"/data={server}"])
    sandboxed = run_model_program(lambda argv: box.run(argv, timeout=30), "/data/f", ops)
    assert sandboxed == expected


# Scripts found wrong, each run on its own: what the case shows, then the
# options of ``sentry run`` and the operations.
CASES = {
    # The file grows past a dirty chunk that ended at the end of file: the
    # bytes between read as zeros (the daemon's short READ is a hole).
    "hole-after-a-dirty-chunk": (
        ["--mount", "/data=memfs:writeback"],
        [["write", 0, 1, 0], ["pwrite", 0, 131072, 1, 0], ["read", 0, 1]],
    ),
    # One read of more chunks than the cache holds: its fill must not evict
    # its own chunks before they are copied.
    "read-larger-than-the-cache": (
        ["--cache-size=512K", "--mount", "/data=memfs"],
        [["pwrite", 0, 0, 2**20, 7], ["pread", 1, 0, 2**20], ["pread", 0, 5, 2**20]],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(("options", "ops"), CASES.values(), ids=CASES.keys())
def test_case(options, ops, shm_dir):
    """``sentry run OPTIONS`` of the program prints what it prints on tmpfs
    (and the model agrees)."""
    host_file = shm_dir / "f"
    host_file.unlink(missing_ok=True)
    expected = run_model_program(native, str(host_file), ops)
    assert expected == Model().lines(ops)
    run = ["run", *options, "--"]
    assert run_model_program(lambda argv: run_cli(run + argv), "/data/f", ops) == expected


def test_writeback_cache_keeps_what_a_later_process_reads():
    """With writeback caching, a process that opens the file after the
    writer closed it reads the same bytes and size (that the daemon gets
    them is checked against the kernel in test_cache_coherence.py)."""
    script = (
        "dd if=/dev/urandom of=/data/f bs=64k count=20 2>/dev/null && sha256sum < /data/f && "
        "stat -c %s /data/f && sha256sum < /data/f"
    )
    res = Sandbox(binds=SHARED_BINDS, mounts=["/data=memfs:writeback"]).run(
        ["sh", "-c", script], timeout=60
    )
    lines = res.stdout.decode().splitlines()
    assert res.returncode == 0, res.stderr
    assert lines[0] == lines[2] and lines[1] == str(20 * 65536)


@pytest.mark.slow
def test_cache_stays_within_cache_size():
    """Reading a 96 MiB file twice with --cache-size 16M keeps sentry's
    peak RSS within what it is without the file plus the bound plus a fixed
    overhead (request buffers)."""

    def peak(script: str, cache: str) -> int:
        res = Sandbox(binds=SHARED_BINDS, mounts=["/data=memfs"], cache_size=cache).run(
            ["sh", "-c", f"{script}; grep VmHWM /proc/$PPID/status"], timeout=120
        )
        assert res.returncode == 0, res.stderr
        return int(res.stdout.split()[-2]) * 1024

    baseline = peak("echo small > /data/f && cat /data/f > /dev/null", "16M")
    reading = peak(
        "dd if=/dev/zero of=/data/f bs=1M count=96 2>/dev/null && "
        "cat /data/f > /dev/null && cat /data/f > /dev/null",
        "16M",
    )
    assert reading - baseline < 16 * 2**20 + 24 * 2**20, (baseline, reading)


@pytest.mark.parametrize("value", ["0", "12Q", "-5M", ""])
def test_bad_cache_size(value):
    res = run_cli(["run", f"--cache-size={value}", "--", "true"])
    if value == "0":
        assert res.returncode == 0
        return
    assert res.returncode == 2
    assert res.stderr.decode() == (
        f"sentry: run: bad --cache-size {value!r} (see 'sentry run --help')\n"
    )


# -- FileCache's chunk walking (unit tests) ---------------------------------


def test_spans_cut_a_range_at_chunk_boundaries():
    assert list(FileCache.spans(CHUNK_SIZE - 10, 30)) == [(0, CHUNK_SIZE - 10, 10), (1, 0, 20)]
    assert list(FileCache.spans(5, 0)) == []
    assert list(FileCache.spans(2 * CHUNK_SIZE, CHUNK_SIZE)) == [(2, 0, CHUNK_SIZE)]
    assert FileCache.index_bounds(CHUNK_SIZE - 1, CHUNK_SIZE + 1) == (0, 1)
    assert FileCache.index_bounds(CHUNK_SIZE, 2 * CHUNK_SIZE) == (1, 1)


def test_store_then_retrieve_give_back_the_contiguous_bytes():
    cache = FileCache(PageCache())
    data = pattern(CHUNK_SIZE + 100, 1)
    cache.store(0, data)
    assert cache.contiguous(0, 2 * CHUNK_SIZE) == data  # the short chunk ends them
    assert cache.contiguous(10, 20) == data[10:20]
    # A STORE that starts past a chunk's cached bytes leaves the chunk alone.
    cache.store(CHUNK_SIZE + 200, b"x")
    assert cache.contiguous(CHUNK_SIZE, 2 * CHUNK_SIZE) == data[CHUNK_SIZE:]
    assert cache.contiguous(3 * CHUNK_SIZE, 4 * CHUNK_SIZE) == b""


def test_write_through_drops_a_chunk_it_would_leave_a_gap_in():
    cache = FileCache(PageCache())
    cache.store(0, b"a" * 10)
    cache.write_through(5, b"bb")
    assert cache.contiguous(0, 100) == b"aaaaabbaaa"
    cache.write_through(20, b"c")
    assert cache.contiguous(0, 100) == b""


def test_take_dirty_run_joins_chunks_whose_dirty_bytes_meet():
    cache = FileCache(PageCache())
    cache.store(0, bytes(3 * CHUNK_SIZE))
    cache.chunks[0].mark_dirty(100, CHUNK_SIZE)
    cache.chunks[1].mark_dirty(0, 50)
    cache.chunks[2].mark_dirty(10, 20)
    assert cache.take_dirty_run() == (100, bytes(CHUNK_SIZE - 100 + 50))
    assert cache.take_dirty_run() == (2 * CHUNK_SIZE + 10, bytes(10))
    assert not cache.dirty
