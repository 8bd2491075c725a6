"""The one error type of sentry's kernel: a Linux errno.

Analogous to gVisor's ``pkg/errors/linuxerr``. Lower layers raise
``SyscallError(errno.EBADF)``; the syscall layer turns it into ``-errno`` in
the app's result register. Host ``OSError`` values enter through
:func:`from_os_error`. Compare on ``.errno``; raise a fresh instance each time
(a shared one would grow its ``__traceback__`` on every raise). An error
after a partial transfer goes through :func:`handle_io_error`.
"""

from __future__ import annotations

import errno as _errno
import os

# Kernel-internal restart codes (include/linux/errno.h). They never reach the
# app: at signal delivery Linux turns them into EINTR or a restart.
ERESTARTSYS = 512
ERESTARTNOINTR = 513
ERESTARTNOHAND = 514
ERESTART_RESTARTBLOCK = 516


class SyscallError(Exception):
    """A system call failed with ``errno``."""

    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno

    def __str__(self) -> str:
        return f"{errno_name(self.errno)} ({os.strerror(self.errno)})"


def from_os_error(err: OSError) -> SyscallError:
    """The SyscallError for a host ``OSError`` (EIO if it carries no errno)."""
    return SyscallError(err.errno or _errno.EIO)


def handle_io_error(done: int, err: SyscallError) -> int:
    """The result of a transfer that failed with ``err`` after ``done``
    bytes: the bytes already moved win over the error, as in Linux.

    The one partial-transfer rule of every layer (the FUSE file code,
    splice's copy loop). Every errno counts alike: a fault copying to or
    from the app (EFAULT), a daemon's error reply, a broken pipe and an
    interrupted wait (EINTR, ERESTARTSYS) after a partial transfer all
    return the count, as Linux's read and write paths do.

    Args:
        done: the bytes moved before the error.
        err: the error that ended the transfer.

    Returns:
        ``done``, if any bytes moved.

    Raises:
        SyscallError: ``err``, if nothing moved.
    """
    if done:
        return done
    raise err


def errno_name(value: int) -> str:
    """``ENOENT`` for 2; the kernel's restart codes by name; else the number."""
    restart = {
        ERESTARTSYS: "ERESTARTSYS",
        ERESTARTNOINTR: "ERESTARTNOINTR",
        ERESTARTNOHAND: "ERESTARTNOHAND",
        ERESTART_RESTARTBLOCK: "ERESTART_RESTARTBLOCK",
    }
    return _errno.errorcode.get(value) or restart.get(value) or str(value)
