"""Everyday tools, natively and under sentry: the results must be identical."""

import hashlib
import os

import pytest
from conftest import run_native, run_sandbox

from sentry.pytest_plugin import Both

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def random_file(tmp_path_factory):
    """A 5 MB file of random bytes."""
    path = tmp_path_factory.mktemp("data") / "random.bin"
    path.write_bytes(os.urandom(5 * 1000 * 1000))
    return path


@pytest.mark.parametrize("directory", ["/usr/bin", "/etc", "/usr/include/linux"])
def test_ls_la(run_both, directory):
    """Every entry as on the host. The directories themselves (``.``,
    ``..``) are the sandbox's: the top of each overlay layer over the host's
    tree reports its own link count, size and times, as in any container."""
    if not os.path.isdir(directory):
        pytest.skip(f"{directory} does not exist")
    both = run_both(["ls", "-lA", "--time-style=full-iso", directory])
    assert both.native.returncode == 0
    both.assert_same()


def test_ls_missing_and_present(run_both, tmp_path):
    (tmp_path / "a").write_text("a")
    both = run_both(["ls", "-la", "a", "missing"], cwd=tmp_path)
    assert both.native.returncode == 2
    both.assert_same()


def test_cat_file(run_both, random_file):
    both = run_both(["cat", random_file])
    assert both.native.stdout == random_file.read_bytes()
    both.assert_same()


def test_cat_several_files(run_both, tmp_path):
    for i in range(5):
        (tmp_path / f"f{i}").write_bytes(b"file %d\n" % i * (i * 1000 + 1))
    argv = ["cat"] + [f"f{i}" for i in range(5)]
    run_both(argv, cwd=tmp_path).assert_same()


def test_sha256sum(run_both, random_file):
    both = run_both(["sha256sum", random_file])
    expected = hashlib.sha256(random_file.read_bytes()).hexdigest()
    assert both.native.stdout == f"{expected}  {random_file}\n".encode()
    both.assert_same()


def _dd_records(stderr):
    """dd's first two stderr lines ("N+M records in/out"); the third has timings."""
    return stderr.splitlines()[:2]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("size", "operands"),
    [
        (64 * 1024, ["bs=1"]),  # one read and one write per byte: keep it small
        (5 * MIB, ["bs=4k"]),
        (5 * MIB, ["bs=1M"]),
        (5 * MIB + 123, ["bs=4k", "skip=3", "seek=2", "count=300"]),
        (1 * MIB, ["ibs=1000", "obs=4096", "conv=fsync"]),
    ],
    ids=["bs1", "bs4k", "bs1M", "skip-seek-count", "ibs-obs"],
)
def test_dd(tmp_path, size, operands):
    src = tmp_path / "in"
    src.write_bytes(os.urandom(size))
    out_native = tmp_path / "out-native"
    out_sandbox = tmp_path / "out-sandbox"
    native = run_native(["dd", f"if={src}", f"of={out_native}"] + operands)
    sandboxed = run_sandbox(["dd", f"if={src}", f"of={out_sandbox}"] + operands, timeout=120)
    assert native.returncode == 0, native.stderr
    assert sandboxed.returncode == native.returncode, sandboxed.stderr
    assert sandboxed.stdout == native.stdout == b""
    assert _dd_records(sandboxed.stderr) == _dd_records(native.stderr)
    assert out_sandbox.read_bytes() == out_native.read_bytes()


def test_dd_to_stdout(run_both, random_file):
    argv = ["dd", f"if={random_file}", "bs=64k", "status=none"]
    both = run_both(argv)
    assert both.native.stdout == random_file.read_bytes()
    both.assert_same()


@pytest.mark.parametrize(
    "script",
    [
        # The task's original pipeline ends in `head -5`, but then sort may or
        # may not get SIGPIPE (PIPESTATUS "0 0 141 0" in about 3 runs of 4
        # natively): the status is racy. sed reads all its input instead.
        "seq 1 20000 | grep 7 | sort -r | sed -n 1,5p; echo ${PIPESTATUS[@]}",
        # Here sort's output is one small write, so head never races it.
        "seq 1 20000 | grep 777 | sort -r | head -5; echo ${PIPESTATUS[@]}",
        # A SIGPIPE death that is certain: 141 for yes.
        "yes | head -3; echo ${PIPESTATUS[@]}",
        "for i in $(seq 1 50); do echo $i; done | tac | tr -d 5 | wc -l",
        'x=$( (echo a; echo b >&2) 2>&1 ); echo "$x"; exit 3',
    ],
    ids=["seq-grep-sort-sed", "seq-grep-sort-head", "yes-head", "loop-tac-tr-wc", "subshell"],
)
def test_bash_pipeline(run_both, script):
    run_both(["bash", "-c", script]).assert_same()


def test_pipeline_expected_output():
    """The native half of the pipeline test, spelled out."""
    r = run_native(
        ["bash", "-c", "seq 1 20000 | grep 7 | sort -r | sed -n 1,5p; echo ${PIPESTATUS[@]}"]
    )
    assert r.stdout == b"9997\n9987\n9979\n9978\n9977\n0 0 0 0\n"


def test_find_and_stat(run_both, tmp_path):
    for i in range(20):
        d = tmp_path / f"d{i % 4}"
        d.mkdir(exist_ok=True)
        (d / f"f{i}").write_bytes(b"x" * i)
    argv = ["sh", "-c", "find . -type f | sort | xargs stat -c '%n %s %a'"]
    both = run_both(argv, cwd=tmp_path)
    assert both.native.stdout.count(b"\n") == 20
    both.assert_same()


def test_files_written_under_sandbox(tmp_path):
    """A shell writes, renames and removes files; the tree must end up the same."""
    script = (
        "mkdir -p a/b && echo one > a/b/1 && cp a/b/1 a/2 && mv a/2 a/3 && "
        "ln -s b/1 a/link && cat a/link && rm a/b/1 && ls -R a; "
        "cat a/link; echo status $?"
    )
    (tmp_path / "n").mkdir()
    (tmp_path / "s").mkdir()
    native = run_native(["sh", "-c", script], cwd=tmp_path / "n")
    sandboxed = run_sandbox(["sh", "-c", script], cwd=tmp_path / "s")
    Both(native, sandboxed).assert_same()
