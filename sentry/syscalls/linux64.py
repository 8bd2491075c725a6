"""The x86_64 system call table: which syscalls sentry owns, and how.

Analogous to gVisor's ``syscalls/linux/linux64.go``. Every syscall listed in
:data:`TABLE` is trapped (one ptrace stop); the seccomp policy of all others
(run natively with no stop, or fail at once with an errno) is the allow list
in :mod:`sentry.syscalls.policy`, and a number in neither fails with ENOSYS.
Trapping one more syscall is one more line below.

Each entry names its handler by import, says how far sentry serves the
call (:class:`Support`, after gVisor's ``syscalls.Supported`` and
``syscalls.PartiallySupported``, with a note of what is missing), and names
the argument positions that are file descriptors and paths:

- :func:`supported` and :func:`partially_supported`: a handler serves the
  call when it concerns a sentry file. A trapped syscall whose fd arguments
  name no sentry file, or whose paths all stay on the host, passes through
  to the host; the platform decides that without entering Python where it
  can (see ``sentry.platform.ptrace``), and the handler may still answer
  ``PASS``.
- :func:`passes_through`: sentry has no handler; the host always runs the
  call (its stop goes on in C, never to Python, but under ``--strace``),
  and the note says what sentry does around it.

A handler is a plain function ``def pread64(t, fd, buf, count, offset) ->
SyscallResult`` taking the raw (unsigned) argument registers, returning the
result or raising ``SyscallError(errno)``. It may also return ``PASS`` (the
call is not sentry's after all: the host runs it), a ``Passthrough`` with an
exit callback, or a coroutine: to block, a handler returns (or is) an
``async def`` that awaits :class:`sentry.waiter.Waiter` objects, and the
task is parked meanwhile (see :mod:`sentry.kernel.syscalls` and
:mod:`sentry.kernel.task_syscall`).

``python3 -m sentry.syscalls.support`` prints the table for the README.
"""

from __future__ import annotations

from typing import Any

from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.kernel.syscalls import Handler, Support, Syscall, SyscallTable
from sentry.syscalls import (
    sys_attr,
    sys_cred,
    sys_cwd,
    sys_exec,
    sys_file,
    sys_lock,
    sys_mmap,
    sys_mount,
    sys_names,
    sys_read_write,
    sys_socket,
    sys_splice,
    sys_stat,
    sys_xattr,
)
from sentry.syscalls.policy import POLICY


def supported(name: str, handler: Handler, **where: Any) -> Syscall:
    """A syscall sentry serves on its files as Linux does."""
    return Syscall(name, handler, Support.SUPPORTED, "", **where)


def partially_supported(name: str, handler: Handler, note: str, **where: Any) -> Syscall:
    """A syscall sentry serves, but for what ``note`` says is missing."""
    return Syscall(name, handler, Support.PARTIAL, note, **where)


def passes_through(name: str, note: str, **where: Any) -> Syscall:
    """A trapped syscall with no handler: the host always runs it."""
    return Syscall(name, None, Support.PASSTHROUGH, note, **where)


def _table(*entries: Syscall) -> dict[int, Syscall]:
    table: dict[int, Syscall] = {}
    for entry in entries:
        nr = SYSCALL_NUMBERS[entry.name]
        assert nr not in table, entry.name
        assert (entry.handler is None) == (entry.support is Support.PASSTHROUGH), entry.name
        table[nr] = entry
    return table


_EXEC_NOTE = (
    "The host runs it; sentry follows the exec (PTRACE_EVENT_EXEC) and drops "
    "the process's close-on-exec sentry fds. A program on a sentry mount runs "
    "from a memfd copy (its /proc/self/exe names the memfd), a script's "
    "interpreter is found by sentry."
)
_EXECVEAT_NOTE = (
    "The host runs it; sentry follows the exec as for execve. A program on a "
    "sentry mount cannot be executed by execveat (or fexecve): the host finds "
    "the mount point's empty guard (ENOENT), or a placeholder fd (EACCES)."
)

