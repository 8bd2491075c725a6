"""Assembling a kernel: the syscall table it serves and the file systems it
knows.

Analogous to gVisor's ``runsc/boot/loader.go``. The kernel is handed its
syscall table, and the VFS its file system types and special files, from
here: the kernel, the syscall layer and the file systems never import each
other's upper layers to find them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from sentry.boot.tmpfs import TmpfsType
from sentry.fsimpl.fuse import filesystem_type
from sentry.fsimpl.fuse.page_cache import DEFAULT_CACHE_SIZE
from sentry.kernel.kernel import Kernel
from sentry.kernel.syscalls import Handler, Stracer
from sentry.platform.platform import Platform
from sentry.syscalls.linux64 import LINUX64
from sentry.syscalls.sys_mount import register_specials

if TYPE_CHECKING:
    from sentry.boot.fuse_daemons import FuseDaemons


def new_kernel(
    platform: Platform,
    strace: Stracer | None = None,
    handlers: Mapping[str, Handler] | None = None,
    cache_size: int = DEFAULT_CACHE_SIZE,
) -> Kernel:
    """A kernel serving x86-64 Linux's syscalls (``linux64``), with the mount
    tables and the FUSE client (``fuse`` mounts, ``/dev/fuse``, a page cache
    of ``cache_size`` bytes) registered. ``strace`` and ``handlers``: as
    for :class:`Kernel`."""
    kernel = Kernel(platform, LINUX64, strace, handlers)
    register_specials(kernel.vfs)
    filesystem_type.register(kernel.vfs, cache_size)
    return kernel


def register_tmpfs(kernel: Kernel, daemons: Callable[[], FuseDaemons]) -> None:
    """Let the app's mount(2) make ``tmpfs`` file systems, each served by
    a memfs server that ``daemons`` starts (see ``sentry.boot.tmpfs``)."""
    kernel.vfs.register_filesystem_type("tmpfs", TmpfsType(daemons))


def fuse_type(kernel: Kernel) -> filesystem_type.FuseFilesystemType:
    """The FUSE file system type :func:`new_kernel` registered."""
    fuse = kernel.vfs.filesystem_type("fuse")
    assert isinstance(fuse, filesystem_type.FuseFilesystemType)
    return fuse
