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
from typing import TYPE_CHECKING, NoReturn

from sentry.abi.linux import (
    AT_FDCWD,
    CAP_SYS_ADMIN,
    MNT_DETACH,
    MNT_EXPIRE,
    MNT_FORCE,
    MS_BIND,
    MS_MGC_MSK,
    MS_MGC_VAL,
    MS_MOVE,
    MS_PROPAGATION,
    MS_REC,
    MS_REMOUNT,
    S_IFDIR,
    S_IFMT,
    UMOUNT_NOFOLLOW,
)
from sentry.errors import SyscallError
from sentry.kernel.syscalls import SyscallResult
from sentry.platform.namespaces import GUARD_SOURCE
from sentry.syscalls.common import c_int, c_long, locate, read_path
from sentry.vfs.static_file import StaticFile
from sentry.vfs.vfs import is_below

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.context import Context
    from sentry.vfs.file_description_impl import FileDescriptionImpl
    from sentry.vfs.filesystem import Inode
    from sentry.vfs.vfs import Mount, VirtualFilesystem

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
    lines = [
        line + b"\n"
        for line in host.splitlines()
        if GUARD not in line and not line.startswith(GUARD[1:])
    ]
    for i, m in enumerate(vfs.all_mounts()):
        # A FUSE mount's flags and options as Linux shows them (fusermount3
        # adds nosuid and nodev); others (tmpfs) show their own options.
        fuse = m.fstype.split(".")[0] == "fuse"
        flags = "rw,nosuid,nodev,relatime" if fuse else "rw,relatime"
        opts = ",".join(filter(None, ["user_id=0,group_id=0" if fuse else "", m.options]))
        if info:
            major, minor = os.major(m.dev), os.minor(m.dev)
            lines.append(
                f"{10000 + i} 1 {major}:{minor} {m.root_path} {m.point} {flags} "
                f"- {m.fstype} {m.source} {','.join(filter(None, ['rw', opts]))}\n".encode()
            )
        else:
            options = ",".join(filter(None, [flags, opts]))
            lines.append(f"{m.source} {m.point} {m.fstype} {options} 0 0\n".encode())
    return StaticFile(b"".join(lines), *identity)


def _host_path(t: Task, path: bytes) -> str:
    """``path``, a host path, as an absolute, normalized one."""
    text = os.fsdecode(path)
    if not text.startswith("/"):
        text = os.path.join(t.group.host_cwd(), text)
    return os.path.normpath(text)


async def _directory(t: Task, path: bytes) -> tuple[str, Mount | None]:
    """Where mount(2)'s target ``path`` is (symlinks followed): the app's
    absolute path of a directory, and the mount it lies in (None: the
    host's tree; a mount's root lies in that mount, for one stacked on it).
    ENOENT if it does not exist, ENOTDIR if it is no directory."""
    start = locate(t, AT_FDCWD, path)
    if start is not None:
        location = await t.kernel.vfs.walk(t, start)
        if location.mount is not None:
            assert location.inode is not None
            if location.inode.mode & S_IFMT != S_IFDIR:
                raise SyscallError(errno.ENOTDIR)
            return location.path, location.mount
        point = location.path
    else:
        point = _host_path(t, path)
    in_app_view = f"/proc/{t.tid}/root{point}"
    if not os.path.exists(in_app_view):
        raise SyscallError(errno.ENOENT)
    if not os.path.isdir(in_app_view):
        raise SyscallError(errno.ENOTDIR)
    return point, None


def _in_a_mount(vfs: VirtualFilesystem, point: str) -> bool:
    """Whether ``point`` lies inside a sentry mount."""
    return any(is_below(point, m.point) for m in vfs.all_mounts())


def mount(t: Task, source: int, target: int, fstype: int, flags: int, data: int) -> SyscallResult:
    """mount(2), in Linux's ``path_mount`` order: a bind (MS_BIND) of a
    directory in a sentry mount, a move (MS_MOVE) or a propagation change
    of a sentry mount, or a new file system of a type registered with the
    VFS (``fuse``, ``tmpfs``). Everything else on the host's side of the
    tree is EPERM, as for an unprivileged caller: sentry mounts nothing
    there but its own."""
    flags = c_long(flags) & 0xFFFFFFFF
    if flags & MS_MGC_MSK == MS_MGC_VAL:
        flags &= ~MS_MGC_MSK
    kind = read_path(t, fstype).decode(errors="replace") if fstype else ""
    name = read_path(t, source) if source else b""
    text = t.mm.read_string(data, 4096) if data else b""
    return _mount(t, name, read_path(t, target), kind, flags, text)


