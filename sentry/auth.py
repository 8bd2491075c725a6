"""Credentials: who a task is, for file access checks and FUSE requests.

Analogous to gVisor's ``kernel/auth``. A leaf module, so that the VFS and
file systems can name a task's ids without importing the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Credentials:
    """A task's ids and capabilities (from the host, which enforces them on
    pass-through)."""

    uid: int  # effective
    gid: int
    fsuid: int  # what file access checks and FUSE requests use
    fsgid: int
    groups: tuple[int, ...]
    ruid: int = 0  # real: what access(2) checks with
    rgid: int = 0
    caps: int = 0  # effective capabilities, a bit per CAP_*
    permitted: int = 0  # permitted capabilities (access(2) of root uses them)

    def capable(self, cap: int) -> bool:
        """Whether capability ``cap`` is in effect."""
        return bool(self.caps >> cap & 1)

    def in_group(self, gid: int) -> bool:
        """Whether ``gid`` is the fsgid or a supplementary group."""
        return gid == self.fsgid or gid in self.groups

    def for_access(self) -> Credentials:
        """The credentials access(2) checks with (Linux's
        ``access_override_creds``): the real ids as fsuid and fsgid, and no
        capabilities but the permitted ones if the real uid is root."""
        return replace(
            self, fsuid=self.ruid, fsgid=self.rgid, caps=self.permitted if self.ruid == 0 else 0
        )
