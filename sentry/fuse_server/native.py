"""Serving a built-in file system on a native kernel mount (root only).

The server opens ``/dev/fuse``, mounts it with mount(2) as libfuse's
``fuse_mount_sys`` does (fstype ``fuse.<name>``, MS_NOSUID|MS_NODEV, plus
MS_RDONLY for a read-only file system; options ``fd=N,rootmode=40000,
user_id,group_id,default_permissions,allow_other``), then runs the request
loop in the foreground. An unmount by anyone ends the loop (ENODEV). On
SIGTERM, SIGINT or SIGHUP the server detaches its mount itself
(``umount2(MNT_DETACH)``), but only if its mount is still the one on top of
the mountpoint: detaching blindly could remove someone else's.
"""

from __future__ import annotations

import os
import re

from sentry.abi.linux import MNT_DETACH, MS_NODEV, MS_NOSUID, MS_RDONLY
from sentry.fuse_server import libc
from sentry.fuse_server.operations import Operations
from sentry.fuse_server.server import Server, handle_signals


def _unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` for a space)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _top_mount(path: str) -> str | None:
    """The major:minor of the last mount on *path* in /proc/self/mountinfo, if any.

    Reading mountinfo never asks the mounted file system anything, so this
    is safe while the server itself is not answering.
    """
    found = None
    with open("/proc/self/mountinfo", errors="surrogateescape") as f:
        for line in f:
            fields = line.split(" ", 5)
            if _unescape(fields[4]) == path:
                found = fields[2]
    return found


def serve(ops: Operations, mountpoint: str, *, name: str, source: str, readonly: bool) -> int:
    """Mount *ops* on *mountpoint* as ``fuse.<name>`` and serve it; return the exit status.

    Raises:
        OSError: if /dev/fuse cannot be opened or mount(2) fails.
    """
    path = os.path.realpath(mountpoint)
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    try:
        server = Server(ops, fd)
        handle_signals(server)
        options = (
            f"fd={fd},rootmode=40000,user_id={os.getuid()},group_id={os.getgid()},"
            "default_permissions,allow_other"
        )
        flags = MS_NOSUID | MS_NODEV | (MS_RDONLY if readonly else 0)
        libc.mount(
            os.fsencode(source),
            os.fsencode(path),
            f"fuse.{name}".encode(),
            flags,
            options.encode(),
        )
        ours = _top_mount(path)
        try:
            return server.run()
        finally:
            if ours is not None and _top_mount(path) == ours:
                libc.umount2(os.fsencode(path), MNT_DETACH)
    finally:
        os.close(fd)
