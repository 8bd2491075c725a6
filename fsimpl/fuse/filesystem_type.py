"""The FUSE client's entry into the VFS: the ``fuse`` file system type that
mount(2) makes, and ``/dev/fuse``.

Analogous to gVisor's ``fuse.FilesystemType`` (``fuse/fusefs.go``) and the
device registration of ``fuse/dev.go``. :func:`register` is all the rest of
sentry calls: the boot code registers the type once per kernel, and the
syscall layer then reaches FUSE only through the VFS. The connection, the
device and the file system are loaded on first use (most runs never mount
FUSE); the page cache, shared by every FUSE mount of the kernel, is made
here.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from sentry.errors import SyscallError
from sentry.fsimpl.fuse.page_cache import DEFAULT_CACHE_SIZE, PageCache
from sentry.lazy import lazy_import

if TYPE_CHECKING:
    from sentry.fsimpl.fuse import connection, fusefs
    from sentry.fsimpl.fuse import dev as fuse_dev
    from sentry.vfs.context import Context
    from sentry.vfs.vfs import VirtualFilesystem
else:
    connection = lazy_import("sentry.fsimpl.fuse.connection")
    fuse_dev = lazy_import("sentry.fsimpl.fuse.dev")
    fusefs = lazy_import("sentry.fsimpl.fuse.fusefs")

# max_read when the mount gives none: no limit.
UNLIMITED_READ = 2**32 - 1


class FuseFilesystemType:
    """Implements vfs.FilesystemType for ``fuse`` and ``fuse.<subtype>``.

    Invariants: every file system it makes shares ``page_cache``.
    """

    has_subtype = True
    privileged = False

    def __init__(self, page_cache: PageCache) -> None:
        self.page_cache = page_cache

    def get_filesystem(
        self, t: Context, fstype: str, source: str, data: bytes, dev: int
    ) -> tuple[fusefs.FuseFilesystem, str]:
        """Implements FilesystemType.get_filesystem: ``fd=N`` must be an open
        ``/dev/fuse`` of the caller with no connection yet (else EINVAL).
        FUSE_INIT is queued at once and awaited by the first request, not
        by mount(2), as in Linux."""
        options = fusefs.parse_options(data.decode(errors="replace"))
        device = t.file_impl(int(options["fd"]), fuse_dev.DeviceFile)
        if device is None or device.conn is not None:
            raise SyscallError(errno.EINVAL)
        conn = connection.Connection(max_read=int(options.get("max_read", 0)) or UNLIMITED_READ)
        device.attach(conn)
        fs = self.new_filesystem(
            conn, int(options["rootmode"], 8), dev, "default_permissions" in options
        )
        conn.start()
        shown: list[str] = [k for k in ("default_permissions", "allow_other") if k in options]
        if "max_read" in options:
            shown.append(f"max_read={options['max_read']}")
        return fs, ",".join(shown)

    def new_filesystem(
        self, conn: connection.Connection, rootmode: int, dev: int, default_permissions: bool
    ) -> fusefs.FuseFilesystem:
        """A file system over ``conn`` (also for the daemons sentry itself
        starts, whose connections are sockets)."""
        return fusefs.FuseFilesystem(conn, rootmode, dev, default_permissions, self.page_cache)


def register(vfs: VirtualFilesystem, cache_size: int = DEFAULT_CACHE_SIZE) -> FuseFilesystemType:
    """Let ``vfs`` mount FUSE file systems and serve ``/dev/fuse``, with a
    page cache of at most ``cache_size`` bytes; the type registered."""
    fuse_type = FuseFilesystemType(PageCache(cache_size))
    vfs.register_filesystem_type("fuse", fuse_type)
    vfs.add_special("/dev/fuse", lambda t, flags: fuse_dev.DeviceFile())
    return fuse_type