async def _mount(t: Task, source: bytes, target: bytes, kind: str, flags: int, data: bytes) -> int:
    vfs = t.kernel.vfs
    point, parent = await _directory(t, target)
    if flags & MS_REMOUNT:
        raise SyscallError(errno.EPERM)
    if flags & MS_BIND:
        _need_admin(t)
        return await _bind(t, source, point, parent, bool(flags & MS_REC))
    if flags & MS_PROPAGATION:
        _need_admin(t)
        if vfs.mount_root(point) is None:
            raise SyscallError(errno.EPERM if parent is None else errno.EINVAL)
        return 0  # sentry's mounts propagate nowhere: each is private
    if flags & MS_MOVE:
        _need_admin(t)
        return await _move(t, source, point, parent)
    fs_type = vfs.filesystem_type(kind)
    if fs_type is None:
        # The app may mount nothing else on the host's side of its tree
        # (the errno of an unprivileged caller).
        raise SyscallError(errno.EPERM)
    if fs_type.privileged:
        _need_admin(t)
    name = source.decode(errors="replace") or kind
    dev = vfs.new_dev()
    guarded = parent is None
    if guarded:
        t.kernel.guard(point, True)
    try:
        fs, shown = fs_type.get_filesystem(t, kind, name, data, dev)
    except SyscallError:
        if guarded:
            t.kernel.guard(point, False)
        raise
    owner = t.credentials().fsuid
    vfs.add_mount(point, fs, name, kind, shown, dev, owner, parent=parent, guarded=guarded)
    return 0


def _need_admin(t: Task) -> None:
    """EPERM unless the caller has CAP_SYS_ADMIN (Linux's ``may_mount``)."""
    if not t.capable(CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)


async def _bind(t: Task, source: bytes, point: str, parent: Mount | None, recursive: bool) -> int:
    """Bind the directory ``source`` of a sentry mount at ``point`` (in
    ``parent``), sharing its file system; with ``recursive``, the mounts
    inside it that lie below ``source`` come along."""
    if not source:
        raise SyscallError(errno.EINVAL)
    vfs = t.kernel.vfs
    start = locate(t, AT_FDCWD, source)
    if start is None:
        raise SyscallError(errno.EPERM)  # a host directory: see mount()
    at = await vfs.walk(t, start)
    if at.mount is None:
        raise SyscallError(errno.EPERM)
    assert at.inode is not None
    if at.inode.mode & S_IFMT != S_IFDIR:
        raise SyscallError(errno.ENOTDIR)
    inside = os.path.relpath(at.path, at.mount.point)
    root_path = os.path.normpath(os.path.join(at.mount.root_path, inside))
    copies = {at.mount: _copy(t, at.mount, point, parent, at.inode, root_path)}
    if recursive:
        for m in vfs.descendants(at.mount):
            if m.parent in copies and is_below(m.point, at.path):
                copies[m] = _copy(t, m, point + m.point[len(at.path) :], copies[m.parent])
    return 0


def _copy(
    t: Task,
    of: Mount,
    point: str,
    parent: Mount | None,
    root: Inode | None = None,
    root_path: str | None = None,
) -> Mount:
    """Show ``of``'s file system at ``point`` in ``parent`` too, from its
    directory ``root`` at ``root_path`` (by default, ``of``'s own)."""
    guarded = parent is None
    if guarded:
        t.kernel.guard(point, True)
    return t.kernel.vfs.add_mount(
        point,
        of.fs,
        of.source,
        of.fstype,
        of.options,
        of.dev,
        t.credentials().fsuid,
        of.root if root is None else root,
        of.root_path if root_path is None else root_path,
        parent,
        guarded,
    )


async def _move(t: Task, source: bytes, point: str, parent: Mount | None) -> int:
    """Move the top sentry mount at ``source`` (its root), with the mounts
    inside it, to ``point`` in ``parent``."""
    vfs = t.kernel.vfs
    where, _ = await _directory(t, source)
    mount = vfs.mount_root(where)
    if mount is None:
        raise SyscallError(errno.EINVAL if _in_a_mount(vfs, where) else errno.EPERM)
    if point == where or is_below(point, where):
        raise SyscallError(errno.ELOOP)
    moving = [mount, *vfs.descendants(mount)]
    for m in reversed(moving):
        vfs.detach(m)
    if mount.guarded:
        t.kernel.guard(mount.point, False)
    mount.parent, mount.guarded = parent, parent is None
    if mount.guarded:
        t.kernel.guard(point, True)
    for m in moving:
        m.point = point + m.point[len(where) :]
        vfs.attach(m)
    return 0


