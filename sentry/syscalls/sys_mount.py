"""mount(2) and umount2(2) of sentry's file systems, and the mount tables
the app reads (``/proc/self/mounts``, ``mountinfo``, ``/etc/mtab``), which
list sentry's mounts after the host's.

Analogous to gVisor's ``sys_mount.go``. A mount's type must be one
registered with the VFS (today ``fuse`` and ``fuse.<subtype>``, see
``sentry.fsimpl.fuse.filesystem_type``); the type makes the file system,
and sentry mounts it over a host directory. Unmounting ends it (for FUSE:
pending requests fail; the daemon's next read gets ENODEV). Other mounts
fail with EPERM, as for an unprivileged caller: the app mounts nothing on
the host's side of its tree. Each mount point gets a guard in the app's
mount namespace (see ``sentry.platform.namespaces.Plan.guard``).
"""

from __future__ import annotations

import errno
import functools
import os
import re
from typing import TYPE_CHECKING

from sentry.abi.linux import AT_FDCWD, MNT_DETACH
from sentry.errors import SyscallError
from sentry.kernel.syscalls import SyscallResult
from sentry.platform.namespaces import GUARD_SOURCE
from sentry.syscalls.common import c_int, locate, read_path
from sentry.vfs.static_file import StaticFile

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.context import Context
    from sentry.vfs.file_description_impl import FileDescriptionImpl
    from sentry.vfs.vfs import VirtualFilesystem

CAP_SYS_ADMIN = 21
GUARD = f" {GUARD_SOURCE} ".encode()
_PROC_MOUNTS = re.compile(
    r"/proc/(self|thread-self|\d+)/(mounts|mountinfo)|/proc/mounts|/etc/mtab"
)


def register_specials(vfs: VirtualFilesystem) -> None:
    """Serve the mount tables from sentry."""
    tables = functools.partial(_mount_table, vfs)
    vfs.add_special_pattern(("mounts", "mountinfo", "mtab"), _PROC_MOUNTS, tables)


def _mount_table(vfs: VirtualFilesystem, t: Context, path: str) -> FileDescriptionImpl:
    info = path.endswith("mountinfo")
    try:
        with open(f"/proc/{t.tid}/{'mountinfo' if info else 'mounts'}", "rb") as f:
            host = f.read()
            st = os.fstat(f.fileno())
            identity = (st.st_dev, st.st_ino)
    except OSError:
        host, identity = b"", (0, 0)
    # The guards under sentry's mounts are sentry's business (Plan.guard).
    lines = [line + b"\n" for line in host.splitlines() if GUARD not in line]
    for i, m in enumerate(vfs.all_mounts()):
        opts = "user_id=0,group_id=0" + ("," + m.options if m.options else "")
        if info:
            major, minor = os.major(m.dev), os.minor(m.dev)
            lines.append(
                f"{10000 + i} 1 {major}:{minor} / {m.point} rw,nosuid,nodev,relatime "
                f"- {m.fstype} {m.source} rw,{opts}\n".encode()
            )
        else:
            lines.append(
                f"{m.source} {m.point} {m.fstype} rw,nosuid,nodev,relatime,{opts} 0 0\n".encode()
            )
    return StaticFile(b"".join(lines), *identity)


def _host_path(t: Task, path: bytes) -> str:
    """``path`` as an absolute, normalized host path (EINVAL inside a mount)."""
    if locate(t, AT_FDCWD, path) is not None:
        raise SyscallError(errno.EINVAL)
    text = os.fsdecode(path)
    if not text.startswith("/"):
        text = os.path.join(t.group.host_cwd(), text)
    return os.path.normpath(text)


def mount(t: Task, source: int, target: int, fstype: int, flags: int, data: int) -> SyscallResult:
    """mount(2): of a file system type registered with the VFS."""
    kind = read_path(t, fstype).decode(errors="replace") if fstype else ""
    vfs = t.kernel.vfs
    fs_type = vfs.filesystem_type(kind)
    if fs_type is None:
        # sentry emulates FUSE mounts only; the app may mount nothing on
        # the host's side of its tree (the errno of an unprivileged caller).
        raise SyscallError(errno.EPERM)
    text = t.mm.read_string(data, 4096) if data else b""
    point = _host_path(t, read_path(t, target))
    in_app_view = f"/proc/{t.tid}/root{point}"
    if not os.path.exists(in_app_view):
        raise SyscallError(errno.ENOENT)
    if not os.path.isdir(in_app_view):
        raise SyscallError(errno.ENOTDIR)
    name = read_path(t, source).decode(errors="replace") if source else kind
    dev = vfs.new_dev()
    t.kernel.guard(point, True)
    try:
        fs, shown = fs_type.get_filesystem(t, kind, name, text, dev)
    except SyscallError:
        t.kernel.guard(point, False)
        raise
    vfs.add_mount(point, fs, name, kind, shown, dev, owner=t.credentials().fsuid)
    return 0


def umount2(t: Task, target: int, flags: int) -> SyscallResult:
    """umount2(2): EBUSY while a file or a working directory is in the mount,
    unless MNT_DETACH; a detached busy mount's connection lives on until its
    last open file is closed, as in Linux."""
    path = read_path(t, target)
    vfs = t.kernel.vfs
    point = os.path.normpath(
        os.fsdecode(path)
        if path.startswith(b"/")
        else os.path.join(t.group.host_cwd(), os.fsdecode(path))
    )
    if point not in vfs.mounts:
        raise SyscallError(errno.EPERM)
    owner = vfs.mounts[point][-1].owner
    # As fusermount3 -u: the user who mounted it may unmount it; anyone
    # else (a --mount or --fuse mount has no owner) needs CAP_SYS_ADMIN.
    if owner != t.credentials().fsuid and not t.capable(CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    if c_int(flags) & ~0xF:
        raise SyscallError(errno.EINVAL)
    if c_int(flags) & MNT_DETACH or not vfs.mounts[point][-1].fs.busy():
        return _unmount(t, point, c_int(flags))
    return _unmount_when_closed(t, point, c_int(flags))


def _unmount(t: Task, point: str, flags: int) -> int:
    vfs = t.kernel.vfs
    mount = vfs.mounts[point][-1]
    busy = mount.fs.busy()
    if busy and not flags & MNT_DETACH:
        raise SyscallError(errno.EBUSY)
    vfs.remove_mount(point)
    mount.fs.unmount(lazy=busy)
    t.kernel.guard(point, False)
    return 0


async def _unmount_when_closed(t: Task, point: str, flags: int) -> int:
    """A busy mount may only be waiting for the closes of an exited process
    (Linux finishes those before its parent can reap it; sentry flushes in
    the background): let them finish, then decide."""
    vfs = t.kernel.vfs
    for _ in range(8):
        closes = vfs.mounts[point][-1].fs.closes_in_flight() if point in vfs.mounts else []
        if not closes:
            break
        for waiter in closes:
            await waiter
    if point not in vfs.mounts:
        raise SyscallError(errno.EINVAL)
    return _unmount(t, point, flags)
