"""Calls that change a task's credentials.

The host runs them (the app's user namespace decides what it may do); sentry
only reads the task's credentials afresh afterwards, for the permission
checks of ``default_permissions`` mounts (``sentry.vfs.permissions``) and
the ids FUSE requests carry. Each thread calls them itself (glibc makes every
thread of a process call setuid), and Linux's credentials are per thread,
as sentry's are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentry.kernel.syscalls import Passthrough, SyscallResult

if TYPE_CHECKING:
    from sentry.kernel.task import Task

def _changed(t: Task) -> SyscallResult:
    """The host's call, then the task's credentials are read again when
    next needed."""

    def forget(result: int) -> None:
        t.forget_credentials()

    return Passthrough(on_exit=forget)


def setuid(t: Task, uid: int) -> SyscallResult:
    """setuid(2)."""
    return _changed(t)


def setgid(t: Task, gid: int) -> SyscallResult:
    """setgid(2)."""
    return _changed(t)


def setreuid(t: Task, ruid: int, euid: int) -> SyscallResult:
    """setreuid(2)."""
    return _changed(t)


def setregid(t: Task, rgid: int, egid: int) -> SyscallResult:
    """setregid(2)."""
    return _changed(t)


def setresuid(t: Task, ruid: int, euid: int, suid: int) -> SyscallResult:
    """setresuid(2)."""
    return _changed(t)


def setresgid(t: Task, rgid: int, egid: int, sgid: int) -> SyscallResult:
    """setresgid(2)."""
    return _changed(t)


def setfsuid(t: Task, fsuid: int) -> SyscallResult:
    """setfsuid(2)."""
    return _changed(t)


def setfsgid(t: Task, fsgid: int) -> SyscallResult:
    """setfsgid(2)."""
    return _changed(t)


def setgroups(t: Task, size: int, groups: int) -> SyscallResult:
    """setgroups(2)."""
    return _changed(t)


def capset(t: Task, header: int, data: int) -> SyscallResult:
    """capset(2)."""
    return _changed(t)


HANDLERS = (
    setuid,
    setgid,
    setreuid,
    setregid,
    setresuid,
    setresgid,
    setfsuid,
    setfsgid,
    setgroups,
    capset,
)
