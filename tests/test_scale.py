"""Scaling with the machine: the app keeps every CPU, and a process stops
only on what is sentry's (issue "scale with the machine and stop less").

The figures (make -jN, parallel dd and readers, real programs against
runsc) are in ``make bench``, section 9; these tests pin what they rest on:
the placement the app sees, the stop counts sentry reports, and that fd
syscalls still reach sentry in every way a process can come to hold a
sentry fd (see ``sentry.kernel.fd_traps``).
"""

import os
import re

import pytest
from conftest import SHARED_BINDS, run_cli, run_native

from sentry import Sandbox

STOPS = re.compile(rb"stops: (\d+) \((\d+) passed through in C, (\d+) served in Python\)")


def stops(log) -> tuple[int, int]:
    """(all stops, stops served in Python) from a --debug-log file."""
    found = STOPS.findall(log.read_bytes())
    assert len(found) == 1, log.read_text()
    total, _fast, python = map(int, found[0])
    return total, python


def test_the_app_sees_every_cpu_by_default():
    """nproc and the affinity mask are what they are outside: no pinning."""
    native = run_native(["sh", "-c", "nproc; grep Cpus_allowed_list /proc/self/status"])
    sandboxed = run_cli(
        ["run", "--", "sh", "-c", "nproc; grep Cpus_allowed_list /proc/self/status"]
    )
    assert sandboxed.returncode == 0, sandboxed.stderr
    assert sandboxed.stdout == native.stdout
    assert int(sandboxed.stdout.split()[0]) == len(os.sched_getaffinity(0))


def test_same_still_pins_on_request():
    r = run_cli(["run", "--cpu-affinity=same", "--", "nproc"])
    assert (r.returncode, r.stdout) == (0, b"1\n")


def test_fd_syscalls_on_host_files_do_not_stop(tmp_path):
    """dd bs=1 makes 40,000 reads and writes on host fds: none stops (the
    stops left are the loader's path syscalls)."""
    log = tmp_path / "debug.log"
    r = run_cli(
        [
            "run",
            "--debug-log",
            log,
            "--",
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=1",
            "count=20000",
        ]
    )
    assert r.returncode == 0, r.stderr
    total, _ = stops(log)
    assert total < 200


@pytest.mark.slow
def test_a_process_with_a_sentry_fd_stops_on_its_fds(tmp_path):
    """Once the shell opened a file on a sentry mount, its fd syscalls stop
    (and its children's, which inherit its fd table): dd's 2,000 calls are
    counted, and the file still reads right."""
    log = tmp_path / "debug.log"
    script = "exec 3</data/f; dd if=/dev/zero of=/dev/null bs=1 count=1000 2>/dev/null; cat <&3"
    r = run_cli(
        [
            "run",
            "--debug-log",
            log,
            "--mount",
            "/data=memfs",
            "--",
            "sh",
            "-c",
            f"echo hello > /data/f; {script}",
        ]
    )
    assert (r.returncode, r.stdout) == (0, b"hello\n"), r.stderr
    total, _ = stops(log)
    assert total >= 2000


@pytest.mark.slow
def test_sentry_fds_reached_without_an_open_match_linux(c_program, tmp_path):
    """A running thread, a child forked earlier that receives the fd over a
    unix socket, its dup2 onto stdin and an exec'd grandchild: each reads
    the FUSE file as Linux reads the same file on the host."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"0123456789abcdefXYZ")
    program = c_program("fd_traps")
    native = run_native([program, src / "f"])
    sandboxed = Sandbox(binds=SHARED_BINDS, mounts=[f"/data=passthrough:{src}"]).run(
        [str(program), "/data/f"], timeout=60
    )
    assert native.returncode == 0
    assert (sandboxed.returncode, sandboxed.stderr) == (0, b"")
    assert sorted(sandboxed.stdout.splitlines()) == sorted(native.stdout.splitlines())
    assert b"child's stdin: pread 4 '89ab'" in native.stdout


def test_host_path_syscalls_are_decided_without_python(tmp_path):
    """ls -l stats each of 500 host files: sentry's C side passes every
    path syscall through (the ones served are exec's and a few more)."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(500):
        (tree / f"f{i}").touch()
    log = tmp_path / "debug.log"
    r = run_cli(["run", "--debug-log", log, "--", "ls", "-l", tree])
    assert r.returncode == 0, r.stderr
    total, python = stops(log)
    assert total >= 500
    assert python < 50


@pytest.mark.slow
def test_relative_paths_into_a_mount_still_reach_it(tmp_path):
    """The C side walks relative paths lexically as the kernel's vfs does:
    from the cwd, through "..", from a dirfd, and from a cwd that is the
    mount point itself all reach the sentry mount."""
    script = (
        "echo hi > /data/f; cd /tmp && cat ../data/f; cd / && cat data/f; "
        "cd /data && cat f ./f; "
        'python3 -c \'import os; d = os.open("/", os.O_RDONLY); '
        'print(os.stat("data/f", dir_fd=d).st_size)\''
    )
    r = run_cli(["run", "--mount", "/data=memfs", "--", "sh", "-c", script])
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hi\nhi\nhi\nhi\n3\n", b"")


@pytest.mark.slow
def test_mount_tables_through_any_path_are_sentrys(tmp_path):
    """The C side sends a path that ends in a mount table's name to Python
    (whatever its directory); other /proc paths stay the host's."""
    script = (
        "grep -c sentry-guard /proc/self/mountinfo; "
        "cd /proc/self && grep -c sentry-guard mountinfo; "
        "chmod 755 /proc/self/fd/1 2>/dev/null; echo done"
    )
    log = tmp_path / "debug.log"
    r = run_cli(["run", "--debug-log", log, "--mount", "/data=memfs", "--", "sh", "-c", script])
    assert (r.stdout, r.stderr) == (b"0\n0\ndone\n", b"")
