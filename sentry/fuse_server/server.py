"""The request loop: read one FUSE request, call the file system, write one reply.

``Server(ops, fd).run()`` serves ``fd``, which is either a ``/dev/fuse`` fd
of a native kernel mount or one end of an ``AF_UNIX``/``SOCK_SEQPACKET``
socketpair (sentry's transport: one request per message, one reply per
message, the same bytes as the device). Analogous to libfuse's
``fuse_session_loop`` and ``fuse_lowlevel.c``.

Some facts the loop is built on:

- One read returns exactly one whole request, into a buffer preallocated for
  the largest (a WRITE of max_write bytes plus its headers). A read of 0
  bytes is EOF: sentry closed its end. ENODEV is the kernel's answer after
  unmount. Both end the loop with status 0. EINTR is retried (PEP 475)
  unless ``stop`` was called.
- One reply is one ``writev`` of the out header and the body pieces. ENOENT
  from it means the request was interrupted or aborted meanwhile: ignored.
- FORGET, BATCH_FORGET, INTERRUPT and NOTIFY_REPLY get no reply. The loop is
  single-threaded, so an INTERRUPT always arrives after its target was
  answered, and is dropped.
- INIT comes first (anything earlier gets EIO). The loop requires major 7
  and minor >= 12 (the layouts it decodes: 40-byte write_in, 16-byte
  mknod_in, CREATE), replies minor 31 with max_write 1 MiB and 256 pages,
  and accepts the offered flags the file system wants (``init_flags``).
- Unknown opcodes (IOCTL, POLL, GETLK/SETLK, BMAP, COPY_FILE_RANGE,
  TMPFILE, STATX, SETUPMAPPING, ...) get ENOSYS.

Single-threaded: there are no locks. The hot path unpacks and packs with
the ``struct`` layouts of ``sentry.abi.fuse`` directly, without building its
dataclasses.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import sys
from collections.abc import Callable, Sequence
from typing import Any

from sentry.abi import fuse
from sentry.fuse_server.operations import Buffer, Entry, FuseError, Operations

SERVER_MINOR = 31
# The oldest client minor whose request layouts the loop decodes.
MIN_CLIENT_MINOR = 12
MAX_WRITE = 1 << 20
MAX_PAGES = 256
# Requests carry at most max_write bytes of data after their headers (a
# WRITE: 40 + 40); one spare page covers them and any other request.
BUFFER_SIZE = MAX_WRITE + 4096 + 2 * fuse.InHeader.SIZE
# Socket transport: a reply is one datagram, which must fit in SO_SNDBUF.
SOCKET_SNDBUF = 4 * BUFFER_SIZE
# asm-generic/socket.h: SO_SNDBUF beyond wmem_max, for root (Python lacks it).
SO_SNDBUFFORCE = 32

PREFIX = "sentry fuse-server: "

_IN_HEADER = fuse.InHeader._STRUCT
_OUT_HEADER = fuse.OutHeader._STRUCT
_ENTRY_OUT = fuse.EntryOut._STRUCT
_ATTR_OUT = fuse.AttrOut._STRUCT
_OPEN_OUT = fuse.OpenOut._STRUCT
_WRITE_OUT = fuse.WriteOut._STRUCT
_STATFS_OUT = fuse.StatfsOut._STRUCT
_GETXATTR_OUT = fuse.GetxattrOut._STRUCT
_LSEEK_OUT = fuse.LseekOut._STRUCT
_READ_IN = fuse.ReadIn._STRUCT
_WRITE_IN = fuse.WriteIn._STRUCT
_GETATTR_IN = fuse.GetattrIn._STRUCT
_OPEN_IN = fuse.OpenIn._STRUCT
_RELEASE_IN = fuse.ReleaseIn._STRUCT
_FSYNC_IN = fuse.FsyncIn._STRUCT
_FORGET_ONE = fuse.ForgetOne._STRUCT
_DIRENT = fuse.Dirent._STRUCT
_CREATE_IN = fuse.CreateIn._STRUCT
_MKNOD_IN = fuse.MknodIn._STRUCT
_MKDIR_IN = fuse.MkdirIn._STRUCT
_RENAME2_IN = fuse.Rename2In._STRUCT
_SETXATTR_IN = fuse.SetxattrIn._STRUCT
_FALLOCATE_IN = fuse.FallocateIn._STRUCT
_LSEEK_IN = fuse.LseekIn._STRUCT
_U32 = fuse.AccessIn._STRUCT  # a u32 and padding: ACCESS, GETXATTR/LISTXATTR, BATCH_FORGET
_U64 = fuse.ForgetIn._STRUCT  # a u64: FORGET, RENAME, LINK

_HEADER_SIZE = fuse.InHeader.SIZE
_DIRENTPLUS_HEAD = fuse.FUSE_NAME_OFFSET_DIRENTPLUS
_NO_ENTRY = bytes(fuse.EntryOut.SIZE)
_PAD = bytes(8)
_DOTS = (b".", b"..")

# Requests that never get a reply, even when they fail.
_NO_REPLY = frozenset(
    {fuse.FUSE_FORGET, fuse.FUSE_BATCH_FORGET, fuse.FUSE_INTERRUPT, fuse.FUSE_NOTIFY_REPLY}
)
# Reply write errors that only mean the request or the peer is gone.
_QUIET_WRITE_ERRORS = frozenset({errno.ENOENT, errno.ENODEV, errno.EPIPE, errno.ECONNRESET})

# A handler gets (nodeid, body, uid, gid) and returns the reply body: one
# buffer, a list of pieces, or None for no reply.
Reply = Buffer | list[Buffer] | None
Handler = Callable[[int, memoryview, int, int], Reply]


class Stopped(Exception):
    """Raised by ``Server.stop`` into a read blocked in ``run``; ``run`` returns 0."""


def log(message: str) -> None:
    """Print one line on stderr, prefixed like every message of the server."""
    sys.stderr.write(PREFIX + message + "\n")
    sys.stderr.flush()


def _name(body: memoryview) -> bytes:
    """The NUL-terminated name at the start of *body*."""
    return bytes(body).partition(b"\0")[0]


def _two_names(body: memoryview) -> tuple[bytes, bytes]:
    """The two NUL-terminated names at the start of *body* (RENAME, SYMLINK)."""
    first, _, rest = bytes(body).partition(b"\0")
    return first, rest.partition(b"\0")[0]


def _timeout(seconds: float) -> tuple[int, int]:
    """(seconds, nanoseconds) of a cache timeout."""
    ns = int(seconds * 1e9)
    return ns // 1_000_000_000, ns % 1_000_000_000


class Server:
    """Serves one FUSE connection with one ``Operations`` object.

    Analogous to libfuse's ``struct fuse_session``. ``run`` returns the exit
    status: 0 after unmount, EOF or ``stop``; 1 if the transport failed.
    """

    def __init__(self, ops: Operations, fd: int) -> None:
        self.ops = ops
        self.fd = fd
        self.buffer = bytearray(BUFFER_SIZE)
        entry_sec, entry_nsec = _timeout(ops.entry_timeout)
        attr_sec, attr_nsec = _timeout(ops.attr_timeout)
        # The members of entry_out and attr_out before the attributes.
        self._entry_head = (entry_sec, attr_sec, entry_nsec, attr_nsec)
        self._attr_head = (attr_sec, attr_nsec)
        # Before INIT only INIT is served, anything else gets EIO.
        self._handlers: dict[int, Handler] = {fuse.FUSE_INIT: self._init}
        self._default: Handler = self._not_initialized
        self._stopping = False
        self._reading = False

    def stop(self) -> None:
        """End ``run`` after the current request; safe in a signal handler.

        Raises:
            Stopped: if ``run`` is blocked reading (the read is abandoned).
        """
        self._stopping = True
        if self._reading:
            raise Stopped

    def run(self) -> int:
        """Serve requests until unmount, EOF or ``stop``; return the exit status."""
        if stat.S_ISSOCK(os.fstat(self.fd).st_mode):
            self._grow_send_buffer()
        try:
            return self._loop()
        except Stopped:
            return 0

    def _grow_send_buffer(self) -> None:
        """Let a socket carry a 1 MiB READ reply in one datagram (SO_SNDBUF).

        Never lowers it: sentry may have raised it further before handing
        the socket over, which a non-root server could not redo.
        """
        with socket.socket(fileno=os.dup(self.fd)) as sock:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= SOCKET_SNDBUF:
                return
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_SNDBUF)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SNDBUF)

    def _loop(self) -> int:
        fd = self.fd
        buffers = [self.buffer]
        view = memoryview(self.buffer)
        unpack_header = _IN_HEADER.unpack_from
        while not self._stopping:
            self._reading = True
            try:
                n = os.readv(fd, buffers)
            except OSError as err:
                if err.errno == errno.ENODEV:
                    return 0
                if err.errno == errno.ENOENT:  # the request was interrupted before the read
                    continue
                log(f"reading requests: {os.strerror(err.errno or errno.EIO)}")
                return 1
            finally:
                self._reading = False
            if n == 0:
                return 0
            if n < _HEADER_SIZE:
                log(f"short read of {n} bytes")
                return 1
            length, opcode, unique, nodeid, uid, gid, _pid, _extlen = unpack_header(self.buffer)
            try:
                if length != n:
                    raise FuseError(errno.EIO)
                handler = self._handlers.get(opcode, self._default)
                reply = handler(nodeid, view[_HEADER_SIZE:n], uid, gid)
            except (FuseError, OSError) as err:
                if opcode not in _NO_REPLY:
                    self._reply_error(unique, err.errno or errno.EIO)
                continue
            except Exception as exc:
                log(f"{fuse.opcode_name(opcode)}: {type(exc).__name__}: {exc}")
                if opcode not in _NO_REPLY:
                    self._reply_error(unique, errno.EIO)
                continue
            if reply is None:
                continue
            if isinstance(reply, list):
                size = _OUT_HEADER.size
                for piece in reply:
                    size += len(piece)
                self._write([_OUT_HEADER.pack(size, 0, unique), *reply])
            else:
                self._write([_OUT_HEADER.pack(_OUT_HEADER.size + len(reply), 0, unique), reply])
        return 0

    def _reply_error(self, unique: int, err: int) -> None:
        if not 0 < err < 512:
            err = errno.EIO
        self._write([_OUT_HEADER.pack(_OUT_HEADER.size, -err, unique)])

    def _write(self, pieces: Sequence[Buffer]) -> None:
        try:
            os.writev(self.fd, pieces)
        except OSError as err:
            if err.errno not in _QUIET_WRITE_ERRORS:
                log(f"writing a reply: {os.strerror(err.errno or errno.EIO)}")

    def _entry(self, entry: Entry) -> bytes:
        nodeid, generation, attr = entry
        return _ENTRY_OUT.pack(nodeid, generation, *self._entry_head, *attr)

    def _attr(self, attr: Sequence[int]) -> bytes:
        return _ATTR_OUT.pack(*self._attr_head, *attr)

    # -------------------------------------------------------------- INIT

    def _not_initialized(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        raise FuseError(errno.EIO)

    def _enosys(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        raise FuseError(errno.ENOSYS)

    def _init(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        init = fuse.InitIn.unpack(body)
        if init.major != fuse.FUSE_KERNEL_VERSION or init.minor < MIN_CLIENT_MINOR:
            log(f"unsupported FUSE protocol {init.major}.{init.minor}")
            raise FuseError(errno.EPROTO)
        out = fuse.InitOut(
            major=fuse.FUSE_KERNEL_VERSION,
            minor=SERVER_MINOR,
            max_readahead=init.max_readahead,
            flags=init.flags & self.ops.init_flags,
            max_write=MAX_WRITE,
            time_gran=1,
            max_pages=MAX_PAGES,
        )
        self._handlers = self._table()
        self._default = self._enosys
        return out.pack_for(init.minor)

    def _table(self) -> dict[int, Handler]:
        return {
            fuse.FUSE_INIT: self._not_initialized,
            fuse.FUSE_LOOKUP: self._lookup,
            fuse.FUSE_FORGET: self._forget,
            fuse.FUSE_BATCH_FORGET: self._batch_forget,
            fuse.FUSE_INTERRUPT: self._no_reply,
            fuse.FUSE_NOTIFY_REPLY: self._no_reply,
            fuse.FUSE_GETATTR: self._getattr,
            fuse.FUSE_SETATTR: self._setattr,
            fuse.FUSE_READLINK: self._readlink,
            fuse.FUSE_SYMLINK: self._symlink,
            fuse.FUSE_MKNOD: self._mknod,
            fuse.FUSE_MKDIR: self._mkdir,
            fuse.FUSE_UNLINK: self._unlink,
            fuse.FUSE_RMDIR: self._rmdir,
            fuse.FUSE_RENAME: self._rename,
            fuse.FUSE_RENAME2: self._rename2,
            fuse.FUSE_LINK: self._link,
            fuse.FUSE_OPEN: self._open,
            fuse.FUSE_READ: self._read,
            fuse.FUSE_WRITE: self._write_request,
            fuse.FUSE_STATFS: self._statfs,
            fuse.FUSE_RELEASE: self._release,
            fuse.FUSE_FSYNC: self._fsync,
            fuse.FUSE_SETXATTR: self._setxattr,
            fuse.FUSE_GETXATTR: self._getxattr,
            fuse.FUSE_LISTXATTR: self._listxattr,
            fuse.FUSE_REMOVEXATTR: self._removexattr,
            fuse.FUSE_FLUSH: self._flush,
            fuse.FUSE_OPENDIR: self._opendir,
            fuse.FUSE_READDIR: self._readdir,
            fuse.FUSE_READDIRPLUS: self._readdirplus,
            fuse.FUSE_RELEASEDIR: self._releasedir,
            fuse.FUSE_FSYNCDIR: self._fsyncdir,
            fuse.FUSE_ACCESS: self._access,
            fuse.FUSE_CREATE: self._create,
            fuse.FUSE_FALLOCATE: self._fallocate,
            fuse.FUSE_LSEEK: self._lseek,
            fuse.FUSE_DESTROY: self._destroy,
        }

    # ------------------------------------------------------------- names

    def _lookup(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        return self._entry(self.ops.lookup(nodeid, _name(body)))

    def _forget(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        self.ops.forget(nodeid, _U64.unpack_from(body)[0])
        return None

    def _batch_forget(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        (count,) = _U32.unpack_from(body)
        for i in range(count):
            forgotten, nlookup = _FORGET_ONE.unpack_from(body, _U32.size + i * _FORGET_ONE.size)
            self.ops.forget(forgotten, nlookup)
        return None

    def _no_reply(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        return None

    def _getattr(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        flags, fh = _GETATTR_IN.unpack_from(body)
        return self._attr(self.ops.getattr(nodeid, fh if flags & fuse.FUSE_GETATTR_FH else None))

    def _setattr(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        attr = fuse.SetattrIn.unpack(body)
        fh = attr.fh if attr.valid & fuse.FATTR_FH else None
        return self._attr(self.ops.setattr(nodeid, fh, attr))

    def _readlink(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        return self.ops.readlink(nodeid)

    def _symlink(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        name, target = _two_names(body)
        return self._entry(self.ops.symlink(nodeid, name, target, uid, gid))

    def _mknod(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        mode, rdev, _umask = _MKNOD_IN.unpack_from(body)
        name = _name(body[_MKNOD_IN.size :])
        return self._entry(self.ops.mknod(nodeid, name, mode, rdev, uid, gid))

    def _mkdir(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        mode, _umask = _MKDIR_IN.unpack_from(body)
        name = _name(body[_MKDIR_IN.size :])
        return self._entry(self.ops.mkdir(nodeid, name, mode, uid, gid))

    def _unlink(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        self.ops.unlink(nodeid, _name(body))
        return b""

    def _rmdir(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        self.ops.rmdir(nodeid, _name(body))
        return b""

    def _rename(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        (newdir,) = _U64.unpack_from(body)
        old, new = _two_names(body[_U64.size :])
        self.ops.rename(nodeid, old, newdir, new, 0)
        return b""

    def _rename2(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        newdir, flags = _RENAME2_IN.unpack_from(body)
        old, new = _two_names(body[_RENAME2_IN.size :])
        self.ops.rename(nodeid, old, newdir, new, flags)
        return b""

    def _link(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        (oldnodeid,) = _U64.unpack_from(body)
        return self._entry(self.ops.link(oldnodeid, nodeid, _name(body[_U64.size :])))

    # ------------------------------------------------------------- files

    def _open(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        fh, open_flags = self.ops.open(nodeid, _OPEN_IN.unpack_from(body)[0])
        return _OPEN_OUT.pack(fh, open_flags)

    def _read(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        fh, offset, size, _read_flags, _lock_owner, _flags = _READ_IN.unpack_from(body)
        return self.ops.read(nodeid, fh, offset, size)

    def _write_request(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        fh, offset, size, _write_flags, _lock_owner, flags = _WRITE_IN.unpack_from(body)
        data = body[_WRITE_IN.size : _WRITE_IN.size + size]
        if len(data) != size:
            raise FuseError(errno.EIO)
        return _WRITE_OUT.pack(self.ops.write(nodeid, fh, offset, data, flags))

    def _statfs(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        return _STATFS_OUT.pack(*self.ops.statfs(nodeid))

    def _release(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        fh, flags, _release_flags, _lock_owner = _RELEASE_IN.unpack_from(body)
        self.ops.release(nodeid, fh, flags)
        return b""

    def _fsync(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        fh, fsync_flags = _FSYNC_IN.unpack_from(body)
        self.ops.fsync(nodeid, fh, bool(fsync_flags & fuse.FUSE_FSYNC_FDATASYNC))
        return b""

    def _flush(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        self.ops.flush(nodeid, _U64.unpack_from(body)[0])
        return b""

    def _create(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        flags, mode, _umask, _open_flags = _CREATE_IN.unpack_from(body)
        name = _name(body[_CREATE_IN.size :])
        entry, fh, open_flags = self.ops.create(nodeid, name, mode, flags, uid, gid)
        return [self._entry(entry), _OPEN_OUT.pack(fh, open_flags)]

    def _fallocate(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        fh, offset, length, mode = _FALLOCATE_IN.unpack_from(body)
        self.ops.fallocate(nodeid, fh, offset, length, mode)
        return b""

    def _lseek(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        fh, offset, whence = _LSEEK_IN.unpack_from(body)
        return _LSEEK_OUT.pack(self.ops.lseek(nodeid, fh, offset, whence))

    def _access(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        self.ops.access(nodeid, _U32.unpack_from(body)[0])
        return b""

    def _destroy(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        self.ops.destroy()
        return b""

    # ------------------------------------------------------------ xattrs

    def _setxattr(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        size, flags = _SETXATTR_IN.unpack_from(body)
        name, _, rest = bytes(body[_SETXATTR_IN.size :]).partition(b"\0")
        if len(rest) < size:
            raise FuseError(errno.EIO)
        self.ops.setxattr(nodeid, name, rest[:size], flags)
        return b""

    def _getxattr(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        (size,) = _U32.unpack_from(body)
        value = self.ops.getxattr(nodeid, _name(body[_U32.size :]))
        return self._sized(value, size)

    def _listxattr(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        (size,) = _U32.unpack_from(body)
        names = self.ops.listxattr(nodeid)
        return self._sized(b"".join(name + b"\0" for name in names), size)

    @staticmethod
    def _sized(value: bytes, size: int) -> bytes:
        """GETXATTR/LISTXATTR's reply: the length if *size* is 0, ERANGE if too small."""
        if size == 0:
            return _GETXATTR_OUT.pack(len(value))
        if len(value) > size:
            raise FuseError(errno.ERANGE)
        return value

    def _removexattr(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        self.ops.removexattr(nodeid, _name(body))
        return b""

    # ------------------------------------------------------- directories

    def _opendir(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        fh, open_flags = self.ops.opendir(nodeid, _OPEN_IN.unpack_from(body)[0])
        return _OPEN_OUT.pack(fh, open_flags)

    def _releasedir(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        self.ops.releasedir(nodeid, _RELEASE_IN.unpack_from(body)[0])
        return b""

    def _fsyncdir(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        fh, fsync_flags = _FSYNC_IN.unpack_from(body)
        self.ops.fsyncdir(nodeid, fh, bool(fsync_flags & fuse.FUSE_FSYNC_FDATASYNC))
        return b""

    def _readdir(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        fh, offset, size = _READ_IN.unpack_from(body)[:3]
        out = bytearray()
        for ino, off, type_, name in self.ops.readdir(nodeid, fh, offset):
            record = _DIRENT.size + len(name)
            padded = (record + 7) & ~7
            if len(out) + padded > size:
                break
            out += _DIRENT.pack(ino, off, len(name), type_)
            out += name
            out += _PAD[: padded - record]
        return out

    def _readdirplus(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        """READDIR with each entry's LOOKUP folded in.

        The lookup is made only once the record is known to fit, so every
        entry looked up is sent and counted by the kernel; "." and ".." carry
        no entry (nodeid 0), as the kernel counts no lookup for them.
        """
        fh, offset, size = _READ_IN.unpack_from(body)[:3]
        out = bytearray()
        for ino, off, type_, name in self.ops.readdir(nodeid, fh, offset):
            record = _DIRENTPLUS_HEAD + len(name)
            padded = (record + 7) & ~7
            if len(out) + padded > size:
                break
            if name in _DOTS:
                entry_out = _NO_ENTRY
            else:
                try:
                    entry_out = self._entry(self.ops.lookup(nodeid, name))
                except (FuseError, OSError):
                    continue  # removed since it was listed
            out += entry_out
            out += _DIRENT.pack(ino, off, len(name), type_)
            out += name
            out += _PAD[: padded - record]
        return out


def handle_signals(server: Server) -> None:
    """Make SIGTERM, SIGINT and SIGHUP stop *server* (main thread only)."""

    def stop(signum: int, frame: Any) -> None:
        server.stop()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
