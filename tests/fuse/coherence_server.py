"""A memfs whose files the test changes behind the client's back, for
test_cache_coherence.py.

    python3 -P coherence_server.py (--fd N | /dev/fd/N | MOUNTPOINT) --control DIR
        [--writeback] [--direct-io] [--no-keep-cache]

It serves sentry's MemFS on fd N (a SOCK_SEQPACKET socket, sentry's
transport, or an open /dev/fuse; ``/dev/fd/N`` means the same, as libfuse
reads it, so ``--fuse 'MNT=python3 -P coherence_server.py {} --control DIR'``
works) or mounts it natively on MOUNTPOINT (root only), as
``sentry.fuse_server.native`` does. Options: ``--writeback`` accepts
FUSE_WRITEBACK_CACHE, ``--direct-io`` answers opens with FOPEN_DIRECT_IO,
``--no-keep-cache`` leaves FOPEN_KEEP_CACHE out.

A control thread reads one command per line from the FIFO ``DIR/cmd`` and
answers each with one line on the FIFO ``DIR/ack``: ``ok`` or ``error
WHAT``. NAME is a file in the root directory, TEXT a word of ASCII:

- ``mutate NAME OFF TEXT``: write TEXT into the server's copy of NAME at
  OFF (and set its mtime), without telling the client: its cache goes stale;
- ``inval NAME OFF LEN``: FUSE_NOTIFY_INVAL_INODE of [OFF, OFF+LEN);
- ``store NAME OFF TEXT``: FUSE_NOTIFY_STORE of TEXT at OFF (the client's
  cache changes, the server's copy does not);
- ``retrieve NAME OFF LEN``: FUSE_NOTIFY_RETRIEVE; the data of the
  FUSE_NOTIFY_REPLY that comes back becomes NAME's xattr ``user.retrieved``;
- ``fail_writes ERRNO``: every later WRITE fails with ERRNO (a name such as
  ENOSPC); ``fail_writes 0`` ends that.

Both FIFOs are made if missing and held open for reading and writing, so
that neither side's open blocks and the app may open them afresh for
every command.

When to answer ``ok``: Linux handles a notification inside the write(2)
that sends it, so once the write returns the client's cache has changed.
On a socket the write only queues it, and the app could read before
sentry gets to it; so on a socket every notification is followed by a
RETRIEVE of the root (0 bytes), and ``ok`` waits for its NOTIFY_REPLY: the
client handles a connection's messages in order, so the reply proves the
notification was handled.

Threads: the main thread serves requests, the control thread runs
commands. ``lock`` guards the file system; it is held while a request is
handled and while a command reads or changes a file, never while a
notification is written (Linux may wait for pages that a READ in flight
holds, and that READ needs the main thread).
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import stat
import sys
import threading
import time

from sentry.abi import fuse
from sentry.abi.linux import MNT_DETACH, MS_NODEV, MS_NOSUID
from sentry.fuse_server import libc
from sentry.fuse_server.memfs import Directory, File, MemFS
from sentry.fuse_server.native import _top_mount
from sentry.fuse_server.operations import Entry, FuseError
from sentry.fuse_server.server import Handler, Reply, Server, handle_signals

# Seconds a command waits for the client's NOTIFY_REPLY.
REPLY_TIMEOUT = 10.0
RETRIEVED_XATTR = b"user.retrieved"


class CoherenceFS(MemFS):
    """MemFS with configurable FOPEN_* flags and WRITEs that can be made to fail."""

    def __init__(self, writeback: bool, open_flags: int) -> None:
        super().__init__(writeback=writeback)
        self.open_flags = open_flags
        self.write_errno = 0  # WRITEs fail with it while non-zero

    def open(self, nodeid: int, flags: int) -> tuple[int, int]:
        """Implements Operations.open."""
        fh, _ = super().open(nodeid, flags)
        return fh, self.open_flags

    def create(
        self, parent: int, name: bytes, mode: int, flags: int, uid: int, gid: int
    ) -> tuple[Entry, int, int]:
        """Implements Operations.create."""
        entry, fh, _ = super().create(parent, name, mode, flags, uid, gid)
        return entry, fh, self.open_flags

    def write(self, nodeid: int, fh: int, offset: int, data: memoryview, flags: int) -> int:
        """Implements Operations.write."""
        if self.write_errno:
            raise FuseError(self.write_errno)
        return super().write(nodeid, fh, offset, data, flags)

    def file_named(self, name: str) -> File:
        """The file NAME of the root directory (FileNotFoundError if absent)."""
        root = self.inodes[fuse.FUSE_ROOT_ID]
        assert isinstance(root, Directory)
        found = root.entries.get(os.fsencode(name))
        if found is None or not isinstance(found[1], File):
            raise FileNotFoundError(errno.ENOENT, f"no file {name}")
        return found[1]


class CoherenceServer(Server):
    """Server that takes NOTIFY_REPLYs and lets another thread send notifications."""

    def __init__(self, ops: CoherenceFS, fd: int) -> None:
        super().__init__(ops, fd)
        self.fs = ops
        self.lock = threading.Lock()
        self.socket = stat.S_ISSOCK(os.fstat(fd).st_mode)
        # notify_unique -> the NOTIFY_REPLY's data, once it came; guarded by replied.
        self.replied = threading.Condition()
        self.replies: dict[int, bytes] = {}
        self.next_unique = 1 << 40

    def _table(self) -> dict[int, Handler]:
        table = {op: self._locked(handler) for op, handler in super()._table().items()}
        table[fuse.FUSE_NOTIFY_REPLY] = self._notify_reply
        return table

    def _locked(self, handler: Handler) -> Handler:
        def call(nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
            with self.lock:
                return handler(nodeid, body, uid, gid)

        return call

    def _notify_reply(self, nodeid: int, body: memoryview, uid: int, gid: int) -> Reply:
        unique = fuse.InHeader.unpack(self.buffer).unique
        head = fuse.NotifyRetrieveIn.unpack(body)
        data = bytes(body[fuse.NotifyRetrieveIn.SIZE : fuse.NotifyRetrieveIn.SIZE + head.size])
        with self.replied:
            self.replies[unique] = data
            self.replied.notify_all()
        return None

    def notify(self, code: int, payload: bytes) -> None:
        """Write one notification; raises OSError with the client's answer."""
        header = fuse.OutHeader(len=fuse.OutHeader.SIZE + len(payload), error=code, unique=0)
        os.writev(self.fd, [header.pack(), payload])

    def retrieve(self, nodeid: int, offset: int, size: int) -> bytes:
        """Send FUSE_NOTIFY_RETRIEVE and return the data the client replies with."""
        with self.replied:
            unique = self.next_unique
            self.next_unique += 1
        out = fuse.NotifyRetrieveOut(notify_unique=unique, nodeid=nodeid, offset=offset, size=size)
        self.notify(fuse.FUSE_NOTIFY_RETRIEVE, out.pack())
        with self.replied:
            if not self.replied.wait_for(lambda: unique in self.replies, REPLY_TIMEOUT):
                raise TimeoutError("no NOTIFY_REPLY")
            return self.replies.pop(unique)

    def sync(self) -> None:
        """On a socket, wait until the client has handled what was sent so far."""
        if self.socket:
            self.retrieve(fuse.FUSE_ROOT_ID, 0, 0)

    # ---------------------------------------------------------- commands

    def command(self, line: str) -> None:
        """Run one control command; raises on failure."""
        words = line.split()
        if not words:
            raise ValueError("empty command")
        verb, args = words[0], words[1:]
        if verb == "fail_writes" and len(args) == 1:
            code = 0 if args[0] == "0" else getattr(errno, args[0])
            with self.lock:
                self.fs.write_errno = code
            return
        if len(args) != 3:
            raise ValueError(f"usage: {verb} NAME OFF ARG")
        name, off = args[0], int(args[1])
        with self.lock:
            file = self.fs.file_named(name)
            nodeid = file.ino
            if verb == "mutate":
                file.write(off, memoryview(args[2].encode()))
                file.mtime = file.ctime = time.time_ns()
                return
        if verb == "inval":
            self.notify(
                fuse.FUSE_NOTIFY_INVAL_INODE,
                fuse.NotifyInvalInodeOut(ino=nodeid, off=off, len=int(args[2])).pack(),
            )
            self.sync()
        elif verb == "store":
            data = args[2].encode()
            out = fuse.NotifyStoreOut(nodeid=nodeid, offset=off, size=len(data))
            self.notify(fuse.FUSE_NOTIFY_STORE, out.pack() + data)
            self.sync()
        elif verb == "retrieve":
            data = self.retrieve(nodeid, off, int(args[2]))
            with self.lock:
                file.xattrs[RETRIEVED_XATTR] = data
        else:
            raise ValueError(f"unknown command {verb}")


