"""libfuse 2 daemons outside the sandbox: a fusermount of sentry's own.

libfuse 3.3 and newer take ``/dev/fd/N`` as their mountpoint and use fd N as
their channel; libfuse 2.9 does not. It first calls mount(2) itself, then
runs ``/usr/bin/fusermount`` (that path first, then ``fusermount`` on PATH)
with ``_FUSE_COMMFD`` naming a socket, and takes the ``/dev/fuse`` fd that
fusermount sends back over it (SCM_RIGHTS); and its daemons want a real
directory as their mountpoint. So when sentry runs as root, a ``--fuse``
daemon whose program links libfuse 2 (``links_libfuse2``) gets an empty
directory of sentry's for ``{}``, and starts (``enter``, in the child before
exec) in a mount namespace of its own where every fusermount is
:data:`SHIM`, bound over the real one, under a seccomp filter that makes
its mount(2) fail with EPERM (libfuse then runs fusermount) and its
umount2(2) do nothing (a root libfuse 2 daemon unmounts by itself at its
exit): the shim sends the daemon's end of sentry's connection
(``SENTRY_FUSE_FD``) in place of a ``/dev/fuse`` fd, and ``fusermount -u``
does nothing.

As another user, sentry could make such a namespace only inside a new user
namespace, which would change the ids the daemon sees of every file: there,
libfuse 2 daemons outside are not supported (run them in the sandbox).
"""

from __future__ import annotations

import errno
import os
import shutil
import sys

from sentry.abi.linux import CLONE_NEWNS, MS_BIND, MS_PRIVATE, MS_REC
from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.fuse_server import libc
from sentry.platform.seccomp_rules import errno_action

FD_ENV = "SENTRY_FUSE_FD"  # the daemon's end of the connection, for the shim
FUSERMOUNTS = ("/usr/bin/fusermount", "/bin/fusermount", "/usr/bin/fusermount3")
# The daemon's seccomp rules (everything else runs): its own mount(2) fails
# with EPERM, so libfuse runs fusermount; umount2(2) returns 0 untried.
MOUNT_RULES = {
    SYSCALL_NUMBERS["mount"]: errno_action(errno.EPERM),
    SYSCALL_NUMBERS["umount2"]: errno_action(0),
}
# fusermount's part of the _FUSE_COMMFD protocol, with sentry's channel in
# place of a /dev/fuse fd; an unmount (-u) has nothing to do.
SHIM = f"""import os, socket, sys
if "-u" in sys.argv[1:]:
    sys.exit(0)
with socket.socket(fileno=int(os.environ["_FUSE_COMMFD"])) as commfd:
    socket.send_fds(commfd, [b"\\0"], [int(os.environ["{FD_ENV}"])])
"""


def links_libfuse2(program: str) -> bool:
    """Whether ``program`` (a command name or path) is an ELF file that
    names libfuse 2 (``libfuse.so.2``) among its libraries."""
    path = shutil.which(program)
    if path is None:
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            return head == b"\x7fELF" and b"libfuse.so.2\0" in f.read(1 << 20)
    except OSError:
        return False


def write_shim(directory: str) -> str:
    """The shim as an executable script in ``directory``; its path."""
    path = os.path.join(directory, "fusermount")
    with open(path, "w") as f:
        f.write(f"#!{sys.executable} -I\n{SHIM}")  # -I: no PYTHON* variables, no user site
    os.chmod(path, 0o755)
    return path


def enter(shim: str, program: bytes) -> None:
    """For the daemon's child before exec: a private mount namespace where
    each fusermount is ``shim``, then seccomp filter ``program`` (built from
    MOUNT_RULES). Raises OSError."""
    libc.unshare(CLONE_NEWNS)
    libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None)
    for path in sorted({os.path.realpath(p) for p in FUSERMOUNTS if os.path.exists(p)}):
        libc.mount(os.fsencode(shim), os.fsencode(path), None, MS_BIND, None)
    libc.set_seccomp_filter(program)
