"""A FUSE connection: the requests sentry sends a daemon and their replies.

Analogous to Linux's ``struct fuse_conn`` and ``fs/fuse/dev.c``, and to
gVisor's ``fuse/connection.go``. The client side (:meth:`Connection.call`)
queues a request and parks the calling task until the reply; the device side
(``dev.py``) hands the daemon one whole request per read(2) and takes one
whole reply per write(2).

Invariants:

- A request is in exactly one place: ``queue`` (not yet read by the
  daemon), ``sent`` (read, awaiting its reply), or done. INTERRUPTs go to
  the front of ``queue``.
- Unique ids are even, from 2, stepping by 2, never reused; INIT is 2; an
  INTERRUPT carries its target's id with the low bit set.
- Requests other than INIT wait until the INIT reply has been processed.
- Once ``error`` is set (unmount, daemon gone, bad INIT) every queued and
  sent request fails with ECONNABORTED, every later one with ``error``, and
  device reads fail with ENODEV.

Interrupts follow Linux (``request_wait_answer``): when the waiting task
gets a signal and the daemon has already read the request, sentry sends
FUSE_INTERRUPT and keeps waiting (the task is then only killable); the
daemon answers the original request, with EINTR if it gave up.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sentry.abi import fuse
from sentry.abi.linux import PAGE_SIZE
from sentry.errors import ERESTARTSYS, SyscallError
from sentry.waiter import Waiter

if TYPE_CHECKING:
    from sentry.vfs.context import Context

log = logging.getLogger("sentry")

# What sentry's client implements and so offers at INIT.
OFFERED_FLAGS = (
    fuse.FUSE_ASYNC_READ
    | fuse.FUSE_ATOMIC_O_TRUNC
    | fuse.FUSE_BIG_WRITES
    | fuse.FUSE_DO_READDIRPLUS
    | fuse.FUSE_READDIRPLUS_AUTO
    | fuse.FUSE_PARALLEL_DIROPS
    | fuse.FUSE_HANDLE_KILLPRIV
    | fuse.FUSE_NO_OPEN_SUPPORT
    | fuse.FUSE_NO_OPENDIR_SUPPORT
    | fuse.FUSE_MAX_PAGES
    | fuse.FUSE_AUTO_INVAL_DATA
    | fuse.FUSE_WRITEBACK_CACHE
)
MAX_READAHEAD = 128 * 1024


# The structs a successful reply to each opcode holds, and nothing else
# (none: an empty body); opcodes not here have replies of varying size.
FIXED_REPLIES: dict[int, tuple[type[fuse.Struct], ...]] = {
    **dict.fromkeys(
        (fuse.FUSE_LOOKUP, fuse.FUSE_MKNOD, fuse.FUSE_MKDIR, fuse.FUSE_SYMLINK, fuse.FUSE_LINK),
        (fuse.EntryOut,),
    ),
    **dict.fromkeys((fuse.FUSE_GETATTR, fuse.FUSE_SETATTR), (fuse.AttrOut,)),
    **dict.fromkeys((fuse.FUSE_OPEN, fuse.FUSE_OPENDIR), (fuse.OpenOut,)),
    fuse.FUSE_CREATE: (fuse.EntryOut, fuse.OpenOut),
    **dict.fromkeys((fuse.FUSE_WRITE, fuse.FUSE_COPY_FILE_RANGE), (fuse.WriteOut,)),
    fuse.FUSE_STATFS: (fuse.StatfsOut,),
    fuse.FUSE_LSEEK: (fuse.LseekOut,),
    **dict.fromkeys(
        (
            fuse.FUSE_UNLINK,
            fuse.FUSE_RMDIR,
            fuse.FUSE_RENAME,
            fuse.FUSE_RENAME2,
            fuse.FUSE_RELEASE,
            fuse.FUSE_RELEASEDIR,
            fuse.FUSE_FLUSH,
            fuse.FUSE_FSYNC,
            fuse.FUSE_FSYNCDIR,
            fuse.FUSE_SETXATTR,
            fuse.FUSE_REMOVEXATTR,
            fuse.FUSE_ACCESS,
            fuse.FUSE_FALLOCATE,
        ),
        (),
    ),
}


@dataclass
class Request:
    """One request: its message bytes and who waits for the reply."""

    unique: int
    opcode: int
    message: bytes
    waiter: Waiter | None  # completed with (error, body); None: no reply
    # The body is a view into the transport's buffer, valid only until the
    # waiter's callbacks return (READ data, copied on at once).
    view: bool = False
    # Where the reply's body goes (cache chunks): the transport puts it there
    # itself, and the waiter gets (error, length of the body).
    into: list[memoryview] | None = None


class Connection:
    """One FUSE connection (one mount) and its negotiated parameters."""

    def __init__(self, max_read: int, max_message: int = 256 * PAGE_SIZE) -> None:
        """``max_read``: the mount's max_read option; ``max_message``: the
        most data the transport carries in one request or reply."""
        self.queue: deque[Request] = deque()
        self.sent: dict[int, Request] = {}
        self.readers: deque[Waiter] = deque()
        self.initialized = Waiter()
        self.error = 0
        self.devices = 0  # open device files (the daemon's ends)
        # Called with True when a device read would not block (a request is
        # queued, or the connection ended), False when it would.
        self.watchers: list[Callable[[bool], None]] = []
        # Takes the daemon's notifications (code, body); may raise EINVAL.
        self.notify: Callable[[int, bytes], None] | None = None
        self.ready = False  # what the watchers were last told
        self._next_unique = 2
        # Negotiated at INIT (defaults: what Linux assumes before it).
        self.minor = 0
        self.flags = 0
        self.max_write = 4096
        self.max_pages = 32
        self.max_read = max_read
        self.max_message = max_message
        self.max_readahead = MAX_READAHEAD
        # ENOSYS answers Linux remembers per connection.
        self.no_open = self.no_opendir = self.no_flush = self.no_access = False
        self.no_create = self.no_interrupt = self.no_fsync = self.no_fallocate = False
        self.no_lseek = False
        self.no_xattr: set[int] = set()  # xattr opcodes answered ENOSYS

    # -- client side ----------------------------------------------------

    def start(self) -> None:
        """Queue FUSE_INIT (the mount did not wait for the daemon)."""
        init = fuse.InitIn(
            major=fuse.FUSE_KERNEL_VERSION,
            minor=fuse.CLIENT_MINOR_VERSION,
            max_readahead=MAX_READAHEAD,
            flags=OFFERED_FLAGS,
        )
        waiter = Waiter()
        waiter.add_callback(self._on_init)
        self._queue(fuse.FUSE_INIT, 0, init.pack_for(fuse.CLIENT_MINOR_VERSION), waiter, None)

    def _on_init(self, reply: tuple[int, bytes]) -> None:
        error, body = reply
        try:
            if error:
                raise ValueError(f"error {error}")
            out = fuse.InitOut.unpack(body)
            if out.major != fuse.FUSE_KERNEL_VERSION:
                raise ValueError(f"major version {out.major}")
        except ValueError as err:
            if self.error == 0:
                log.warning("FUSE daemon refused INIT (%s): connection failed", err)
                self.abort(errno.ECONNREFUSED)
            self.initialized.complete()
            return
        self.minor = min(out.minor, fuse.CLIENT_MINOR_VERSION)
        self.flags = out.flags & OFFERED_FLAGS
        self.max_write = max(out.max_write, 4096) if self.minor >= 5 else 4096
        self.max_readahead = min(out.max_readahead, MAX_READAHEAD)
        if self.flags & fuse.FUSE_MAX_PAGES and out.max_pages:
            self.max_pages = min(max(out.max_pages, 1), 256)
        log.debug(
            "FUSE INIT: 7.%d flags %#x max_write %d max_pages %d",
            out.minor,
            self.flags,
            self.max_write,
            self.max_pages,
        )
        self.initialized.complete()

    @property
    def max_read_request(self) -> int:
        """The most data one FUSE_READ asks for."""
        return min(self.max_read, self.max_pages * PAGE_SIZE, self.max_message)

    @property
    def max_write_request(self) -> int:
        """The most data one FUSE_WRITE carries."""
        if not self.flags & fuse.FUSE_BIG_WRITES:
            return PAGE_SIZE
        return min(self.max_write, self.max_pages * PAGE_SIZE, self.max_message)

    async def call(
        self,
        t: Context | None,
        opcode: int,
        nodeid: int,
        args: bytes = b"",
        view: bool = False,
        into: list[memoryview] | None = None,
    ) -> Any:
        """Send a request as task ``t`` (None: no caller, as for RELEASE) and
        return the reply's body; raises SyscallError with the daemon's error.

        With ``view``, the body is a memoryview of the transport's buffer:
        the caller must use it before it next awaits (it saves a copy of
        every READ's data). With ``into``, the body is copied into those
        buffers, in order, by the transport itself where it can (one
        process_vm_readv or recvmsg per reply), and the call returns the
        body's length (larger than the buffers hold: nothing was copied)."""
        if not self.initialized.done:
            await self.initialized
        if self.error:
            raise SyscallError(self.error)
        waiter = Waiter()
        request = self._queue(opcode, nodeid, args, waiter, t)
        request.view = view
        request.into = into
        while True:
            try:
                error, body = await waiter
                break
            except SyscallError as err:
                if err.errno != ERESTARTSYS:
                    raise
                self._interrupt(request)
        if error:
            raise SyscallError(-error)
        return body

    def send(self, t: Context | None, opcode: int, nodeid: int, args: bytes = b"") -> None:
        """Send a request whose reply nobody waits for (FORGET; RELEASE)."""
        if self.error:
            return
        needs_reply = opcode not in (fuse.FUSE_FORGET, fuse.FUSE_BATCH_FORGET)
        self._queue(opcode, nodeid, args, Waiter() if needs_reply else None, t)

    def _queue(
        self, opcode: int, nodeid: int, args: bytes, waiter: Waiter | None, t: Context | None
    ) -> Request:
        unique = self._next_unique
        self._next_unique += 2
        uid = gid = pid = 0
        if t is not None:
            creds = t.credentials()
            uid, gid, pid = creds.fsuid, creds.fsgid, t.tid
        header = fuse.InHeader(
            len=fuse.InHeader.SIZE + len(args),
            opcode=opcode,
            unique=unique,
            nodeid=nodeid,
            uid=uid,
            gid=gid,
            pid=pid,
        )
        request = Request(unique, opcode, header.pack() + args, waiter)
        self.queue.append(request)
        self._wake_reader()
        return request

    def send_reply_request(self, unique: int, nodeid: int, args: bytes) -> None:
        """Send FUSE_NOTIFY_REPLY (the answer to a RETRIEVE notification,
        with the daemon's ``unique``); it has no reply."""
        if self.error:
            return
        header = fuse.InHeader(
            len=fuse.InHeader.SIZE + len(args),
            opcode=fuse.FUSE_NOTIFY_REPLY,
            unique=unique,
            nodeid=nodeid,
            uid=0,
            gid=0,
            pid=0,
        )
        self.queue.append(Request(unique, fuse.FUSE_NOTIFY_REPLY, header.pack() + args, None))
        self._wake_reader()

    def _interrupt(self, request: Request) -> None:
        if self.no_interrupt or request.unique not in self.sent:
            return
        args = fuse.InterruptIn(unique=request.unique).pack()
        header = fuse.InHeader(
            len=fuse.InHeader.SIZE + len(args),
            opcode=fuse.FUSE_INTERRUPT,
            unique=request.unique | 1,
            nodeid=0,
            uid=0,
            gid=0,
            pid=0,
        )
        self.queue.appendleft(
            Request(request.unique | 1, fuse.FUSE_INTERRUPT, header.pack() + args, None)
        )
        self._wake_reader()

    def _wake_reader(self) -> None:
        while self.readers and self.queue:
            self.readers.popleft().complete()
        self.update_readiness()

    def update_readiness(self) -> None:
        """Tell the watchers if a device read would now block or not."""
        ready = bool(self.queue) or bool(self.error)
        if ready != self.ready:
            self.ready = ready
            for watcher in self.watchers:
                watcher(ready)

    # -- device side ----------------------------------------------------

    def take_request(self) -> Request | None:
        """The next request for the daemon, now counted as sent."""
        if not self.queue:
            return None
        request = self.queue.popleft()
        if request.waiter is not None:
            self.sent[request.unique] = request
        self.update_readiness()
        return request

    def reply(self, message: bytes | memoryview) -> None:
        """Take one reply written by the daemon (``message`` may be a view of
        a buffer the transport reuses: it is copied unless the request asked
        for a view).

        Raises SyscallError EINVAL for a malformed reply, ENOENT for one
        that answers no outstanding request (as Linux does).
        """
        try:
            header = fuse.OutHeader.unpack(message)
        except ValueError:
            raise SyscallError(errno.EINVAL) from None
        if header.len != len(message):
            raise SyscallError(errno.EINVAL)
        if header.unique == 0:
            if self.notify is None:
                raise SyscallError(errno.EINVAL)
            self.notify(header.error, bytes(message[fuse.OutHeader.SIZE :]))
            return
        if header.unique & 1:
            if header.error == -errno.ENOSYS:
                self.no_interrupt = True
            return
        if header.error > 0 or header.error <= -512:
            raise SyscallError(errno.EINVAL)
        if header.error and len(message) != fuse.OutHeader.SIZE:
            raise SyscallError(errno.EINVAL)
        request = self.sent.pop(header.unique, None)
        if request is None or request.waiter is None:
            raise SyscallError(errno.ENOENT)
        body = message[fuse.OutHeader.SIZE :]
        size = self._reply_size(request.opcode)
        if not header.error and size is not None and len(body) != size:
            # Linux's copy_out_args: the daemon's write is EINVAL and the
            # caller's request fails with EIO.
            log.warning(
                "malformed FUSE reply to opcode %d: %d bytes, not %d",
                request.opcode,
                len(body),
                size,
            )
            request.waiter.complete((-errno.EIO, b""))
            raise SyscallError(errno.EINVAL)
        if request.into is not None:
            if not header.error and len(body) <= sum(len(b) for b in request.into):
                _scatter(body, request.into)
            request.waiter.complete((header.error, len(body)))
            return
        request.waiter.complete((header.error, body if request.view else bytes(body)))

    def _reply_size(self, opcode: int) -> int | None:
        """The exact size of a successful reply's body to ``opcode``, or
        None where it varies (data, names, INIT)."""
        fixed = FIXED_REPLIES.get(opcode)
        if fixed is None:
            return None
        return sum(part.size_for(self.minor) for part in fixed)

    def places(self) -> bool:
        """Whether a request sent and not yet answered has buffers of its own
        for its reply (else the transport need not look for them)."""
        return any(request.into is not None for request in self.sent.values())

    def destination(self, unique: int, length: int) -> list[memoryview] | None:
        """Where the transport should put the ``length``-byte body of the
        reply to ``unique`` itself: the request's buffers, cut to ``length``,
        if it has them and they hold it (else None: hand the whole reply to
        :meth:`reply`)."""
        request = self.sent.get(unique)
        if request is None or request.into is None:
            return None
        if length > sum(len(b) for b in request.into):
            return None
        out = []
        for buf in request.into:
            if length <= 0:
                break
            out.append(buf[:length])
            length -= len(out[-1])
        return out

    def placed(self, unique: int, length: int) -> None:
        """The transport put the ``length``-byte body of the (successful)
        reply to ``unique`` where :meth:`destination` said."""
        request = self.sent.pop(unique)
        assert request.waiter is not None
        request.waiter.complete((0, length))

    def fail(self, unique: int, error: int) -> None:
        """Fail the outstanding request ``unique`` with ``error`` (its reply
        could not be taken)."""
        request = self.sent.pop(unique, None)
        if request is not None and request.waiter is not None:
            request.waiter.complete((-error, b""))

    def abort(self, error: int = errno.ENOTCONN) -> None:
        """End the connection: requests under way fail with ECONNABORTED,
        later ones with ``error`` (as Linux's fuse_abort_conn)."""
        if self.error:
            return
        self.error = error
        failed = [r for r in self.queue if r.waiter] + list(self.sent.values())
        self.queue.clear()
        self.sent.clear()
        for request in failed:
            assert request.waiter is not None
            request.waiter.complete((-errno.ECONNABORTED, b""))
        self.initialized.complete()
        while self.readers:
            self.readers.popleft().complete()
        self.update_readiness()


def _scatter(data: bytes | memoryview, buffers: list[memoryview]) -> None:
    """Copy ``data`` over ``buffers`` in order (they hold it all)."""
    view = memoryview(data)
    for buf in buffers:
        if not view:
            return
        n = min(len(buf), len(view))
        buf[:n] = view[:n]
        view = view[n:]
