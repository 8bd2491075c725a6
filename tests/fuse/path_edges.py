"""Linux's path rules, run in the current directory (a FUSE mount): a last
component of ``.`` or ``..``, trailing slashes, and rename of a file onto
itself, its ancestor or its descendant. Prints each call and its errno
name, then the tree, so that a native run and a sandboxed run compare line
by line. Linux answers most of these without asking the daemon; libfuse
deadlocks on some of the renames, so a hang is a failure too.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Callable

SYS_RENAMEAT2 = 316
AT_FDCWD = -100
NOREPLACE, EXCHANGE, WHITEOUT = 1, 2, 4

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def renameat2(old: str, new: str, flags: int) -> None:
    if libc.syscall(SYS_RENAMEAT2, AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), flags) < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def open_close(path: str, flags: int) -> None:
    os.close(os.open(path, flags))


def kind(stat_call: Callable[[str], os.stat_result]) -> Callable[[str], str]:
    return lambda path: stat.filemode(stat_call(path).st_mode)[0]


def call(what: str, fn: Callable[..., object], *args: object) -> None:
    try:
        result = fn(*args)
        out = result if isinstance(result, str) else "ok"
    except OSError as err:
        out = errno.errorcode[err.errno]
    print(what, *args, out)


def main() -> None:
    os.makedirs("d/sub/deep")
    os.mkdir("e")
    with open("f", "w") as f:
        f.write("data")
    os.symlink("d", "l")
    os.symlink("f", "fl")
    os.symlink("missing", "dl")
    os.link("f", "h")

    rd, creat, excl = os.O_RDONLY, os.O_CREAT | os.O_WRONLY, os.O_EXCL
    for path, flags in [
        ("f/", rd), ("f/.", rd), ("d/", rd), ("fl/", rd), ("l/", rd), ("f/", creat),
        ("new/", creat), ("d/.", creat), ("d/..", creat), ("d/..", creat | excl),
        ("d/.", creat | excl), ("f/", creat | excl), ("d/", creat),
    ]:  # fmt: skip
        call("open", open_close, path, flags)
    for path in ["f/", "fl/", "l/", "d/.", "f/.", "dl/", "d/sub/..", "d/sub/../.."]:
        call("stat", kind(os.stat), path)
        call("lstat", kind(os.lstat), path)
    for path in ["d/.", "d/..", "f/", "f/x", "f/.", "new2/"]:
        call("mkdir", os.mkdir, path)
    call("rmdir", os.rmdir, "new2/")
    for path in ["n/", "f/", "d/.", "d/.."]:
        call("mknod", os.mknod, path)
    for path in ["s/", "f/", "d/.", "d/.."]:
        call("symlink", os.symlink, "x", path)
    for old, new in [("f", "nl/"), ("f/", "nl"), ("f", "d/.."), ("f", "f/"), ("d/.", "dd")]:
        call("link", os.link, old, new)
    for path in ["f/", "d/", "d/.", "d/..", "missing/", "fl/", "l/"]:
        call("unlink", os.unlink, path)
    for path in ["d/.", "d/sub/..", "f/", "e/.", "e/..", "fl/", "missing/", "l/"]:
        call("rmdir", os.rmdir, path)
    for old, new in [
        ("f", "f"), ("f", "h"), ("d", "d/sub/x"), ("d", "d/x"), ("d/sub/deep", "d"),
        ("d/sub", "d"), ("d/sub/deep", "d/sub"), ("f/", "g"), ("f", "g/"), ("d/.", "x"),
        ("f", "d/.."), ("missing", "x"), ("e", "f"), ("f", "e"), ("l", "l"), ("l/", "m"),
        ("d", "d"), ("d/", "d/"), ("d/sub", "l/sub"), ("e/", "e2/"), ("e2", "e"),
        ("d/sub/", "e"),
    ]:  # fmt: skip
        call("rename", os.rename, old, new)
    for old, new, flags in [
        ("f", "h", NOREPLACE), ("f", "d/.", NOREPLACE), ("f", "f", NOREPLACE),
        ("f", "f", EXCHANGE), ("f", "nothere", EXCHANGE), ("f", "g", NOREPLACE | EXCHANGE),
        ("f", "g", 8), ("d", "d/sub/y", EXCHANGE), ("e/deep", "e", EXCHANGE),
        ("missing", "f", NOREPLACE), ("f", "d/..", EXCHANGE), ("f", "g", EXCHANGE | WHITEOUT),
    ]:  # fmt: skip
        call("renameat2", renameat2, old, new, flags)
    for top, dirs, files in sorted(os.walk(".")):
        print(top, sorted(dirs), sorted(files))


if __name__ == "__main__":
    main()
