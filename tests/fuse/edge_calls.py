"""What the ``*_edges.py`` scripts share: calling a syscall by number, and
printing a call's result or errno name, one line each, so that a native
run and a sandboxed run compare line by line."""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def sys(nr: int, *args: object) -> int:
    """syscall(2): its result, or OSError with its errno."""
    result = libc.syscall(nr, *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    if result < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return int(result)


def call(what: str, fn: Callable[..., object], *args: object) -> None:
    """Print ``what`` and ``fn(*args)``'s result: a str or int as is, "ok"
    otherwise, or the errno's name."""
    try:
        result = fn(*args)
        out = result if isinstance(result, (str, int)) and not isinstance(result, bool) else "ok"
    except OSError as err:
        out = errno.errorcode.get(err.errno or 0, str(err.errno))
    print(what, out)


def open_close(path: str, flags: int) -> None:
    """open(2) then close(2)."""
    os.close(os.open(path, flags))
