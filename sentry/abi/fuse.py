"""The Linux FUSE wire protocol (include/uapi/linux/fuse.h): opcodes, flags and
the request and reply structs, with nothing else.

sentry's FUSE client packs requests and unpacks replies with this module, and
the built-in Python FUSE servers do the reverse, so every struct can do both.
It is analogous to gVisor's ``pkg/abi/linux/fuse.go``; the protocol itself is
described in docs/fuse-protocol.md.

Conventions:
- Names keep the Linux spelling: constants are ``FUSE_READ``, ``FOPEN_DIRECT_IO``;
  a struct is its C name in CamelCase without the ``fuse_`` prefix
  (``struct fuse_entry_out`` is ``EntryOut``) and its fields are the C
  members. Padding, ``dummy`` and ``unused`` members are not fields: they are
  packed as zero and skipped on unpack.
- Layouts follow protocol 7.38 (the header Debian ships). Constants from later
  headers (``FUSE_STATX``, the newer ``flags2`` bits) are included and marked.
- Byte order is the host's: the protocol has none of its own, and sentry runs
  on little-endian machines only, so every format is ``<``.
- ``unpack`` raises ``ValueError`` for a buffer that is too short and for a
  malformed directory record; ``pack`` raises it for a value that does not fit
  its member. Callers turn that into EIO.
- Older protocol minors used shorter prefixes of some structs
  (``FUSE_COMPAT_*_SIZE``). ``pack_for(minor)`` and ``unpack_for(buf, minor)``
  handle them; the missing members read as zero.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Self

Buffer = bytes | bytearray | memoryview

# ----------------------------------------------------------------- versions

FUSE_KERNEL_VERSION = 7
# The minor version sentry's client offers in INIT. Servers reply with their
# own; both sides then use the smaller one.
CLIENT_MINOR_VERSION = 31

FUSE_ROOT_ID = 1

# ------------------------------------------------------------------ opcodes

FUSE_LOOKUP = 1
FUSE_FORGET = 2  # no reply
FUSE_GETATTR = 3
FUSE_SETATTR = 4
FUSE_READLINK = 5
FUSE_SYMLINK = 6
FUSE_MKNOD = 8
FUSE_MKDIR = 9
FUSE_UNLINK = 10
FUSE_RMDIR = 11
FUSE_RENAME = 12
FUSE_LINK = 13
FUSE_OPEN = 14
FUSE_READ = 15
FUSE_WRITE = 16
FUSE_STATFS = 17
FUSE_RELEASE = 18
FUSE_FSYNC = 20
FUSE_SETXATTR = 21
FUSE_GETXATTR = 22
FUSE_LISTXATTR = 23
FUSE_REMOVEXATTR = 24
FUSE_FLUSH = 25
FUSE_INIT = 26
FUSE_OPENDIR = 27
FUSE_READDIR = 28
FUSE_RELEASEDIR = 29
FUSE_FSYNCDIR = 30
FUSE_GETLK = 31
FUSE_SETLK = 32
FUSE_SETLKW = 33
FUSE_ACCESS = 34
FUSE_CREATE = 35
FUSE_INTERRUPT = 36
FUSE_BMAP = 37
FUSE_DESTROY = 38
FUSE_IOCTL = 39
FUSE_POLL = 40
FUSE_NOTIFY_REPLY = 41  # no reply
FUSE_BATCH_FORGET = 42  # no reply
FUSE_FALLOCATE = 43
FUSE_READDIRPLUS = 44
FUSE_RENAME2 = 45
FUSE_LSEEK = 46
FUSE_COPY_FILE_RANGE = 47
FUSE_SETUPMAPPING = 48
FUSE_REMOVEMAPPING = 49
FUSE_SYNCFS = 50
FUSE_TMPFILE = 51
FUSE_STATX = 52  # 7.39
FUSE_COPY_FILE_RANGE_64 = 53  # 7.45
CUSE_INIT = 4096

# Reserved so that a byte-swapped peer can be detected; never sent.
CUSE_INIT_BSWAP_RESERVED = 1048576  # CUSE_INIT << 8
FUSE_INIT_BSWAP_RESERVED = 436207616  # FUSE_INIT << 24

OPCODE_NAMES: dict[int, str] = {
    FUSE_LOOKUP: "FUSE_LOOKUP",
    FUSE_FORGET: "FUSE_FORGET",
    FUSE_GETATTR: "FUSE_GETATTR",
    FUSE_SETATTR: "FUSE_SETATTR",
    FUSE_READLINK: "FUSE_READLINK",
    FUSE_SYMLINK: "FUSE_SYMLINK",
    FUSE_MKNOD: "FUSE_MKNOD",
    FUSE_MKDIR: "FUSE_MKDIR",
    FUSE_UNLINK: "FUSE_UNLINK",
    FUSE_RMDIR: "FUSE_RMDIR",
    FUSE_RENAME: "FUSE_RENAME",
    FUSE_LINK: "FUSE_LINK",
    FUSE_OPEN: "FUSE_OPEN",
    FUSE_READ: "FUSE_READ",
    FUSE_WRITE: "FUSE_WRITE",
    FUSE_STATFS: "FUSE_STATFS",
    FUSE_RELEASE: "FUSE_RELEASE",
    FUSE_FSYNC: "FUSE_FSYNC",
    FUSE_SETXATTR: "FUSE_SETXATTR",
    FUSE_GETXATTR: "FUSE_GETXATTR",
    FUSE_LISTXATTR: "FUSE_LISTXATTR",
    FUSE_REMOVEXATTR: "FUSE_REMOVEXATTR",
    FUSE_FLUSH: "FUSE_FLUSH",
    FUSE_INIT: "FUSE_INIT",
    FUSE_OPENDIR: "FUSE_OPENDIR",
    FUSE_READDIR: "FUSE_READDIR",
    FUSE_RELEASEDIR: "FUSE_RELEASEDIR",
    FUSE_FSYNCDIR: "FUSE_FSYNCDIR",
    FUSE_GETLK: "FUSE_GETLK",
    FUSE_SETLK: "FUSE_SETLK",
    FUSE_SETLKW: "FUSE_SETLKW",
    FUSE_ACCESS: "FUSE_ACCESS",
    FUSE_CREATE: "FUSE_CREATE",
    FUSE_INTERRUPT: "FUSE_INTERRUPT",
    FUSE_BMAP: "FUSE_BMAP",
    FUSE_DESTROY: "FUSE_DESTROY",
    FUSE_IOCTL: "FUSE_IOCTL",
    FUSE_POLL: "FUSE_POLL",
    FUSE_NOTIFY_REPLY: "FUSE_NOTIFY_REPLY",
    FUSE_BATCH_FORGET: "FUSE_BATCH_FORGET",
    FUSE_FALLOCATE: "FUSE_FALLOCATE",
    FUSE_READDIRPLUS: "FUSE_READDIRPLUS",
    FUSE_RENAME2: "FUSE_RENAME2",
    FUSE_LSEEK: "FUSE_LSEEK",
    FUSE_COPY_FILE_RANGE: "FUSE_COPY_FILE_RANGE",
    FUSE_SETUPMAPPING: "FUSE_SETUPMAPPING",
    FUSE_REMOVEMAPPING: "FUSE_REMOVEMAPPING",
    FUSE_SYNCFS: "FUSE_SYNCFS",
    FUSE_TMPFILE: "FUSE_TMPFILE",
    FUSE_STATX: "FUSE_STATX",
    FUSE_COPY_FILE_RANGE_64: "FUSE_COPY_FILE_RANGE_64",
    CUSE_INIT: "CUSE_INIT",
}


def opcode_name(opcode: int) -> str:
    """Return the Linux name of *opcode* for logs ("FUSE_OPCODE_99" if unknown)."""
    return OPCODE_NAMES.get(opcode, f"FUSE_OPCODE_{opcode}")


# ------------------------------------------------------------ notifications

# enum fuse_notify_code: out_header.error of a server-to-client message whose
# unique is 0.
FUSE_NOTIFY_POLL = 1
FUSE_NOTIFY_INVAL_INODE = 2
FUSE_NOTIFY_INVAL_ENTRY = 3
FUSE_NOTIFY_STORE = 4
FUSE_NOTIFY_RETRIEVE = 5
FUSE_NOTIFY_DELETE = 6
FUSE_NOTIFY_RESEND = 7  # 7.40
FUSE_NOTIFY_INC_EPOCH = 8  # 7.44
FUSE_NOTIFY_PRUNE = 9  # 7.45

# fuse_notify_inval_entry_out.flags
FUSE_EXPIRE_ONLY = 1 << 0

# ---------------------------------------------------------------- INIT flags

# init_in.flags: what the client supports; init_out.flags: what the server wants.
FUSE_ASYNC_READ = 1 << 0
FUSE_POSIX_LOCKS = 1 << 1
FUSE_FILE_OPS = 1 << 2
FUSE_ATOMIC_O_TRUNC = 1 << 3
FUSE_EXPORT_SUPPORT = 1 << 4
FUSE_BIG_WRITES = 1 << 5
FUSE_DONT_MASK = 1 << 6
FUSE_SPLICE_WRITE = 1 << 7
FUSE_SPLICE_MOVE = 1 << 8
FUSE_SPLICE_READ = 1 << 9
FUSE_FLOCK_LOCKS = 1 << 10
FUSE_HAS_IOCTL_DIR = 1 << 11
FUSE_AUTO_INVAL_DATA = 1 << 12
FUSE_DO_READDIRPLUS = 1 << 13
FUSE_READDIRPLUS_AUTO = 1 << 14
FUSE_ASYNC_DIO = 1 << 15
FUSE_WRITEBACK_CACHE = 1 << 16
FUSE_NO_OPEN_SUPPORT = 1 << 17
FUSE_PARALLEL_DIROPS = 1 << 18
FUSE_HANDLE_KILLPRIV = 1 << 19
FUSE_POSIX_ACL = 1 << 20
FUSE_ABORT_ERROR = 1 << 21
FUSE_MAX_PAGES = 1 << 22
FUSE_CACHE_SYMLINKS = 1 << 23
FUSE_NO_OPENDIR_SUPPORT = 1 << 24
FUSE_EXPLICIT_INVAL_DATA = 1 << 25
FUSE_MAP_ALIGNMENT = 1 << 26
FUSE_SUBMOUNTS = 1 << 27
FUSE_HANDLE_KILLPRIV_V2 = 1 << 28
FUSE_SETXATTR_EXT = 1 << 29
FUSE_INIT_EXT = 1 << 30
FUSE_INIT_RESERVED = 1 << 31
# Bits 32..63 travel shifted down by 32 in init_in.flags2/init_out.flags2,
# which are valid only when FUSE_INIT_EXT is set (see join_init_flags).
FUSE_SECURITY_CTX = 1 << 32
FUSE_HAS_INODE_DAX = 1 << 33
FUSE_CREATE_SUPP_GROUP = 1 << 34  # 7.39
FUSE_HAS_EXPIRE_ONLY = 1 << 35
FUSE_DIRECT_IO_ALLOW_MMAP = 1 << 36  # 7.39
FUSE_DIRECT_IO_RELAX = FUSE_DIRECT_IO_ALLOW_MMAP  # obsolete alias
FUSE_PASSTHROUGH = 1 << 37  # 7.40
FUSE_NO_EXPORT_SUPPORT = 1 << 38  # 7.40
FUSE_HAS_RESEND = 1 << 39  # 7.40
FUSE_ALLOW_IDMAP = 1 << 40  # 7.41
FUSE_OVER_IO_URING = 1 << 41  # 7.42
FUSE_REQUEST_TIMEOUT = 1 << 42  # 7.43

# cuse_init_in.flags / cuse_init_out.flags
CUSE_UNRESTRICTED_IOCTL = 1 << 0

# ------------------------------------------------------------ other flags

# fuse_setattr_in.valid
FATTR_MODE = 1 << 0
FATTR_UID = 1 << 1
FATTR_GID = 1 << 2
FATTR_SIZE = 1 << 3
FATTR_ATIME = 1 << 4
FATTR_MTIME = 1 << 5
FATTR_FH = 1 << 6
FATTR_ATIME_NOW = 1 << 7
FATTR_MTIME_NOW = 1 << 8
FATTR_LOCKOWNER = 1 << 9
FATTR_CTIME = 1 << 10
FATTR_KILL_SUIDGID = 1 << 11

# fuse_open_out.open_flags
FOPEN_DIRECT_IO = 1 << 0
FOPEN_KEEP_CACHE = 1 << 1
FOPEN_NONSEEKABLE = 1 << 2
FOPEN_CACHE_DIR = 1 << 3
FOPEN_STREAM = 1 << 4
FOPEN_NOFLUSH = 1 << 5
FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6
FOPEN_PASSTHROUGH = 1 << 7  # 7.40

# fuse_open_in.open_flags / fuse_create_in.open_flags
FUSE_OPEN_KILL_SUIDGID = 1 << 0

# fuse_release_in.release_flags
FUSE_RELEASE_FLUSH = 1 << 0
FUSE_RELEASE_FLOCK_UNLOCK = 1 << 1

# fuse_getattr_in.getattr_flags
FUSE_GETATTR_FH = 1 << 0

# fuse_lk_in.lk_flags
FUSE_LK_FLOCK = 1 << 0

# fuse_write_in.write_flags
FUSE_WRITE_CACHE = 1 << 0
FUSE_WRITE_LOCKOWNER = 1 << 1
FUSE_WRITE_KILL_SUIDGID = 1 << 2
FUSE_WRITE_KILL_PRIV = FUSE_WRITE_KILL_SUIDGID  # obsolete alias

# fuse_read_in.read_flags
FUSE_READ_LOCKOWNER = 1 << 1

# fuse_ioctl_in.flags / fuse_ioctl_out.flags
FUSE_IOCTL_COMPAT = 1 << 0
FUSE_IOCTL_UNRESTRICTED = 1 << 1
FUSE_IOCTL_RETRY = 1 << 2
FUSE_IOCTL_32BIT = 1 << 3
FUSE_IOCTL_DIR = 1 << 4
FUSE_IOCTL_COMPAT_X32 = 1 << 5
FUSE_IOCTL_MAX_IOV = 256

# fuse_poll_in.flags
FUSE_POLL_SCHEDULE_NOTIFY = 1 << 0

# fuse_fsync_in.fsync_flags
FUSE_FSYNC_FDATASYNC = 1 << 0

# fuse_attr.flags (7.32; padding before)
FUSE_ATTR_SUBMOUNT = 1 << 0
FUSE_ATTR_DAX = 1 << 1

# fuse_setxattr_in.setxattr_flags (only in the FUSE_SETXATTR_EXT form)
FUSE_SETXATTR_ACL_KILL_SGID = 1 << 0

# enum fuse_ext_type: the largest fuse_secctx_header.nr_secctx.
FUSE_MAX_NR_SECCTX = 31

# ---------------------------------------------------- sizes and limits

# A server's read buffer must be at least this large.
FUSE_MIN_READ_BUFFER = 8192

# Sizes of the shorter struct prefixes older protocol minors used.
FUSE_COMPAT_INIT_OUT_SIZE = 8  # minor < 5
FUSE_COMPAT_22_INIT_OUT_SIZE = 24  # minor < 23
FUSE_COMPAT_ENTRY_OUT_SIZE = 120  # minor < 9
FUSE_COMPAT_ATTR_OUT_SIZE = 96  # minor < 9
FUSE_COMPAT_MKNOD_IN_SIZE = 8  # minor < 12
FUSE_COMPAT_WRITE_IN_SIZE = 24  # minor < 9
FUSE_COMPAT_STATFS_SIZE = 48  # minor < 4
FUSE_COMPAT_SETXATTR_IN_SIZE = 8  # unless FUSE_SETXATTR_EXT was negotiated

CUSE_INIT_INFO_MAX = 4096

# offsetof(struct fuse_dirent, name) and offsetof(struct fuse_direntplus, dirent.name).
FUSE_NAME_OFFSET = 24
FUSE_NAME_OFFSET_DIRENTPLUS = 152

# Not in the uapi header: the longest name the kernel's client accepts
# (fs/fuse/fuse_i.h), and the inode number libfuse's high-level API puts in
# dirents when it does not know it (lib/fuse.c).
FUSE_NAME_MAX = 1024
FUSE_UNKNOWN_INO = 0xFFFFFFFF

# Request ids (fs/fuse/dev.c, not uapi): ordinary requests are even and step
# by 2; an INTERRUPT uses the target's id with FUSE_INT_REQ_BIT set. Since 7.40
# the top bit marks a request the kernel resent.
FUSE_INT_REQ_BIT = 1 << 0
FUSE_REQ_ID_STEP = 1 << 1
FUSE_UNIQUE_RESEND = 1 << 63

# Not in the uapi header: /dev/fuse is the character device 10:229
# (Documentation/admin-guide/devices.txt).
FUSE_DEVICE = os.makedev(10, 229)

# ioctl(2) on /dev/fuse: _IOR(229, 0, uint32_t).
FUSE_DEV_IOC_MAGIC = 229
FUSE_DEV_IOC_CLONE = 0x8004E500


def join_init_flags(flags: int, flags2: int) -> int:
    """Return the 64-bit INIT flag set carried by *flags* and *flags2*.

    As in Linux and libfuse, *flags2* counts only when FUSE_INIT_EXT is set
    in *flags*.
    """
    if flags & FUSE_INIT_EXT:
        return flags | (flags2 << 32)
    return flags


def split_init_flags(all_flags: int) -> tuple[int, int]:
    """Split a 64-bit INIT flag set into (flags, flags2), the init_in/init_out members.

    The caller decides about FUSE_INIT_EXT: it must be in *all_flags* for the
    peer to read flags2.
    """
    return all_flags & 0xFFFFFFFF, (all_flags >> 32) & 0xFFFFFFFF


# ------------------------------------------------------------ struct base


def _check_room(buf: Buffer, offset: int, size: int, what: str) -> None:
    if offset < 0:
        raise ValueError(f"{what}: negative offset {offset}")
    if len(buf) - offset < size:
        raise ValueError(f"{what}: need {size} bytes at offset {offset}, have {len(buf) - offset}")


class Struct:
    """A fixed-size wire struct: packs and unpacks its fields through ``_STRUCT``.

    Subclasses are ``@dataclass(slots=True)`` classes whose fields are the C
    members in order, padding left out (it is ``x`` in the format). A struct
    with a nested struct overrides ``_values`` and ``_from_values``.
    """

    __slots__: tuple[str, ...] = ()

    _STRUCT: ClassVar[struct.Struct]
    SIZE: ClassVar[int]
    # (minor, size) pairs in ascending order: below protocol minor `minor`
    # the struct was the first `size` bytes of the current layout.
    _COMPAT: ClassVar[tuple[tuple[int, int], ...]] = ()

    def _values(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    @classmethod
    def _from_values(cls, values: tuple[int, ...]) -> Self:
        return cls(*values)

    def pack(self) -> bytes:
        """Return the struct's bytes in the current (7.38) layout.

        Raises:
            ValueError: if a field does not fit its C member.
        """
        try:
            return self._STRUCT.pack(*self._values())
        except struct.error as err:
            raise ValueError(f"{type(self).__name__}: {err}") from None

    @classmethod
    def unpack(cls, buf: Buffer, offset: int = 0) -> Self:
        """Parse the struct at *offset* in *buf*; bytes after it are ignored.

        Raises:
            ValueError: if fewer than SIZE bytes follow *offset*.
        """
        _check_room(buf, offset, cls.SIZE, cls.__name__)
        return cls._from_values(cls._STRUCT.unpack_from(buf, offset))

    @classmethod
    def size_for(cls, minor: int) -> int:
        """Return the struct's size on the wire under protocol 7.*minor*."""
        for below, size in cls._COMPAT:
            if minor < below:
                return size
        return cls.SIZE

    def pack_for(self, minor: int) -> bytes:
        """Like pack(), cut to the size protocol 7.*minor* uses (members past it are dropped)."""
        return self.pack()[: self.size_for(minor)]

    @classmethod
    def unpack_for(cls, buf: Buffer, minor: int, offset: int = 0) -> Self:
        """Like unpack(), for the size protocol 7.*minor* uses; missing members are 0."""
        return cls._unpack_prefix(buf, offset, cls.size_for(minor))

    @classmethod
    def _unpack_prefix(cls, buf: Buffer, offset: int, size: int) -> Self:
        """Parse the first *size* bytes of the struct, the rest read as zero."""
        _check_room(buf, offset, size, cls.__name__)
        if size >= cls.SIZE:
            return cls._from_values(cls._STRUCT.unpack_from(buf, offset))
        data = bytes(buf[offset : offset + size]).ljust(cls.SIZE, b"\0")
        return cls._from_values(cls._STRUCT.unpack(data))


