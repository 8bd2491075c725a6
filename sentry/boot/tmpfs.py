"""``tmpfs`` for the app's mount(2): each mount is a memfs server.

Analogous to gVisor's ``fsimpl/tmpfs`` registered as ``tmpfs``. Linux lets
a process with CAP_SYS_ADMIN in its user namespace mount a tmpfs; sentry
serves one with the built-in memfs server (which behaves as tmpfs does),
started outside the sandbox by :meth:`FuseDaemons.serve` when mount(2) asks
for it, and ended by the unmount. The options are tmpfs's: ``mode=`` sets
the root's mode and ``size=`` (bytes, a k/m/g suffix or a percentage of
RAM) how much its files may hold (ENOSPC past it) and what statfs
reports; ``nr_inodes``, ``nr_blocks``, ``huge``,
``mpol``, ``inode32``, ``inode64``, ``noswap``, ``uid`` and ``gid`` are
accepted and shown but not applied. Any other option is EINVAL, as in
Linux.

Each server is a process outside the sandbox, so the app may have at most
MAX_TMPFS of them at once: a mount past that is ENOSPC, the errno of Linux's
limit on mounts (``fs.mount-max``). A server's file data is bounded by its
``size=`` (half the RAM by default, as tmpfs's).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from sentry.boot.mount_spec import MountSpec
from sentry.errors import SyscallError

if TYPE_CHECKING:
    from sentry.boot.fuse_daemons import FuseDaemons
    from sentry.fsimpl.fuse.fusefs import FuseFilesystem
    from sentry.vfs.context import Context

SUFFIXES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50, "e": 1 << 60}
MAX_TMPFS = 64  # tmpfs servers alive at once
ACCEPTED = ("nr_inodes", "nr_blocks", "huge", "mpol", "uid", "gid")
FLAGS = ("inode32", "inode64", "noswap")


def _number(text: str) -> int:
    """An unsigned C number (``simple_strtoull`` with base 0: 0x hex, a
    leading 0 octal); EINVAL for anything else."""
    digits, base = text, 10
    if text[:2].lower() == "0x":
        digits, base = text[2:], 16
    elif text.startswith("0") and len(text) > 1:
        digits, base = text[1:], 8
    if not digits or not all(c in "0123456789abcdef"[:base] for c in digits.lower()):
        raise SyscallError(errno.EINVAL)
    return int(digits, base)


def parse_size(text: str) -> int:
    """A tmpfs size (``memparse``, or a percentage of RAM); EINVAL if bad."""
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if text.endswith("%"):
        return ram * _number(text[:-1]) // 100
    scale = SUFFIXES.get(text[-1:].lower(), 1)
    return _number(text[:-1] if scale > 1 else text) * scale


def parse_options(data: str) -> tuple[int | None, int | None]:
    """tmpfs's options: (mode, size), None where not given. EINVAL for an
    option tmpfs does not know, or a bad value."""
    mode = size = None
    for option in filter(None, data.split(",")):
        key, eq, value = option.partition("=")
        if key in FLAGS and not eq:
            continue
        if not eq or not value:
            raise SyscallError(errno.EINVAL)
        if key == "mode":
            try:
                mode = int(value, 8) & 0o7777
            except ValueError:
                raise SyscallError(errno.EINVAL) from None
        elif key == "size":
            size = parse_size(value)
        elif key not in ACCEPTED:
            raise SyscallError(errno.EINVAL)
    return mode, size


class TmpfsType:
    """Implements vfs.FilesystemType for ``tmpfs``.

    ``daemons`` gives the run's :class:`FuseDaemons` (made on first use, so
    that a run that mounts no tmpfs never loads them).
    """

    has_subtype = False
    privileged = True

    def __init__(self, daemons: Callable[[], FuseDaemons]) -> None:
        self.daemons = daemons
        self.live: list[FuseFilesystem] = []  # those not unmounted yet, and a few that were

    def get_filesystem(
        self, t: Context, fstype: str, source: str, data: bytes, dev: int
    ) -> tuple[FuseFilesystem, str]:
        """Implements FilesystemType.get_filesystem: a memfs server started
        now; its FUSE_INIT is answered before the first request goes out."""
        text = data.decode(errors="replace")
        mode, size = parse_options(text)
        self.live = [fs for fs in self.live if not fs.conn.error]  # unmounted: ended
        if len(self.live) >= MAX_TMPFS:
            raise SyscallError(errno.ENOSPC)
        spec = MountSpec("mount -t tmpfs", source, source, "memfs", mode=mode, size=size)
        fs = self.daemons().serve(spec, dev)
        self.live.append(fs)
        return fs, text
