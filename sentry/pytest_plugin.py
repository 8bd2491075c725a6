"""A pytest plugin for syscall-level regression tests of sentry.

Installing sentry registers it (entry point ``pytest11``), so any test
suite can use its marker and fixtures without a conftest:

- ``@pytest.mark.sandbox(mounts=[...], fuse=[...], strace=False)``
  configures the ``sandbox`` fixture; it takes the keyword arguments of
  :class:`sentry.Sandbox`.
- ``sandbox``: a :class:`sentry.Sandbox` built from the nearest ``sandbox``
  marker (no marker: no mounts).
- ``compile_c(source, *flags)``: compiles a C snippet (or a ``.c`` file)
  with gcc once per session and returns the binary.
- ``run_both(argv, server=...)``: runs argv natively and in the sandbox and
  returns a :class:`Both`, whose ``assert_same()`` fails with a diff.

The native run is the oracle, as in gVisor's syscall tests, which run
unchanged on Linux and on gVisor: ``run_both`` mounts the same built-in
FUSE server on the host kernel (``python -m sentry.fuse_server``, root
only), so both runs see the same file system at the same path.

Every child process has a timeout, and every native mount is detached and
its server reaped before ``run_both`` returns, even when the run fails.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import hashlib
import inspect
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, NoReturn

import pytest

from sentry.abi.linux import MNT_DETACH
from sentry.boot.mount_spec import SpecError, parse, parse_mount
from sentry.fuse_server import libc
from sentry.sandbox import RunResult, Sandbox, run_native

__all__ = ["Both", "CompileC", "RunBoth", "sandbox_from_marker"]

MARKER: Final = (
    "sandbox(mounts=[...], fuse=[...], strace=False): configure the sandbox fixture "
    "(keyword arguments of sentry.Sandbox)"
)
# What ``{mnt}`` in run_both's argv stands for.
MNT: Final = "{mnt}"
# Seconds for a native server to mount, and to exit after SIGTERM.
MOUNT_TIMEOUT: Final = 10
EXIT_TIMEOUT: Final = 10
# Seconds for gcc: generous, a loaded CI machine compiles slowly.
COMPILE_TIMEOUT: Final = 120
# Lines of a unified diff shown in an assert_same failure.
MAX_DIFF_LINES: Final = 200


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``sandbox`` marker (for ``--strict-markers``)."""
    config.addinivalue_line("markers", MARKER)


# ------------------------------------------------------------ the sandbox


def sandbox_from_marker(marker: pytest.Mark | None) -> Sandbox:
    """The :class:`Sandbox` that a ``sandbox`` marker asks for.

    The mount specs are checked here, as ``sentry run`` checks them, so a
    bad marker fails the test with sentry's one-line message instead of
    making every run exit with status 2. Directories of passthrough mounts
    must therefore exist when the test starts.
    """
    if marker is None:
        return Sandbox()
    if marker.args:
        _fail("@pytest.mark.sandbox takes keyword arguments only, e.g. mounts=['/data=memfs']")
    known = inspect.signature(Sandbox).parameters
    for name in marker.kwargs:
        if name not in known:
            _fail(
                f"@pytest.mark.sandbox: unknown option {name!r} (expected one of: "
                f"{', '.join(known)})"
            )
    for name in ("mounts", "fuse"):
        if isinstance(marker.kwargs.get(name), str):
            _fail(f"@pytest.mark.sandbox: {name}= takes a list of specs, not a string")
    box = Sandbox(**marker.kwargs)
    try:
        parse(box.mounts, box.fuse, os.getcwd())
    except SpecError as err:
        _fail(f"@pytest.mark.sandbox: {err}")
    return box


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """A :class:`sentry.Sandbox` configured by the nearest ``sandbox`` marker."""
    return sandbox_from_marker(request.node.get_closest_marker("sandbox"))


# ------------------------------------------------------------ compile_c


