"""The command line of the built-in FUSE servers.

    sentry fuse-server memfs (--fd N | MOUNTPOINT)
    sentry fuse-server passthrough DIR [--ro] (--fd N | MOUNTPOINT)

(``python -m sentry.fuse_server ...`` is the same.) With ``--fd N`` the
server speaks FUSE on fd N, an AF_UNIX SOCK_SEQPACKET socket (sentry's
transport) or an open /dev/fuse; with MOUNTPOINT it mounts natively, which
needs root. Usage errors print one line and exit 2; otherwise the exit
status is the server's: 0 after unmount, EOF or a stop signal.
"""

from __future__ import annotations

import argparse
import os
import socket
import stat
import sys
from collections.abc import Sequence
from typing import NoReturn

from sentry.abi.fuse import FUSE_DEVICE
from sentry.fuse_server import native
from sentry.fuse_server.memfs import MemFS
from sentry.fuse_server.operations import Operations
from sentry.fuse_server.passthrough import Passthrough
from sentry.fuse_server.server import PREFIX, Server, handle_signals

PROG = "sentry fuse-server"
USAGE = f"""\
usage: {PROG} memfs [--writeback] (--fd N | MOUNTPOINT)
       {PROG} passthrough DIR [--ro] (--fd N | MOUNTPOINT)

Serve a built-in FUSE file system: memfs (in memory, like tmpfs) or
passthrough (a host directory, read-only with --ro). --fd N serves fd N, a
SOCK_SEQPACKET socket or an open /dev/fuse; MOUNTPOINT mounts natively
(root only). '{PROG} FS --help' tells more.
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PREFIX}{message} (see '{self.prog} --help')\n")


def _usage_error(message: str) -> NoReturn:
    sys.stderr.write(f"{PREFIX}{message}\n")
    sys.exit(2)


def _parsers() -> dict[str, _Parser]:
    """One parser per file system; each parses the words after the file system's name."""
    memfs = _Parser(
        prog=f"{PROG} memfs",
        usage="%(prog)s [--writeback] [--mode OCTAL] [--size BYTES] (--fd N | MOUNTPOINT)",
        description="Serve an in-memory file system that behaves like tmpfs.",
    )
    memfs.add_argument(
        "--writeback",
        action="store_true",
        help="accept writeback caching: the client sends writes later, in large requests",
    )
    memfs.add_argument(
        "--mode",
        type=lambda text: int(text, 8),
        default=0o1777,
        metavar="OCTAL",
        help="the root directory's mode, as tmpfs's mode= (default 1777)",
    )
    memfs.add_argument(
        "--size",
        type=int,
        metavar="BYTES",
        help="the size statfs reports, as tmpfs's size= (default half the RAM)",
    )
    passthrough = _Parser(
        prog=f"{PROG} passthrough",
        usage="%(prog)s DIR [--ro] (--fd N | MOUNTPOINT)",
        description="Serve host directory DIR. Files are created with the server's "
        "credentials, not the caller's.",
    )
    passthrough.add_argument("dir", metavar="DIR", help="the host directory to serve")
    passthrough.add_argument("--ro", action="store_true", help="refuse every change (EROFS)")
    for parser in (memfs, passthrough):
        parser.add_argument(
            "mountpoint", nargs="?", metavar="MOUNTPOINT", help="mount natively here (root only)"
        )
        parser.add_argument(
            "--fd",
            type=int,
            metavar="N",
            help="serve fd N: a SOCK_SEQPACKET socket or an open /dev/fuse",
        )
    return {"memfs": memfs, "passthrough": passthrough}


def _check_fd(fd: int) -> None:
    """Exit with a usage error unless *fd* is a SOCK_SEQPACKET socket or /dev/fuse."""
    try:
        st = os.fstat(fd)
    except OSError as err:
        _usage_error(f"--fd {fd}: {os.strerror(err.errno or 0)}")
    if stat.S_ISSOCK(st.st_mode):
        with socket.socket(fileno=os.dup(fd)) as sock:
            if sock.type != socket.SOCK_SEQPACKET:
                _usage_error(f"--fd {fd}: not a SOCK_SEQPACKET socket")
    elif not stat.S_ISCHR(st.st_mode) or st.st_rdev != FUSE_DEVICE:
        _usage_error(f"--fd {fd}: neither a socket nor /dev/fuse")
    os.set_blocking(fd, True)


def _inside(path: str, directory: str) -> bool:
    """Whether *path* is *directory* or below it (symlinks resolved)."""
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([path, directory]) == directory


def _serve(fs: str, args: argparse.Namespace) -> int:
    if (args.fd is None) == (args.mountpoint is None):
        _usage_error("give either --fd N or a MOUNTPOINT")
    if args.fd is not None:
        _check_fd(args.fd)
    else:
        if os.geteuid() != 0:
            _usage_error(f"mounting {args.mountpoint} needs root (or serve a socket with --fd N)")
        if not os.path.isdir(args.mountpoint):
            _usage_error(f"{args.mountpoint}: not a directory")
    ops: Operations
    readonly = False
    if fs == "memfs":
        ops, source = MemFS(writeback=args.writeback, mode=args.mode, size=args.size), "memfs"
    else:
        if args.mountpoint is not None and _inside(args.mountpoint, args.dir):
            # A lookup of the mountpoint would make the server wait for itself.
            _usage_error(f"{args.mountpoint} is inside {args.dir}")
        try:
            ops = Passthrough(args.dir, readonly=args.ro)
        except OSError as err:
            _usage_error(f"{args.dir}: {os.strerror(err.errno or 0)}")
        source, readonly = os.path.abspath(args.dir), args.ro
    if args.fd is not None:
        server = Server(ops, args.fd)
        handle_signals(server)
        return server.run()
    try:
        return native.serve(ops, args.mountpoint, name=fs, source=source, readonly=readonly)
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        sys.stderr.write(f"{PREFIX}mounting {args.mountpoint}: {err.strerror}{where}\n")
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sentry fuse-server`` with *argv* (the words after "fuse-server")."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    parsers = _parsers()
    if not words or words[0] not in parsers:
        _usage_error(f"name a file system: {' or '.join(parsers)} (see '{PROG} --help')")
    # Intermixed, so that options may come after MOUNTPOINT or between DIR and it.
    return _serve(words[0], parsers[words[0]].parse_intermixed_args(words[1:]))
