"""``/dev/fuse`` inside the sandbox: the daemon's end of a connection.

Analogous to Linux's ``fs/fuse/dev.c`` (``fuse_dev_read``/``fuse_dev_write``)
and gVisor's ``fuse/dev.go``. Opening ``/dev/fuse`` gives a device file with
no connection; ``mount(2)`` with ``fd=N`` attaches one. Then each read(2)
returns exactly one whole request (blocking, or EAGAIN with O_NONBLOCK) and
each write(2)/writev(2) must be exactly one whole reply. After the
connection ends, reads fail with ENODEV, which libfuse takes as a clean
unmount, and from the first such read the fd polls POLLERR (libfuse 2
then knows it needs no unmount of its own). When the last device file of a
connection is released (the daemon closed it, or died), the connection is
aborted and every waiting and later request fails with ENOTCONN. poll,
select and epoll on the device see it readable exactly when a read would not
block: sentry keeps the count of the eventfd placeholder (see
``sentry.syscalls.common``) at 1 then, 0 otherwise.
"""

from __future__ import annotations

import errno
import os
import stat as stat_module
import time
from typing import TYPE_CHECKING

from sentry.abi import fuse
from sentry.abi.linux import PAGE_SIZE, STATX_BASIC_STATS, Statx
from sentry.errors import SyscallError
from sentry.fsimpl.fuse.connection import Connection
from sentry.vfs.file_description_impl import O_NONBLOCK, FileDescriptionImpl, FileState
from sentry.waiter import Waiter

S_IFCHR = stat_module.S_IFCHR

if TYPE_CHECKING:
    from sentry.vfs.context import Context
    from sentry.vfs.iov import IOSequence


class DeviceFile(FileDescriptionImpl):
    """An open ``/dev/fuse``.

    Invariants: ``conn`` is set once (by mount or FUSE_DEV_IOC_CLONE) and
    the connection's ``devices`` counts the live device files on it.
    """

    seekable = False
    tracks_readiness = True
    pollerr_when_gone = True

    def __init__(self) -> None:
        self.conn: Connection | None = None
        self._event = -1  # sentry's dup of the placeholder eventfd
        self._buffer = bytearray()  # replies land here, one at a time

    def watch(self, event: int) -> None:
        """Implements FileDescriptionImpl.watch."""
        os.set_blocking(event, False)
        self._event = event

    def _set_ready(self, ready: bool) -> None:
        if self._event < 0:
            return
        try:
            if ready:
                os.eventfd_write(self._event, 1)
            else:
                os.eventfd_read(self._event)
        except BlockingIOError:
            pass

    def attach(self, conn: Connection) -> None:
        """Make this device the daemon's end of ``conn``."""
        self.conn = conn
        conn.devices += 1
        conn.watchers.append(self._set_ready)
        if conn.ready:
            self._set_ready(True)

    async def read(self, t: Context, fd: FileState, dst: IOSequence) -> int:
        """Implements FileDescriptionImpl.read: one whole request."""
        conn = self.conn
        if conn is None:
            raise SyscallError(errno.EPERM)
        if dst.size < max(fuse.FUSE_MIN_READ_BUFFER, 80 + conn.max_write):
            raise SyscallError(errno.EINVAL)
        while True:
            if conn.error:
                raise SyscallError(errno.ENODEV)
            request = conn.take_request()
            if request is not None:
                break
            if fd.flags & O_NONBLOCK:
                raise SyscallError(errno.EAGAIN)
            waiter = Waiter()
            conn.readers.append(waiter)
            await waiter
        return dst.copy_out(0, request.message)

    async def pread(self, t: Context, fd: FileState, dst: IOSequence, offset: int) -> int:
        """Implements FileDescriptionImpl.pread: a device has no offset."""
        raise SyscallError(errno.ESPIPE)

    async def write(self, t: Context, fd: FileState, src: IOSequence) -> int:
        """Implements FileDescriptionImpl.write: one whole reply."""
        if self.conn is None:
            raise SyscallError(errno.EPERM)
        size = src.size
        if size >= fuse.OutHeader.SIZE:
            head = memoryview(bytearray(fuse.OutHeader.SIZE))
            if src.copy_in_to(0, head) != fuse.OutHeader.SIZE:
                raise SyscallError(errno.EFAULT)
            header = fuse.OutHeader.unpack(head)
            body = size - fuse.OutHeader.SIZE
            if header.len == size and header.error == 0 and header.unique:
                into = self.conn.destination(header.unique, body)
                if into is not None:
                    skip = fuse.OutHeader.SIZE
                    for buf in into:  # one process_vm_readv per buffer
                        if src.copy_in_to(skip, buf) != len(buf):
                            raise SyscallError(errno.EFAULT)
                        skip += len(buf)
                    self.conn.placed(header.unique, body)
                    return size
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        message = memoryview(self._buffer)[:size]
        if src.copy_in_to(0, message) != size:
            raise SyscallError(errno.EFAULT)
        self.conn.reply(message)
        return size

    async def stat(self, t: Context, mask: int = STATX_BASIC_STATS) -> Statx:
        """Implements FileDescriptionImpl.stat: the character device 10:229,
        with the host's /dev/fuse's mode, inode and times when it has one."""
        try:
            st = os.stat("/dev/fuse")
        except OSError:
            st = None
        now = divmod(time.time_ns(), 10**9)
        stamps = (
            [divmod(ns, 10**9) for ns in (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)]
            if st
            else [now] * 3
        )
        return Statx(
            mode=st.st_mode if st else S_IFCHR | 0o666,
            ino=st.st_ino if st else 0,
            nlink=1,
            uid=0,
            gid=0,
            size=0,
            blocks=0,
            blksize=PAGE_SIZE,
            atime=stamps[0],
            mtime=stamps[1],
            ctime=stamps[2],
            rdev=fuse.FUSE_DEVICE,
            dev=st.st_dev if st else 0,
        )

    def ioctl(self, t: Context, cmd: int, arg: int) -> int | None:
        """Implements FileDescriptionImpl.ioctl: FUSE_DEV_IOC_CLONE, whose
        argument points to the fd of another device: serve its connection
        too (EINVAL if that is not a connected device or this one is
        connected)."""
        if cmd != fuse.FUSE_DEV_IOC_CLONE:
            return None
        raw = t.mm.copy_in(arg, 4)
        if len(raw) < 4:
            raise SyscallError(errno.EFAULT)
        source = t.file_impl(int.from_bytes(raw, "little", signed=True), DeviceFile)
        if source is None or source.conn is None or self.conn is not None:
            raise SyscallError(errno.EINVAL)
        self.attach(source.conn)
        return 0

    def release(self) -> None:
        """Implements FileDescriptionImpl.release: the daemon let go."""
        if self._event >= 0:
            os.close(self._event)
            self._event = -1
        if self.conn is not None:
            self.conn.watchers.remove(self._set_ready)
            self.conn.devices -= 1
            if self.conn.devices == 0:
                self.conn.abort()