class CompileC:
    """Compiles C with gcc into one folder, once per distinct source and flags.

    Regression tests are small programs; compiling each once per session
    (not once per test) keeps a suite of them fast.
    """

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        # (source text or file, flags) -> binary
        self.built: dict[tuple[str, tuple[str, ...]], Path] = {}

    def __call__(self, source: str | os.PathLike[str], *flags: str) -> Path:
        """Compile *source* with ``gcc -O1 -Wall ... FLAGS``; return the binary.

        Args:
            source: C text, or the path of a ``.c`` file (a ``Path``, or a
                one-line ``str`` ending in ``.c``).
            flags: more gcc arguments; they come after the source, so
                libraries (``-lm``, ``-pthread``) link.

        Skips the test if gcc is not installed; fails it, with gcc's
        messages, if the source does not compile.
        """
        path = _c_file(source)
        key = (str(path) if path else str(source), flags)
        if key in self.built:
            return self.built[key]
        gcc = shutil.which("gcc")
        if gcc is None:
            pytest.skip("compile_c: gcc is not installed")
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:12]
        exe = self.outdir / f"{path.stem if path else 'snippet'}-{digest}"
        if path is None:
            path = exe.with_suffix(".c")
            path.write_text(str(source))
        cmd = [gcc, "-O1", "-Wall", "-o", str(exe), str(path), *flags]
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            _fail(f"compile_c: gcc did not finish within {COMPILE_TIMEOUT} s: {' '.join(cmd)}")
        if done.returncode != 0:
            _fail(f"compile_c: gcc failed:\n{' '.join(cmd)}\n{done.stderr}")
        self.built[key] = exe
        return exe


def _c_file(source: str | os.PathLike[str]) -> Path | None:
    """The file that *source* names, or None if it is C text."""
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif "\n" not in source and source.endswith(".c"):
        path = Path(source)
    else:
        return None
    if not path.is_file():
        _fail(f"compile_c: no such file: {path}")
    return path.resolve()


@pytest.fixture(scope="session")
def compile_c(tmp_path_factory: pytest.TempPathFactory) -> CompileC:
    """Factory: ``compile_c(source, *flags)`` compiles C once per session."""
    return CompileC(tmp_path_factory.mktemp("compile_c"))


# -------------------------------------------------------------- run_both


@dataclass(frozen=True)
class Both:
    """The results of one program run natively and in the sandbox.

    The native status follows sentry's convention (128+N if killed by
    signal N), so the two compare directly.
    """

    native: RunResult
    sandbox: RunResult

    def assert_same(self, stderr: bool = True) -> None:
        """Assert that both runs had the same status, stdout and (if
        *stderr*) stderr.

        Raises:
            AssertionError: listing what differs, outputs as unified diffs
                from native to sandbox.
        """
        __tracebackhide__ = True
        problems = []
        if self.native.returncode != self.sandbox.returncode:
            problems.append(
                f"exit status: native {self.native.returncode}, sandbox {self.sandbox.returncode}"
            )
        streams = ["stdout", "stderr"] if stderr else ["stdout"]
        for name in streams:
            native, sandboxed = getattr(self.native, name), getattr(self.sandbox, name)
            if native != sandboxed:
                problems.append(_diff(name, native, sandboxed))
        if problems:
            raise AssertionError("native and sandbox runs differ:\n" + "\n".join(problems))


def _diff(name: str, native: bytes, sandboxed: bytes) -> str:
    """A unified diff of two outputs, from native to sandbox, at most
    MAX_DIFF_LINES long; a missing final newline is shown, as diff does."""

    def lines(data: bytes) -> list[str]:
        out = data.decode(errors="backslashreplace").split("\n")
        if out[-1]:
            out.append("\\ No newline at end")
        else:
            out.pop()
        return out

    diff = list(
        difflib.unified_diff(
            lines(native), lines(sandboxed), f"native {name}", f"sandbox {name}", lineterm=""
        )
    )
    if len(diff) > MAX_DIFF_LINES:
        diff[MAX_DIFF_LINES:] = [f"... ({len(diff) - MAX_DIFF_LINES} more lines)"]
    return "\n".join(diff)