def umount2(t: Task, target: int, flags: int) -> SyscallResult:
    """umount2(2): the top mount at the target (a symlink is followed unless
    UMOUNT_NOFOLLOW); EBUSY while a file or a working directory is in the
    mount, or a mount inside it, unless MNT_DETACH; a detached busy mount's
    connection lives on until its last open file is closed, as in Linux."""
    if c_int(flags) & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW):
        raise SyscallError(errno.EINVAL)
    return _umount2(t, read_path(t, target), c_int(flags))


async def _umount2(t: Task, path: bytes, flags: int) -> int:
    if not path:
        raise SyscallError(errno.ENOENT)
    vfs = t.kernel.vfs
    start = locate(t, AT_FDCWD, path)
    if start is not None:
        point = (await vfs.walk(t, start, not flags & UMOUNT_NOFOLLOW)).path
    else:
        point = _host_path(t, path)
    mount = vfs.mount_root(point)
    if mount is None:
        _not_sentrys(t, point)
    # As fusermount3 -u: the user who mounted it may unmount it; anyone
    # else (a --mount or --fuse mount has no owner) needs CAP_SYS_ADMIN.
    if mount.owner != t.credentials().fsuid and not t.capable(CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    if flags & MNT_DETACH or not _busy(t, mount):
        return _unmount(t, mount, flags)
    return await _unmount_when_closed(t, mount, flags)


def _not_sentrys(t: Task, point: str) -> NoReturn:
    """umount2 of what is not a sentry mount: EPERM without CAP_SYS_ADMIN
    or for a mount of the host's (sentry unmounts nothing there), else
    Linux's errors: ENOENT for a missing path, EINVAL for no mount point."""
    if not t.capable(CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    if not _in_a_mount(t.kernel.vfs, point):
        if not os.path.lexists(f"/proc/{t.tid}/root{point}"):
            raise SyscallError(errno.ENOENT)
        try:
            with open(f"/proc/{t.tid}/mountinfo", "rb") as f:
                points = {line.split(b" ")[4] for line in f if line.count(b" ") > 4}
        except OSError:
            points = set()
        if _escape(os.fsencode(point)) in points:
            raise SyscallError(errno.EPERM)
    raise SyscallError(errno.EINVAL)


def _escape(path: bytes) -> bytes:
    """A path as mountinfo writes it (space, tab, newline, backslash octal)."""
    for char in b"\\ \t\n":
        path = path.replace(bytes([char]), b"\\%03o" % char)
    return path


def _busy(t: Task, mount: Mount) -> bool:
    """Whether ``mount`` has a mount inside it, or a file or a working
    directory in it (for a file system that other mounts show too, the
    ones reached through this mount, as Linux counts them per mount)."""
    vfs = t.kernel.vfs
    if vfs.descendants(mount):
        return True
    if not vfs.shares_fs(mount):
        return mount.fs.busy()
    return t.kernel.uses_mount(mount)


def _unmount(t: Task, mount: Mount, flags: int) -> int:
    """Take ``mount`` away (with MNT_DETACH, the mounts inside it first);
    its file system ends with its last mount."""
    vfs = t.kernel.vfs
    if _busy(t, mount) and not flags & MNT_DETACH:
        raise SyscallError(errno.EBUSY)
    for each in [*reversed(vfs.descendants(mount)), mount]:
        last = not vfs.shares_fs(each)
        vfs.detach(each)
        if last:
            each.fs.unmount(lazy=each.fs.busy())
        if each.guarded:
            t.kernel.guard(each.point, False)
    return 0


async def _unmount_when_closed(t: Task, mount: Mount, flags: int) -> int:
    """A busy mount may only be waiting for the closes of an exited process
    (Linux finishes those before its parent can reap it; sentry flushes in
    the background): let them finish, then decide."""
    for _ in range(8):
        closes = mount.fs.closes_in_flight()
        if not closes:
            break
        for waiter in closes:
            await waiter
    if mount not in t.kernel.vfs.all_mounts():
        raise SyscallError(errno.EINVAL)
    return _unmount(t, mount, flags)
