"""File permission checks on mode bits, owners and capabilities.

Analogous to gVisor's ``vfs/permissions.go`` and Linux's
``generic_permission``, ``check_sticky``, ``setattr_prepare`` and
``chown_ok``. A file system whose server trusts its client for access
control (a FUSE mount with ``default_permissions``) calls these with the
file's attributes and the caller's credentials; the rules are Linux's:

- The owner class decides alone: the owner's bits if the caller's fsuid owns
  the file, else the group's if the file's group is the fsgid or a
  supplementary group, else the others'.
- CAP_DAC_READ_SEARCH allows reading any file and reading and searching any
  directory; CAP_DAC_OVERRIDE allows anything on a directory, and reading
  and writing any other file, and executing one that has an execute bit.
- In a sticky directory, only the owner of an entry, the owner of the
  directory or a CAP_FOWNER caller may remove or rename the entry (EPERM).
- chmod, explicit times and the set-group-ID bit need the owner or
  CAP_FOWNER (EPERM), and a chmod by a caller outside the file's group and
  without CAP_FSETID drops S_ISGID; chown needs CAP_CHOWN, except that the
  owner may give the file to one of its own groups; setting both times to
  now needs the owner or write permission (EACCES).
- A write or truncate of a regular file by a caller without CAP_FSETID
  takes away its S_ISUID, and its S_ISGID if it has S_IXGRP too (or the
  caller is not in its group); a chown takes them from any non-directory
  (``privileges_dropped``).

Capabilities are taken as the task has them in effect in the sandbox's user
namespace, for every file (Linux also asks that the file's ids be mapped
there, which they are when sentry runs as root; otherwise the app holds no
capability).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from sentry.abi.linux import (
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_FSETID,
    S_IFDIR,
    S_IFMT,
    S_IFREG,
    S_ISGID,
    S_ISUID,
    S_ISVTX,
    S_IXGRP,
    S_IXUGO,
    STATX_ATIME,
    STATX_GID,
    STATX_MODE,
    STATX_MTIME,
    STATX_UID,
    UTIME_NOW,
)
from sentry.errors import SyscallError
from sentry.vfs.file_description_impl import O_ACCMODE, O_TRUNC, O_WRONLY

if TYPE_CHECKING:
    from sentry.auth import Credentials
    from sentry.vfs.filesystem import SetStat

MAY_EXEC, MAY_WRITE, MAY_READ = 1, 2, 4
# An open(2) flag of sentry's own for an exec's open of the file (Linux's
# __FMODE_EXEC): it needs MAY_EXEC, not MAY_READ. Outside VALID_OPEN_FLAGS,
# so the app's open cannot pass it (sys_file masks); never sent to a server.
OPEN_EXEC = 0o40


def may_open(flags: int) -> int:
    """The MAY_* mask an open(2) with ``flags`` needs (O_TRUNC writes;
    OPEN_EXEC executes)."""
    if flags & OPEN_EXEC:
        return MAY_EXEC
    mode = flags & O_ACCMODE
    # Linux's ACC_MODE: mode 3 (no standard name) asks for both.
    mask = MAY_READ if mode != O_WRONLY else 0
    if mode != 0 or flags & O_TRUNC:
        mask |= MAY_WRITE
    return mask


def check(creds: Credentials, mode: int, uid: int, gid: int, mask: int) -> None:
    """Linux's generic_permission: EACCES unless ``creds`` may do ``mask``
    (MAY_READ, MAY_WRITE, MAY_EXEC) to a file of ``mode`` owned by
    ``uid``:``gid``."""
    mask &= MAY_READ | MAY_WRITE | MAY_EXEC
    if creds.fsuid == uid:
        allowed = mode >> 6
    elif creds.in_group(gid):
        allowed = mode >> 3
    else:
        allowed = mode
    if not mask & ~allowed & 0o7:
        return
    if mode & S_IFMT == S_IFDIR:
        if not mask & MAY_WRITE and creds.capable(CAP_DAC_READ_SEARCH):
            return
        if creds.capable(CAP_DAC_OVERRIDE):
            return
        raise SyscallError(errno.EACCES)
    if mask == MAY_READ and creds.capable(CAP_DAC_READ_SEARCH):
        return
    if (not mask & MAY_EXEC or mode & S_IXUGO) and creds.capable(CAP_DAC_OVERRIDE):
        return
    raise SyscallError(errno.EACCES)


def owner_or_capable(creds: Credentials, uid: int) -> bool:
    """Whether ``creds`` own a file of ``uid`` or hold CAP_FOWNER."""
    return creds.fsuid == uid or creds.capable(CAP_FOWNER)


def check_sticky(creds: Credentials, dir_mode: int, dir_uid: int, uid: int) -> None:
    """EPERM if a sticky directory (``dir_mode``, owned by ``dir_uid``)
    keeps ``creds`` from removing or renaming an entry owned by ``uid``."""
    if dir_mode & S_ISVTX and creds.fsuid not in (uid, dir_uid) and not creds.capable(CAP_FOWNER):
        raise SyscallError(errno.EPERM)


def privileges_dropped(creds: Credentials, mode: int, gid: int, chown: bool = False) -> int:
    """The set-ID bits that a write or truncate by ``creds`` (or, with
    ``chown``, a change of owner) takes from a file of ``mode`` and group
    ``gid``: Linux's ``setattr_should_drop_suidgid`` (and for chown,
    ``chown_common``'s ATTR_KILL_SUID) decides whether they go, and FUSE's
    ``fuse_setattr`` which: S_ISUID, and S_ISGID only beside S_IXGRP. 0 if
    none."""
    kind = mode & S_IFMT
    if chown:
        kill = kind != S_IFDIR
    else:
        sgid = bool(mode & S_ISGID) and (bool(mode & S_IXGRP) or not creds.in_group(gid))
        kill = kind == S_IFREG and bool(mode & S_ISUID or sgid)
        kill = kill and not creds.capable(CAP_FSETID)
    if not kill:
        return 0
    return mode & S_ISUID | (mode & S_ISGID if mode & S_IXGRP else 0)


def check_setstat(
    creds: Credentials, mode: int, uid: int, gid: int, change: SetStat, writable: bool
) -> None:
    """Linux's setattr_prepare for ``change`` of a file of ``mode`` owned by
    ``uid``:``gid`` (``writable``: whether ``creds`` may write it): EPERM
    or EACCES as Linux gives them; a chmod that may not keep S_ISGID has it
    dropped from ``change.mode``."""
    if change.mask & STATX_UID and not (
        (creds.fsuid == uid and change.uid == uid) or creds.capable(CAP_CHOWN)
    ):
        raise SyscallError(errno.EPERM)
    if change.mask & STATX_GID and not (
        (creds.fsuid == uid and (change.gid == gid or creds.in_group(change.gid)))
        or creds.capable(CAP_CHOWN)
    ):
        raise SyscallError(errno.EPERM)
    if change.mask & STATX_MODE:
        if not owner_or_capable(creds, uid):
            raise SyscallError(errno.EPERM)
        group = change.gid if change.mask & STATX_GID else gid
        if not creds.in_group(group) and not creds.capable(CAP_FSETID):
            change.mode &= ~S_ISGID
    times = change.mask & (STATX_ATIME | STATX_MTIME)
    if times and not owner_or_capable(creds, uid):
        # Both times set to now (or utimes with no times) is a "touch",
        # which write permission allows; anything else is an explicit time.
        both = times == STATX_ATIME | STATX_MTIME
        touch = both and UTIME_NOW == change.atime[1] == change.mtime[1]
        if not touch:
            raise SyscallError(errno.EPERM)
        if not writable:
            raise SyscallError(errno.EACCES)