def _describe(err: Exception) -> str:
    if isinstance(err, OSError) and err.errno:
        return errno.errorcode.get(err.errno, str(err.errno))
    return f"{type(err).__name__}: {err}"


def control(server: CoherenceServer, directory: str) -> None:
    """Run commands from ``DIR/cmd``, answering on ``DIR/ack``, forever."""
    cmd = os.open(os.path.join(directory, "cmd"), os.O_RDWR)
    ack = os.open(os.path.join(directory, "ack"), os.O_RDWR)
    with os.fdopen(cmd, "r") as lines:
        for line in lines:
            try:
                server.command(line)
                answer = "ok"
            except Exception as err:  # every failure is an answer, never the thread's end
                answer = f"error {_describe(err)}"
            os.write(ack, (answer + "\n").encode())


def make_fifos(directory: str) -> None:
    for name in ("cmd", "ack"):
        try:
            os.mkfifo(os.path.join(directory, name))
        except FileExistsError:
            pass


def start_control(server: CoherenceServer, directory: str) -> None:
    threading.Thread(target=control, args=(server, directory), daemon=True).start()


def serve_native(fs: CoherenceFS, mountpoint: str, control_dir: str) -> int:
    """Mount *fs* on *mountpoint* as native.serve does, and serve until unmounted."""
    path = os.path.realpath(mountpoint)
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    try:
        server = CoherenceServer(fs, fd)
        handle_signals(server)
        start_control(server, control_dir)
        options = (
            f"fd={fd},rootmode=40000,user_id={os.getuid()},group_id={os.getgid()},"
            "default_permissions,allow_other"
        )
        libc.mount(
            b"coherence",
            os.fsencode(path),
            b"fuse.coherence",
            MS_NOSUID | MS_NODEV,
            options.encode(),
        )
        ours = _top_mount(path)
        try:
            return server.run()
        finally:
            if ours is not None and _top_mount(path) == ours:
                libc.umount2(os.fsencode(path), MNT_DETACH)
    finally:
        os.close(fd)


