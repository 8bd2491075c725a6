"""Flag validation on a FUSE mount, run in the current directory: openat2
(its struct, flags and RESOLVE_* restrictions), statx, utimensat,
faccessat2 and the xattr calls. Prints each call and its result or errno
name, so that a native run and a sandboxed run compare line by line.
"""

from __future__ import annotations

import ctypes
import os
import struct

from edge_calls import call, sys

AT_FDCWD = -100
SYS_OPENAT2, SYS_STATX, SYS_UTIMENSAT, SYS_FACCESSAT2 = 437, 332, 280, 439
SYS_SETXATTR, SYS_GETXATTR, SYS_LISTXATTR, SYS_REMOVEXATTR = 188, 191, 194, 197
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2


def openat2(
    path: bytes, flags: int, mode: int = 0, resolve: int = 0, size: int = 24, extra: bytes = b""
) -> str:
    how = struct.pack("<QQQ", flags, mode, resolve) + extra
    fd = sys(SYS_OPENAT2, AT_FDCWD, path, how, size)
    os.close(fd)
    return "fd"


def statx(path: bytes, flags: int, mask: int) -> str:
    buf = ctypes.create_string_buffer(256)
    sys(SYS_STATX, AT_FDCWD, path, flags, mask, buf)
    (got_mask,) = struct.unpack_from("<I", buf.raw, 0)
    return hex(got_mask & 0xFFF)


def utimensat(
    path: bytes | None, times: tuple[tuple[int, int], tuple[int, int]] | None, flags: int = 0
) -> int:
    ts = None if times is None else struct.pack("<qqqq", *times[0], *times[1])
    return sys(SYS_UTIMENSAT, AT_FDCWD, path, ts, flags)