class RunBoth:
    """Runs a program natively and in the sandbox, on the same file system
    at the same path.

    Each call gets a fresh folder under *base* whose ``mnt`` is what
    ``{mnt}`` stands for. The sandbox run uses *box* (the ``sandbox``
    fixture, so the marker's options apply: with ``strace=True`` the trace
    shows in the sandbox's stderr) plus a ``--mount`` of the server at
    ``mnt``.
    """

    def __init__(self, box: Sandbox, base: Path) -> None:
        self.box = box
        # Resolved: mountinfo lists mountpoints without symlinks.
        self.base = base.resolve()
        self.calls = 0

    def __call__(
        self,
        argv: Sequence[str | os.PathLike[str]],
        server: str | None = None,
        timeout: float = 60,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> Both:
        """Run *argv* natively, then in the sandbox; return both results.

        Args:
            argv: the program and its arguments; ``{mnt}`` in any of them is
                replaced by the mount directory.
            server: what is mounted at ``{mnt}``, as in ``sentry run
                --mount``: ``"memfs"`` (empty, in memory) or
                ``"passthrough:DIR[:ro]"`` (each run gets its own copy of
                DIR, so that the native run's changes do not reach the
                sandbox run). None (the default) mounts nothing:
                ``{mnt}`` is then an empty host folder, emptied again
                between the runs.
            timeout: seconds for each run.
            input: bytes for stdin (stdin is /dev/null otherwise).
            env: the environment of both runs (default: pytest's).
            cwd: the directory both runs start in (default: pytest's).

        Skips the test if a server is asked for without root or /dev/fuse
        (native FUSE mounts need both). Fails it if the server spec is bad,
        a run times out, or the native server fails.
        """
        self.calls += 1
        base = self.base / f"run_both{self.calls}"
        mnt = base / "mnt"
        mnt.mkdir(parents=True)
        args = [os.fspath(a).replace(MNT, str(mnt)) for a in argv]
        if server is None:
            native = _run_native(args, timeout, input, env, cwd)
            shutil.rmtree(mnt)
            mnt.mkdir()
            return Both(native, _run_sandbox(self.box, args, timeout, input, env, cwd))
        text = f"{mnt}={server}"
        try:
            spec = parse_mount(text, os.getcwd())
        except SpecError as err:
            # The reason without the spec, which names our temporary mnt.
            _fail(f"run_both: server={server!r}: {str(err).removeprefix(f'--mount {text}: ')}")
        if os.geteuid() != 0:
            pytest.skip(f"run_both: mounting {server} natively needs root")
        if not os.path.exists("/dev/fuse"):
            pytest.skip(f"run_both: mounting {server} natively needs /dev/fuse")
        command = [sys.executable, "-P", "-m", "sentry.fuse_server", spec.kind]
        box = copy.copy(self.box)
        if spec.kind == "memfs":
            box.mounts = [*self.box.mounts, f"{mnt}=memfs"]
        else:
            ro = ":ro" if spec.read_only else ""
            native_dir, sandbox_dir = base / "native-dir", base / "sandbox-dir"
            shutil.copytree(spec.source, native_dir, symlinks=True)
            shutil.copytree(spec.source, sandbox_dir, symlinks=True)
            command += [str(native_dir), *(["--ro"] if spec.read_only else [])]
            box.mounts = [*self.box.mounts, f"{mnt}=passthrough:{sandbox_dir}{ro}"]
        with _native_mount([*command, str(mnt)], mnt, server):
            native = _run_native(args, timeout, input, env, cwd)
        return Both(native, _run_sandbox(box, args, timeout, input, env, cwd))


@pytest.fixture
def run_both(sandbox: Sandbox, tmp_path: Path) -> RunBoth:
    """Factory: ``run_both(argv, server=None)`` returns a :class:`Both`."""
    return RunBoth(sandbox, tmp_path)


def _run_native(
    argv: list[str],
    timeout: float,
    input: bytes | None,
    env: Mapping[str, str] | None,
    cwd: str | os.PathLike[str] | None,
) -> RunResult:
    """:func:`sentry.sandbox.run_native`; a timeout or a missing program
    fails the test."""
    try:
        return run_native(argv, timeout, input, cwd, env)
    except subprocess.TimeoutExpired:
        _fail(f"run_both: {argv[0]} did not finish within {timeout} s natively")
    except OSError as err:
        _fail(f"run_both: cannot run {argv[0]}: {err.strerror}")


def _run_sandbox(
    box: Sandbox,
    argv: list[str],
    timeout: float,
    input: bytes | None,
    env: Mapping[str, str] | None,
    cwd: str | os.PathLike[str] | None,
) -> RunResult:
    """Run *argv* with *box*; a timeout fails the test."""
    try:
        return box.run(argv, timeout=timeout, input=input, cwd=cwd, env=env)
    except subprocess.TimeoutExpired:
        _fail(f"run_both: {argv[0]} did not finish within {timeout} s in the sandbox")


# --------------------------------------------------------- native mounts


@contextlib.contextmanager
def _native_mount(command: list[str], mnt: Path, what: str) -> Iterator[None]:
    """Run a built-in server that mounts natively on *mnt*, for the duration
    of the block.

    On the way out the server gets SIGTERM (it then detaches its mount and
    exits 0) and is reaped; one that does not exit in time is killed and its
    mount detached lazily. If the block succeeded, a server that failed
    fails the test with its output: a crash of the oracle is not a result.
    """
    output = tempfile.TemporaryFile()
    server = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
    )
    with output:
        try:
            _wait_mounted(server, mnt, output, what)
            yield
        finally:
            killed = _stop(server, mnt)
        if killed:
            _fail(f"run_both: the native {what} server did not exit within {EXIT_TIMEOUT} s")
        if server.returncode != 0:
            _fail(
                f"run_both: the native {what} server exited with {server.returncode}:\n"
                + _read(output)
            )


