"""Plans: the steps the sandbox's init runs in its new namespaces.

A :class:`Plan` is built by the boot code (``sentry.boot.isolation``) and run
by the platform's init in the sandbox (the ptrace backend's is C,
``ptrace/_sandbox.c``), before the app starts (its uid maps, root file system and
network) and while it runs (guard mounts at FUSE mount points). Steps run in
order; the first one that fails ends the plan, unless the step says to go on
(``ignore``) or names a fallback (``otherwise``: the next step runs only if
this one failed; a chain of fallbacks stops at the first that succeeds).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass

from sentry.abi.linux import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
)

# Re-exported for sentry.kernel.kernel, which still imports it from here.

# The source name of guard mounts (see Plan.guard), as mount tables show it.
GUARD_SOURCE = "sentry-guard"

# Steps; keep in step with _sandbox.c.
_MKDIRS, _MKFILE, _MOUNT, _UMOUNT, _SYMLINK, _PIVOT, _CHDIR, _LO_UP = range(1, 9)
_STOP, _IGNORE, _ELSE = 0, 1, 2
_HEAD = struct.Struct("=IIQ")


class Plan:
    """A list of steps for init, encoded as ``_sandbox.c`` reads them.

    Paths are as init sees them when the step runs: before ``pivot`` the
    host's tree (in the new mount namespace), after it the sandbox's.
    """

    def __init__(self) -> None:
        self._steps: list[bytes] = []
        self.descriptions: list[str] = []

    def __bytes__(self) -> bytes:
        return b"".join(self._steps)

    def __len__(self) -> int:
        return len(self._steps)

    def _add(
        self, what: str, op: int, *strings: str, flags: int = 0, on_fail: int = _STOP
    ) -> None:
        padded = [*strings, "", "", "", ""][:4]
        self._steps.append(
            _HEAD.pack(op, on_fail, flags) + b"".join(s.encode() + b"\0" for s in padded)
        )
        self.descriptions.append(what)

    def mkdirs(self, path: str) -> None:
        """Make directory ``path`` and its missing parents."""
        self._add(f"mkdir {path}", _MKDIRS, path)

    def mkfile(self, path: str) -> None:
        """Make an empty file at ``path`` unless something is there."""
        self._add(f"create {path}", _MKFILE, path)

    def mount(
        self,
        source: str,
        target: str,
        fstype: str = "",
        flags: int = 0,
        data: str = "",
        *,
        ignore: bool = False,
        otherwise: bool = False,
    ) -> None:
        """mount(2); with ``otherwise``, the next step is its fallback."""
        on_fail = _ELSE if otherwise else _IGNORE if ignore else _STOP
        what = f"mount {fstype or 'bind'} {source} on {target}"
        self._add(what, _MOUNT, source, target, fstype, data, flags=flags, on_fail=on_fail)

    def umount(self, target: str, flags: int = 0) -> None:
        """umount2(2)."""
        self._add(f"unmount {target}", _UMOUNT, target, flags=flags)

    def symlink(self, target: str, path: str) -> None:
        """A symlink at ``path`` to ``target`` (kept if one is there)."""
        self._add(f"symlink {path}", _SYMLINK, target, path)

    def pivot(self, new_root: str) -> None:
        """Make ``new_root`` the root and drop the old one."""
        self._add(f"pivot_root to {new_root}", _PIVOT, new_root)

    def chdir(self, path: str) -> None:
        """Enter ``path`` (or ``/`` if it cannot be entered)."""
        self._add(f"chdir {path}", _CHDIR, path)

    def guard(self, point: str) -> None:
        """An empty, read-only tmpfs at ``point`` (made if missing): what the
        host kernel finds at a sentry mount point, so that a path slipping
        past sentry reaches nothing and writes nothing."""
        self.mkdirs(point)
        flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
        self.mount(GUARD_SOURCE, point, "tmpfs", flags, "size=4k,mode=755")

    def loopback_up(self) -> None:
        """Bring up ``lo`` in the new network namespace."""
        self._add("bring up lo", _LO_UP)


@dataclass
class Sandbox:
    """How to isolate the app: the namespaces to create (CLONE_NEW* bits),
    init's id maps (the texts of /proc/PID/uid_map, gid_map and setgroups,
    written by sentry from outside), and the plan that init runs in them
    before the app starts."""

    namespaces: int
    uid_map: str
    gid_map: str
    setgroups: str
    plan: Plan
    # The terminal whose foreground the app's process group takes (the app
    # always gets a group of its own), or -1.
    foreground_tty: int = -1


class SandboxError(Exception):
    """The sandbox could not be set up; the message says what and why, in
    one line for the user."""


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


# The namespaces, in the order a probe tries them: their flag, name, and the
# name of their limit in /proc/sys/user.
_NAMESPACES = (
    (CLONE_NEWUSER, "user", "user"),
    (CLONE_NEWNS, "mount", "mnt"),
    (CLONE_NEWPID, "PID", "pid"),
    (CLONE_NEWNET, "network", "net"),
    (CLONE_NEWIPC, "IPC", "ipc"),
    (CLONE_NEWUTS, "UTS", "uts"),
)


def _refused(namespaces: int) -> int | None:
    """The index in _NAMESPACES of the first of ``namespaces`` that the
    kernel refuses, probed with unshare(2) in a child process (the user
    namespace first, the others inside it, as the sandbox makes them)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:
        for index, (flag, _, _) in enumerate(_NAMESPACES):
            if namespaces & flag and libc.unshare(flag) != 0:
                os._exit(index + 1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code - 1 if 0 < code <= len(_NAMESPACES) else None


def namespace_error(code: int, namespaces: int) -> str:
    """The message for ``namespaces`` (CLONE_NEW* bits) that clone(2)
    refused with errno ``code``: which one, and the host setting to change
    where one is known."""
    index = _refused(namespaces)
    _, name, limit = _NAMESPACES[index or 0]
    what = f"the sandbox's {name} namespace" if index is not None else "the sandbox's namespaces"
    if index in (None, 0) and _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        hint = "unprivileged user namespaces are off: sysctl -w kernel.unprivileged_userns_clone=1"
    elif index in (None, 0) and _read(
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
    ) == "1":
        hint = (
            "AppArmor restricts unprivileged user namespaces: "
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
        )
    elif _read(f"/proc/sys/user/max_{limit}_namespaces") == "0" or code == errno.ENOSPC:
        hint = f"{name} namespaces are limited: sysctl -w user.max_{limit}_namespaces=15000"
    else:
        hint = f"the kernel refused a new {name} namespace to an unprivileged process"
    return f"cannot create {what}: {os.strerror(code)} ({hint})"
