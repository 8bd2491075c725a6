"""Notifications from a FUSE daemon: messages with unique 0 whose error
field is a FUSE_NOTIFY_* code.

Analogous to Linux's ``fuse_notify`` in ``fs/fuse/dev.c``. Sentry honours
the ones that keep its caches coherent with a daemon whose files change
behind the client's back:

- INVAL_INODE drops the cached data of a range (``len`` <= 0: to the end;
  ``off`` < 0: none) and the attributes; dirty data stays, to be written
  back (Linux writes it back before dropping it);
- INVAL_ENTRY and DELETE drop a cached name;
- STORE puts data into the cache (past EOF, the attributes are asked
  for again, as Linux does);
- RETRIEVE asks for cached data back: sentry answers with a
  FUSE_NOTIFY_REPLY request carrying the cached bytes from the offset on
  (as many as are cached contiguously, up to the size asked).

POLL needs no action (poll readiness of FUSE files is constant). A
malformed notification is EINVAL, as Linux answers the daemon's write; one
about a node sentry does not know is ENOENT (Linux ignores STORE and
RETRIEVE for unknown nodes quietly; sentry does too).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from sentry.abi import fuse
from sentry.errors import SyscallError

if TYPE_CHECKING:
    from sentry.fsimpl.fuse.fusefs import FuseFilesystem
    from sentry.fsimpl.fuse.inode import Inode


def handle(fs: FuseFilesystem, code: int, body: bytes) -> None:
    """Act on notification ``code``; raises SyscallError(EINVAL) if malformed."""
    try:
        if code == fuse.FUSE_NOTIFY_INVAL_INODE:
            _inval_inode(fs, fuse.NotifyInvalInodeOut.unpack(body))
        elif code == fuse.FUSE_NOTIFY_INVAL_ENTRY:
            entry = fuse.NotifyInvalEntryOut.unpack(body)
            _forget_name(
                fs, entry.parent, _name(body, fuse.NotifyInvalEntryOut.SIZE, entry.namelen)
            )
        elif code == fuse.FUSE_NOTIFY_DELETE:
            gone = fuse.NotifyDeleteOut.unpack(body)
            _forget_name(fs, gone.parent, _name(body, fuse.NotifyDeleteOut.SIZE, gone.namelen))
        elif code == fuse.FUSE_NOTIFY_STORE:
            store = fuse.NotifyStoreOut.unpack(body)
            data = body[fuse.NotifyStoreOut.SIZE :]
            if len(data) != store.size:
                raise ValueError("STORE size")
            _store(fs, store.nodeid, store.offset, data)
        elif code == fuse.FUSE_NOTIFY_RETRIEVE:
            _retrieve(fs, fuse.NotifyRetrieveOut.unpack(body))
        elif code != fuse.FUSE_NOTIFY_POLL:
            raise ValueError(f"notification {code}")
    except ValueError:
        raise SyscallError(errno.EINVAL) from None


def _name(body: bytes, offset: int, length: int) -> bytes:
    name = body[offset : offset + length]
    if len(name) != length or body[offset + length : offset + length + 1] != b"\0":
        raise ValueError("name")
    return name


def _inode(fs: FuseFilesystem, nodeid: int) -> Inode:
    inode = fs.inodes.get(nodeid)
    if inode is None:
        raise SyscallError(errno.ENOENT)
    return inode


def _inval_inode(fs: FuseFilesystem, out: fuse.NotifyInvalInodeOut) -> None:
    inode = _inode(fs, out.ino)
    inode.attr_expires = 0.0
    if out.off >= 0 and inode.cache is not None:
        end = out.off + out.len if out.len > 0 else None
        inode.cache.drop_range(out.off, end, keep_dirty=True)


def _forget_name(fs: FuseFilesystem, parent: int, name: bytes) -> None:
    fs.forget_entry(_inode(fs, parent), name)


def _store(fs: FuseFilesystem, nodeid: int, offset: int, data: bytes) -> None:
    inode = fs.inodes.get(nodeid)
    if inode is None:
        return
    fs.file_cache(inode).store(offset, data)
    if inode.attr is not None and offset + len(data) > inode.attr.size:
        inode.attr_expires = 0.0  # the daemon says how long the file is now


def _retrieve(fs: FuseFilesystem, out: fuse.NotifyRetrieveOut) -> None:
    inode = fs.inodes.get(out.nodeid)
    data = b""
    if inode is not None and inode.cache is not None:
        end = out.offset + min(out.size, fs.conn.max_write_request)
        data = inode.cache.contiguous(out.offset, end)
    args = fuse.NotifyRetrieveIn(offset=out.offset, size=len(data)).pack() + data
    fs.conn.send_reply_request(out.notify_unique, out.nodeid, args)