def _wait_mounted(
    server: subprocess.Popen[bytes], mnt: Path, output: IO[bytes], what: str
) -> None:
    """Wait until *server* has mounted *mnt*; fail if it exits or takes too long."""
    deadline = time.monotonic() + MOUNT_TIMEOUT
    while not _is_mounted(mnt):
        if server.poll() is not None:
            _fail(
                f"run_both: the native {what} server exited with {server.returncode} "
                f"before mounting {mnt}:\n{_read(output)}"
            )
        if time.monotonic() > deadline:
            _fail(f"run_both: the native {what} server did not mount {mnt} in {MOUNT_TIMEOUT} s")
        time.sleep(0.01)


def _stop(server: subprocess.Popen[bytes], mnt: Path) -> bool:
    """Stop and reap *server*, and leave nothing mounted on *mnt*; return
    whether it had to be killed."""
    killed = False
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            killed = True
            server.kill()
            server.wait(timeout=EXIT_TIMEOUT)
    if _is_mounted(mnt):
        # Lazily: a plain umount fails (EBUSY) while a process the run left
        # behind still uses the mount.
        libc.umount2(os.fsencode(mnt), MNT_DETACH)
    return killed


def _is_mounted(path: Path) -> bool:
    """Whether something is mounted on *path* (an absolute, resolved path).

    Reads /proc/self/mountinfo rather than stat-ing *path*, which would ask
    the server, and hang if the server does not answer.
    """
    target = os.fsencode(path)
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            # Field 5 is the mountpoint, with space, tab, newline and
            # backslash escaped as \ooo.
            field = line.split(b" ", 5)[4]
            if re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), field) == target:
                return True
    return False


def _read(output: IO[bytes]) -> str:
    output.seek(0)
    return output.read().decode(errors="replace")


def _fail(message: str) -> NoReturn:
    """Fail the current test with *message* alone: no traceback, and no
    chained exception when called while handling one."""
    raise pytest.fail.Exception(message, pytrace=False) from None
