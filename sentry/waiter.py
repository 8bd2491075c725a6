"""Waits, and work that runs when they complete: the one primitive of
sentry's concurrency (analogous to gVisor's ``pkg/waiter``).

A leaf module: it imports nothing of sentry's but its error type, so the
kernel, the VFS and every file system can use it without importing each
other. There are no threads and no locks here: the kernel's one thread
completes waiters, and a completion runs its callbacks at once.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from sentry.errors import SyscallError

log = logging.getLogger("sentry")


class Waiter:
    """Something a blocking syscall handler awaits; sentry completes it later.

    ``await waiter`` in an ``async def`` handler parks the task until
    :meth:`complete` is called (from another task's syscall, a timer, ...),
    then evaluates to the value given. A waiter completes once.
    """

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None
        self._callbacks: list[Callable[[Any], None]] = []

    def complete(self, value: Any = None) -> None:
        """Wake whoever awaits this, with ``value``."""
        if self.done:
            return
        self.done = True
        self.value = value
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(value)

    def add_callback(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(value)`` on completion (now, if already done)."""
        if self.done:
            callback(self.value)
        else:
            self._callbacks.append(callback)

    def __await__(self) -> Generator[Waiter, Any, Any]:
        if self.done:
            return self.value
        return (yield self)


def log_bug(what: str) -> None:
    """Log the exception being handled as a bug of sentry's, in ``what``.

    Its traceback goes to the debug log only (``--debug-log``: DEBUG level),
    never to the app's stderr, which gets one warning line. The caller then
    carries on: a syscall fails with EIO, background work is dropped.
    """
    kind, error, _ = sys.exc_info()
    name = kind.__name__ if kind is not None else "error"
    log.warning("sentry bug in %s: %s: %s (traceback in the debug log)", what, name, error)
    log.debug("traceback of the sentry bug in %s", what, exc_info=True)


def close_quietly(coroutine: Coroutine[Any, Any, Any], what: str) -> None:
    """Close ``coroutine`` (a handler or background work) that will not be
    resumed; an exception its cleanup raises is logged as a bug in ``what``."""
    try:
        coroutine.close()
    except Exception:
        log_bug(what)


def run_background(coroutine: Coroutine[Waiter, Any, Any]) -> None:
    """Run ``coroutine`` with no task parked on it, each step when the Waiter
    it awaits completes. Nobody waits for its result: a SyscallError is
    logged at DEBUG level, any other exception as a bug (:func:`log_bug`);
    the sandbox goes on either way."""
    def step(value: Any) -> None:
        try:
            waiter = coroutine.send(value)
            if not isinstance(waiter, Waiter):
                raise TypeError(f"background work awaited {waiter!r}, not a Waiter")
        except StopIteration:
            return
        except SyscallError as err:
            log.debug("background work failed: %s", err)
            return
        except Exception:
            log_bug("background work")
            close_quietly(coroutine, "background work")
            return
        waiter.add_callback(step)

    step(None)
