"""The x86_64 system call table: which syscalls sentry owns, and how.

Analogous to gVisor's ``syscalls/linux/linux64.go``. Every syscall listed in
:data:`TABLE` is trapped (one ptrace stop); the seccomp policy of all others
(run natively with no stop, or fail at once with an errno) is the allow list
in :mod:`sentry.syscalls.policy`, and a number in neither fails with ENOSYS.
Trapping one more syscall is one more line below.

Each entry names the argument positions that are file descriptors and paths.
A trapped syscall whose fd arguments name no sentry file passes through to
the host; the platform decides that without entering Python where it can
(see ``sentry.platform.ptrace``). A syscall with no handler in the
``sys_<family>.py`` modules is not emulated yet: it always passes through.

A handler is a plain function ``def pread64(t, fd, buf, count, offset) ->
int`` taking the raw (unsigned) argument registers, returning the result or
raising ``SyscallError(errno)``. It may also return ``PASS`` (the call is
not sentry's after all: the host runs it), a ``Passthrough`` with an
exit callback, or a coroutine: to block, a handler returns (or is) an
``async def`` that awaits :class:`sentry.kernel.task.Waiter` objects, and the
task is parked meanwhile.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sentry.abi.linux_amd64 import SYSCALL_NUMBERS

Handler = Callable[..., Any]


@dataclass(frozen=True)
class Syscall:
    """One owned syscall."""

    name: str
    fd_args: tuple[int, ...] = ()  # argument positions that are fds
    path_args: tuple[int, ...] = ()  # argument positions that are paths
    any_fd: bool = False  # acts on a range of fds (close_range)
    global_fds: bool = False  # may carry fds of any table (SCM_RIGHTS)
    # Passes through when its paths all stay on the host (decided without
    # Python: see sentry.platform.ptrace); false for calls that track state
    # for host paths too (chdir: the cwd) or are always sentry's (exec, mount).
    host_paths_pass: bool = True
    handler: Handler | None = None


# Handlers live in sys_<family>.py modules, under the syscall's name.
_FAMILIES = tuple(
    importlib.import_module(f"sentry.syscalls.sys_{family}")
    for family in (
        "attr",
        "cwd",
        "file",
        "mmap",
        "mount",
        "names",
        "read_write",
        "socket",
        "stat",
        "xattr",
    )
)


def _table(*entries: Syscall) -> dict[int, Syscall]:
    table = {}
    for entry in entries:
        handlers = [getattr(m, entry.name) for m in _FAMILIES if hasattr(m, entry.name)]
        table[SYSCALL_NUMBERS[entry.name]] = replace(
            entry, handler=handlers[0] if handlers else None
        )
    return table


S = Syscall
TABLE: dict[int, Syscall] = _table(
    # open and close
    S("open", path_args=(0,)),
    S("openat", fd_args=(0,), path_args=(1,)),
    S("openat2", fd_args=(0,), path_args=(1,)),
    S("creat", path_args=(0,)),
    S("close", fd_args=(0,)),
    S("close_range", any_fd=True),
    S("dup", fd_args=(0,)),
    S("dup2", fd_args=(0, 1)),
    S("dup3", fd_args=(0, 1)),
    S("fcntl", fd_args=(0,)),
    S("ioctl", fd_args=(0,)),
    # read and write
    S("read", fd_args=(0,)),
    S("write", fd_args=(0,)),
    S("pread64", fd_args=(0,)),
    S("pwrite64", fd_args=(0,)),
    S("readv", fd_args=(0,)),
    S("writev", fd_args=(0,)),
    S("preadv", fd_args=(0,)),
    S("pwritev", fd_args=(0,)),
    S("preadv2", fd_args=(0,)),
    S("pwritev2", fd_args=(0,)),
    S("lseek", fd_args=(0,)),
    S("sendfile", fd_args=(0, 1)),
    S("splice", fd_args=(0, 2)),
    S("copy_file_range", fd_args=(0, 2)),
    S("mmap", fd_args=(4,)),
    # stat
    S("stat", path_args=(0,)),
    S("lstat", path_args=(0,)),
    S("fstat", fd_args=(0,)),
    S("newfstatat", fd_args=(0,), path_args=(1,)),
    S("statx", fd_args=(0,), path_args=(1,)),
    S("statfs", path_args=(0,)),
    S("fstatfs", fd_args=(0,)),
    S("getdents", fd_args=(0,)),
    S("getdents64", fd_args=(0,)),
    # data and metadata
    S("truncate", path_args=(0,)),
    S("ftruncate", fd_args=(0,)),
    S("fsync", fd_args=(0,)),
    S("fdatasync", fd_args=(0,)),
    S("fallocate", fd_args=(0,)),
    S("chmod", path_args=(0,)),
    S("fchmod", fd_args=(0,)),
    S("fchmodat", fd_args=(0,), path_args=(1,)),
    S("fchmodat2", fd_args=(0,), path_args=(1,)),
    S("chown", path_args=(0,)),
    S("lchown", path_args=(0,)),
    S("fchown", fd_args=(0,)),
    S("fchownat", fd_args=(0,), path_args=(1,)),
    S("utime", path_args=(0,)),
    S("utimes", path_args=(0,)),
    S("futimesat", fd_args=(0,), path_args=(1,)),
    S("utimensat", fd_args=(0,), path_args=(1,)),
    S("access", path_args=(0,)),
    S("faccessat", fd_args=(0,), path_args=(1,)),
    S("faccessat2", fd_args=(0,), path_args=(1,)),
    # names
    S("mkdir", path_args=(0,)),
    S("mkdirat", fd_args=(0,), path_args=(1,)),
    S("mknod", path_args=(0,)),
    S("mknodat", fd_args=(0,), path_args=(1,)),
    S("unlink", path_args=(0,)),
    S("unlinkat", fd_args=(0,), path_args=(1,)),
    S("rmdir", path_args=(0,)),
    S("rename", path_args=(0, 1)),
    S("renameat", fd_args=(0, 2), path_args=(1, 3)),
    S("renameat2", fd_args=(0, 2), path_args=(1, 3)),
    S("link", path_args=(0, 1)),
    S("linkat", fd_args=(0, 2), path_args=(1, 3)),
    S("symlink", path_args=(1,)),
    S("symlinkat", fd_args=(1,), path_args=(2,)),
    S("readlink", path_args=(0,)),
    S("readlinkat", fd_args=(0,), path_args=(1,)),
    # extended attributes
    S("setxattr", path_args=(0,)),
    S("lsetxattr", path_args=(0,)),
    S("fsetxattr", fd_args=(0,)),
    S("getxattr", path_args=(0,)),
    S("lgetxattr", path_args=(0,)),
    S("fgetxattr", fd_args=(0,)),
    S("listxattr", path_args=(0,)),
    S("llistxattr", path_args=(0,)),
    S("flistxattr", fd_args=(0,)),
    S("removexattr", path_args=(0,)),
    S("lremovexattr", path_args=(0,)),
    S("fremovexattr", fd_args=(0,)),
    S("setxattrat", fd_args=(0,), path_args=(1,)),
    S("getxattrat", fd_args=(0,), path_args=(1,)),
    S("listxattrat", fd_args=(0,), path_args=(1,)),
    S("removexattrat", fd_args=(0,), path_args=(1,)),
    # working directory, mounts, exec
    S("chdir", path_args=(0,), host_paths_pass=False),
    S("fchdir", fd_args=(0,)),
    S("getcwd"),
    S("mount", path_args=(1,), host_paths_pass=False),
    S("umount2", path_args=(0,), host_paths_pass=False),
    S("execve", path_args=(0,), host_paths_pass=False),
    S("execveat", fd_args=(0,), path_args=(1,), host_paths_pass=False),
    # fds passed over unix sockets
    S("sendmsg", global_fds=True),
    S("recvmsg", global_fds=True),
)