TABLE: dict[int, Syscall] = _table(
    # open and close
    supported("open", sys_file.open, path_args=(0,)),
    supported("openat", sys_file.openat, fd_args=(0,), path_args=(1,)),
    # RESOLVE_IN_ROOT makes an absolute path relative to the dirfd, which
    # may be in a mount: every openat2 reaches Python (it is rare).
    supported(
        "openat2", sys_file.openat2, fd_args=(0,), path_args=(1,), host_paths_pass=False
    ),
    supported("creat", sys_file.creat, path_args=(0,)),
    supported("close", sys_file.close, fd_args=(0,)),
    supported("close_range", sys_file.close_range, any_fd=True),
    supported("dup", sys_file.dup, fd_args=(0,)),
    supported("dup2", sys_file.dup2, fd_args=(0, 1)),
    supported("dup3", sys_file.dup3, fd_args=(0, 1)),
    partially_supported(
        "fcntl",
        sys_file.fcntl,
        "Dups, FD_CLOEXEC, the status flags and record locks (classic and OFD, kept "
        "per file as Linux keeps a FUSE file's) are sentry's; other commands (leases, "
        "pipe sizes) act on the fd's placeholder, not the file.",
        fd_args=(0,),
    ),
    supported("flock", sys_lock.flock, fd_args=(0,)),
    partially_supported(
        "ioctl",
        sys_file.ioctl,
        "FIOCLEX, FIONCLEX, FIONBIO and a file's own requests (FUSE_DEV_IOC_CLONE); "
        "no FUSE_IOCTL: other requests reach the placeholder (ENOTTY).",
        fd_args=(0,),
    ),
    # read and write
    supported("read", sys_read_write.read, fd_args=(0,)),
    supported("write", sys_read_write.write, fd_args=(0,)),
    supported("pread64", sys_read_write.pread64, fd_args=(0,)),
    supported("pwrite64", sys_read_write.pwrite64, fd_args=(0,)),
    supported("readv", sys_read_write.readv, fd_args=(0,)),
    supported("writev", sys_read_write.writev, fd_args=(0,)),
    supported("preadv", sys_read_write.preadv, fd_args=(0,)),
    supported("pwritev", sys_read_write.pwritev, fd_args=(0,)),
    supported("preadv2", sys_read_write.preadv2, fd_args=(0,)),
    supported("pwritev2", sys_read_write.pwritev2, fd_args=(0,)),
    supported("lseek", sys_read_write.lseek, fd_args=(0,)),
    supported("sendfile", sys_splice.sendfile, fd_args=(0, 1)),
    partially_supported(
        "splice",
        sys_splice.splice,
        "Between a sentry regular file and a host pipe. Splice on `/dev/fuse` is "
        "EINVAL (libfuse then reads and writes it). Bytes taken from a pipe are lost "
        "if the sentry file then refuses them (Linux leaves them in the pipe).",
        fd_args=(0, 2),
    ),
    partially_supported(
        "copy_file_range",
        sys_splice.copy_file_range,
        "FUSE_COPY_FILE_RANGE is never sent: sentry copies the bytes between its "
        "files with READ and WRITE requests. With a host file: EXDEV, as Linux "
        "gives between FUSE and another file system.",
        fd_args=(0, 2),
    ),
    partially_supported(
        "mmap",
        sys_mmap.mmap,
        "A private mapping of a sentry file is a snapshot of its bytes; a shared "
        "one maps memory the file keeps coherent (stores reach the file at its next "
        "call, at msync or sync, every 5 s and at exit); a shared mapping made "
        "read-only cannot be mprotect'ed writable.",
        fd_args=(4,),
    ),
    partially_supported(
        "msync",
        sys_mmap.msync,
        "MS_SYNC first sends every sentry file system's unsent data (the stores of "
        "shared mappings too), not only the range's; then the host runs it.",
    ),
    # stat
    supported("stat", sys_stat.stat, path_args=(0,)),
    supported("lstat", sys_stat.lstat, path_args=(0,)),
    supported("fstat", sys_stat.fstat, fd_args=(0,)),
    supported("newfstatat", sys_stat.newfstatat, fd_args=(0,), path_args=(1,)),
    partially_supported(
        "statx",
        sys_stat.statx,
        "The basic stats (STATX_BASIC_STATS); FUSE_STATX (btime) is not sent.",
        fd_args=(0,),
        path_args=(1,),
    ),
    supported("statfs", sys_stat.statfs, path_args=(0,)),
    supported("fstatfs", sys_stat.fstatfs, fd_args=(0,)),
    supported("getdents", sys_stat.getdents, fd_args=(0,)),
    supported("getdents64", sys_stat.getdents64, fd_args=(0,)),
    # data and metadata
    supported("truncate", sys_attr.truncate, path_args=(0,)),
    supported("ftruncate", sys_attr.ftruncate, fd_args=(0,)),
    supported("fsync", sys_attr.fsync, fd_args=(0,)),
    supported("fdatasync", sys_attr.fdatasync, fd_args=(0,)),
    supported("sync", sys_attr.sync),
    supported("syncfs", sys_attr.syncfs, fd_args=(0,)),
    supported("fallocate", sys_attr.fallocate, fd_args=(0,)),
    supported("readahead", sys_attr.readahead, fd_args=(0,)),
    supported("fadvise64", sys_attr.fadvise64, fd_args=(0,)),
    supported("chmod", sys_attr.chmod, path_args=(0,)),
    supported("fchmod", sys_attr.fchmod, fd_args=(0,)),
    supported("fchmodat", sys_attr.fchmodat, fd_args=(0,), path_args=(1,)),
    supported("fchmodat2", sys_attr.fchmodat2, fd_args=(0,), path_args=(1,)),
    supported("chown", sys_attr.chown, path_args=(0,)),
    supported("lchown", sys_attr.lchown, path_args=(0,)),
    supported("fchown", sys_attr.fchown, fd_args=(0,)),
    supported("fchownat", sys_attr.fchownat, fd_args=(0,), path_args=(1,)),
    supported("utime", sys_attr.utime, path_args=(0,)),
    supported("utimes", sys_attr.utimes, path_args=(0,)),
    supported("futimesat", sys_attr.futimesat, fd_args=(0,), path_args=(1,)),
    supported("utimensat", sys_attr.utimensat, fd_args=(0,), path_args=(1,)),
    supported("access", sys_stat.access, path_args=(0,)),
    supported("faccessat", sys_stat.faccessat, fd_args=(0,), path_args=(1,)),
    supported("faccessat2", sys_stat.faccessat2, fd_args=(0,), path_args=(1,)),
    # names
    supported("mkdir", sys_names.mkdir, path_args=(0,)),
    supported("mkdirat", sys_names.mkdirat, fd_args=(0,), path_args=(1,)),
    supported("mknod", sys_names.mknod, path_args=(0,)),
    supported("mknodat", sys_names.mknodat, fd_args=(0,), path_args=(1,)),
    supported("unlink", sys_names.unlink, path_args=(0,)),
    supported("unlinkat", sys_names.unlinkat, fd_args=(0,), path_args=(1,)),
    supported("rmdir", sys_names.rmdir, path_args=(0,)),
    supported("rename", sys_names.rename, path_args=(0, 1)),
    supported("renameat", sys_names.renameat, fd_args=(0, 2), path_args=(1, 3)),
    supported("renameat2", sys_names.renameat2, fd_args=(0, 2), path_args=(1, 3)),
    supported("link", sys_names.link, path_args=(0, 1)),
    supported("linkat", sys_names.linkat, fd_args=(0, 2), path_args=(1, 3)),
    supported("symlink", sys_names.symlink, path_args=(1,)),
    supported("symlinkat", sys_names.symlinkat, fd_args=(1,), path_args=(2,)),
    supported("readlink", sys_stat.readlink, path_args=(0,)),
    supported("readlinkat", sys_stat.readlinkat, fd_args=(0,), path_args=(1,)),
    # extended attributes
    supported("setxattr", sys_xattr.setxattr, path_args=(0,)),
    supported("lsetxattr", sys_xattr.lsetxattr, path_args=(0,)),
    supported("fsetxattr", sys_xattr.fsetxattr, fd_args=(0,)),
    supported("getxattr", sys_xattr.getxattr, path_args=(0,)),
    supported("lgetxattr", sys_xattr.lgetxattr, path_args=(0,)),
    supported("fgetxattr", sys_xattr.fgetxattr, fd_args=(0,)),
    supported("listxattr", sys_xattr.listxattr, path_args=(0,)),
    supported("llistxattr", sys_xattr.llistxattr, path_args=(0,)),
    supported("flistxattr", sys_xattr.flistxattr, fd_args=(0,)),
    supported("removexattr", sys_xattr.removexattr, path_args=(0,)),
    supported("lremovexattr", sys_xattr.lremovexattr, path_args=(0,)),
    supported("fremovexattr", sys_xattr.fremovexattr, fd_args=(0,)),
    supported("setxattrat", sys_xattr.setxattrat, fd_args=(0,), path_args=(1,)),
    supported("getxattrat", sys_xattr.getxattrat, fd_args=(0,), path_args=(1,)),
    supported("listxattrat", sys_xattr.listxattrat, fd_args=(0,), path_args=(1,)),
    supported("removexattrat", sys_xattr.removexattrat, fd_args=(0,), path_args=(1,)),
    # working directory, mounts, exec
    supported("chdir", sys_cwd.chdir, path_args=(0,), host_paths_pass=False),
    supported("fchdir", sys_cwd.fchdir, fd_args=(0,)),
    supported("getcwd", sys_cwd.getcwd),
    partially_supported(
        "mount",
        sys_mount.mount,
        "FUSE file systems (`fuse`, `fuse.<subtype>`), tmpfs (a memfs server), binds and "
        "moves of sentry mounts, propagation changes; host-side binds, remounts and other "
        "types are EPERM, as for an unprivileged caller.",
        path_args=(1,),
        host_paths_pass=False,
    ),
    supported("umount2", sys_mount.umount2, path_args=(0,), host_paths_pass=False),
    partially_supported("execve", sys_exec.execve, _EXEC_NOTE, path_args=(0,)),
    passes_through(
        "execveat", _EXECVEAT_NOTE, fd_args=(0,), path_args=(1,), host_paths_pass=False
    ),
    # credentials, read again after each change
    *(supported(handler.__name__, handler) for handler in sys_cred.HANDLERS),
    # fds passed over unix sockets
    supported("sendmsg", sys_socket.sendmsg, global_fds=True),
    supported("recvmsg", sys_socket.recvmsg, global_fds=True),
)

# The table a kernel is made with: TABLE's stops over the allow list.
LINUX64 = SyscallTable(TABLE, POLICY)
