"""The FUSE servers and daemons behind a run's ``--mount`` and ``--fuse``.

Each runs outside the sandbox, as a child process of sentry, connected by a
socketpair (:mod:`sentry.fsimpl.fuse.channel`); the built-in servers are
``python -m sentry.fuse_server`` in a process of their own, so sentry's loop
never waits on their GIL. Lifecycle:

1. :meth:`FuseDaemons.start`, before the app: every daemon is started and
   its FUSE_INIT answered, or :class:`BootError` (a one-line message; the
   daemons started are stopped).
2. While the app runs, the kernel pumps the channels on SIGIO. A daemon
   whose end of the connection closes is reported on stderr once (with its
   exit status when sentry reaped it); its mount fails with ENOTCONN.
3. When the app's main process exits, :meth:`FuseDaemons.stop`: SIGTERM to
   every child of sentry that is not the app's (a libfuse daemon that
   forked into the background is one too: sentry is a subreaper), as an
   unmount would end them, and SIGKILL to any still alive STOP_TIMEOUT
   later. The kernel's loop ends once they are reaped.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sentry.abi.linux import S_IFDIR
from sentry.boot import fusermount
from sentry.boot.mount_spec import DEVICE_PLACEHOLDER, MountSpec
from sentry.errors import SyscallError
from sentry.fsimpl.fuse.channel import SocketChannel, max_message, socketpair
from sentry.fsimpl.fuse.connection import Connection
from sentry.fsimpl.fuse.filesystem_type import UNLIMITED_READ, FuseFilesystemType
from sentry.platform.platform import Stop, StopKind

if TYPE_CHECKING:
    from sentry.fsimpl.fuse.fusefs import FuseFilesystem
    from sentry.kernel.kernel import Kernel

log = logging.getLogger("sentry")

INIT_TIMEOUT = 10.0  # seconds for a daemon to answer FUSE_INIT
STOP_TIMEOUT = 5.0  # seconds from SIGTERM to SIGKILL
DRAIN_TIMEOUT = 2.0  # seconds the app's last requests may take before SIGTERM
DRAIN_POLL = 0.01  # seconds between looks at whether they are done


class BootError(Exception):
    """A mount could not be set up; ``str()`` is the one-line message, and
    ``errno`` the error behind it (for a mount(2) that started a server)."""

    def __init__(self, message: str, error: int = errno.EIO) -> None:
        super().__init__(message)
        self.errno = error


@dataclass
class Daemon:
    """One started daemon and the mount it serves."""

    spec: MountSpec
    popen: subprocess.Popen[bytes]
    channel: SocketChannel
    pids: set[int] = field(default_factory=set)  # its processes sentry knows
    status: str | None = None  # how it ended, in words, once reaped
    closed: bool = False  # its end of the connection went away
    reported: bool = False


def server_argv(spec: MountSpec, fd: int, mountpoint: str | None = None) -> list[str]:
    """The command that serves ``spec`` on descriptor ``fd`` (a ``--fuse``
    daemon's ``{}``: ``mountpoint``, else ``/dev/fd/N``)."""
    if spec.kind == "fuse":
        device = mountpoint or f"/dev/fd/{fd}"
        return [arg.replace(DEVICE_PLACEHOLDER, device) for arg in spec.command]
    argv = [sys.executable, "-P", "-m", "sentry.fuse_server", spec.kind]
    if spec.kind == "passthrough":
        argv += [spec.source, *(["--ro"] if spec.read_only else [])]
    if spec.writeback:
        argv.append("--writeback")
    if spec.mode is not None:
        argv += ["--mode", f"{spec.mode:o}"]
    if spec.size is not None:
        argv += ["--size", str(spec.size)]
    return [*argv, "--fd", str(fd)]


def describe_exit(killed: bool, value: int) -> str:
    """How a process ended (``value``: its exit status or signal), in words."""
    return f"was killed by signal {value}" if killed else f"exited with status {value}"


class FuseDaemons:
    """The daemons of one run (see the module notes for their lifecycle).

    Invariant: ``by_pid`` maps every process sentry knows to be a daemon's
    to that daemon; after :meth:`stop`, no daemon is reported as dead.
    """

    def __init__(
        self,
        kernel: Kernel,
        fuse: FuseFilesystemType,
        env: dict[str, str],
        cpus: set[int],
        home: set[int],
    ) -> None:
        """``fuse``: the FUSE type registered in the kernel's VFS. ``cpus``:
        where ``--fuse`` daemons run (a daemon of the user's may use
        several); ``home``: where the built-in servers run, sentry's own
        CPUs. A built-in server answers one request at a time while sentry
        waits: on sentry's CPU, neither wakes the other across CPUs (some
        35 us each on a VM, three times the server's own work)."""
        self.kernel = kernel
        self.fuse = fuse
        self.env = env
        self.cpus = cpus
        self.home = home
        self.daemons: list[Daemon] = []
        self.by_pid: dict[int, Daemon] = {}
        self.running = False  # the app has started; deaths are reported
        self.stopping = False
        self._terminated: set[int] = set()  # sent SIGTERM
        # libfuse 2 daemons' mountpoint and fusermount (fusermount.py).
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def start(self, specs: list[MountSpec]) -> None:
        """Start every daemon and mount it; raises BootError."""
        if not specs:
            return
        self.kernel.platform.catch_signal(signal.SIGIO)
        try:
            for spec in specs:
                fs = self._spawn(spec)
                builtin = spec.kind != "fuse"
                options = "default_permissions,allow_other" if builtin else ""
                vfs = self.kernel.vfs
                # The sandbox's plan guards the point (Plan.guard).
                vfs.add_mount(
                    spec.target, fs, spec.fsname, spec.fstype, options, fs.dev, guarded=True
                )
            self._handshake()
        except BootError:
            self.abandon()
            raise
        known = self.kernel.own_children()
        for daemon in self.daemons:
            daemon.channel.signal_driven()
            # A daemon that forked into the background has a new pid: count
            # every child that appeared since its start as its own.
            daemon.pids |= {pid for pid in known if pid not in self.by_pid}
            for pid in daemon.pids:
                self.by_pid.setdefault(pid, daemon)
        self._watch()

    def serve(self, spec: MountSpec, dev: int) -> FuseFilesystem:
        """Start a built-in server while the app runs (a mount(2) of tmpfs)
        and return its file system, with device number ``dev``. Its
        FUSE_INIT is answered in the background: the first request waits
        for it, as for a daemon in the sandbox. Raises SyscallError (an
        errno of fork or exec) if the server cannot be started."""
        self.kernel.platform.catch_signal(signal.SIGIO)
        try:
            fs = self._spawn(spec, dev)
        except BootError as err:
            raise SyscallError(err.errno) from None
        daemon = self.daemons[-1]
        daemon.channel.signal_driven()
        self._watch()
        return fs

    def _watch(self) -> None:
        """Pump the channels on SIGIO, and follow the daemons' exits (once)."""
        if not self.running:
            self.kernel.on_sigio.append(self.pump)
            self.kernel.on_app_exit.append(self.stop)
            self.kernel.on_host_child_exit.append(self._on_child_exit)
        self.running = True

    def _spawn(self, spec: MountSpec, dev: int | None = None) -> FuseFilesystem:
        """Start ``spec``'s server and make its file system (device number
        ``dev``, or a new one). Raises BootError, with the errno of the
        failed start."""
        ours, theirs = socketpair()
        conn = Connection(UNLIMITED_READ, max_message(ours, theirs))
        argv = server_argv(spec, theirs.fileno())
        env, enter = self.env, None
        if spec.kind == "fuse" and fusermount.links_libfuse2(argv[0]):
            if os.geteuid() != 0:
                ours.close()
                theirs.close()
                raise BootError(
                    f"{spec.describe()}: a libfuse 2 daemon runs outside the sandbox only when "
                    "sentry runs as root; run it inside instead",
                    errno.EPERM,
                )
            # A directory for {}, and sentry's fusermount (fusermount.py).
            if self._scratch is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="sentry-fusermount-")
                os.mkdir(os.path.join(self._scratch.name, "mnt"))
            argv = server_argv(spec, theirs.fileno(), os.path.join(self._scratch.name, "mnt"))
            shim = fusermount.write_shim(self._scratch.name)
            # The shim is first on PATH too, for a host with no fusermount.
            path = f"{self._scratch.name}:{self.env.get('PATH', os.defpath)}"
            env = {**self.env, fusermount.FD_ENV: str(theirs.fileno()), "PATH": path}
            program = self.kernel.platform.filter_program([], fusermount.MOUNT_RULES)
            enter = functools.partial(fusermount.enter, shim, program)
        try:
            popen = subprocess.Popen(
                argv,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=sys.stderr.fileno(),
                env=env,
                start_new_session=True,  # the terminal's signals are for the app
                preexec_fn=enter,
            )
        except (OSError, subprocess.SubprocessError) as err:
            ours.close()
            reason = err.strerror if isinstance(err, OSError) else str(err)
            raise BootError(
                f"{spec.describe()}: cannot run {argv[0]}: {reason}",
                getattr(err, "errno", None) or errno.EIO,
            ) from None
        finally:
            theirs.close()
        daemon = Daemon(spec, popen, SocketChannel(conn, ours, lambda: self._on_closed(daemon)))
        daemon.pids.add(popen.pid)
        try:
            os.sched_setaffinity(popen.pid, self.cpus if spec.kind == "fuse" else self.home)
        except OSError:
            pass  # it already exited: the handshake reports it
        self.by_pid[popen.pid] = daemon
        self.daemons.append(daemon)
        dev = self.kernel.vfs.new_dev() if dev is None else dev
        fs = self.fuse.new_filesystem(conn, S_IFDIR | 0o755, dev, spec.kind != "fuse")
        conn.start()
        return fs

    def _handshake(self) -> None:
        """Pump the channels until every daemon answered FUSE_INIT."""
        deadline = time.monotonic() + INIT_TIMEOUT
        while waiting := [d for d in self.daemons if not d.channel.conn.initialized.done]:
            for daemon in waiting:
                if daemon.popen.poll() not in (None, 0):
                    raise self._failed(daemon)
            left = deadline - time.monotonic()
            if left <= 0:
                raise BootError(
                    f"{waiting[0].spec.describe()}: the daemon did not answer FUSE_INIT "
                    f"within {INIT_TIMEOUT:.0f} s"
                )
            socks = [d.channel.sock for d in waiting]
            ready, _, _ = select.select(socks, [], [], min(left, 0.05))
            for daemon in waiting:
                if daemon.channel.sock in ready:
                    daemon.channel.pump()
        for daemon in self.daemons:
            if daemon.channel.conn.error:
                raise self._failed(daemon)

    def _failed(self, daemon: Daemon) -> BootError:
        """The error of a daemon that did not answer FUSE_INIT as it should."""
        if daemon.channel.conn.error == errno.ECONNREFUSED:
            how = "refused FUSE_INIT"
        else:
            try:
                code = daemon.popen.wait(1.0)
            except subprocess.TimeoutExpired:
                how = "closed its connection"
            else:
                how = describe_exit(code < 0, abs(code))
            how += " before it answered FUSE_INIT"
        return BootError(f"{daemon.spec.describe()}: the daemon {how}")

    def pump(self) -> None:
        """Take every channel's replies and send its requests (on SIGIO)."""
        for daemon in self.daemons:
            if not daemon.channel.closed:
                daemon.channel.pump()

    def _on_closed(self, daemon: Daemon) -> None:
        if not self.running or self.stopping or daemon.closed:
            return
        daemon.closed = True
        if daemon.status is not None or not daemon.pids:
            self._report(daemon)
        else:
            # Its exit is most likely on the way: report it with its status.
            self.kernel.sleep(0.2).add_callback(lambda _: self._report(daemon))

    def _on_child_exit(self, stop: Stop) -> None:
        if self.stopping:
            self._terminate_new()
        daemon = self.by_pid.pop(stop.tid, None)
        if daemon is None:
            return
        daemon.pids.discard(stop.tid)
        daemon.status = describe_exit(stop.kind is StopKind.KILLED, stop.value)
        if daemon.closed:
            self._report(daemon)

    def _report(self, daemon: Daemon) -> None:
        if daemon.reported or self.stopping:
            return
        daemon.reported = True
        sys.stderr.write(
            f"sentry: {daemon.spec.describe()}: the FUSE daemon "
            f"{daemon.status or 'closed its connection'}; "
            f"files under {daemon.spec.target} now fail with ENOTCONN\n"
        )

    def stop(self) -> None:
        """End every daemon once the app's last requests are answered (the
        closes of its killed processes, its shared mappings' stores): SIGTERM
        when no task is left and no request is in flight, or DRAIN_TIMEOUT
        from now; SIGKILL STOP_TIMEOUT later."""
        self.stopping = True
        self._drain(time.monotonic() + DRAIN_TIMEOUT)

    def _drain(self, deadline: float) -> None:
        busy = self.kernel.tasks or any(
            d.channel.conn.queue or d.channel.conn.sent for d in self.daemons
        )
        if busy and time.monotonic() < deadline:
            self.kernel.sleep(DRAIN_POLL).add_callback(lambda _: self._drain(deadline))
            return
        self._terminate_new()
        self.kernel.sleep(STOP_TIMEOUT).add_callback(
            lambda _: _signal_all(_daemon_pids(self.kernel))
        )

    def _terminate_new(self) -> None:
        """SIGTERM the daemon processes not sent one yet (a daemon's child
        comes back to sentry when the daemon dies)."""
        fresh = _daemon_pids(self.kernel) - self._terminated
        self._terminated |= fresh
        _signal_all(fresh, signal.SIGTERM)

    def abandon(self) -> None:
        """Stop the daemons of a run that will not start, and reap them."""
        self.stopping = True
        for daemon in self.daemons:
            daemon.channel.close()
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.kernel.own_children() and time.monotonic() < deadline:
            self._terminate_new()
            time.sleep(0.01)
            _reap_any()
        _signal_all(self.kernel.own_children())
        _reap_any()


def _daemon_pids(kernel: Kernel) -> set[int]:
    """The children of sentry that are not the app's (nor its sandbox's init)."""
    return {
        pid
        for pid in kernel.own_children()
        if pid != kernel.platform.init_pid and not _traced_by_us(pid)
    }


def _traced_by_us(pid: int) -> bool:
    """Whether ``pid`` is a tracee of sentry (a process of the app)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return False
    return int(fields.get("TracerPid", "0")) == os.getpid()


def _signal_all(pids: set[int], signo: int = signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, signo)
        except ProcessLookupError:
            continue


def _reap_any() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
