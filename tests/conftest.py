"""Shared helpers for sentry's test suite.

The suite is differential: a program runs natively and under the sandbox, and
the two results must be the same (exit status, stdout, stderr). Where sentry
deliberately differs from Linux (foreign syscall ABIs, its own error
messages) the test says so.

Run it from tests/ (never from the repository root, whose sentry/ folder would
shadow the installed package):

    cd tests && python3 -m pytest -q

One harness: the suite runs programs with what sentry ships, the pytest
plugin (``sentry.pytest_plugin``: the ``sandbox`` and ``run_both`` fixtures,
``Both.assert_same``, ``compile_c``) and ``sentry.Sandbox``. This file only
configures them for the suite (its sandboxes share SHARED_BINDS); other
native runs use ``sentry.sandbox.run_native``.

Habits:
- real processes and real files, no mocks;
- every child process has a timeout, and every Popen is killed and reaped by
  a finalizer;
- C programs live in tests/c/ and are compiled once per session by the
  ``c_program`` fixture (the plugin's ``compile_c``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sentry.sandbox import RunResult, Sandbox, run_native

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
C_DIR = TESTS_DIR / "c"

# Every child process gets a timeout; this is the default, in seconds.
DEFAULT_TIMEOUT = 60

# Extra gcc flags per program in tests/c/.
C_FLAGS = {
    "threads_exec": ["-pthread"],
    "fd_traps": ["-pthread"],
    "escape": ["-pthread"],
    # int $0x80 truncates pointers to 32 bits: keep the data below 4 GiB.
    "int80": ["-static", "-no-pie"],
    # It runs alone in a --rootfs tree, with no libc there.
    "rootfs_probe": ["-static"],
}


def pytest_configure(config):
    # pyproject.toml registers it too; this keeps --strict-markers happy if the
    # suite is run with another rootdir.
    config.addinivalue_line("markers", "slow: over 2 s, or too slow for make test-fast")


# Tests that pytest-timeout failed; after MAX_TIMEOUTS of them the run stops,
# so that a hang that every test meets costs minutes, not CI's whole clock.
MAX_TIMEOUTS = 3
TIMED_OUT: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    crash = getattr(report.longrepr, "reprcrash", None)
    if report.failed and crash is not None and "Timeout (>" in crash.message:
        TIMED_OUT.append(item.nodeid)
        if len(TIMED_OUT) >= MAX_TIMEOUTS:
            item.session.shouldstop = f"{len(TIMED_OUT)} tests timed out: {', '.join(TIMED_OUT)}"


# ------------------------------------------------------------ running


def shell_status(returncode: int) -> int:
    """Convert Python's -N ("killed by signal N") to a shell's 128+N, as
    sentry and the plugin's RunResult report it (for the suite's Popens)."""
    return 128 - returncode if returncode < 0 else returncode


# Host directories every sandboxed run of the suite shares (--bind): the
# pytest temporary directories, where tests keep the files they compare. Set
# once per session by the `_shared_binds` fixture.
SHARED_BINDS: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def _shared_binds(tmp_path_factory):
    SHARED_BINDS[:] = [str(tmp_path_factory.getbasetemp())]
    yield


def suite_sandbox(*, strace=False, cpu_affinity="none") -> Sandbox:
    """The suite's sandbox: a ``sentry.Sandbox`` that shares SHARED_BINDS."""
    return Sandbox(strace=strace, cpu_affinity=cpu_affinity, binds=SHARED_BINDS)


@pytest.fixture
def sandbox(sandbox: Sandbox) -> Sandbox:
    """The plugin's ``sandbox`` fixture (configured by a ``sandbox`` marker),
    sharing SHARED_BINDS like every sandboxed run of the suite; the plugin's
    ``run_both`` runs its sandbox half with it."""
    sandbox.binds = [*SHARED_BINDS, *sandbox.binds]
    return sandbox


def run_sandbox(
    argv,
    *,
    timeout=DEFAULT_TIMEOUT,
    input=None,
    cwd=None,
    env=None,
    strace=False,
    cpu_affinity="none",
) -> RunResult:
    """Run argv under sentry with ``Sandbox.run`` (at sentry's default
    placement unless ``cpu_affinity`` says). Raises TimeoutExpired."""
    return suite_sandbox(strace=strace, cpu_affinity=cpu_affinity).run(
        [str(a) for a in argv], timeout=timeout, input=input, cwd=cwd, env=env
    )


# ------------------------------------------------------------------ CLI


def sentry_cli() -> list[str]:
    """The argv prefix that runs the installed ``sentry`` console script."""
    beside = Path(sys.executable).parent / "sentry"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("sentry")
    if found:
        return [found]
    pytest.fail("the sentry console script is not installed (run `make install`)")


