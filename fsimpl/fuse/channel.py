"""A FUSE connection carried over a socket to a daemon outside the sandbox.

Inside the sandbox a daemon reads requests from ``/dev/fuse`` (``dev.py``).
A daemon that runs outside it (a built-in server, or a libfuse 3 daemon
given ``/dev/fd/N`` as its mountpoint) gets one end of an ``AF_UNIX``
``SOCK_SEQPACKET`` socketpair instead: each message is one whole request or
one whole reply, with the same bytes as on ``/dev/fuse``, so libfuse reads
and writes it exactly as it would the device.

Sentry's end is non-blocking and signal-driven: the kernel catches SIGIO
(``O_ASYNC``, owned by sentry's thread) and calls :meth:`SocketChannel.pump`,
which takes every reply waiting and sends every request queued. Requests
that do not fit in the socket wait in ``backlog`` for the next pump.

Invariants: ``backlog`` holds requests taken from the connection (so counted
as sent, as Linux counts a request read by the daemon) but not yet written;
once the socket is closed (:attr:`closed`) the connection has ended and
nothing more is sent or received.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable

from sentry.abi import fuse
from sentry.abi.linux import PAGE_SIZE
from sentry.errors import SyscallError
from sentry.fsimpl.fuse.connection import Connection
from sentry.waiter import Waiter

log = logging.getLogger("sentry")

# Socket buffers wanted on both ends: a whole 1 MiB READ reply or WRITE
# request must fit in one message.
SOCKET_BUFFER = 4 * 2**20
_SO_SNDBUFFORCE = 32  # Linux's values; the socket module lacks them
_SO_RCVBUFFORCE = 33
_F_SETOWN_EX = 15
_F_OWNER_TID = 0


def socketpair() -> tuple[socket.socket, socket.socket]:
    """A SOCK_SEQPACKET pair, (sentry's end, the daemon's end), with send
    buffers raised as far as this process may (SO_SNDBUFFORCE as root)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for sock in (ours, theirs):
        for force, plain in (
            (_SO_SNDBUFFORCE, socket.SO_SNDBUF),
            (_SO_RCVBUFFORCE, socket.SO_RCVBUF),
        ):
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, SOCKET_BUFFER)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER)
    return ours, theirs


def max_message(ours: socket.socket, theirs: socket.socket) -> int:
    """The most payload one request or reply may carry through the pair, in
    whole pages (the kernel halves SO_SNDBUF's overhead allowance)."""
    sndbuf = min(s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) for s in (ours, theirs))
    return max(sndbuf // 2 // PAGE_SIZE - 1, 1) * PAGE_SIZE


class SocketChannel:
    """Carries ``conn``'s requests and replies over sentry's end ``sock``.

    ``on_closed`` is called once when the daemon's end goes away (it exited
    or closed it); the connection has then been aborted with ENOTCONN.
    """

    def __init__(
        self, conn: Connection, sock: socket.socket, on_closed: Callable[[], None]
    ) -> None:
        self.conn = conn
        self.sock = sock
        self.on_closed = on_closed
        self.closed = False
        self.backlog: deque[bytes] = deque()
        self._buffer = bytearray(conn.max_message + PAGE_SIZE)
        self._head = bytearray(fuse.OutHeader.SIZE)
        sock.setblocking(False)
        self._watch()

    def signal_driven(self) -> None:
        """Have SIGIO sent to this thread whenever the socket has news."""
        fd = self.sock.fileno()
        owner = struct.pack("ii", _F_OWNER_TID, threading.get_native_id())
        fcntl.fcntl(fd, _F_SETOWN_EX, owner)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)

    def _watch(self) -> None:
        """Be told when the connection queues a request."""
        if self.conn.error:
            self.close()
            return
        waiter = Waiter()
        waiter.add_callback(lambda _: self._on_queued())
        self.conn.readers.append(waiter)

    def _on_queued(self) -> None:
        while (request := self.conn.take_request()) is not None:
            self.backlog.append(request.message)
        self._send()
        self._watch()

    def _send(self) -> None:
        while self.backlog and not self.closed:
            try:
                self.sock.send(self.backlog[0])
            except BlockingIOError:
                return
            except OSError as err:
                self._gone(err.errno or errno.EIO)
                return
            self.backlog.popleft()

    def pump(self) -> None:
        """Take every reply the daemon has written, then send what waits."""
        view = memoryview(self._buffer)
        while not self.closed:
            if self._take_placed():
                continue
            try:
                size = self.sock.recv_into(view, len(view), socket.MSG_TRUNC)
            except BlockingIOError:
                break
            except OSError as err:
                self._gone(err.errno or errno.EIO)
                return
            if size == 0:
                self._gone(0)
                return
            if size > len(view):
                self._reject(bytes(view[: fuse.OutHeader.SIZE]), f"{size} bytes, too long")
                continue
            message = view[:size]
            try:
                self.conn.reply(message)
            except SyscallError as err:
                self._reject(message, os.strerror(err.errno))
        self._send()

    def _take_placed(self) -> bool:
        """Receive the next reply straight into its request's buffers, if it
        is a READ reply with some (peeking at its header first); whether it
        was taken."""
        if not self.conn.places():
            return False
        head = self._head
        try:
            n = self.sock.recv_into(head, len(head), socket.MSG_PEEK)
        except OSError:
            return False  # pump's recv_into meets it again
        if n < fuse.OutHeader.SIZE:
            return False
        header = fuse.OutHeader.unpack(head)
        body = header.len - fuse.OutHeader.SIZE
        if header.error or not header.unique or body < 0:
            return False
        into = self.conn.destination(header.unique, body)
        if into is None:
            return False
        got, _, flags, _ = self.sock.recvmsg_into([head, *into])
        if got != header.len or flags & socket.MSG_TRUNC:
            self._reject(bytes(head), f"{got} bytes, not {header.len}")
            return True
        self.conn.placed(header.unique, body)
        return True

    def _reject(self, message: bytes | memoryview, why: str) -> None:
        """A reply sentry cannot take: its request, if known, fails with EIO."""
        log.warning("malformed FUSE reply from the daemon (%s): EIO", why)
        try:
            unique = fuse.OutHeader.unpack(message).unique
        except ValueError:
            return
        self.conn.fail(unique, errno.EIO)

    def _gone(self, error: int) -> None:
        log.debug("FUSE daemon socket closed (%s)", os.strerror(error) if error else "EOF")
        self.close()
        self.conn.abort(errno.ENOTCONN)
        self.on_closed()

    def close(self) -> None:
        """Close sentry's end (the connection ended): the daemon sees EOF."""
        if not self.closed:
            self.closed = True
            self.backlog.clear()
            self.sock.close()
