"""What a syscall handler may return: a result, or the host's turn.

A handler (see :mod:`sentry.syscalls.linux64`) returns a
:data:`SyscallResult`: the syscall's result (a non-negative value; an error
is raised as ``SyscallError(errno)``); :data:`PASS` or a
:class:`Passthrough`, when the call is not sentry's after all and the host
runs it; or a coroutine that gives the result, when it must wait (for a
FUSE daemon, a lock, or a syscall the task is made to run).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeAlias

# Sees the host's result at the syscall's exit; may return a coroutine that
# runs with the task held in its exit stop (to inject syscalls), whose value
# is then the syscall's result.
ExitHook = Callable[[int], Coroutine[Any, Any, int] | None]


@dataclass(frozen=True)
class Passthrough:
    """Let the host run the syscall.

    ``on_exit``, if set, is called with the host's result at the syscall's
    exit (e.g. to record the fd that dup() made); see :data:`ExitHook`.
    """

    on_exit: ExitHook | None = None


PASS = Passthrough()

# A handler's answer: the result, the host's turn, or an ``async def``'s
# coroutine (it awaits Waiters; its value is the result).
SyscallResult: TypeAlias = int | Passthrough | Coroutine[Any, Any, int]