def run_cli(args, *, timeout=DEFAULT_TIMEOUT, input=None, cwd=None, env=None) -> RunResult:
    """Run ``sentry ARGS...`` (the CLI itself, for option and usage tests);
    ``sentry run`` shares SHARED_BINDS."""
    args = [str(a) for a in args]
    if args[:1] == ["run"]:
        args[1:1] = [f"--bind={path}" for path in SHARED_BINDS]
    return run_native(sentry_cli() + args, timeout=timeout, input=input, cwd=cwd, env=env)


# ------------------------------------------------------------- processes


def kill_and_reap(proc: subprocess.Popen, *, timeout=10):
    """Kill a Popen (and its process group if it leads one) and reap it."""
    if proc.poll() is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def finish(proc: subprocess.Popen, *, timeout=10) -> tuple[bytes, bytes]:
    """Stop a Popen (killed if it still runs) and collect its (stdout,
    stderr), for a failing assertion's message: never more than ``timeout``
    seconds, as a grandchild may hold its pipes open."""
    if proc.poll() is None:
        proc.kill()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_and_reap(proc)
        return b"", b"(output not collected: something still holds the pipes)"
    return out or b"", err or b""


def kill_daemon_mid_run(proc, ready, go, is_daemon, *, timeout=DEFAULT_TIMEOUT):
    """Kill a FUSE daemon that sentry (the Popen ``proc``) started outside
    the sandbox, where the app cannot see it: once the app has created the
    file ``ready``, SIGKILL the one child of sentry whose argv (a list of
    bytes) ``is_daemon`` accepts, then create ``go`` for the app to go on.
    Returns the run's (stdout, stderr)."""
    deadline = time.monotonic() + timeout
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
        children = [int(pid) for pid in f.read().split()]
    daemons = [
        pid
        for pid in children
        if is_daemon(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"))
    ]
    assert len(daemons) == 1, children
    os.kill(daemons[0], signal.SIGKILL)
    time.sleep(0.5)
    go.touch()
    return proc.communicate(timeout=timeout)


@pytest.fixture
def spawn():
    """Factory: start a Popen that is killed and reaped when the test ends."""
    procs = []

    def _spawn(argv, **kw):
        proc = subprocess.Popen([str(a) for a in argv], **kw)
        procs.append(proc)
        return proc

    yield _spawn
    for proc in procs:
        kill_and_reap(proc)


@pytest.fixture
def sandbox_popen():
    """Factory: Sandbox(...).popen(argv) killed and reaped at teardown."""
    procs = []

    def _popen(argv, *, strace=False, cpu_affinity="none", **kw):
        proc = suite_sandbox(strace=strace, cpu_affinity=cpu_affinity).popen(
            [str(a) for a in argv], **kw
        )
        procs.append(proc)
        return proc

    yield _popen
    for proc in procs:
        kill_and_reap(proc)


def read_cmdline(pid) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return None


def pids_with_cmdline(cmdline: bytes) -> list[int]:
    """Pids of live processes whose /proc/PID/cmdline is exactly cmdline
    (arguments joined and terminated by NUL)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and read_cmdline(entry) == cmdline:
            found.append(int(entry))
    return found


def children(pid) -> list[int]:
    """Direct children of every thread of pid."""
    kids = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return kids


def descendants(pid) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for kid in children(todo.pop()):
            out.append(kid)
            todo.append(kid)
    return out


def wait_for(predicate, *, timeout=10.0, interval=0.02, what="condition"):
    """Poll predicate() until it returns a truthy value; fail on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def proc_state(pid) -> str | None:
    """The one-letter state from /proc/PID/stat (R, S, T, t, Z, ...)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces.
    return stat[stat.rindex(")") + 2]


def kill_leftovers(cmdline: bytes):
    """SIGKILL live processes with this exact cmdline (left over by a failed
    test; the cmdline is unique to the test that started them)."""
    for pid in pids_with_cmdline(cmdline):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ------------------------------------------------------------ C programs


@pytest.fixture(scope="session")
def c_program(compile_c):
    """Factory: c_program("NAME") compiles tests/c/NAME.c with its C_FLAGS,
    with the plugin's ``compile_c`` (once per session), and returns the path
    of the binary. Skips if gcc is missing."""

    def _build(name: str) -> Path:
        try:
            return compile_c(C_DIR / f"{name}.c", *C_FLAGS.get(name, []))
        except pytest.fail.Exception as err:
            if name == "int80" and "cannot find -lc" in str(err):
                pytest.skip("static libc (libc6-dev) is not installed")
            raise

    return _build


@pytest.fixture(scope="session", autouse=True)
def _not_the_source_tree():
    """Stop at once if sentry would be imported from the source folder rather
    than the installed package (pytest run from the repository root)."""
    try:
        import sentry
    except ImportError:
        return  # the tests that need it fail with the ImportError
    origin = Path(sentry.__file__ or next(iter(sentry.__path__))).resolve()
    if REPO_ROOT / "sentry" in [origin, *origin.parents]:
        pytest.exit(
            f"sentry was imported from the source tree ({origin}); run pytest from tests/",
            returncode=4,
        )
