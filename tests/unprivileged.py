"""Run sentry as root and as an unprivileged user, from the same test.

The suite runs as root, and root passes every ptrace and /proc access check
that protects one process from another. So a test that means "the app cannot
touch the host" must also be run as a user without capabilities: uid 65534
(nobody), with an empty bounding set, as setpriv(1) gives.

The interpreter the suite runs under (pyenv, under /root) is not readable by
nobody, so this module builds, once per session, an installation that is:
Debian's /usr/bin/python3 with a venv in a world-readable temporary folder,
holding sentry installed from a copy of the working tree. That session fixture
is ``nobody_install``; the ``sandbox_user`` fixture is parametrized over
``USERS`` and gives each test a ``SandboxUser`` that knows how to run sentry,
Python and plain host commands as that user. A test module loads the
fixtures with:

    pytest_plugins = ["unprivileged"]

``run_as(user, sentry_args, timeout=...)`` runs ``sentry ARGS...`` and
``user.popen(sentry_args)`` starts it; every process is killed and reaped by
a finalizer, and every run has a timeout.

Where the kernel refuses unprivileged user namespaces, the nobody half is
skipped with that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO_ROOT, kill_and_reap, run_native, sentry_cli, shell_status

from sentry.sandbox import RunResult

USERS = ("root", "nobody")

NOBODY_UID = 65534
NOBODY_GID = 65534
SYSTEM_PYTHON = "/usr/bin/python3"
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# How long building the unprivileged installation may take (pip compiles the
# cffi helper).
INSTALL_TIMEOUT = 600

# Copied without these: outputs of other builds, and version control.
_COPY_IGNORE = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "out", "*.so"
)


def setpriv_prefix(uid: int, gid: int) -> list[str]:
    """The argv prefix that runs a command as uid:gid with no capabilities
    (none permitted, inheritable, ambient or in the bounding set)."""
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ]


@dataclass
class NobodyInstall:
    """The session's installation of sentry that uid 65534 can run."""

    root: Path  # world-readable, removed at the end of the session
    venv: Path
    shared: Path  # world-readable copies of the tests' binaries

    @property
    def sentry(self) -> str:
        return str(self.venv / "bin" / "sentry")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python3")


@dataclass
class SandboxUser:
    """Who runs sentry in a test: "root" (the suite's own user and
    interpreter) or "nobody" (uid 65534 without capabilities)."""

    name: str
    uid: int
    gid: int
    prefix: list[str]  # argv prefix that runs a host command as this user
    python: str  # an interpreter that imports the installed sentry
    sentry: list[str]  # argv that runs the `sentry` console script
    shared: Path | None  # where share() puts copies (None: use them in place)
    _cleanup: list = field(default_factory=list, repr=False)

    @property
    def privileged(self) -> bool:
        return self.uid == 0

    def host_argv(self, argv: Sequence) -> list[str]:
        """argv run natively on the host as this user."""
        return [*self.prefix, *(str(a) for a in argv)]

    def sentry_argv(self, sentry_args: Sequence) -> list[str]:
        """``sentry ARGS...`` run as this user."""
        return [*self.prefix, *self.sentry, *(str(a) for a in sentry_args)]

    def env(self, env: dict | None = None) -> dict:
        """The environment for a run: the caller's (or ours), with a PATH this
        user can search."""
        env = dict(os.environ if env is None else env)
        if not self.privileged:
            env["PATH"] = SAFE_PATH
            env["HOME"] = "/"
        return env

    def share(self, path: Path) -> Path:
        """A copy of the file at path that this user can read and execute."""
        if self.shared is None:
            return Path(path)
        dest = self.shared / Path(path).name
        if not dest.exists():
            shutil.copy2(path, dest)
            dest.chmod(0o755)
        return dest

    def mkdtemp(self, tag: str = "t") -> Path:
        """A new directory outside pytest's private base, owned by this user
        (so that it is the user's to write), removed when the test ends."""
        path = Path(tempfile.mkdtemp(prefix=f"sentry-{tag}-"))
        os.chown(path, self.uid, self.gid)
        path.chmod(0o755)
        self._cleanup.append(path)
        return path

    def chown(self, *paths: Path) -> None:
        """Give paths (files or dirs the test made) to this user."""
        for path in paths:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def popen(self, sentry_args: Sequence, **kw) -> subprocess.Popen:
        """Start ``sentry ARGS...`` as this user. The caller kills and reaps
        it (the ``user_popen`` fixture does)."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("cwd", "/")
        # A session of its own: an app that signals its process group must
        # not reach the test runner.
        kw.setdefault("start_new_session", True)
        kw["env"] = self.env(kw.get("env"))
        return subprocess.Popen(self.sentry_argv(sentry_args), **kw)


def _popen_result(proc: subprocess.Popen, *, timeout: float, input: bytes | None) -> RunResult:
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_and_reap(proc)
        raise
    finally:
        if proc.poll() is None:
            kill_and_reap(proc)
    return RunResult(shell_status(proc.returncode), out, err)


def run_as(
    user: SandboxUser,
    sentry_args: Sequence,
    *,
    timeout: float,
    input: bytes | None = None,
    cwd: str | None = None,
    env: dict | None = None,
    pass_fds: Sequence[int] = (),
) -> RunResult:
    """Run ``sentry ARGS...`` as user and wait for it (capturing everything).

    The timeout is mandatory: past it sentry is killed and TimeoutExpired
    raised.
    """
    proc = user.popen(
        sentry_args,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd or "/",
        env=env,
        pass_fds=tuple(pass_fds),
    )
    return _popen_result(proc, timeout=timeout, input=input)


def run_host_as(user: SandboxUser, argv: Sequence, *, timeout: float, **kw) -> RunResult:
    """Run argv natively on the host as user (no sandbox)."""
    kw.setdefault("cwd", "/")
    kw.setdefault("start_new_session", True)
    kw["env"] = user.env(kw.get("env"))
    proc = subprocess.Popen(
        user.host_argv(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )
    return _popen_result(proc, timeout=timeout, input=None)


def run_python_as(user: SandboxUser, code: str, *, timeout: float) -> RunResult:
    """Run ``python -c code`` as user with the interpreter that has sentry."""
    return run_host_as(user, [user.python, "-P", "-c", code], timeout=timeout)


# --------------------------------------------------------------- fixtures


# unshare(CLONE_NEWUSER) as the probed user (os.unshare is new in 3.12).
_UNSHARE_PROBE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) != 0:
    sys.stderr.write(os.strerror(ctypes.get_errno()))
    sys.exit(3)
"""


