"""Architecture-independent Linux ABI: constants and the structs sentry
packs for the app (stat, statx, statfs, linux_dirent64).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# clone(2) flags (include/uapi/linux/sched.h).
PR_SET_NAME = 15  # prctl: set the thread's comm
TASK_COMM_LEN = 16  # comm's size, its NUL included

CLONE_VM = 0x00000100
CLONE_FILES = 0x00000400
CLONE_VFORK = 0x00004000
CLONE_THREAD = 0x00010000
# The namespace flags of clone(2) and unshare(2). CLONE_NEWTIME shares its
# bit with clone's exit signal: unshare only.
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# siginfo si_code of a signal the kernel generated (a terminal's Ctrl-C).
SI_KERNEL = 0x80

# The page size (x86_64's, the only one sentry runs on): the unit of mmap,
# of FUSE's max_pages and of the page cache's READs.
PAGE_SIZE = 4096

# mmap(2) protections and flags (include/uapi/asm-generic/mman-common.h).
PROT_READ = 0x1
PROT_WRITE = 0x2
MAP_SHARED = 0x1
MAP_PRIVATE = 0x2
MAP_SHARED_VALIDATE = 0x3
MAP_TYPE = 0xF  # the mask of the three above
MAP_ANONYMOUS = 0x20

# The *at(2) calls: the dirfd meaning the working directory, and the flags
# (include/uapi/linux/fcntl.h). AT_EACCESS is faccessat's own meaning of
# AT_REMOVEDIR's bit.
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EACCESS = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_STATX_SYNC_TYPE = 0x6000

# openat2(2)'s struct open_how: its size (version 0) and the resolve flags
# (include/uapi/linux/openat2.h).
OPEN_HOW_SIZE = 24
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = 0x20

# renameat2(2) flags (include/uapi/linux/fs.h).
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4

# utimensat(2): a time's nanoseconds meaning "now", or "leave it alone".
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2

# setxattr(2) flags (include/uapi/linux/xattr.h).
XATTR_CREATE = 1
XATTR_REPLACE = 2

# mount(2) flags (include/uapi/linux/mount.h) and umount2(2)'s MNT_DETACH.
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_MOVE = 0x2000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_PROPAGATION = MS_UNBINDABLE | MS_PRIVATE | MS_SLAVE | MS_SHARED
MS_MGC_VAL = 0xC0ED0000  # the old magic in the flags' top half, ignored
MS_MGC_MSK = 0xFFFF0000
MNT_FORCE, MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW = 1, 2, 4, 8

# seccomp(2) (include/uapi/linux/seccomp.h).
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3

# File types (include/uapi/linux/stat.h) and linux_dirent64 d_type values.
S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFLNK = 0o120000
# Mode bits beside the permissions (and the execute bits, as masks).
S_ISUID, S_ISGID, S_ISVTX = 0o4000, 0o2000, 0o1000
S_IXGRP, S_IXUGO = 0o010, 0o111
DT_UNKNOWN = 0


def dirent_type(mode: int) -> int:
    """The d_type of a file of ``mode``: DT_REG, DT_DIR, ... (mode >> 12)."""
    return (mode & S_IFMT) >> 12


@dataclass
class Statx:
    """A file's attributes (analogous to gVisor's linux.Statx), from which the
    stat, statx and fstat results are packed."""

    mode: int
    ino: int
    nlink: int
    uid: int
    gid: int
    size: int
    blocks: int
    blksize: int
    atime: tuple[int, int]
    mtime: tuple[int, int]
    ctime: tuple[int, int]
    rdev: int = 0
    dev: int = 0


_STAT = struct.Struct("<QQQIIIiQqqq6q3q")  # struct stat (x86_64), 144 bytes
STAT_SIZE = _STAT.size
_STATX_TS = "qIi"
_STATX = struct.Struct(
    "<IIQIIIHHQQQQ" + _STATX_TS * 4 + "IIII" + "Q" * 14
)  # struct statx, 256 bytes
# statx(2) mask bits (include/uapi/linux/stat.h); SetStat's mask uses them
# too, for the attributes a change sets.
STATX_MODE = 0x2
STATX_UID = 0x8
STATX_GID = 0x10
STATX_ATIME = 0x20
STATX_MTIME = 0x40
STATX_SIZE = 0x200
STATX_BASIC_STATS = 0x7FF
STATX__RESERVED = 0x80000000


def pack_stat(st: Statx) -> bytes:
    """``struct stat`` as x86_64 stat(2)/fstat(2) return it."""
    return _STAT.pack(
        st.dev,
        st.ino,
        st.nlink,
        st.mode,
        st.uid,
        st.gid,
        0,
        st.rdev,
        st.size,
        st.blksize,
        st.blocks,
        *st.atime,
        *st.mtime,
        *st.ctime,
        0,
        0,
        0,
    )


def pack_statx(st: Statx) -> bytes:
    """``struct statx`` with the basic stats (STATX_BASIC_STATS)."""
    return _STATX.pack(
        STATX_BASIC_STATS,
        st.blksize,
        0,
        st.nlink,
        st.uid,
        st.gid,
        st.mode,
        0,
        st.ino,
        st.size,
        st.blocks,
        0,
        *st.atime,
        0,
        0,
        0,
        0,
        *st.ctime,
        0,
        *st.mtime,
        0,
        os_major(st.rdev),
        os_minor(st.rdev),
        os_major(st.dev),
        os_minor(st.dev),
        *([0] * 14),
    )


def os_major(dev: int) -> int:
    """The major number of a dev_t (glibc's encoding)."""
    return ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)


def os_minor(dev: int) -> int:
    """The minor number of a dev_t (glibc's encoding)."""
    return (dev & 0xFF) | ((dev >> 12) & ~0xFF)


_STATFS = struct.Struct("<qqQQQQQiiqqq4q")  # struct statfs (x86_64), 120 bytes


def pack_statfs(
    fs_type: int,
    bsize: int,
    blocks: int,
    bfree: int,
    bavail: int,
    files: int,
    ffree: int,
    namelen: int,
    frsize: int,
    flags: int = 0,
) -> bytes:
    """``struct statfs`` as x86_64 statfs(2) returns it."""
    return _STATFS.pack(
        fs_type,
        bsize,
        blocks,
        bfree,
        bavail,
        files,
        ffree,
        0,
        0,
        namelen,
        frsize,
        flags,
        0,
        0,
        0,
        0,
    )


_DIRENT64 = struct.Struct("<QqHB")  # struct linux_dirent64 without its name


def pack_dirent64(ino: int, off: int, d_type: int, name: bytes) -> bytes:
    """One ``struct linux_dirent64`` record, padded to 8 bytes."""
    reclen = (_DIRENT64.size + len(name) + 1 + 7) & ~7
    record = _DIRENT64.pack(ino, off, reclen, d_type) + name
    return record + b"\0" * (reclen - len(record))


# Sockets: struct msghdr and struct cmsghdr (x86_64), SCM_RIGHTS, and
# recvmsg's close-on-exec flag for the fds it receives.
SOL_SOCKET = 1
SCM_RIGHTS = 1
MSG_CMSG_CLOEXEC = 0x40000000
MSGHDR = struct.Struct("<QI4xQQQQi4x")  # name, namelen, iov, iovlen, control, controllen, flags
CMSGHDR = struct.Struct("<Qii")  # len, level, type; the data follows (an fd: 4 bytes)
IOVEC = struct.Struct("<QQ")

# Capabilities (include/uapi/linux/capability.h): the bit of each in CapEff.
CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID = 0, 1, 2, 3, 4
CAP_SYS_ADMIN = 21
