"""The ``sentry`` command.

``sentry run [options] [--] CMD [ARG...]`` runs CMD in the sandbox and exits
with its status (128+N if a signal N killed it). Usage errors print one line
and exit 2; a command that cannot be executed exits 127 (not found) or 126,
as a shell does.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from sentry import __version__

if TYPE_CHECKING:
    from sentry.boot.fuse_daemons import FuseDaemons

log = logging.getLogger("sentry")

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt(3) parameters
# --spin's default: a little over the usual gap between two stops of a
# syscall-heavy app, measured in README's "Placement" (bench section 9).
SPIN_US = 50


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"sentry: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sentry", description="A gVisor-style application sandbox.")
    parser.add_argument("--version", action="version", version=f"sentry {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    run = commands.add_parser(
        "run",
        help="run a program in the sandbox",
        description="Run CMD in the sandbox; exit with its status.",
        usage="sentry run [options] [--] CMD [ARG...]",
    )
    run.add_argument("--strace", action="store_true", help="print every trapped syscall to stderr")
    run.add_argument("--strace-file", metavar="FILE", help="print them to FILE instead")
    run.add_argument("--debug-log", metavar="FILE", help="write sentry's debug log to FILE")
    run.add_argument(
        "--cpu-affinity",
        metavar="SPEC",
        default="none",
        help="'none' (default): the app gets every CPU sentry has, and sentry and its "
        "built-in servers share the last of them; 'same': sentry, its servers and the app "
        "share one CPU (cheapest stops, one CPU for the whole app); or a CPU list such as "
        "0-1,3 for all of them",
    )
    run.add_argument(
        "--spin",
        metavar="US",
        type=int,
        default=SPIN_US,
        help=f"microseconds sentry polls for the next stop before it sleeps (default {SPIN_US}; "
        "0: never; no effect when the app has one CPU)",
    )
    run.add_argument(
        "--mount",
        metavar="TARGET=SERVER",
        action="append",
        default=[],
        help="mount a built-in FUSE server at TARGET: 'memfs' (in memory) or "
        "'passthrough:DIR[:ro]' (host directory DIR); may be repeated",
    )
    run.add_argument(
        "--fuse",
        metavar="TARGET=COMMAND",
        action="append",
        default=[],
        help="mount at TARGET a FUSE daemon run outside the sandbox, e.g. "
        "'/img=squashfuse img.sqfs {}' ({} becomes /dev/fd/N, the daemon's end of the "
        "connection; a libfuse 2 daemon, as root only, gets a directory); may be repeated",
    )
    run.add_argument(
        "--cache-size",
        metavar="SIZE",
        default="256M",
        help="the most memory the buffer cache of FUSE files may hold, in bytes or with a "
        "K, M or G suffix (default 256M)",
    )
    run.add_argument(
        "--bind",
        metavar="HOST_DIR[:TARGET][:ro]",
        action="append",
        default=[],
        help="share host directory (or file) HOST_DIR with the sandbox at TARGET (default: the "
        "same path); writes land on the host, unless ':ro'; may be repeated",
    )
    run.add_argument(
        "--rootfs",
        metavar="DIR",
        help="run on DIR (an unpacked image) as the root, under a writable in-memory overlay, "
        "instead of the host's root",
    )
    run.add_argument(
        "--network",
        choices=("none", "host"),
        default="none",
        help="'none' (default): a network namespace with only loopback; 'host': the host's "
        "network",
    )
    run.add_argument(
        "--root",
        action="store_true",
        help="run the app as root (uid 0) in its user namespace; by default it runs as the "
        "invoking user's uid and gid",
    )
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="CMD [ARG...]")
    # Listed for --help only: main() hands its words to its own parser.
    commands.add_parser("fuse-server", help="run a built-in FUSE server", add_help=False)
    return parser


def parse_cpus(spec: str) -> set[int] | None:
    """The CPUs that --cpu-affinity ``spec`` pins to (None: no pinning).

    Raises ValueError for a malformed spec.
    """
    if spec == "none":
        return None
    if spec == "same":
        return {min(os.sched_getaffinity(0))}
    cpus: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    if not cpus:
        raise ValueError(spec)
    return cpus


def parse_size(spec: str) -> int:
    """Bytes from ``spec``: a number with an optional K, M or G suffix
    (powers of 1024). Raises ValueError."""
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(spec[-1:].upper(), 1)
    number = spec[:-1] if scale > 1 else spec
    if not number.isdigit():
        raise ValueError(spec)
    return int(number) * scale


def resolve(command: str, path_env: str, root: str = "/") -> str:
    """The file ``command`` names, searched in ``path_env`` if it has no slash,
    as a path in the tree whose root is host directory ``root``.

    Raises OSError(ENOENT) if there is none, OSError(EACCES) if it is not an
    executable file.
    """
    candidates = (
        [command]
        if "/" in command
        else [os.path.join(d or ".", command) for d in path_env.split(":")]
    )
    found_unexecutable = False
    for candidate in candidates:
        on_host = os.path.join(root, candidate.lstrip("/")) if root != "/" else candidate
        if os.path.isfile(on_host):
            if os.access(on_host, os.X_OK):
                return candidate
            found_unexecutable = True
        elif os.path.isdir(on_host) and "/" in command:
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
    code = errno.EACCES if found_unexecutable else errno.ENOENT
    raise OSError(code, os.strerror(code))


def keep_big_buffers() -> None:
    """Have malloc serve big buffers (FUSE requests and replies of up to
    1 MiB, cache chunks) from its heap and keep freed memory there: mapping
    and unmapping each one costs a page fault per page, about as much again
    as copying it."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, 64 * 2**20)
        libc.mallopt(M_TRIM_THRESHOLD, 256 * 2**20)
    except (OSError, AttributeError):
        return