def _userns_refusal() -> str | None:
    """Why uid 65534 cannot create a user namespace here, or None if it can."""
    probe = setpriv_prefix(NOBODY_UID, NOBODY_GID) + [SYSTEM_PYTHON, "-c", _UNSHARE_PROBE]
    try:
        p = run_native(probe, timeout=30, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"cannot run setpriv: {err}"
    stderr = p.stderr.decode(errors="replace")
    if p.returncode == 3:
        return f"the kernel refuses unprivileged user namespaces: unshare: {stderr.strip()}"
    if p.returncode != 0:
        pytest.fail(f"the user namespace probe failed:\n{stderr}")
    return None


@pytest.fixture(scope="session")
def nobody_install():
    """Build, once per session, a sentry installation that uid 65534 can run;
    skip if this machine cannot run sentry as that user."""
    for tool in ("setpriv", SYSTEM_PYTHON):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: cannot run sentry as uid {NOBODY_UID}")
    reason = _userns_refusal()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="sentry-nobody-"))
    try:
        root.chmod(0o755)
        src = root / "src"
        shutil.copytree(REPO_ROOT, src, ignore=_COPY_IGNORE, symlinks=True)
        venv = root / "venv"
        shared = root / "shared"
        shared.mkdir(mode=0o755)
        shared.chmod(0o755)
        for cmd in (
            [SYSTEM_PYTHON, "-m", "venv", str(venv)],
            # pytest too: the plugin is tested as this user.
            [str(venv / "bin" / "pip"), "install", "-q", "--no-cache-dir", str(src), "pytest"],
        ):
            p = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                cwd=root,
                preexec_fn=lambda: os.umask(0o022),
            )
            if p.returncode != 0:
                pytest.fail(f"building the unprivileged installation failed:\n{cmd}\n{p.stderr}")
        yield NobodyInstall(root=root, venv=venv, shared=shared)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _root_user() -> SandboxUser:
    return SandboxUser(
        name="root",
        uid=os.getuid(),
        gid=os.getgid(),
        prefix=[],
        python=sys.executable,
        sentry=sentry_cli(),
        shared=None,
    )


def _nobody_user(install: NobodyInstall) -> SandboxUser:
    return SandboxUser(
        name="nobody",
        uid=NOBODY_UID,
        gid=NOBODY_GID,
        prefix=setpriv_prefix(NOBODY_UID, NOBODY_GID),
        python=install.python,
        sentry=[install.sentry],
        shared=install.shared,
    )


@pytest.fixture(params=USERS)
def sandbox_user(request):
    """The user that runs sentry: "root" or "nobody" (uid 65534, no
    capabilities). The installation for nobody is built on first use."""
    if request.param == "root":
        if os.getuid() != 0:
            pytest.skip("the suite does not run as root")
        user = _root_user()
    else:
        if os.getuid() != 0:
            pytest.skip("only root can switch to uid 65534")
        user = _nobody_user(request.getfixturevalue("nobody_install"))
    yield user
    for path in user._cleanup:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def user_popen():
    """Factory: user_popen(user, sentry_args, **popen_kw) starts sentry as
    user; it is killed and reaped when the test ends."""
    procs = []

    def _popen(user: SandboxUser, sentry_args: Sequence, **kw) -> subprocess.Popen:
        proc = user.popen(sentry_args, **kw)
        procs.append(proc)
        return proc

    yield _popen
    for proc in procs:
        kill_and_reap(proc)
