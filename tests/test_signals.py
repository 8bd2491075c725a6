"""Signals: SIGINT/SIGTERM/SIGHUP sent to sentry reach the app, and
SIGSTOP/SIGCONT sent to the app work as they do natively.

Each test runs twice: ``native`` checks the procedure itself against Linux
(signals go straight to the app), ``sandbox`` runs the app under sentry and
signals the sentry process.
"""

import os
import select
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import descendants, proc_state, read_cmdline, wait_for

MODES = ["native", "sandbox"]


class Launched:
    """A started app: ``proc`` is what we wait on (the app natively, sentry
    in the sandbox) and ``target`` the pid that SIGINT/SIGTERM/SIGHUP go to."""

    def __init__(self, mode, proc, argv):
        self.mode = mode
        self.proc = proc
        self.cmdline = b"".join(str(a).encode() + b"\0" for a in argv)
        self.target = proc.pid

    def app_pid(self, timeout=20):
        """The app's pid, once it has exec'd (its cmdline is exactly argv)."""
        if self.mode == "native":
            return self.proc.pid

        def find():
            for pid in descendants(self.proc.pid):
                if read_cmdline(pid) == self.cmdline:
                    return pid
            return None

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = find()
            if pid:
                return pid
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        tree = {pid: (read_cmdline(pid), proc_state(pid)) for pid in descendants(self.proc.pid)}
        pytest.fail(
            f"the app {self.cmdline!r} did not start under sentry (pid {self.proc.pid}, "
            f"returncode {self.proc.poll()}); descendants: {tree}"
        )


@pytest.fixture(params=MODES)
def launch(request, spawn, sandbox_popen):
    """launch(argv, **popen_kw) starts argv natively or under sentry."""
    mode = request.param

    def _launch(argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("bufsize", 0)
        if mode == "native":
            proc = spawn(argv, **kw)
        else:
            proc = sandbox_popen(argv, **kw)
        return Launched(mode, proc, argv)

    _launch.mode = mode
    return _launch


def read_line(stream, timeout=30.0):
    """Read one line from an unbuffered pipe, failing after timeout seconds."""
    fd = stream.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"timed out waiting for a line; got {data!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1)
            if not chunk:
                pytest.fail(f"EOF while waiting for a line; got {data!r}")
            data += chunk
    return data


def test_sigint_is_forwarded(launch, c_program):
    exe = c_program("sigint_wait")
    token = f"sigint-{os.getpid()}"
    app = launch([exe, token])
    assert read_line(app.proc.stdout) == b"ready\n"
    app.app_pid()  # the handler is installed: "ready" came after sigaction
    os.kill(app.target, signal.SIGINT)
    out, err = app.proc.communicate(timeout=20)
    assert out == b"got SIGINT\n"
    assert err == b""
    assert app.proc.returncode == 3


def test_sigint_to_process_group(launch, c_program):
    """Ctrl-C in a terminal signals the whole foreground group: sentry and the
    app both get SIGINT. Sentry must not die of it (no KeyboardInterrupt)."""
    exe = c_program("sigint_wait")
    token = f"sigint-pg-{os.getpid()}"
    app = launch([exe, token], start_new_session=True)
    assert read_line(app.proc.stdout) == b"ready\n"
    app.app_pid()
    os.killpg(app.proc.pid, signal.SIGINT)
    out, err = app.proc.communicate(timeout=20)
    assert b"Traceback" not in err
    assert out == b"got SIGINT\n"
    assert err == b""
    assert app.proc.returncode == 3


@pytest.mark.parametrize(
    ("sig", "status"),
    [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)],
    ids=["SIGTERM", "SIGINT", "SIGHUP"],
)
def test_fatal_signal_is_forwarded(launch, sig, status):
    arg = f"30.{os.getpid()}"
    app = launch(["sleep", arg])
    app.app_pid()  # sleep has exec'd
    start = time.monotonic()
    os.kill(app.target, sig)
    out, err = app.proc.communicate(timeout=20)
    assert time.monotonic() - start < 10
    assert b"Traceback" not in err
    assert (out, err) == (b"", b"")
    rc = app.proc.returncode
    if app.mode == "native":
        assert rc == -sig
    else:
        assert rc == status


STOP_CONT_APP = textwrap.dedent(
    """
    import sys, time
    print("ready", flush=True)
    ticks = 0
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        time.sleep(0.02)
        ticks += 1
    print("end", ticks > 0, flush=True)
    """
)


@pytest.mark.slow
def test_sigstop_sigcont(launch):
    token = f"stopcont-{os.getpid()}"
    app = launch([sys.executable, "-c", STOP_CONT_APP, token])
    assert read_line(app.proc.stdout) == b"ready\n"
    pid = app.app_pid()
    os.kill(pid, signal.SIGSTOP)
    wait_for(lambda: proc_state(pid) in ("T", "t"), timeout=10, what="the app to stop")
    # It stays stopped: sentry must not resume it behind our back.
    for _ in range(10):
        time.sleep(0.05)
        assert proc_state(pid) in ("T", "t")
    if app.mode == "sandbox":
        assert app.proc.poll() is None, "sentry exited while the app was stopped"
    os.kill(pid, signal.SIGCONT)
    wait_for(lambda: proc_state(pid) not in ("T", "t"), timeout=10, what="the app to resume")
    out, err = app.proc.communicate(timeout=30)
    assert out == b"end True\n"
    assert err == b""
    assert app.proc.returncode == 0


def test_sigstop_then_sigkill(launch):
    """A stopped app can still be killed; sentry reports 137."""
    arg = f"30.{os.getpid()}"
    app = launch(["sleep", arg])
    pid = app.app_pid()
    os.kill(pid, signal.SIGSTOP)
    wait_for(lambda: proc_state(pid) in ("T", "t"), timeout=10, what="the app to stop")
    os.kill(pid, signal.SIGKILL)
    out, err = app.proc.communicate(timeout=20)
    assert (out, err) == (b"", b"")
    rc = app.proc.returncode
    assert rc == (-signal.SIGKILL if app.mode == "native" else 137)