# Member formats of the structs that others embed.
_ATTR_FMT = "QQQQQQIIIIIIIIII"
_KSTATFS_FMT = "QQQQQIII4x24x"
_FILE_LOCK_FMT = "QQII"
_ENTRY_OUT_HEAD_FMT = "QQQQII"

# ------------------------------------------------------------ headers


@dataclass(slots=True)
class InHeader(Struct):
    """struct fuse_in_header: starts every request (client to server).

    ``len`` counts the header, the arguments and the extensions;
    ``total_extlen`` (7.38) is the extensions' length in 8-byte units.
    """

    len: int = 0
    opcode: int = 0
    unique: int = 0
    nodeid: int = 0
    uid: int = 0
    gid: int = 0
    pid: int = 0
    total_extlen: int = 0

    _STRUCT = struct.Struct("<IIQQIIIH2x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class OutHeader(Struct):
    """struct fuse_out_header: starts every reply and notification.

    ``error`` is 0 or -errno for a reply (an error reply has no body), and
    the FUSE_NOTIFY_* code for a notification (``unique`` 0).
    """

    len: int = 0
    error: int = 0
    unique: int = 0

    _STRUCT = struct.Struct("<IiQ")
    SIZE = _STRUCT.size


# ------------------------------------------------------------ attributes


@dataclass(slots=True)
class Attr(Struct):
    """struct fuse_attr: an inode's attributes, embedded in EntryOut and AttrOut.

    ``flags`` (FUSE_ATTR_*) was padding before 7.32; ``blksize`` came in 7.9.
    """

    ino: int = 0
    size: int = 0
    blocks: int = 0
    atime: int = 0
    mtime: int = 0
    ctime: int = 0
    atimensec: int = 0
    mtimensec: int = 0
    ctimensec: int = 0
    mode: int = 0
    nlink: int = 0
    uid: int = 0
    gid: int = 0
    rdev: int = 0
    blksize: int = 0
    flags: int = 0

    _STRUCT = struct.Struct("<" + _ATTR_FMT)
    SIZE = _STRUCT.size


@dataclass(slots=True)
class EntryOut(Struct):
    """struct fuse_entry_out: reply to LOOKUP, MKNOD, MKDIR, SYMLINK, LINK (and
    the first part of CREATE's and TMPFILE's).

    ``nodeid`` 0 in a LOOKUP reply is a negative entry, cached for
    ``entry_valid``. Below 7.9 it was FUSE_COMPAT_ENTRY_OUT_SIZE bytes
    (``attr`` without ``blksize`` and ``flags``).
    """

    nodeid: int = 0
    generation: int = 0
    entry_valid: int = 0
    attr_valid: int = 0
    entry_valid_nsec: int = 0
    attr_valid_nsec: int = 0
    attr: Attr = field(default_factory=Attr)

    _STRUCT = struct.Struct("<" + _ENTRY_OUT_HEAD_FMT + _ATTR_FMT)
    SIZE = _STRUCT.size
    _COMPAT = ((9, FUSE_COMPAT_ENTRY_OUT_SIZE),)

    def _values(self) -> tuple[int, ...]:
        return (
            self.nodeid,
            self.generation,
            self.entry_valid,
            self.attr_valid,
            self.entry_valid_nsec,
            self.attr_valid_nsec,
            *self.attr._values(),
        )

    @classmethod
    def _from_values(cls, values: tuple[int, ...]) -> Self:
        nodeid, generation, entry_valid, attr_valid, entry_nsec, attr_nsec = values[:6]
        attr = Attr._from_values(values[6:])
        return cls(nodeid, generation, entry_valid, attr_valid, entry_nsec, attr_nsec, attr)


@dataclass(slots=True)
class AttrOut(Struct):
    """struct fuse_attr_out: reply to GETATTR and SETATTR.

    Below 7.9 it was FUSE_COMPAT_ATTR_OUT_SIZE bytes.
    """

    attr_valid: int = 0
    attr_valid_nsec: int = 0
    attr: Attr = field(default_factory=Attr)

    _STRUCT = struct.Struct("<QI4x" + _ATTR_FMT)
    SIZE = _STRUCT.size
    _COMPAT = ((9, FUSE_COMPAT_ATTR_OUT_SIZE),)

    def _values(self) -> tuple[int, ...]:
        return (self.attr_valid, self.attr_valid_nsec, *self.attr._values())

    @classmethod
    def _from_values(cls, values: tuple[int, ...]) -> Self:
        return cls(values[0], values[1], Attr._from_values(values[2:]))


@dataclass(slots=True)
class GetattrIn(Struct):
    """struct fuse_getattr_in: GETATTR's argument (7.9); ``fh`` is valid with FUSE_GETATTR_FH."""

    getattr_flags: int = 0
    fh: int = 0

    _STRUCT = struct.Struct("<I4xQ")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class SetattrIn(Struct):
    """struct fuse_setattr_in: SETATTR's argument; ``valid`` (FATTR_*) says which members count."""

    valid: int = 0
    fh: int = 0
    size: int = 0
    lock_owner: int = 0
    atime: int = 0
    mtime: int = 0
    ctime: int = 0
    atimensec: int = 0
    mtimensec: int = 0
    ctimensec: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0

    _STRUCT = struct.Struct("<I4xQQQQQQIIII4xII4x")
    SIZE = _STRUCT.size


# ------------------------------------------------------------ INIT


@dataclass(slots=True)
class InitIn(Struct):
    """struct fuse_init_in: INIT's argument.

    64 bytes from 7.36 (``flags2`` and reserved space); before that only the
    first 16 bytes (``major`` to ``flags``): use ``pack_for(minor)``, which
    also drops ``flags2``. Send FUSE_INIT_EXT only with the 64-byte form.
    """

    major: int = 0
    minor: int = 0
    max_readahead: int = 0
    flags: int = 0
    flags2: int = 0

    _STRUCT = struct.Struct("<IIIII44x")
    SIZE = _STRUCT.size
    _COMPAT = ((36, 16),)

    @property
    def all_flags(self) -> int:
        """The 64-bit flag set (``flags2`` counts only with FUSE_INIT_EXT)."""
        return join_init_flags(self.flags, self.flags2)

    @classmethod
    def unpack(cls, buf: Buffer, offset: int = 0) -> Self:
        """Parse INIT's argument: the 64-byte form, or the 16-byte one if only that is there.

        ``buf[offset:]`` must be exactly the arguments (``len`` minus the
        header): the size tells the forms apart.

        Raises:
            ValueError: if fewer than 16 bytes follow *offset*.
        """
        size = cls.SIZE if len(buf) - offset >= cls.SIZE else cls._COMPAT[0][1]
        return cls._unpack_prefix(buf, offset, size)


@dataclass(slots=True)
class InitOut(Struct):
    """struct fuse_init_out: INIT's reply.

    Servers with an old minor send a prefix: FUSE_COMPAT_INIT_OUT_SIZE (8)
    bytes below 7.5, FUSE_COMPAT_22_INIT_OUT_SIZE (24, up to ``max_write``)
    below 7.23, as libfuse 2.9 does for 7.19. ``max_pages`` counts only with
    FUSE_MAX_PAGES, ``flags2`` only with FUSE_INIT_EXT.
    """

    major: int = 0
    minor: int = 0
    max_readahead: int = 0
    flags: int = 0
    max_background: int = 0
    congestion_threshold: int = 0
    max_write: int = 0
    time_gran: int = 0
    max_pages: int = 0
    map_alignment: int = 0
    flags2: int = 0

    _STRUCT = struct.Struct("<IIIIHHIIHHI28x")
    SIZE = _STRUCT.size
    _COMPAT = ((5, FUSE_COMPAT_INIT_OUT_SIZE), (23, FUSE_COMPAT_22_INIT_OUT_SIZE))

    @property
    def all_flags(self) -> int:
        """The 64-bit flag set (``flags2`` counts only with FUSE_INIT_EXT)."""
        return join_init_flags(self.flags, self.flags2)

    @classmethod
    def unpack(cls, buf: Buffer, offset: int = 0) -> Self:
        """Parse an INIT reply of any length from 8 to 64 bytes; missing members are 0.

        ``buf[offset:]`` must be exactly the reply body. Like Linux, any
        shorter body is accepted and zero-filled; bytes past 64 are ignored.

        Raises:
            ValueError: if fewer than FUSE_COMPAT_INIT_OUT_SIZE bytes follow *offset*.
        """
        _check_room(buf, offset, FUSE_COMPAT_INIT_OUT_SIZE, cls.__name__)
        return cls._unpack_prefix(buf, offset, min(len(buf) - offset, cls.SIZE))


@dataclass(slots=True)
class CuseInitIn(Struct):
    """struct cuse_init_in: CUSE_INIT's argument."""

    major: int = 0
    minor: int = 0
    flags: int = 0

    _STRUCT = struct.Struct("<II4xI")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class CuseInitOut(Struct):
    """struct cuse_init_out: CUSE_INIT's reply, followed by the device info strings."""

    major: int = 0
    minor: int = 0
    flags: int = 0
    max_read: int = 0
    max_write: int = 0
    dev_major: int = 0
    dev_minor: int = 0

    _STRUCT = struct.Struct("<II4xIIIII40x")
    SIZE = _STRUCT.size


# ------------------------------------------------------------ files


@dataclass(slots=True)
class OpenIn(Struct):
    """struct fuse_open_in: OPEN's and OPENDIR's argument (open(2) flags, FUSE_OPEN_*)."""

    flags: int = 0
    open_flags: int = 0

    _STRUCT = struct.Struct("<II")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class OpenOut(Struct):
    """struct fuse_open_out: OPEN's and OPENDIR's reply (``open_flags`` = FOPEN_*)."""

    fh: int = 0
    open_flags: int = 0

    _STRUCT = struct.Struct("<QI4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class CreateIn(Struct):
    """struct fuse_create_in: CREATE's and TMPFILE's argument, before the name."""

    flags: int = 0
    mode: int = 0
    umask: int = 0
    open_flags: int = 0

    _STRUCT = struct.Struct("<IIII")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class ReleaseIn(Struct):
    """struct fuse_release_in: RELEASE's and RELEASEDIR's argument."""

    fh: int = 0
    flags: int = 0
    release_flags: int = 0
    lock_owner: int = 0

    _STRUCT = struct.Struct("<QIIQ")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class FlushIn(Struct):
    """struct fuse_flush_in: FLUSH's argument."""

    fh: int = 0
    lock_owner: int = 0

    _STRUCT = struct.Struct("<Q8xQ")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class ReadIn(Struct):
    """struct fuse_read_in: READ's, READDIR's and READDIRPLUS's argument.

    ``read_flags`` is FUSE_READ_*, ``flags`` the open(2) flags.
    """

    fh: int = 0
    offset: int = 0
    size: int = 0
    read_flags: int = 0
    lock_owner: int = 0
    flags: int = 0

    _STRUCT = struct.Struct("<QQIIQI4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class WriteIn(Struct):
    """struct fuse_write_in: WRITE's argument, followed by ``size`` bytes of data.

    Below 7.9 it was FUSE_COMPAT_WRITE_IN_SIZE bytes (up to ``write_flags``).
    """

    fh: int = 0
    offset: int = 0
    size: int = 0
    write_flags: int = 0
    lock_owner: int = 0
    flags: int = 0

    _STRUCT = struct.Struct("<QQIIQI4x")
    SIZE = _STRUCT.size
    _COMPAT = ((9, FUSE_COMPAT_WRITE_IN_SIZE),)


@dataclass(slots=True)
class WriteOut(Struct):
    """struct fuse_write_out: WRITE's and COPY_FILE_RANGE's reply (bytes written)."""

    size: int = 0

    _STRUCT = struct.Struct("<I4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class FsyncIn(Struct):
    """struct fuse_fsync_in: FSYNC's and FSYNCDIR's argument (FUSE_FSYNC_FDATASYNC)."""

    fh: int = 0
    fsync_flags: int = 0

    _STRUCT = struct.Struct("<QI4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class LseekIn(Struct):
    """struct fuse_lseek_in: LSEEK's argument (``whence`` SEEK_DATA or SEEK_HOLE)."""

    fh: int = 0
    offset: int = 0
    whence: int = 0

    _STRUCT = struct.Struct("<QQI4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class LseekOut(Struct):
    """struct fuse_lseek_out: LSEEK's reply."""

    offset: int = 0

    _STRUCT = struct.Struct("<Q")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class FallocateIn(Struct):
    """struct fuse_fallocate_in: FALLOCATE's argument (``mode`` as in fallocate(2))."""

    fh: int = 0
    offset: int = 0
    length: int = 0
    mode: int = 0

    _STRUCT = struct.Struct("<QQQI4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class CopyFileRangeIn(Struct):
    """struct fuse_copy_file_range_in: COPY_FILE_RANGE's argument (nodeid is the source)."""

    fh_in: int = 0
    off_in: int = 0
    nodeid_out: int = 0
    fh_out: int = 0
    off_out: int = 0
    len: int = 0
    flags: int = 0

    _STRUCT = struct.Struct("<QQQQQQQ")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class FileLock(Struct):
    """struct fuse_file_lock: a byte-range lock, embedded in LkIn and LkOut."""

    start: int = 0
    end: int = 0
    type: int = 0
    pid: int = 0

    _STRUCT = struct.Struct("<" + _FILE_LOCK_FMT)
    SIZE = _STRUCT.size


@dataclass(slots=True)
class LkIn(Struct):
    """struct fuse_lk_in: GETLK's, SETLK's and SETLKW's argument (FUSE_LK_FLOCK)."""

    fh: int = 0
    owner: int = 0
    lk: FileLock = field(default_factory=FileLock)
    lk_flags: int = 0

    _STRUCT = struct.Struct("<QQ" + _FILE_LOCK_FMT + "I4x")
    SIZE = _STRUCT.size

    def _values(self) -> tuple[int, ...]:
        return (self.fh, self.owner, *self.lk._values(), self.lk_flags)

    @classmethod
    def _from_values(cls, values: tuple[int, ...]) -> Self:
        return cls(values[0], values[1], FileLock._from_values(values[2:6]), values[6])


@dataclass(slots=True)
class LkOut(Struct):
    """struct fuse_lk_out: GETLK's reply."""

    lk: FileLock = field(default_factory=FileLock)

    _STRUCT = struct.Struct("<" + _FILE_LOCK_FMT)
    SIZE = _STRUCT.size

    def _values(self) -> tuple[int, ...]:
        return self.lk._values()

    @classmethod
    def _from_values(cls, values: tuple[int, ...]) -> Self:
        return cls(FileLock._from_values(values))


@dataclass(slots=True)
class BmapIn(Struct):
    """struct fuse_bmap_in: BMAP's argument (fuseblk only)."""

    block: int = 0
    blocksize: int = 0

    _STRUCT = struct.Struct("<QI4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class BmapOut(Struct):
    """struct fuse_bmap_out: BMAP's reply."""

    block: int = 0

    _STRUCT = struct.Struct("<Q")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class IoctlIn(Struct):
    """struct fuse_ioctl_in: IOCTL's argument, followed by ``in_size`` bytes."""

    fh: int = 0
    flags: int = 0
    cmd: int = 0
    arg: int = 0
    in_size: int = 0
    out_size: int = 0

    _STRUCT = struct.Struct("<QIIQII")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class IoctlIovec(Struct):
    """struct fuse_ioctl_iovec: one buffer of a FUSE_IOCTL_RETRY reply."""

    base: int = 0
    len: int = 0

    _STRUCT = struct.Struct("<QQ")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class IoctlOut(Struct):
    """struct fuse_ioctl_out: IOCTL's reply, followed by the output data."""

    result: int = 0
    flags: int = 0
    in_iovs: int = 0
    out_iovs: int = 0

    _STRUCT = struct.Struct("<iIII")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class PollIn(Struct):
    """struct fuse_poll_in: POLL's argument (``events`` since 7.21)."""

    fh: int = 0
    kh: int = 0
    flags: int = 0
    events: int = 0

    _STRUCT = struct.Struct("<QQII")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class PollOut(Struct):
    """struct fuse_poll_out: POLL's reply."""

    revents: int = 0

    _STRUCT = struct.Struct("<I4x")
    SIZE = _STRUCT.size


# ------------------------------------------------------------ names and inodes


@dataclass(slots=True)
class MknodIn(Struct):
    """struct fuse_mknod_in: MKNOD's argument, before the name.

    Below 7.12 it was FUSE_COMPAT_MKNOD_IN_SIZE bytes (no ``umask``).
    """

    mode: int = 0
    rdev: int = 0
    umask: int = 0

    _STRUCT = struct.Struct("<III4x")
    SIZE = _STRUCT.size
    _COMPAT = ((12, FUSE_COMPAT_MKNOD_IN_SIZE),)


@dataclass(slots=True)
class MkdirIn(Struct):
    """struct fuse_mkdir_in: MKDIR's argument, before the name."""

    mode: int = 0
    umask: int = 0

    _STRUCT = struct.Struct("<II")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class RenameIn(Struct):
    """struct fuse_rename_in: RENAME's argument, before the old and new names."""

    newdir: int = 0

    _STRUCT = struct.Struct("<Q")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class Rename2In(Struct):
    """struct fuse_rename2_in: RENAME2's argument (``flags`` = RENAME_*), before the names."""

    newdir: int = 0
    flags: int = 0

    _STRUCT = struct.Struct("<QI4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class LinkIn(Struct):
    """struct fuse_link_in: LINK's argument, before the new name."""

    oldnodeid: int = 0

    _STRUCT = struct.Struct("<Q")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class AccessIn(Struct):
    """struct fuse_access_in: ACCESS's argument (R_OK, W_OK, X_OK bits)."""

    mask: int = 0

    _STRUCT = struct.Struct("<I4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class ForgetIn(Struct):
    """struct fuse_forget_in: FORGET's argument (the header's nodeid loses ``nlookup``)."""

    nlookup: int = 0

    _STRUCT = struct.Struct("<Q")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class ForgetOne(Struct):
    """struct fuse_forget_one: one entry of BATCH_FORGET."""

    nodeid: int = 0
    nlookup: int = 0

    _STRUCT = struct.Struct("<QQ")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class BatchForgetIn(Struct):
    """struct fuse_batch_forget_in: BATCH_FORGET's argument, followed by ``count`` ForgetOnes."""

    count: int = 0

    _STRUCT = struct.Struct("<I4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class InterruptIn(Struct):
    """struct fuse_interrupt_in: INTERRUPT's argument, the target request's ``unique``."""

    unique: int = 0

    _STRUCT = struct.Struct("<Q")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class SyncfsIn(Struct):
    """struct fuse_syncfs_in: SYNCFS's argument (only padding)."""

    _STRUCT = struct.Struct("<8x")
    SIZE = _STRUCT.size


# ------------------------------------------------------------ statfs


@dataclass(slots=True)
class Kstatfs(Struct):
    """struct fuse_kstatfs: filesystem statistics, embedded in StatfsOut."""

    blocks: int = 0
    bfree: int = 0
    bavail: int = 0
    files: int = 0
    ffree: int = 0
    bsize: int = 0
    namelen: int = 0
    frsize: int = 0

    _STRUCT = struct.Struct("<" + _KSTATFS_FMT)
    SIZE = _STRUCT.size


@dataclass(slots=True)
class StatfsOut(Struct):
    """struct fuse_statfs_out: STATFS's reply.

    Below 7.4 it was FUSE_COMPAT_STATFS_SIZE bytes (no ``frsize``).
    """

    st: Kstatfs = field(default_factory=Kstatfs)

    _STRUCT = struct.Struct("<" + _KSTATFS_FMT)
    SIZE = _STRUCT.size
    _COMPAT = ((4, FUSE_COMPAT_STATFS_SIZE),)

    def _values(self) -> tuple[int, ...]:
        return self.st._values()

    @classmethod
    def _from_values(cls, values: tuple[int, ...]) -> Self:
        return cls(Kstatfs._from_values(values))


# ------------------------------------------------------------ xattrs


@dataclass(slots=True)
class SetxattrIn(Struct):
    """struct fuse_setxattr_in in its FUSE_COMPAT_SETXATTR_IN_SIZE (8-byte) form.

    SETXATTR's argument unless FUSE_SETXATTR_EXT was negotiated (then
    SetxattrInExt); the name and the ``size``-byte value follow.
    """

    size: int = 0
    flags: int = 0

    _STRUCT = struct.Struct("<II")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class SetxattrInExt(Struct):
    """struct fuse_setxattr_in, full 16-byte form, sent when FUSE_SETXATTR_EXT was negotiated."""

    size: int = 0
    flags: int = 0
    setxattr_flags: int = 0

    _STRUCT = struct.Struct("<III4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class GetxattrIn(Struct):
    """struct fuse_getxattr_in: GETXATTR's (before the name) and LISTXATTR's argument."""

    size: int = 0

    _STRUCT = struct.Struct("<I4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class GetxattrOut(Struct):
    """struct fuse_getxattr_out: GETXATTR's and LISTXATTR's reply when ``size`` was 0."""

    size: int = 0

    _STRUCT = struct.Struct("<I4x")
    SIZE = _STRUCT.size


# ------------------------------------------------------------ notifications


@dataclass(slots=True)
class NotifyPollWakeupOut(Struct):
    """struct fuse_notify_poll_wakeup_out: FUSE_NOTIFY_POLL's payload."""

    kh: int = 0

    _STRUCT = struct.Struct("<Q")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class NotifyInvalInodeOut(Struct):
    """struct fuse_notify_inval_inode_out: FUSE_NOTIFY_INVAL_INODE's payload.

    ``off`` and ``len`` are signed: ``off`` < 0 invalidates attributes only,
    ``len`` <= 0 means "to the end".
    """

    ino: int = 0
    off: int = 0
    len: int = 0

    _STRUCT = struct.Struct("<Qqq")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class NotifyInvalEntryOut(Struct):
    """struct fuse_notify_inval_entry_out: FUSE_NOTIFY_INVAL_ENTRY's payload, then name + NUL."""

    parent: int = 0
    namelen: int = 0
    flags: int = 0

    _STRUCT = struct.Struct("<QII")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class NotifyDeleteOut(Struct):
    """struct fuse_notify_delete_out: FUSE_NOTIFY_DELETE's payload, then name + NUL."""

    parent: int = 0
    child: int = 0
    namelen: int = 0

    _STRUCT = struct.Struct("<QQI4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class NotifyStoreOut(Struct):
    """struct fuse_notify_store_out: FUSE_NOTIFY_STORE's payload, then ``size`` bytes."""

    nodeid: int = 0
    offset: int = 0
    size: int = 0

    _STRUCT = struct.Struct("<QQI4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class NotifyRetrieveOut(Struct):
    """struct fuse_notify_retrieve_out: FUSE_NOTIFY_RETRIEVE's payload."""

    notify_unique: int = 0
    nodeid: int = 0
    offset: int = 0
    size: int = 0

    _STRUCT = struct.Struct("<QQQI4x")
    SIZE = _STRUCT.size


@dataclass(slots=True)
class NotifyRetrieveIn(Struct):
    """struct fuse_notify_retrieve_in: NOTIFY_REPLY's argument (unique = notify_unique).

    The ``size`` bytes of data follow; the ``dummy`` members are zero.
    """

    offset: int = 0
    size: int = 0

    _STRUCT = struct.Struct("<8xQI4x16x")
    SIZE = _STRUCT.size


# ------------------------------------------------------------ directories


def fuse_dirent_align(x: int) -> int:
    """FUSE_DIRENT_ALIGN: round *x* up to a multiple of 8."""
    return (x + 7) & ~7


def fuse_dirent_size(namelen: int) -> int:
    """FUSE_DIRENT_SIZE: the bytes a fuse_dirent with a *namelen*-byte name takes."""
    return fuse_dirent_align(FUSE_NAME_OFFSET + namelen)


def fuse_direntplus_size(namelen: int) -> int:
    """FUSE_DIRENTPLUS_SIZE: the bytes a fuse_direntplus with a *namelen*-byte name takes."""
    return fuse_dirent_align(FUSE_NAME_OFFSET_DIRENTPLUS + namelen)


def _check_name(name: bytes, what: str) -> None:
    """Apply Linux's checks on a directory entry's name (fs/fuse/readdir.c)."""
    if not name:
        raise ValueError(f"{what}: empty name")
    if len(name) > FUSE_NAME_MAX:
        raise ValueError(f"{what}: name of {len(name)} bytes exceeds FUSE_NAME_MAX")
    # Linux rejects '/'; a NUL could never reach a caller intact either.
    if b"/" in name or b"\0" in name:
        raise ValueError(f"{what}: name {name!r} contains '/' or NUL")


_DIRENT = struct.Struct("<QQII")


@dataclass(slots=True)
class Dirent:
    """struct fuse_dirent: one READDIR record.

    On the wire: ``ino``, ``off``, ``namelen``, ``type``, then ``name``
    (not NUL-terminated) zero-padded to FUSE_DIRENT_ALIGN. ``off`` is the
    cookie for the position after this entry; ``type`` is DT_* (0 unknown).
    ``namelen`` is derived from ``name``.
    """

    ino: int = 0
    off: int = 0
    type: int = 0
    name: bytes = b""

    _STRUCT: ClassVar[struct.Struct] = _DIRENT
    SIZE: ClassVar[int] = _DIRENT.size  # FUSE_NAME_OFFSET: the part before the name

    @property
    def namelen(self) -> int:
        return len(self.name)

    @property
    def record_size(self) -> int:
        """FUSE_DIRENT_SIZE: the bytes this record takes, padding included."""
        return fuse_dirent_size(len(self.name))

    def pack(self) -> bytes:
        """Return the record, padded to FUSE_DIRENT_ALIGN.

        Raises:
            ValueError: if the name is empty, longer than FUSE_NAME_MAX or
                contains '/' or NUL, or a number does not fit.
        """
        _check_name(self.name, "Dirent")
        try:
            head = _DIRENT.pack(self.ino, self.off, len(self.name), self.type)
        except struct.error as err:
            raise ValueError(f"Dirent: {err}") from None
        return (head + self.name).ljust(self.record_size, b"\0")

    @classmethod
    def unpack(cls, buf: Buffer, offset: int = 0) -> Self:
        """Parse the record at *offset*; its padding must be inside *buf* too.

        Raises:
            ValueError: if the record is truncated, or its name is empty,
                longer than FUSE_NAME_MAX or contains '/' or NUL.
        """
        _check_room(buf, offset, cls.SIZE, "Dirent")
        ino, off, namelen, type_ = _DIRENT.unpack_from(buf, offset)
        if namelen == 0 or namelen > FUSE_NAME_MAX:
            raise ValueError(f"Dirent at {offset}: bad namelen {namelen}")
        _check_room(buf, offset, fuse_dirent_size(namelen), f"Dirent {namelen}-byte name")
        start = offset + FUSE_NAME_OFFSET
        name = bytes(buf[start : start + namelen])
        _check_name(name, f"Dirent at {offset}")
        return cls(ino, off, type_, name)


@dataclass(slots=True)
class Direntplus:
    """struct fuse_direntplus: one READDIRPLUS record, an EntryOut then a fuse_dirent.

    The whole record is padded to FUSE_DIRENT_ALIGN; ``entry_out.nodeid`` 0
    means the server sent no entry (nothing to count or FORGET).
    """

    entry_out: EntryOut = field(default_factory=EntryOut)
    dirent: Dirent = field(default_factory=Dirent)

    SIZE: ClassVar[int] = EntryOut.SIZE + Dirent.SIZE  # FUSE_NAME_OFFSET_DIRENTPLUS

    @property
    def record_size(self) -> int:
        """FUSE_DIRENTPLUS_SIZE: the bytes this record takes, padding included."""
        return fuse_direntplus_size(len(self.dirent.name))

    def pack(self) -> bytes:
        """Return the record, padded to FUSE_DIRENT_ALIGN.

        Raises:
            ValueError: as Dirent.pack, or if an entry_out member does not fit.
        """
        return self.entry_out.pack() + self.dirent.pack()

    @classmethod
    def unpack(cls, buf: Buffer, offset: int = 0) -> Self:
        """Parse the record at *offset*; its padding must be inside *buf* too.

        Raises:
            ValueError: as Dirent.unpack.
        """
        _check_room(buf, offset, cls.SIZE, "Direntplus")
        entry_out = EntryOut.unpack(buf, offset)
        return cls(entry_out, Dirent.unpack(buf, offset + EntryOut.SIZE))


def iter_dirents(buf: Buffer) -> Iterator[Dirent]:
    """Yield the fuse_dirent records of a READDIR reply body, in order.

    Stricter than Linux, which silently drops a trailing partial record: here
    every byte must belong to a whole record (a straddling record was gVisor
    issue 13721). The error comes when the iteration reaches the bad record,
    so use ``list(iter_dirents(buf))`` to check a reply before acting on it.

    Raises:
        ValueError: for a truncated record or a bad name (the client's EIO).
    """
    offset = 0
    while offset < len(buf):
        dirent = Dirent.unpack(buf, offset)
        yield dirent
        offset += dirent.record_size


def iter_direntplus(buf: Buffer) -> Iterator[Direntplus]:
    """Yield the fuse_direntplus records of a READDIRPLUS reply body, in order.

    Raises:
        ValueError: as iter_dirents.
    """
    offset = 0
    while offset < len(buf):
        entry = Direntplus.unpack(buf, offset)
        yield entry
        offset += entry.record_size


def pack_dirent(ino: int, off: int, type: int, name: bytes) -> bytes:
    """Return one fuse_dirent record, padded (for servers building READDIR replies)."""
    return Dirent(ino, off, type, name).pack()


def pack_direntplus(entry_out: EntryOut, ino: int, off: int, type: int, name: bytes) -> bytes:
    """Return one fuse_direntplus record, padded (for READDIRPLUS replies)."""
    return Direntplus(entry_out, Dirent(ino, off, type, name)).pack()
