"""Signals sent to sentry itself, and job control across sentry and the app.

sentry leaves the app in its own process group and session, so the terminal
and the shell treat the two as one job: Ctrl-C and Ctrl-Z reach the app
directly from the terminal. A signal sent to sentry alone (``kill -INT
<sentry>``, a supervisor's SIGTERM) is forwarded to the app's main process.
A signal the terminal sent (si_code SI_KERNEL) is not, unless the app has
left sentry's process group (it did not get it then).

Stopping: when the app's main process enters a group-stop after sentry was
asked to stop (Ctrl-Z: SIGTSTP to the whole job), sentry stops itself with
SIGSTOP, so the shell sees the job stopped. SIGCONT (``fg``) continues both;
if it reached sentry only, sentry forwards it.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import TYPE_CHECKING

from sentry.abi.linux import SI_KERNEL

if TYPE_CHECKING:
    from sentry.kernel.kernel import Kernel
    from sentry.kernel.task import Task

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


class JobControl:
    """Forwards signals to the app and mirrors its job-control stops."""

    SIGNALS = (*FORWARDED, *TERMINAL_STOPS, signal.SIGCONT)

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._stop_requested = False
        self._app_stopped = False

    def on_host_signal(self, signo: int, code: int) -> None:
        """sentry received ``signo`` (with si_code ``code``)."""
        k = self.kernel
        log.debug("sentry got signal %d (code %d)", signo, code)
        if signo == signal.SIGCONT:
            self._stop_requested = False
            if self._app_stopped:
                k.platform.kill(k.main, signal.SIGCONT)
            return
        if code != SI_KERNEL or k.app_pgid() != os.getpgrp():
            k.platform.kill(k.main, signo)
        if signo in TERMINAL_STOPS:
            self._stop_requested = True
            if self._app_stopped:
                self._stop_self()

    def on_group_stop(self, t: Task) -> None:
        """``t`` entered a group-stop."""
        if t.tid == self.kernel.main:
            self._app_stopped = True
            if self._stop_requested:
                self._stop_self()

    def on_running(self, t: Task) -> None:
        """``t`` is running again (it reported a stop other than group-stop)."""
        if t.tid == self.kernel.main:
            self._app_stopped = False

    def _stop_self(self) -> None:
        self._stop_requested = False
        os.kill(os.getpid(), signal.SIGSTOP)