def main() -> None:
    with open("f", "w") as f:
        f.write("x")
    os.mkdir("d")
    os.symlink("f", "l")
    os.symlink("d", "dl")
    os.symlink("d", "ld")
    os.symlink("/etc/passwd", "al")
    os.symlink("/f", "rootlink")
    O_RDONLY, O_CREAT, O_PATH = os.O_RDONLY, os.O_CREAT | os.O_WRONLY, os.O_PATH
    for what, args in [
        ("openat2 plain", (b"f", O_RDONLY)),
        ("openat2 size 0", (b"f", O_RDONLY, 0, 0, 0)),
        ("openat2 size 23", (b"f", O_RDONLY, 0, 0, 23)),
        ("openat2 size 32 zero", (b"f", O_RDONLY, 0, 0, 32, bytes(8))),
        ("openat2 size 32 nonzero", (b"f", O_RDONLY, 0, 0, 32, b"\1" + bytes(7))),
        ("openat2 unknown flag", (b"f", O_RDONLY | (1 << 40))),
        ("openat2 mode without creat", (b"f", O_RDONLY, 0o644)),
        ("openat2 mode bad", (b"g", O_CREAT, 0o10000)),
        ("openat2 creat", (b"g", O_CREAT, 0o600)),
        ("openat2 O_PATH|O_RDWR", (b"f", O_PATH | os.O_RDWR)),
        ("openat2 resolve unknown", (b"f", O_RDONLY, 0, 1 << 10)),
        ("openat2 NO_SYMLINKS link", (b"l", O_RDONLY, 0, 0x04)),
        ("openat2 NO_SYMLINKS file", (b"f", O_RDONLY, 0, 0x04)),
        ("openat2 BENEATH ..", (b"../x", O_RDONLY, 0, 0x08)),
        ("openat2 BENEATH abs", (b"/etc/passwd", O_RDONLY, 0, 0x08)),
        ("openat2 NO_MAGICLINKS", (b"f", O_RDONLY, 0, 0x02)),
        ("openat2 IN_ROOT", (b"f", O_RDONLY, 0, 0x10)),
        ("openat2 CACHED", (b"f", O_RDONLY, 0, 0x20)),
        ("openat2 NO_XDEV", (b"f", O_RDONLY, 0, 0x01)),
        ("openat2 NO_XDEV ..", (b"../x", O_RDONLY, 0, 0x01)),
        ("openat2 NO_SYMLINKS nofollow", (b"l", O_PATH | os.O_NOFOLLOW, 0, 0x04)),
        ("openat2 NO_SYMLINKS dir link", (b"dl/x", O_RDONLY, 0, 0x04)),
        ("openat2 BENEATH d/..", (b"d/../f", O_RDONLY, 0, 0x08)),
        ("openat2 BENEATH d/../..", (b"d/../../x", O_RDONLY, 0, 0x08)),
        ("openat2 BENEATH abs link", (b"al", O_RDONLY, 0, 0x08)),
        ("openat2 BENEATH creat", (b"d/../new", O_CREAT, 0o600, 0x08)),
        ("openat2 BENEATH+IN_ROOT", (b"f", O_RDONLY, 0, 0x18)),
        ("openat2 NO_SYMLINKS creat via link", (b"ld/new", O_CREAT, 0o600, 0x04)),
        ("openat2 creat|directory", (b"h", O_CREAT | os.O_DIRECTORY, 0o600)),
        ("openat2 creat|directory existing", (b"d", O_CREAT | os.O_DIRECTORY, 0o600)),
        ("openat2 IN_ROOT ..", (b"../f", O_RDONLY, 0, 0x10)),
        ("openat2 IN_ROOT abs", (b"/f", O_RDONLY, 0, 0x10)),
        ("openat2 IN_ROOT abs link", (b"rootlink", O_RDONLY, 0, 0x10)),
        ("openat2 IN_ROOT d/../..", (b"d/../../f", O_RDONLY, 0, 0x10)),
        ("openat2 IN_ROOT abs missing", (b"/etc/passwd", O_RDONLY, 0, 0x10)),
        ("openat2 CACHED creat", (b"f", O_CREAT, 0o600, 0x20)),
        ("openat2 CACHED trunc", (b"f", os.O_WRONLY | os.O_TRUNC, 0, 0x20)),
        ("openat2 CACHED creat|directory", (b"f", O_CREAT | os.O_DIRECTORY, 0, 0x20)),
        ("openat2 CACHED tmpfile read", (b"d", os.O_TMPFILE & ~os.O_WRONLY, 0, 0x20)),
    ]:
        call(what, openat2, *args)
    for what, args in [
        ("statx basic", (b"f", 0, 0x7FF)),
        ("statx mask 0", (b"f", 0, 0)),
        ("statx reserved mask", (b"f", 0, 1 << 31)),
        ("statx bad flag", (b"f", 0x10000, 0x7FF)),
        ("statx sync both", (b"f", 0x6000, 0x7FF)),
        ("statx force sync", (b"f", 0x2000, 0x7FF)),
        ("statx nofollow", (b"l", 0x100, 0x7FF)),
        ("statx empty no flag", (b"", 0, 0x7FF)),
    ]:
        call(what, statx, *args)
    for what, args in [
        ("utimensat omit both missing", (b"missing", ((0, UTIME_OMIT), (0, UTIME_OMIT)))),
        ("utimensat omit both", (b"f", ((0, UTIME_OMIT), (0, UTIME_OMIT)))),
        ("utimensat bad nsec", (b"f", ((0, 1 << 31), (0, 0)))),
        ("utimensat negative nsec", (b"f", ((0, -1), (0, 0)))),
        ("utimensat bad flag", (b"f", None, 0x200)),
        ("utimensat null path", (None, None, 0)),
        ("utimensat nofollow", (b"l", ((5, 0), (6, 0)), 0x100)),
        ("utimensat now", (b"f", ((0, UTIME_NOW), (0, UTIME_NOW)))),
    ]:
        call(what, utimensat, *args)
    for what, args in [
        ("faccessat2 ok", (AT_FDCWD, b"f", 4, 0)),
        ("faccessat2 bad mode", (AT_FDCWD, b"f", 8, 0)),
        ("faccessat2 bad flag", (AT_FDCWD, b"f", 4, 0x2)),
        ("faccessat2 eaccess", (AT_FDCWD, b"f", 4, 0x200)),
        ("faccessat2 nofollow", (AT_FDCWD, b"l", 0, 0x100)),
        ("faccessat2 empty", (AT_FDCWD, b"", 0, 0x1000)),
        ("faccessat2 missing", (AT_FDCWD, b"missing", 0, 0)),
    ]:
        call(what, sys, SYS_FACCESSAT2, *args)
    big = ctypes.create_string_buffer(64)
    for what, args in [
        ("setxattr bad flags", (SYS_SETXATTR, b"f", b"user.a", b"v", 1, 4)),
        ("setxattr create", (SYS_SETXATTR, b"f", b"user.a", b"v", 1, 1)),
        ("setxattr create again", (SYS_SETXATTR, b"f", b"user.a", b"v", 1, 1)),
        ("setxattr replace missing", (SYS_SETXATTR, b"f", b"user.b", b"v", 1, 2)),
        ("setxattr no namespace", (SYS_SETXATTR, b"f", b"a", b"v", 1, 0)),
        ("setxattr empty name", (SYS_SETXATTR, b"f", b"", b"v", 1, 0)),
        ("setxattr long name", (SYS_SETXATTR, b"f", b"user." + b"n" * 300, b"v", 1, 0)),
        ("setxattr big value", (SYS_SETXATTR, b"f", b"user.c", b"v", 65537, 0)),
        ("getxattr size 0", (SYS_GETXATTR, b"f", b"user.a", None, 0)),
        ("getxattr small", (SYS_GETXATTR, b"f", b"user.a", ctypes.create_string_buffer(0), 0)),
        ("getxattr erange bad buf", (SYS_GETXATTR, b"f", b"user.a", 8, 0)),
        ("getxattr bad buf", (SYS_GETXATTR, b"f", b"user.a", 8, 10)),
        ("getxattr missing", (SYS_GETXATTR, b"f", b"user.zz", big, 64)),
        ("getxattr huge size", (SYS_GETXATTR, b"f", b"user.a", big, 1 << 20)),
        ("listxattr size 0", (SYS_LISTXATTR, b"f", None, 0)),
        ("listxattr bad buf", (SYS_LISTXATTR, b"f", 8, 10)),
        ("listxattr small", (SYS_LISTXATTR, b"f", big, 2)),
        ("removexattr missing", (SYS_REMOVEXATTR, b"f", b"user.zz")),
        ("removexattr", (SYS_REMOVEXATTR, b"f", b"user.a")),
    ]:
        call(what, sys, *args)


if __name__ == "__main__":
    main()
