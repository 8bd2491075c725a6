"""Symlinks, links and AT_EMPTY_PATH on a FUSE mount, run in the current
directory: O_CREAT through a dangling symlink (it creates the target),
symlink loops, linkat/utimensat/fchownat/fchmodat2/readlinkat with an empty
path, chmod of a symlink, long names, and getdents64 into a buffer that
runs into an unmapped page (Linux returns the records that fit). Prints
each call and its result or errno name, so that a native run and a
sandboxed run compare line by line.
"""

from __future__ import annotations

import ctypes
import mmap
import os

from edge_calls import call, libc, sys

AT_FDCWD, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, AT_SYMLINK_FOLLOW = -100, 0x1000, 0x100, 0x400
SYS_STAT, SYS_CHOWN, SYS_LCHOWN, SYS_READLINK, SYS_GETDENTS64 = 4, 92, 94, 89, 217
SYS_FCHOWNAT, SYS_LINKAT, SYS_READLINKAT, SYS_UTIMENSAT, SYS_STATX = 260, 265, 267, 280, 332
SYS_FCHMODAT2 = 452


def main() -> None:
    with open("f", "w") as f:
        f.write("x")
    os.mkdir("d")
    os.symlink("target", "dangling")
    os.symlink("loop1", "loop2")
    os.symlink("loop2", "loop1")
    os.symlink("d/sub/new", "dangling_deep")
    call(
        "creat via dangling",
        lambda: (
            (os.close(os.open("dangling", os.O_CREAT | os.O_WRONLY)), os.path.exists("target"))[1]
            and "made"
        ),
    )
    call(
        "creat excl via dangling",
        lambda: os.close(
            os.open(
                "dangling2" if os.symlink("t2", "dangling2") is None else "",
                os.O_CREAT | os.O_EXCL | os.O_WRONLY,
            )
        ),
    )
    call(
        "creat via dangling deep",
        lambda: os.close(os.open("dangling_deep", os.O_CREAT | os.O_WRONLY)),
    )
    call(
        "creat nofollow dangling",
        lambda: os.close(os.open("dangling", os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW)),
    )
    call("open loop", lambda: os.close(os.open("loop1", os.O_RDONLY)))
    call("stat loop", lambda: os.stat("loop1") and 0)
    call("lstat loop", lambda: os.lstat("loop1") and 0)
    call("open loop/x", lambda: os.close(os.open("loop1/x", os.O_RDONLY)))
    fd = os.open("f", os.O_RDONLY)
    call("linkat empty", sys, SYS_LINKAT, fd, b"", AT_FDCWD, b"viaempty", AT_EMPTY_PATH)
    call(
        "linkat follow", sys, SYS_LINKAT, AT_FDCWD, b"dangling", AT_FDCWD, b"l2", AT_SYMLINK_FOLLOW
    )
    call("linkat nofollow symlink", sys, SYS_LINKAT, AT_FDCWD, b"dangling", AT_FDCWD, b"l3", 0)
    call("linkat bad flag", sys, SYS_LINKAT, AT_FDCWD, b"f", AT_FDCWD, b"l4", 0x1)
    call("link dir onto existing", lambda: os.link("d", "f"))
    call("link dir", lambda: os.link("d", "dlink"))
    call("link missing onto existing", lambda: os.link("nothing", "f"))
    call("link onto existing", lambda: os.link("f", "d"))
    call("link to host", lambda: os.link("f", "/tmp/sentry-link-edge-never"))
    call("link missing to host", lambda: os.link("nothing", "/tmp/sentry-link-edge-never"))
    call("rename missing to host", lambda: os.rename("nothing", "/tmp/sentry-link-edge-never"))
    call("link to an existing host file", lambda: os.link("f", "/etc/hostname"))
    call("link from host onto existing", lambda: os.link("/etc/hostname", "f"))
    call("link from host", lambda: os.link("/etc/hostname", "fromhost"))
    call("link missing host file", lambda: os.link("/sentry-link-edge-never", "f"))
    call("utimensat empty path fd", sys, SYS_UTIMENSAT, fd, b"", None, AT_EMPTY_PATH)
    call("utimensat empty path no flag", sys, SYS_UTIMENSAT, fd, b"", None, 0)
    call("fchownat empty", sys, SYS_FCHOWNAT, fd, b"", -1, -1, AT_EMPTY_PATH)
    call(
        "fchownat nofollow", sys, SYS_FCHOWNAT, AT_FDCWD, b"dangling", -1, -1, AT_SYMLINK_NOFOLLOW
    )
    call("chown dangling", sys, SYS_CHOWN, b"dangling", -1, -1)
    call("lchown dangling", sys, SYS_LCHOWN, b"dangling", -1, -1)
    call(
        "fchmodat2 nofollow link",
        sys,
        SYS_FCHMODAT2,
        AT_FDCWD,
        b"dangling",
        0o644,
        AT_SYMLINK_NOFOLLOW,
    )
    call("readlink file", os.readlink, "f")
    call("readlink empty buf", sys, SYS_READLINK, b"dangling", ctypes.create_string_buffer(1), 0)
    call(
        "readlink short buf",
        lambda: sys(SYS_READLINK, b"dangling", ctypes.create_string_buffer(3), 3),
    )
    call(
        "readlinkat empty",
        sys,
        SYS_READLINKAT,
        os.open("dangling", os.O_PATH | os.O_NOFOLLOW),
        b"",
        ctypes.create_string_buffer(64),
        64,
    )
    call("mkdir exists via link", os.mkdir, "dangling")
    call("mkdir under file", os.mkdir, "f/x")
    call("rename missing to under missing", os.rename, "missing", "nodir/x")
    call("rename to long name", os.rename, "f", "n" * 256)
    call("open long name", lambda: os.open("n" * 256, os.O_RDONLY))
    call("open long path component missing", lambda: os.open("nodir/" + "n" * 256, os.O_RDONLY))
    call(
        "getdents count huge",
        sys,
        SYS_GETDENTS64,
        os.open("d", os.O_RDONLY),
        ctypes.create_string_buffer(4096),
        2**31 + 1,
    )
    m = mmap.mmap(-1, 8192)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    for i in range(40):
        open(f"d/entry{i:03d}", "w").close()
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.munmap(ctypes.c_void_p(addr + 4096), 4096)
    dfd = os.open("d", os.O_RDONLY)
    call(
        "getdents into unmapped tail",
        lambda: sys(SYS_GETDENTS64, dfd, addr + 4096 - 200, 4096) > 0 and "some",
    )
    call("getdents all unmapped", sys, SYS_GETDENTS64, dfd, addr + 4096, 4096)
    call("getdents tiny buf", sys, SYS_GETDENTS64, dfd, ctypes.create_string_buffer(8), 8)
    call("stat into unmapped", sys, SYS_STAT, b"f", addr + 4096)
    call("statx into unmapped", sys, SYS_STATX, AT_FDCWD, b"f", 0, 0x7FF, addr + 4096)
    call(
        "readlinkat empty file fd",
        sys,
        SYS_READLINKAT,
        os.open("f", os.O_PATH),
        b"",
        ctypes.create_string_buffer(64),
        64,
    )
    call(
        "linkat empty O_PATH",
        sys,
        SYS_LINKAT,
        os.open("f", os.O_PATH),
        b"",
        AT_FDCWD,
        b"viapath",
        AT_EMPTY_PATH,
    )
    call(
        "linkat empty dir",
        sys,
        SYS_LINKAT,
        os.open("d", os.O_RDONLY),
        b"",
        AT_FDCWD,
        b"dirlink",
        AT_EMPTY_PATH,
    )
    call(
        "fchownat empty O_PATH",
        sys,
        SYS_FCHOWNAT,
        os.open("f", os.O_PATH),
        b"",
        -1,
        -1,
        AT_EMPTY_PATH,
    )
    call(
        "chmod symlink via O_PATH",
        sys,
        SYS_FCHMODAT2,
        os.open("dangling", os.O_PATH | os.O_NOFOLLOW),
        b"",
        0o600,
        AT_EMPTY_PATH,
    )
    call("nlink", lambda: os.stat("f").st_nlink)


if __name__ == "__main__":
    main()
