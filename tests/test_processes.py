"""Processes under sentry: fork, exec, threads, compilers, and what an app
leaves behind when it exits."""

import os
import sys
import textwrap
import time

import pytest
from conftest import (
    kill_leftovers,
    pids_with_cmdline,
    run_native,
    run_sandbox,
    wait_for,
)

from sentry.pytest_plugin import Both


@pytest.mark.slow
def test_fork200(c_program, run_both):
    exe = c_program("fork200")
    both = run_both([exe])
    assert both.native.stdout == b"reaped 200 sum %d\n" % sum(i % 256 for i in range(200))
    both.assert_same()


@pytest.mark.parametrize("n", [1, 25])
def test_exec_chain(c_program, run_both, n):
    exe = c_program("exec_chain")
    both = run_both([exe, str(n)])
    assert both.native.stdout == b"done %d\n" % n
    both.assert_same()


@pytest.mark.slow
def test_exec_from_non_leader_thread(c_program, run_both):
    exe = c_program("threads_exec")
    both = run_both([exe])
    assert both.native.stdout == b"before exec\nexec-from-thread\n"
    assert both.native.returncode == 0
    both.assert_same()


def test_shell_forks_and_execs(run_both):
    script = "{ for i in 1 2 3 4 5; do (echo sub $i; /bin/echo exec $i) & done; wait; } | sort"
    both = run_both(["sh", "-c", script + "; echo all"])
    assert both.native.stdout.count(b"\n") == 11
    both.assert_same()


THREADS_IO = textwrap.dedent(
    """
    import hashlib, os, random, sys, threading

    results = [None] * 8

    def work(i):
        rng = random.Random(i)
        name = f"file{i}.bin"
        h = hashlib.sha256()
        with open(name, "wb") as f:
            for _ in range(64):
                chunk = rng.randbytes(rng.randint(1, 32768))
                h.update(chunk)
                f.write(chunk)
                f.flush()
        with open(name, "rb") as f:
            back = hashlib.sha256()
            while True:
                chunk = f.read(rng.randint(1, 65536))
                if not chunk:
                    break
                back.update(chunk)
        fd = os.open(name, os.O_RDONLY)
        try:
            head = os.pread(fd, 16, 100)
        finally:
            os.close(fd)
        results[i] = (h.hexdigest(), back.hexdigest(), os.path.getsize(name), head.hex())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (wrote, read, size, head) in enumerate(results):
        print(i, wrote, read == wrote, size, head)
    print(sorted(os.listdir(".")))
    """
)


@pytest.mark.slow
def test_python_threads_file_io(tmp_path):
    (tmp_path / "n").mkdir()
    (tmp_path / "s").mkdir()
    argv = [sys.executable, "-c", THREADS_IO]
    native = run_native(argv, cwd=tmp_path / "n")
    sandboxed = run_sandbox(argv, cwd=tmp_path / "s")
    assert native.returncode == 0, native.stderr
    assert native.stdout.count(b" True ") == 8
    Both(native, sandboxed).assert_same()
    for i in range(8):
        name = f"file{i}.bin"
        assert (tmp_path / "s" / name).read_bytes() == (tmp_path / "n" / name).read_bytes()


MAKE_PROJECT = {
    "Makefile": textwrap.dedent(
        """\
        CFLAGS = -O2 -Wall
        OBJS = main.o util.o fib.o
        prog: $(OBJS)
        \t$(CC) $(CFLAGS) -o $@ $(OBJS)
        %.o: %.c util.h
        \t$(CC) $(CFLAGS) -c -o $@ $<
        """
    ),
    "util.h": "int fib(int n);\nvoid show(const char *label, long v);\n",
    "main.c": textwrap.dedent(
        """\
        #include "util.h"
        int main(void) {
            for (int i = 0; i < 30; i += 7)
                show("fib", fib(i));
            return 0;
        }
        """
    ),
    "util.c": textwrap.dedent(
        """\
        #include <stdio.h>
        #include "util.h"
        void show(const char *label, long v) { printf("%s %ld\\n", label, v); }
        """
    ),
    "fib.c": textwrap.dedent(
        """\
        #include "util.h"
        int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
        """
    ),
}