def _setup_logging(debug_log: str | None) -> None:
    log.setLevel(logging.DEBUG if debug_log else logging.WARNING)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.WARNING)
    stderr.setFormatter(logging.Formatter("sentry: %(message)s"))
    log.addHandler(stderr)
    if debug_log:
        handler = logging.FileHandler(debug_log)
        handler.setFormatter(
            logging.Formatter("%(relativeCreated)10.3f %(levelname)s %(message)s")
        )
        log.addHandler(handler)


def initial_environ() -> dict[str, str]:
    """The environment sentry was started with, for the app.

    Not ``os.environ``: at startup Python may add ``LC_CTYPE`` to it (PEP 538
    locale coercion), which the app must not see.
    """
    with open("/proc/self/environ", "rb") as f:
        entries = f.read().split(b"\0")
    pairs = (entry.partition(b"=") for entry in entries if b"=" in entry)
    return {os.fsdecode(key): os.fsdecode(value) for key, _, value in pairs}


def _cannot_execute(command: str, code: int) -> int:
    sys.stderr.write(f"sentry: cannot execute {command}: {os.strerror(code)}\n")
    return 127 if code == errno.ENOENT else 126


def run(args: argparse.Namespace) -> int:
    """``sentry run``: the app's exit status."""
    from sentry.boot import isolation
    from sentry.boot.loader import fuse_type, new_kernel, register_tmpfs
    from sentry.boot.mount_spec import SpecError
    from sentry.boot.mount_spec import parse as parse_specs
    from sentry.kernel.kernel import ExecFailed
    from sentry.platform.namespaces import SandboxError
    from sentry.platform.platform import lookup
    from sentry.syscalls.strace import Strace

    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        sys.stderr.write("sentry: run: missing the command to run (see 'sentry run --help')\n")
        return 2
    try:
        cpus = parse_cpus(args.cpu_affinity)
    except ValueError:
        sys.stderr.write(
            f"sentry: run: bad --cpu-affinity {args.cpu_affinity!r} (see 'sentry run --help')\n"
        )
        return 2
    try:
        cache_size = parse_size(args.cache_size)
    except ValueError:
        sys.stderr.write(
            f"sentry: run: bad --cache-size {args.cache_size!r} (see 'sentry run --help')\n"
        )
        return 2
    try:
        specs = parse_specs(args.mount, args.fuse, os.getcwd())
    except SpecError as err:
        sys.stderr.write(f"sentry: run: {err}\n")
        return 2
    cwd = os.getcwd()
    try:
        binds = [isolation.parse_bind(spec, cwd) for spec in args.bind]
    except isolation.BindError as err:
        sys.stderr.write(f"sentry: run: {err}\n")
        return 2
    rootfs = os.path.abspath(args.rootfs) if args.rootfs else None
    if rootfs is not None and not os.path.isdir(rootfs):
        sys.stderr.write(f"sentry: run: bad --rootfs {args.rootfs!r}: not a directory\n")
        return 2
    options = isolation.Options(
        binds, rootfs, args.network, args.root, [spec.target for spec in specs]
    )
    try:
        path = resolve(argv[0], os.environ.get("PATH", os.defpath), rootfs or "/")
    except OSError as err:
        return _cannot_execute(argv[0], err.errno or errno.ENOENT)
    try:
        strace_out = open(args.strace_file, "w") if args.strace_file else sys.stderr
    except OSError as err:
        sys.stderr.write(f"sentry: run: cannot open {args.strace_file}: {err.strerror}\n")
        return 2
    # Before the platform makes sentry non-dumpable, which closes its own
    # /proc/self/environ to an unprivileged sentry.
    env = initial_environ()
    _setup_logging(args.debug_log)
    keep_big_buffers()
    all_cpus = os.sched_getaffinity(0)
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
    app_cpus = os.sched_getaffinity(0)
    # Sentry and its built-in servers take turns (a request's server runs
    # while sentry waits for it): on one CPU, a request wakes no other CPU.
    home = {max(app_cpus)} if cpus is None else app_cpus
    # Polling on the one CPU the app needs would only delay it.
    spin = args.spin if len(app_cpus) > 1 else 0
    strace = Strace(strace_out) if args.strace or args.strace_file else None
    kernel = new_kernel(lookup("ptrace")(spin), strace, cache_size=cache_size)
    daemons = None

    def run_daemons() -> FuseDaemons:
        # The servers outside the sandbox: loaded only when a mount needs one.
        nonlocal daemons
        if daemons is None:
            from sentry.boot.fuse_daemons import FuseDaemons

            daemons = FuseDaemons(kernel, fuse_type(kernel), env, all_cpus, home)
        return daemons

    register_tmpfs(kernel, run_daemons)
    if specs:
        from sentry.boot.fuse_daemons import BootError

        try:
            run_daemons().start(specs)
        except BootError as err:
            sys.stderr.write(f"sentry: run: {err}\n")
            return 2
    try:
        return kernel.run(path, argv, env, isolation.sandbox(options, cwd), home)
    except ExecFailed as err:
        return _cannot_execute(argv[0], err.errno)
    except SandboxError as err:
        if daemons is not None:
            daemons.abandon()
        sys.stderr.write(f"sentry: run: {err}\n")
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sentry`` command."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["fuse-server"]:
        # Its own parser takes every word after it, --help included.
        from sentry.fuse_server.cli import main as fuse_server

        return fuse_server(words[1:])
    return run(_parser().parse_args(words))
