"""``--strace``: each trapped syscall as ``name(args) = result``, like strace.

Arguments are decoded from python-ptrace's prototypes and sentry's own
syscall table: paths are read from the app's memory when the call is
entered, fds print as numbers (``AT_FDCWD`` for -100), open flags and modes
symbolically, pointers in hex, failures as ``-1 ENOENT (No such file or
directory)``.
"""

from __future__ import annotations

import errno as _errno
import functools
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from sentry.abi.linux import AT_FDCWD
from sentry.abi.linux_amd64 import AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, syscall_name
from sentry.errors import SyscallError, errno_name
from sentry.kernel.syscalls import Syscall
from sentry.syscalls.linux64 import TABLE

if TYPE_CHECKING:
    from sentry.kernel.task import Task

log = logging.getLogger("sentry")


@functools.cache
def _prototypes() -> dict[str, tuple[str, tuple[tuple[str, str], ...]]]:
    """python-ptrace's syscall prototypes, imported on first use: they cost
    20 ms to import, and only --strace needs them."""
    from ptrace.syscall import SYSCALL_PROTOTYPES

    prototypes: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = SYSCALL_PROTOTYPES
    return prototypes


# Bits after the access mode, in display order; a flag made of two bits
# (O_SYNC, O_TMPFILE) comes before the one it contains.
_OPEN_FLAGS = [
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o4010000, "O_SYNC"),
    (0o10000, "O_DSYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o20200000, "O_TMPFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o10000000, "O_PATH"),
]
# Position of the open flags and mode arguments, by syscall.
_FLAGS_ARG = {"open": 1, "openat": 2}
_MODE_ARG = {
    "open": 2,
    "openat": 3,
    "creat": 1,
    "mkdir": 1,
    "mkdirat": 2,
    "chmod": 1,
    "fchmod": 1,
    "fchmodat": 2,
    "fchmodat2": 2,
    "mknod": 1,
    "mknodat": 2,
}


def _signed(value: int, bits: int = 64) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def open_flags(flags: int) -> str:
    """``O_RDONLY|O_CLOEXEC`` for an open(2) flags value."""
    names = [("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")[flags & 0o3]]
    rest = flags & ~0o3
    for bit, name in _OPEN_FLAGS:
        if rest & bit == bit:
            names.append(name)
            rest &= ~bit
    if rest:
        names.append(oct(rest))
    return "|".join(names)


def format_call(t: Task, arch: int, nr: int, args: Sequence[int]) -> str:
    """``openat(AT_FDCWD, "/etc/hostname", O_RDONLY)``: the call as entered."""
    name = syscall_name(arch, nr)
    if arch != AUDIT_ARCH_X86_64 or nr & X32_SYSCALL_BIT:
        return f"{name}({', '.join(hex(a) for a in args)})"
    entry = TABLE.get(nr)
    proto = _prototypes().get(name)
    count = len(proto[1]) if proto else 6
    if name in _FLAGS_ARG and not args[_FLAGS_ARG[name]] & 0o20200100:
        count = _FLAGS_ARG[name] + 1  # the mode is only read with O_CREAT or O_TMPFILE
    parts = []
    for i in range(count):
        ctype = proto[1][i][0] if proto else "long"
        parts.append(_format_arg(t, name, entry, i, args[i], ctype))
    return f"{name}({', '.join(parts)})"


def _format_arg(t: Task, name: str, entry: Syscall | None, i: int, value: int, ctype: str) -> str:
    if entry and i in entry.path_args:
        if value == 0:
            return "NULL"
        try:
            return _quote(t.mm.read_string(value))
        except SyscallError:
            return hex(value)
    if _FLAGS_ARG.get(name) == i:
        return open_flags(value & 0xFFFFFFFF)
    if _MODE_ARG.get(name) == i:
        return "0" + format(value & 0o7777, "03o")
    if "*" in ctype:
        return "NULL" if value == 0 else hex(value)
    if entry and i in entry.fd_args:
        fd = _signed(value, 32)
        return "AT_FDCWD" if fd == AT_FDCWD else str(fd)
    if ctype == "int":
        return str(_signed(value, 32))
    if ctype.startswith("unsigned") or ctype in ("size_t", "umode_t"):
        return str(value)
    return str(_signed(value))


def _quote(data: bytes) -> str:
    out = []
    for byte in data:
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append({10: "\\n", 9: "\\t"}.get(byte, f"\\x{byte:02x}"))
    return '"' + "".join(out) + '"'


def format_result(name: str, result: int) -> str:
    """``3``, ``0x7f..`` for mmap, or ``-1 ENOENT (No such file or directory)``."""
    if -4096 < result < 0:
        err = -result
        text = os.strerror(err) if err in _errno.errorcode else "To be restarted"
        return f"-1 {errno_name(err)} ({text})"
    return hex(result) if name == "mmap" else str(result)


class Strace:
    """Implements kernel.syscalls.Stracer: writes one line per trapped
    syscall to ``out``.

    If ``out`` stops taking lines (a pipe whose reader exited), tracing
    stops and the app runs on.
    """

    def __init__(self, out: TextIO) -> None:
        self.out: TextIO | None = out

    def format_call(self, t: Task, arch: int, nr: int, args: Sequence[int]) -> str:
        """Implements Stracer.format_call."""
        return format_call(t, arch, nr, args)

    def emit(self, tid: int, call: str, result: int) -> None:
        """Implements Stracer.emit: ``call = result`` for task ``tid``."""
        if self.out is None:
            return
        name = call.partition("(")[0]
        try:
            self.out.write(f"[pid {tid:>5}] {call} = {format_result(name, result)}\n")
            self.out.flush()
        except OSError as err:
            log.debug("strace output closed (%s): tracing stops", err)
            self.out = None
