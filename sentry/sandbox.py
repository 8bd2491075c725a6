"""The Python API: run programs in the sandbox from tests and scripts.

Each run is a ``sentry run`` process (the tracer must be a process of its
own: ptrace binds tracees to one thread, and sentry reaps orphans as a
subreaper), started with the current interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunResult:
    """What a sandboxed run returned: its status (128+N if killed by signal
    N, as a shell reports it) and its captured output."""

    returncode: int
    stdout: bytes
    stderr: bytes


def run_native(
    argv: Sequence[str | os.PathLike[str]],
    timeout: float = 60,
    input: bytes | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """Run ``argv`` on the host as :meth:`Sandbox.run` runs it in the
    sandbox (stdin is /dev/null unless ``input`` is given; a signal death
    is 128+N), for differential tests.

    Raises subprocess.TimeoutExpired after ``timeout`` seconds, OSError if
    the program cannot be run.
    """
    done = subprocess.run(
        [os.fspath(a) for a in argv],
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )
    status = 128 - done.returncode if done.returncode < 0 else done.returncode
    return RunResult(status, done.stdout, done.stderr)


class Sandbox:
    """A sandbox configuration: the options of ``sentry run``.

    ``mounts`` are ``--mount`` specs (``"/data=memfs"``,
    ``"/src=passthrough:DIR[:ro]"``), ``fuse`` are ``--fuse`` specs
    (``"/img=squashfuse IMG {}"``), ``binds`` are ``--bind`` specs
    (``"HOST_DIR[:TARGET][:ro]"``: what the app writes anywhere else stays in
    the sandbox), ``rootfs`` is ``--rootfs``, ``network`` is ``"none"`` or
    ``"host"``, and ``root`` runs the app as root in its user namespace.
    """

    def __init__(
        self,
        strace: bool = False,
        strace_file: str | None = None,
        debug_log: str | None = None,
        cpu_affinity: str = "none",
        mounts: Sequence[str] = (),
        fuse: Sequence[str] = (),
        cache_size: str | None = None,
        binds: Sequence[str] = (),
        rootfs: str | None = None,
        network: str = "none",
        root: bool = False,
    ) -> None:
        self.strace = strace
        self.strace_file = strace_file
        self.debug_log = debug_log
        self.cpu_affinity = cpu_affinity
        self.mounts = list(mounts)
        self.fuse = list(fuse)
        self.cache_size = cache_size
        self.binds = list(binds)
        self.rootfs = rootfs
        self.network = network
        self.root = root

    def command(self, argv: Sequence[str]) -> list[str]:
        """The ``sentry run`` command line that runs ``argv``."""
        # -P: never import the sentry/ source folder from the current directory.
        cmd = [sys.executable, "-P", "-m", "sentry", "run", f"--cpu-affinity={self.cpu_affinity}"]
        if self.strace:
            cmd.append("--strace")
        if self.strace_file:
            cmd.append(f"--strace-file={self.strace_file}")
        if self.debug_log:
            cmd.append(f"--debug-log={self.debug_log}")
        cmd += [f"--mount={spec}" for spec in self.mounts]
        cmd += [f"--fuse={spec}" for spec in self.fuse]
        if self.cache_size:
            cmd.append(f"--cache-size={self.cache_size}")
        cmd += [f"--bind={spec}" for spec in self.binds]
        if self.rootfs:
            cmd.append(f"--rootfs={self.rootfs}")
        if self.network != "none":
            cmd.append(f"--network={self.network}")
        if self.root:
            cmd.append("--root")
        return [*cmd, "--", *argv]

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60,
        input: bytes | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RunResult:
        """Run ``argv`` in the sandbox and wait for it, capturing its output.

        Raises subprocess.TimeoutExpired after ``timeout`` seconds (sentry is
        killed, and with it every process of the app).
        """
        done = subprocess.run(
            self.command(argv),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            cwd=cwd,
            env=env,
            timeout=timeout,
        )
        return RunResult(done.returncode, done.stdout, done.stderr)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``argv`` in the sandbox; ``kwargs`` go to subprocess.Popen."""
        return subprocess.Popen(self.command(argv), **kwargs)
