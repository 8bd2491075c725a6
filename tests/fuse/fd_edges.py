"""fd rules on a FUSE mount, run in the current directory: what an O_PATH
fd may do and its flags, calls on fds of the wrong mode, directories opened
with O_TRUNC, O_DIRECT or O_TMPFILE, offsets near 2^63, bad buffers, and
RLIMIT_FSIZE. Prints each call and its result or errno name, so that a
native run and a sandboxed run compare line by line.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import resource
import signal
import stat
import struct

from edge_calls import call, open_close, sys

SYS_READ, SYS_WRITE, SYS_STAT, SYS_FSTAT, SYS_PWRITE64, SYS_READV = 0, 1, 4, 5, 18, 19
SYS_READAHEAD = 187
signals: list[int] = []


def main() -> None:
    os.mkdir("dir")
    with open("f", "wb") as f:
        f.write(b"0123456789" * 100)
    P = os.O_PATH
    fp = os.open("f", P)
    dp = os.open("dir", P | os.O_DIRECTORY)
    call("O_PATH read", os.read, fp, 1)
    call("O_PATH write", os.write, fp, b"x")
    call("O_PATH fstat", lambda: stat.S_IFMT(os.fstat(fp).st_mode))
    call("O_PATH fchmod", os.fchmod, fp, 0o644)
    call("O_PATH fchown", os.fchown, fp, -1, -1)
    call("O_PATH ftruncate", os.ftruncate, fp, 10)
    call("O_PATH fsync", os.fsync, fp)
    call("O_PATH lseek", os.lseek, fp, 0, 0)
    call("O_PATH getfl", lambda: oct(fcntl.fcntl(fp, fcntl.F_GETFL)))
    call("O_PATH fgetxattr", os.getxattr, fp, "user.x")
    call("O_PATH fstatfs", lambda: os.fstatvfs(fp) and 0)
    call("O_PATH pread", os.pread, fp, 1, 0)
    call("O_PATH mmap", lambda: mmap.mmap(fp, 10, prot=1) and 0)
    call("O_PATH fallocate", lambda: os.posix_fallocate(fp, 0, 10))
    call("O_PATH getdents", lambda: len(os.listdir(dp)))
    call("O_PATH openat rel", lambda: os.close(os.open("x", os.O_CREAT | os.O_WRONLY, dir_fd=dp)))
    call("O_PATH fchdir", os.fchdir, dp)
    os.chdir("..")
    call(
        "O_PATH|O_RDWR getfl",
        lambda: oct(
            fcntl.fcntl(os.open("f", P | os.O_RDWR | os.O_TRUNC | os.O_APPEND), fcntl.F_GETFL)
        ),
    )
    call("O_PATH|O_TRUNC size", lambda: (os.open("f", P | os.O_TRUNC), os.stat("f").st_size)[1])
    rd = os.open("f", os.O_RDONLY)
    call("RDONLY getfl", lambda: oct(fcntl.fcntl(rd, fcntl.F_GETFL)))
    call("RDONLY write", os.write, rd, b"x")
    call("RDONLY ftruncate", os.ftruncate, rd, 10)
    call("RDONLY fallocate", lambda: os.posix_fallocate(rd, 0, 10))
    call("RDONLY F_SETLK wr", lambda: fcntl.lockf(rd, fcntl.LOCK_EX | fcntl.LOCK_NB))
    call("RDONLY fchmod", os.fchmod, rd, 0o644)
    wr = os.open("f", os.O_WRONLY)
    call("WRONLY read", os.read, wr, 1)
    call("WRONLY F_SETLK rd", lambda: fcntl.lockf(wr, fcntl.LOCK_SH | fcntl.LOCK_NB))
    dfd = os.open("dir", os.O_RDONLY | os.O_DIRECTORY)
    call("dir fchmod", os.fchmod, dfd, 0o755)
    call("dir read", os.read, dfd, 1)
    call("dir write", os.write, dfd, b"x")
    call("dir ftruncate", os.ftruncate, dfd, 0)
    call("dir fsync", os.fsync, dfd)
    call("dir lseek end", os.lseek, dfd, 0, 2)
    for name, fd in (("O_PATH", fp), ("RDONLY", rd), ("WRONLY", wr), ("dir", dfd)):
        call(f"{name} readahead", sys, SYS_READAHEAD, fd, 0, 4096)
        call(f"{name} fadvise willneed", os.posix_fadvise, fd, 0, 4096, os.POSIX_FADV_WILLNEED)
        call(f"{name} flock", fcntl.flock, fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    call("fadvise bad advice", os.posix_fadvise, rd, 0, 10, 9)
    call("fadvise negative length", os.posix_fadvise, rd, 0, -1, os.POSIX_FADV_NORMAL)
    for flags, name in [
        (os.O_RDONLY | os.O_TRUNC, "RDONLY|TRUNC"),
        (os.O_WRONLY | os.O_TRUNC, "WRONLY|TRUNC"),
        (os.O_RDONLY | os.O_DIRECT, "RDONLY|DIRECT"),
        (os.O_RDWR, "RDWR"),
        (os.O_RDONLY | os.O_CREAT, "RDONLY|CREAT"),
        (3, "ACCMODE 3"),
        (os.O_RDONLY | os.O_TMPFILE, "TMPFILE"),
    ]:
        call("dir open " + name, open_close, "dir", flags)
    call(
        "file O_RDONLY|O_TRUNC size",
        lambda: (os.close(os.open("f", os.O_RDONLY | os.O_TRUNC)), os.stat("f").st_size)[1],
    )
    with open("f", "wb") as f:
        f.write(b"0123456789" * 100)
    call("file O_DIRECTORY", lambda: os.open("f", os.O_RDONLY | os.O_DIRECTORY))
    call("file ACCMODE 3", lambda: os.close(os.open("f", 3)))
    rw = os.open("f", os.O_RDWR)
    call("lseek -1", os.lseek, rw, -1, 0)
    call("lseek 2^63-1", os.lseek, rw, 2**63 - 1, 0)
    call("lseek end+2^63-1", os.lseek, rw, 2**63 - 1, 2)
    call("lseek cur+big", os.lseek, rw, 2**62, 1)
    call("lseek bad whence", os.lseek, rw, 0, 7)
    call("pwrite at 2^63-1", os.pwrite, rw, b"x", 2**63 - 1)
    call("pwrite at 2^63-2 two", os.pwrite, rw, b"xy", 2**63 - 2)
    call("pread at 2^63-1", os.pread, rw, 1, 2**63 - 1)
    call("pwrite negative", sys, SYS_PWRITE64, rw, b"x", 1, -1)
    call("ftruncate -1", os.ftruncate, rw, -1)
    call("ftruncate 2^62", os.ftruncate, rw, 2**62)
    call("fallocate len 0", lambda: os.posix_fallocate(rw, 0, 0))
    call("read count big", sys, SYS_READ, rw, ctypes.create_string_buffer(2000), 2**31 + 5)
    call("read bad buf", sys, SYS_READ, rw, 8, 4)
    call("write bad buf", sys, SYS_WRITE, rw, 8, 4)
    call("readv bad iov", sys, SYS_READV, rw, 8, 1)
    iov = struct.pack("QQ", 8, 4)
    call("readv iov bad base", sys, SYS_READV, rw, iov, 1)
    call("fstat bad buf", sys, SYS_FSTAT, rw, 8)
    call("stat bad buf", sys, SYS_STAT, b"f", 8)
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    signal.signal(signal.SIGXFSZ, lambda signo, frame: signals.append(signo))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1500, old[1]))
    call("fsize write past", os.pwrite, rw, b"z" * 1000, 1000)
    call("fsize write at", os.pwrite, rw, b"z", 1500)
    with open("ap", "wb") as f:
        f.write(b"a" * 1400)
    ap = os.open("ap", os.O_WRONLY | os.O_APPEND)
    call("fsize append past", os.write, ap, b"b" * 300)
    call("fsize append at", os.write, ap, b"c")
    call("fsize append size", lambda: os.fstat(ap).st_size)
    call("fsize pwritev2 append", os.pwritev, rw, [b"d" * 10], 0, os.RWF_APPEND)
    call("fsize ftruncate past", os.ftruncate, rw, 1600)
    call("fsize ftruncate within", os.ftruncate, rw, 1200)
    call("fsize truncate past", os.truncate, "ap", 2000)
    call("fsize truncate shrink", os.truncate, "ap", 100)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, old[1]))
    call("fsize truncate at size over limit", os.truncate, "ap", 100)
    resource.setrlimit(resource.RLIMIT_FSIZE, old)
    call("dir open TMPFILE RDWR", lambda: os.close(os.open("dir", os.O_RDWR | os.O_TMPFILE)))
    call(
        "dir open TMPFILE WRONLY|EXCL",
        lambda: os.close(os.open("dir", os.O_WRONLY | os.O_TMPFILE | os.O_EXCL)),
    )
    call("file open TMPFILE", lambda: os.close(os.open("f", os.O_RDWR | os.O_TMPFILE)))
    call("O_PATH|O_CREAT new", lambda: os.close(os.open("newp", os.O_PATH | os.O_CREAT)))
    call(
        "O_PATH dir getfl",
        lambda: oct(
            fcntl.fcntl(os.open("dir", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW), fcntl.F_GETFL)
        ),
    )
    call(
        "O_PATH F_SETFL",
        lambda: fcntl.fcntl(os.open("f", os.O_PATH), fcntl.F_SETFL, os.O_NONBLOCK),
    )
    call("O_PATH F_SETFD", lambda: fcntl.fcntl(os.open("f", os.O_PATH), fcntl.F_SETFD, 1))
    call("O_PATH dup", lambda: os.dup(os.open("f", os.O_PATH)) > 0)
    call("O_PATH close", lambda: os.close(os.open("f", os.O_PATH)))
    call("O_PATH F_GETLK", lambda: fcntl.fcntl(os.open("f", os.O_PATH), fcntl.F_GETLK, bytes(32)))
    call("O_PATH fstatat empty", lambda: stat.S_IFMT(os.stat(os.open("f", os.O_PATH)).st_mode))
    call("O_PATH fchdir back", lambda: (os.fchdir(os.open(".", os.O_PATH)), "ok")[1])
    call("O_PATH ioctl", lambda: fcntl.ioctl(os.open("f", os.O_PATH), 0x5421, b"\0\0\0\0"))
    print("SIGXFSZ", len(signals))


if __name__ == "__main__":
    main()
