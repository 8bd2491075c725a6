"""A handler's answer that the host should run the syscall after all."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

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