@pytest.mark.slow
def test_make_gcc(tmp_path):
    import shutil

    if not (shutil.which("gcc") and shutil.which("make")):
        pytest.skip("needs gcc and make")
    dirs = {}
    for side in ("native", "sandbox"):
        d = tmp_path / side
        d.mkdir()
        for name, text in MAKE_PROJECT.items():
            (d / name).write_text(text)
        dirs[side] = d
    argv = ["sh", "-c", "make -s -j2 CC=gcc && ./prog && ls *.o prog"]
    native = run_native(argv, cwd=dirs["native"], timeout=120)
    sandboxed = run_sandbox(argv, cwd=dirs["sandbox"], timeout=120)
    assert native.returncode == 0, native.stderr
    assert native.stdout.startswith(b"fib 0\nfib 13\nfib 377\nfib 10946\nfib 317811\n")
    Both(native, sandboxed).assert_same()
    # gcc is deterministic here: the objects must be byte for byte the same.
    for obj in ("main.o", "util.o", "fib.o"):
        assert (dirs["sandbox"] / obj).read_bytes() == (dirs["native"] / obj).read_bytes(), obj


# ----------------------------------------------- processes left behind


def test_background_job_is_killed_at_exit():
    arg = f"1000.5{os.getpid()}"  # unique to this test run
    marker = b"sleep\0" + arg.encode() + b"\0"
    kill_leftovers(marker)  # from an earlier failed run
    try:
        start = time.monotonic()
        # The background sleep inherits stdout: without cleanup, reading the
        # app's output would never see EOF.
        r = run_sandbox(["sh", "-c", f"sleep {arg} & echo started"], timeout=30)
        elapsed = time.monotonic() - start
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"started\n"
        assert r.stderr == b""
        assert elapsed < 10, f"sentry took {elapsed:.1f} s"
        # A SIGKILLed process may take a moment to disappear from /proc.
        wait_for(
            lambda: not pids_with_cmdline(marker), timeout=2, what=f"'sleep {arg}' to be gone"
        )
    finally:
        kill_leftovers(marker)


DAEMON = textwrap.dedent(
    """
    import os, sys, time
    pidfile = sys.argv[1]
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            fd = os.open("/dev/null", os.O_RDWR)
            for i in (0, 1, 2):
                os.dup2(fd, i)
            os.chdir("/")
            with open(pidfile + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename(pidfile + ".tmp", pidfile)
            os.execvp("sleep", ["sleep", sys.argv[2]])
        os._exit(0)
    os.waitpid(pid, 0)
    deadline = time.monotonic() + 20
    while not os.path.exists(pidfile):
        if time.monotonic() > deadline:
            sys.exit("daemon did not start")
        time.sleep(0.01)
    print("daemon started")
    """
)


def test_daemon_is_killed_at_exit(tmp_path):
    arg = f"1000.7{os.getpid()}"
    marker = b"sleep\0" + arg.encode() + b"\0"
    kill_leftovers(marker)
    pidfile = tmp_path / "daemon.pid"
    try:
        start = time.monotonic()
        r = run_sandbox([sys.executable, "-c", DAEMON, pidfile, arg], timeout=30)
        elapsed = time.monotonic() - start
        assert (r.returncode, r.stdout, r.stderr) == (0, b"daemon started\n", b"")
        assert elapsed < 10, f"sentry took {elapsed:.1f} s"
        daemon_pid = int(pidfile.read_text())

        def gone():
            try:
                with open(f"/proc/{daemon_pid}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                return True
            # Killed but not yet reaped shows an empty cmdline; a reused pid
            # shows someone else's.
            return cmdline != marker

        wait_for(gone, timeout=2, what=f"the daemon (pid {daemon_pid}) to be killed")
        assert not pids_with_cmdline(marker)
    finally:
        kill_leftovers(marker)


def test_daemon_native_half(tmp_path):
    """The daemon script really leaves a daemon behind natively."""
    arg = f"1000.9{os.getpid()}"
    marker = b"sleep\0" + arg.encode() + b"\0"
    pidfile = tmp_path / "daemon.pid"
    try:
        r = run_native([sys.executable, "-c", DAEMON, pidfile, arg])
        assert (r.returncode, r.stdout) == (0, b"daemon started\n")
        daemon_pid = int(pidfile.read_text())
        wait_for(
            lambda: pids_with_cmdline(marker) == [daemon_pid],
            timeout=5,
            what="the daemon to exec sleep",
        )
        assert os.getsid(daemon_pid) != os.getsid(0)
    finally:
        kill_leftovers(marker)


@pytest.mark.slow
def test_many_short_processes(run_both):
    script = "i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done; echo $i"
    both = run_both(["sh", "-c", script])
    assert both.native.stdout == b"300\n"
    both.assert_same()