def main() -> int:
    parser = argparse.ArgumentParser(prog="coherence_server.py")
    parser.add_argument("mountpoint", nargs="?", help="MOUNTPOINT, or /dev/fd/N")
    parser.add_argument("--fd", type=int, metavar="N")
    parser.add_argument("--control", required=True, metavar="DIR")
    parser.add_argument("--writeback", action="store_true")
    parser.add_argument("--direct-io", action="store_true")
    parser.add_argument("--no-keep-cache", action="store_true")
    args = parser.parse_args()
    if (args.fd is None) == (args.mountpoint is None):
        parser.error("give either --fd N, /dev/fd/N or a MOUNTPOINT")
    fd = args.fd
    if args.mountpoint is not None and (match := re.fullmatch(r"/dev/fd/(\d+)", args.mountpoint)):
        fd = int(match.group(1))
    open_flags = 0 if args.no_keep_cache else fuse.FOPEN_KEEP_CACHE
    if args.direct_io:
        open_flags |= fuse.FOPEN_DIRECT_IO
    fs = CoherenceFS(args.writeback, open_flags)
    make_fifos(args.control)
    if fd is None:
        return serve_native(fs, args.mountpoint, args.control)
    os.set_blocking(fd, True)
    server = CoherenceServer(fs, fd)
    handle_signals(server)
    start_control(server, args.control)
    return server.run()


if __name__ == "__main__":
    sys.exit(main())
