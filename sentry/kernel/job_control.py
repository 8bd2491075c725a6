"""Signals sent to sentry itself, and job control across sentry and the app.

In the sandbox the app runs in a process group of its own, as a shell runs a
job: a kill(0) or killpg of the app's reaches only its own processes, never
sentry's group (PID namespaces do not separate process groups). When sentry
runs in the foreground of a terminal, the app's group takes that foreground,
so Ctrl-C and Ctrl-Z reach the app directly from the terminal, and sentry
gives the terminal back to its own group when the app stops or ends. Without
a sandbox (the in-process API), the app stays in sentry's group.

A signal sent to sentry (``kill -INT <sentry>``, a supervisor's SIGTERM, a
killpg of sentry's group) is forwarded to the app's main process. A signal
the terminal sent (si_code SI_KERNEL) is not when the app shares sentry's
group: it got it too.

Stopping: when the app's main process enters a group-stop that the terminal
caused (Ctrl-Z while the app held the foreground), or after sentry itself was
asked to stop, sentry takes the terminal back and stops itself with SIGSTOP,
so the shell sees the job stopped. SIGCONT (``fg``, ``bg``) continues sentry,
which gives the app its foreground back if sentry's group has it, and
continues the app's group.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import TYPE_CHECKING, Protocol

from sentry.abi.linux import SI_KERNEL

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.platform.platform import Platform

log = logging.getLogger("sentry")

FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
TERMINAL_STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)


class JobKernel(Protocol):
    """The kernel as job control sees it: the app's main process, and the
    platform that signals it.

    A protocol so that this module sits below the kernel that owns the job
    control: :class:`sentry.kernel.kernel.Kernel` implements it.
    """

    @property
    def platform(self) -> Platform:
        """Where the app runs (its signals are sent there)."""
        ...

    @property
    def main(self) -> int:
        """The app's main process (0 until it is started)."""
        ...


class JobControl:
    """Forwards signals to the app and mirrors its job-control stops."""

    SIGNALS = (*FORWARDED, *TERMINAL_STOPS, signal.SIGCONT)

    def __init__(self, kernel: JobKernel) -> None:
        self.kernel = kernel
        self._stop_requested = False
        self._app_stopped = False
        self.tty = -1  # the terminal the app's group has the foreground of

    def claim_terminal(self) -> int:
        """The terminal (fd 0) whose foreground the app will take, if sentry
        has it now; else -1."""
        try:
            if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp():
                self.tty = 0
        except OSError:
            self.tty = -1
        return self.tty

    def release_terminal(self) -> None:
        """Give the terminal's foreground back to sentry's group if the app's
        group has it (the app stopped or ended)."""
        if self.tty < 0:
            return
        try:
            if os.tcgetpgrp(self.tty) != os.getpgrp():
                self._set_foreground(os.getpgrp())
        except OSError:
            return

    def _set_foreground(self, pgid: int) -> None:
        """tcsetpgrp, which a background group may do with SIGTTOU blocked."""
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
        try:
            os.tcsetpgrp(self.tty, pgid)
        except OSError as err:
            log.debug("cannot give the terminal to group %d: %s", pgid, err)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def on_host_signal(self, signo: int, code: int) -> None:
        """sentry received ``signo`` (with si_code ``code``)."""
        k = self.kernel
        log.debug("sentry got signal %d (code %d)", signo, code)
        if signo == signal.SIGCONT:
            self._stop_requested = False
            pgid = self._app_pgid()
            if self.tty >= 0 and pgid and pgid != os.getpgrp():
                try:
                    if os.tcgetpgrp(self.tty) == os.getpgrp():
                        self._set_foreground(pgid)
                except OSError:
                    pass
            if self._app_stopped:
                k.platform.kill(-pgid if pgid else k.main, signal.SIGCONT)
            return
        if code != SI_KERNEL or self._app_pgid() != os.getpgrp():
            k.platform.kill(k.main, signo)
        if signo in TERMINAL_STOPS:
            self._stop_requested = True
            if self._app_stopped:
                self._stop_self()

    def on_group_stop(self, t: Task, signo: int) -> None:
        """``t`` entered a group-stop, stopped by ``signo``."""
        if t.tid != self.kernel.main:
            return
        self._app_stopped = True
        if signo in TERMINAL_STOPS and self._app_has_terminal():
            self._stop_requested = True
        if self._stop_requested:
            self._stop_self()

    def _app_has_terminal(self) -> bool:
        try:
            return self.tty >= 0 and os.tcgetpgrp(self.tty) == self._app_pgid()
        except OSError:
            return False

    def on_running(self, t: Task) -> None:
        """``t`` is running again (it reported a stop other than group-stop)."""
        if t.tid == self.kernel.main:
            self._app_stopped = False

    def _app_pgid(self) -> int:
        """The process group of the app's main process (0 if it is gone)."""
        try:
            return os.getpgid(self.kernel.main)
        except OSError:
            return 0

    def _stop_self(self) -> None:
        self._stop_requested = False
        self.release_terminal()
        os.kill(os.getpid(), signal.SIGSTOP)
