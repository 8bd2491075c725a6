"""A handler's answer that the host should run the syscall after all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Passthrough:
    """Let the host run the syscall.

    ``on_exit``, if set, is called with the host's result at the syscall's
    exit (e.g. to record the fd that dup() made).
    """

    on_exit: Callable[[int], None] | None = None


PASS = Passthrough()
