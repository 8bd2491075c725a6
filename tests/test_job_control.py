"""Job control in a terminal: sentry and the app as one job of a shell.

The app runs in a process group of its own that takes the terminal's
foreground (so a kill(0) of the app's cannot reach sentry's group). A real
interactive bash in a pseudo-terminal runs ``sentry run``: Ctrl-Z stops the
job, ``fg`` continues it, Ctrl-C ends it with 130, the app reads the
terminal, and ``tty`` names it.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import time

import pytest
from conftest import sentry_cli

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


class Terminal:
    """An interactive bash on a pseudo-terminal."""

    def __init__(self) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
        self.seen = b""

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def expect(self, text: bytes, timeout: float = 15) -> None:
        """Read until ``text`` has appeared since the last expect."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in {self.seen[-2000:]!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    break
        assert text in self.seen, f"no {text!r} in {self.seen[-2000:]!r}"
        self.seen = self.seen[self.seen.index(text) + len(text) :]

    def close(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def terminal():
    term = Terminal()
    yield term
    term.close()


def test_ctrl_z_fg_ctrl_c(terminal):
    sentry = " ".join(sentry_cli())
    terminal.send(f"{sentry} run -- sh -c 'echo in; tty; sleep 100'\n".encode())
    terminal.expect(b"in\r\n")
    terminal.expect(b"/dev/console\r\n")
    terminal.send(b"\x1a")
    terminal.expect(b"Stopped")
    terminal.send(b"echo job=$(jobs | wc -l)\n")
    terminal.expect(b"job=1")
    terminal.send(b"fg\n")
    terminal.expect(b"sleep 100")
    time.sleep(0.5)
    terminal.send(b"\x03")
    terminal.send(b"echo status=$?\n")
    terminal.expect(b"status=130")


@pytest.mark.slow
def test_app_reads_the_terminal(terminal):
    sentry = " ".join(sentry_cli())
    terminal.send(f"{sentry} run -- sh -c 'read x; echo got=$x'\n".encode())
    time.sleep(1)
    terminal.send(b"hello\n")
    terminal.expect(b"got=hello")
    terminal.send(b"echo status=$?\n")
    terminal.expect(b"status=0")
