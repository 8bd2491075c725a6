"""Credentials: who a task is, for file access checks and FUSE requests.

Analogous to gVisor's ``kernel/auth``. A leaf module, so that the VFS and
file systems can name a task's ids without importing the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Credentials:
    """A task's ids (from the host, which enforces them on pass-through)."""

    uid: int  # effective
    gid: int
    fsuid: int  # what file access checks and FUSE requests use
    fsgid: int
    groups: tuple[int, ...]
