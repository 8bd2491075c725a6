"""The escape suite: a hostile app tries to reach the host, and fails.

Each test runs tests/c/escape.c as the sandboxed app with the steps of one
class of attack, and judges the outcome only by what the test observes on
the host: files that appear or change, connections a host listener accepts,
processes that die, memory another process reports, fds in the host's /proc,
the user's keys, the mount table. What the app prints is never evidence (it
is shown in failure messages for the reader only). Where a test needs proof
that the app ran at all, the app writes a marker file into a ``--bind``
directory after its attempts, and the test checks for it.

Every test runs twice, as root and as nobody (uid 65534 without
capabilities; see tests/unprivileged.py). Root passes the ptrace and /proc
access checks that shield one process from another, so as root the
namespaces and the seccomp policy are all that stand in the way.

Known limits of the suite:
- ``kill(-1, SIGKILL)`` is not tried: where it escaped, it would kill the
  test runner (and, as root, nearly every process of the machine).
- Keys are looked up in /proc/keys, read as the sandbox's user (keyctl(1)
  only shows the keyrings of the user namespace it runs in).
"""

from __future__ import annotations

import fcntl
import os
import select
import shlex
import signal
import socket
import subprocess
import termios
import time
import tty
import uuid
from pathlib import Path

import pytest
from conftest import descendants, finish, kill_and_reap, read_cmdline, shell_status, wait_for

# Loaded as a plugin below: let pytest rewrite its asserts before this import.
pytest.register_assert_rewrite("unprivileged")
from unprivileged import SandboxUser, run_as, run_host_as  # noqa: E402

# The sandbox_user, nobody_install and user_popen fixtures.
pytest_plugins = ["unprivileged"]

# Seconds a sandboxed run may take; the slow ones get more.
TIMEOUT = 30
SENTRY_PID = object()  # in sentry's arguments: replaced by sentry's own pid
ORIGINAL = b"ORIGINAL\n"
VICTIM_PATTERN = (b"VICTIM-CANARY-0123456789abcdef\n" * 200)[:4096]

# What an escaped kernel object looks like in the host's /proc/PID/fd.
OBJECT_LINKS = ("anon_inode:bpf", "anon_inode:[perf_event]", "anon_inode:[userfaultfd]")


# ------------------------------------------------------------------ helpers


class Findings:
    """Collects the escapes a test observed, to report them all at once."""

    def __init__(self) -> None:
        self.escapes: list[str] = []

    def check(self, ok: bool, escape: str) -> None:
        if not ok:
            self.escapes.append(escape)

    def assert_none(self, stderr: bytes = b"") -> None:
        assert not self.escapes, (
            "the app escaped:\n- "
            + "\n- ".join(self.escapes)
            + "\n(app's own notes, not evidence:)\n"
            + stderr.decode(errors="replace")[-6000:]
        )


def steps(*groups) -> list[str]:
    """The app's argument words for these steps (each a list of words)."""
    words: list[str] = []
    for group in groups:
        if words:
            words.append("+")
        words += [w if w is SENTRY_PID else str(w) for w in group]
    return words


def sentry_args(
    exe, token, app_steps, *, binds=(), mounts=(), network=None, root=False, options=()
):
    """The words of ``sentry run ... -- escape TOKEN STEPS...``."""
    args: list = ["run", *options]
    for spec in binds:
        args += ["--bind", str(spec)]
    for spec in mounts:
        args += ["--mount", str(spec)]
    if network:
        args += ["--network", network]
    if root:
        args.append("--root")
    return [*args, "--", str(exe), token, *app_steps]


def own_pid_argv(user: SandboxUser, args, prelude: str = "") -> list[str]:
    """argv that runs ``sentry ARGS`` as user with SENTRY_PID in ARGS
    replaced by sentry's pid: a shell runs prelude, then execs sentry,
    keeping its pid ($$)."""
    words = " ".join("$$" if a is SENTRY_PID else shlex.quote(str(a)) for a in args)
    script = prelude + "exec " + " ".join(shlex.quote(w) for w in user.sentry) + " " + words
    return user.host_argv(["sh", "-c", script])


def run_own_pid(user: SandboxUser, args, *, timeout: float, prelude: str = ""):
    """Run sentry with its pid in its arguments, in a session of its own
    (so that the test runner is in no process group of the sandbox's);
    returns (status, stdout, stderr)."""
    proc = subprocess.Popen(
        own_pid_argv(user, args, prelude),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd="/",
        env=user.env(),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        kill_and_reap(proc)
    return shell_status(proc.returncode), out, err


def token_pids(token: str) -> list[int]:
    """Live (not zombie) processes whose command line carries token."""
    mark = token.encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            cmdline = read_cmdline(entry)
            if cmdline and mark in cmdline:
                found.append(int(entry))
    return found


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (names a process across pid reuse), or None
    if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def snapshot(pids) -> dict[int, str]:
    return {pid: t for pid in pids if (t := start_time(pid)) is not None}


def survivors(snap: dict[int, str]) -> list[int]:
    return [pid for pid, t in snap.items() if start_time(pid) == t]


def describe(pids) -> str:
    """'PID (command line)' for each of pids."""

    def cmdline(pid):
        return (read_cmdline(pid) or b"?").replace(bytes(1), b" ").decode(errors="replace")

    return ", ".join(f"{pid} ({cmdline(pid)[:120]})" for pid in pids)


def wait_gone(snap: dict[int, str], token: str, timeout: float = 5.0) -> list[int]:
    """Wait until none of snap's processes and no token process lives; return
    those still alive after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        alive = sorted(set(survivors(snap)) | set(token_pids(token)))
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def wait_file(path: Path, proc: subprocess.Popen | None = None, timeout: float = TIMEOUT) -> bool:
    """Wait until path exists (or proc ended); return whether it exists."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            return path.exists()
        time.sleep(0.02)
    return True


def heartbeats(prefix: Path) -> dict[str, bytes]:
    """The heartbeat files next to prefix and their contents."""
    beats = {}
    for path in prefix.parent.glob(prefix.name + ".*"):
        try:
            beats[path.name] = path.read_bytes()
        except OSError:
            pass
    return beats


def put(path: Path, data: bytes, user: SandboxUser) -> Path:
    path.write_bytes(data)
    user.chown(path)
    return path


def publish(path: Path, text: str) -> None:
    """Write a file the app waits for, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    tmp.rename(path)


def mountinfo_lines(*needles: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if any(n in line for n in needles)]


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def token():
    """A word unique to the test, carried in the command line of every
    process of its sandbox; those left at the end are killed."""
    word = f"escape-{uuid.uuid4().hex[:16]}"
    yield word
    for pid in token_pids(word):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def escape(c_program, sandbox_user):
    """The escape program, where the sandbox's user can run it."""
    return sandbox_user.share(c_program("escape"))


@pytest.fixture
def shared(sandbox_user):
    """A host dir of the user's, shared with the app as /shared."""
    return sandbox_user.mkdtemp("shared")


@pytest.fixture
def outside(sandbox_user):
    """A host dir of the user's that no --bind shares."""
    return sandbox_user.mkdtemp("outside")


@pytest.fixture
def host_spawn(sandbox_user):
    """Factory: start a host process as the sandbox's user (not sandboxed),
    in a session of its own; killed and reaped when the test ends."""
    procs = []

    def _spawn(argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("cwd", "/")
        proc = subprocess.Popen(
            sandbox_user.host_argv(argv), start_new_session=True, env=sandbox_user.env(), **kw
        )
        procs.append(proc)
        return proc

    yield _spawn
    for proc in procs:
        kill_and_reap(proc)


@pytest.fixture
def listener():
    """A TCP listener on the host's 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    yield sock
    sock.close()


def accepted(sock: socket.socket, wait: float = 0.3) -> list[bytes]:
    """What each connection to sock sent (connections made while nobody
    accepted wait in the backlog)."""
    got = []
    while select.select([sock], [], [], wait)[0]:
        conn, _ = sock.accept()
        with conn:
            conn.settimeout(2)
            try:
                got.append(conn.recv(4096))
            except OSError:
                got.append(b"")
        wait = 0.05
    return got


# ------------------------------------------------------------- files, network


def test_write_outside_binds(sandbox_user, escape, token, shared, outside):
    """Writes land in a --bind dir, and nowhere else: not in a host dir the
    user owns, not in /tmp, not through a :ro bind."""
    ro = sandbox_user.mkdtemp("ro")
    put(outside / "existing", ORIGINAL, sandbox_user)
    put(ro / "existing", ORIGINAL, sandbox_user)
    in_tmp = Path(f"/tmp/{token}")
    data = f"written-by-{token}"
    app = steps(
        ["write", outside / "new", data],
        ["write", outside / "existing", data],
        ["write", in_tmp, data],
        ["write", "/ro/new", data],
        ["write", "/ro/existing", data],
        ["write", "/shared/new", data],
        ["done", "/shared/done"],
    )
    try:
        r = run_as(
            sandbox_user,
            sentry_args(escape, token, app, binds=[f"{shared}:/shared", f"{ro}:/ro:ro"]),
            timeout=TIMEOUT,
        )
        assert r.returncode == 0, r.stderr
        assert (shared / "done").exists(), f"the app never finished:\n{r.stderr}"
        # The positive control: a read-write bind is the host's dir.
        assert data.encode() in (shared / "new").read_bytes()
        found = Findings()
        found.check(not (outside / "new").exists(), f"created {outside}/new on the host")
        found.check((outside / "existing").read_bytes() == ORIGINAL, f"changed {outside}/existing")
        found.check(not in_tmp.exists(), f"created {in_tmp} on the host")
        found.check(not (ro / "new").exists(), "created a file through a :ro bind")
        found.check((ro / "existing").read_bytes() == ORIGINAL, "changed a file of a :ro bind")
        found.assert_none(r.stderr)
    finally:
        in_tmp.unlink(missing_ok=True)


def test_read_only_bind_covers_the_mounts_below_it(sandbox_user, escape, token, shared):
    """A :ro bind is read-only all the way down: a host mount below the
    bound directory (a tmpfs the test mounts there, as root) is read-only
    in the sandbox too."""
    if os.geteuid() != 0:
        pytest.skip("mounting the host's tmpfs needs root")
    ro = sandbox_user.mkdtemp("ro-rec")
    sub = ro / "sub"
    sub.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=777", "ro-rec", str(sub)],
        check=True,
        timeout=10,
    )
    try:
        app = steps(["write", "/ro/sub/new", "data"], ["done", "/shared/done"])
        r = run_as(
            sandbox_user,
            sentry_args(escape, token, app, binds=[f"{shared}:/shared", f"{ro}:/ro:ro"]),
            timeout=TIMEOUT,
        )
        assert r.returncode == 0, r.stderr
        assert (shared / "done").exists(), f"the app never finished:\n{r.stderr}"
        assert not (sub / "new").exists(), "wrote through a mount below a :ro bind"
    finally:
        subprocess.run(["umount", "-l", str(sub)], timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("network", [None, "host"], ids=["network-none", "network-host"])
def test_connect_to_host_listener(sandbox_user, escape, token, shared, listener, network):
    """No connection reaches a host listener on 127.0.0.1, unless the app
    has the host's network (--network host: the positive control)."""
    port = listener.getsockname()[1]
    app = steps(["connect", port, token], ["done", "/shared/done"])
    r = run_as(
        sandbox_user,
        sentry_args(escape, token, app, binds=[f"{shared}:/shared"], network=network),
        timeout=TIMEOUT,
    )
    assert r.returncode == 0, r.stderr
    assert (shared / "done").exists(), f"the app never finished:\n{r.stderr}"
    got = accepted(listener)
    if network == "host":
        assert got == [token.encode()], r.stderr
    else:
        found = Findings()
        found.check(got == [], f"the host listener accepted {len(got)} connection(s): {got}")
        found.assert_none(r.stderr)


# ------------------------------------------------------------------ processes


def test_kill_sentry_and_host_process(sandbox_user, escape, token, shared, outside, host_spawn):
    """The app cannot kill sentry or another process of its user, by pid,
    by process group, or by kill(0) on the process group it was started in
    (where a host process of sentry's group sits); the run ends with the
    app's own status. The app leads a process group of its own (as a shell
    job does), so that last kill(0) kills the app itself, as it would
    natively kill the job's own group: status 137, with sentry alive to
    report it."""
    sleeper = host_spawn(["sleep", "60"])
    wait_for(lambda: read_cmdline(sleeper.pid) == b"sleep\x0060\x00", what="sleep to start")
    mate_pid = outside / "group-mate"
    # A host process in sentry's process group, started by the shell that
    # then becomes sentry (its output elsewhere, so it holds no pipe of ours).
    prelude = (
        f"{shlex.quote(str(escape))} {token} sleep 60 >/dev/null 2>&1 & echo $! > {mate_pid}; "
    )
    app = steps(
        ["kill", SENTRY_PID],
        ["kill", sleeper.pid],
        ["killgroup", sleeper.pid],
        ["killgroup", SENTRY_PID],
        ["done", "/shared/done"],
        ["killpgrp", int(signal.SIGKILL)],
        ["exit", 7],
    )
    status, _, err = run_own_pid(
        sandbox_user,
        sentry_args(escape, token, app, binds=[f"{shared}:/shared"]),
        timeout=TIMEOUT,
        prelude=prelude,
    )
    mate = int(mate_pid.read_text())
    found = Findings()
    found.check(status == 137, f"sentry's run ended with status {status}, not the app's 137")
    found.check(sleeper.poll() is None, f"the host's sleep was killed ({sleeper.returncode})")
    found.check(start_time(mate) is not None, "the host process in sentry's group was killed")
    found.assert_none(err)
    assert (shared / "done").exists(), f"the app never finished:\n{err}"


@pytest.mark.parametrize("where", ["native", "sandbox"])
def test_tiocsti_into_host_terminal(sandbox_user, escape, token, shared, where):
    """Sentry's terminal (a pty the test holds, made sentry's controlling
    terminal) gets no input pushed by the app with TIOCSTI. Natively, the
    same step does push it (so the check means something)."""
    master, slave = os.openpty()
    try:
        tty.setraw(slave)
        user_slave = os.dup(slave)
        os.fchown(slave, sandbox_user.uid, -1)

        def controlling_tty():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        if where == "native":
            argv = sandbox_user.host_argv(
                [escape, token, *steps(["tiocsti", token], ["done", shared / "done"])]
            )
        else:
            app = steps(["tiocsti", token], ["done", "/shared/done"], ["exit", 0])
            args = sentry_args(escape, token, app, binds=[f"{shared}:/shared"])
            argv = sandbox_user.sentry_argv(args)
        proc = subprocess.Popen(
            argv,
            env=sandbox_user.env(),
            cwd="/",
            start_new_session=True,
            stdin=user_slave,
            stdout=user_slave,
            stderr=user_slave,
            preexec_fn=controlling_tty,
        )
        os.close(user_slave)
        try:
            proc.wait(timeout=TIMEOUT)
        finally:
            kill_and_reap(proc)
        os.set_blocking(slave, False)
        try:
            pushed = os.read(slave, 4096)
        except BlockingIOError:
            pushed = b""
        os.set_blocking(master, False)
        try:
            said = os.read(master, 65536)
        except (BlockingIOError, OSError):
            said = b""
    finally:
        os.close(master)
        os.close(slave)
    assert (shared / "done").exists(), f"the app never finished:\n{said!r}"
    assert proc.returncode == 0, said
    if where == "native":
        assert token.encode() in pushed, said
        return
    found = Findings()
    found.check(token.encode() not in pushed, f"input pushed into the host's terminal: {pushed!r}")
    found.assert_none(said)


def _start_victim(user, escape, outside, host_spawn):
    """Start a victim: a host process of the user's that holds a buffer and
    a host file open. Returns (Popen, its words: pid, buffer address, length,
    fd; the file; the path of its report)."""
    victim_file = put(outside / "victim-file", ORIGINAL, user)
    ready, dump = outside / "ready", outside / "dump"
    victim = host_spawn([escape, "victim", ready, dump, victim_file])
    assert wait_file(ready, victim, timeout=10), "the victim did not start"
    words = ready.read_text().split()
    assert int(words[0]) == victim.pid
    return victim, words, victim_file, dump


def _victim_report(victim: subprocess.Popen, dump: Path) -> bytes:
    """Have the victim report its buffer (it may have been left stopped)."""
    try:
        os.kill(victim.pid, signal.SIGCONT)
        os.kill(victim.pid, signal.SIGUSR1)
    except ProcessLookupError:
        pass
    wait_file(dump, victim, timeout=10)
    return dump.read_bytes() if dump.exists() else b"(no report)"


def test_memory_native_half(sandbox_user, escape, token, outside, host_spawn):
    """Natively, the same steps do write the victim's memory and file (so
    an unchanged victim in the sandbox means something)."""
    victim, (vpid, vaddr, vlen, vfd), victim_file, dump = _start_victim(
        sandbox_user, escape, outside, host_spawn
    )
    app = steps(["memwrite", vpid, vaddr, vlen], ["stealfd", vpid, vfd])
    r = run_host_as(sandbox_user, [escape, token, *app], timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    buffer = _victim_report(victim, dump)
    assert buffer != VICTIM_PATTERN and b"PWNED!!!" in buffer, buffer[:64]
    assert b"STOLEN" in victim_file.read_bytes()


def _sentry_canary(pid: int, name: bytes) -> tuple[int, bytes]:
    """Address and value of environment variable name in pid's memory (its
    environ block, which /proc/PID/environ reads live)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    env_start = int(fields[47])  # field 50 of proc(5), counted from 1
    with open(f"/proc/{pid}/environ", "rb") as f:
        environ = f.read()
    at = environ.index(bytes(1) + name + b"=") + 1 + len(name) + 1
    return env_start + at, environ[at : environ.index(bytes(1), at)]


def _fd_of(pid: int, path: Path) -> int | None:
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return int(fd)
    except OSError:
        pass
    return None


def test_memory_and_fds_of_other_processes(
    sandbox_user, escape, token, shared, outside, host_spawn, user_popen
):
    """The app can write neither into the memory of a host process of its
    user (a victim) nor into sentry's: ptrace POKEDATA after ATTACH or
    SEIZE, process_vm_writev, /proc/PID/mem. Nor can it write through their
    fds (pidfd_getfd, /proc/PID/fd/N) or their roots (/proc/PID/root)."""
    victim, (vpid, vaddr, vlen, vfd), victim_file, dump = _start_victim(
        sandbox_user, escape, outside, host_spawn
    )

    # Sentry, with a canary in its environment and a host file open (its
    # debug log).
    canary_name = b"SENTRY_ESCAPE_CANARY"
    canary = uuid.uuid4().hex * 2
    sentry_file = outside / "sentry.log"
    app = steps(
        ["argsfile", "/shared/args"],
        ["done", "/shared/done"],
        ["waitfile", "/shared/finish", TIMEOUT],
        ["exit", 5],
    )
    proc = user_popen(
        sandbox_user,
        sentry_args(
            escape, token, app, binds=[f"{shared}:/shared"], options=["--debug-log", sentry_file]
        ),
        env={**os.environ, canary_name.decode(): canary},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    spid = proc.pid
    # Once the app runs, sentry is the interpreter for good.
    wait_for(
        lambda: proc.poll() is not None or any(p != spid for p in token_pids(token)),
        what="the app to start",
    )
    assert proc.poll() is None, finish(proc)[1]
    saddr, before = _sentry_canary(spid, canary_name)
    assert before == canary.encode()
    sentry_held_fd = _fd_of(spid, sentry_file)
    assert sentry_held_fd is not None, "sentry does not hold its debug log open"
    publish(
        shared / "args",
        " ".join(
            steps(
                ["memwrite", vpid, vaddr, vlen],
                ["memwrite", spid, saddr, len(canary)],
                ["stealfd", vpid, vfd],
                ["stealall", spid],
                ["procroot", vpid, outside / "via-victim-root", token],
                ["procroot", spid, outside / "via-sentry-root", token],
            )
        )
        + "\n",
    )
    marker = wait_file(shared / "done", proc)
    sentry_alive = proc.poll() is None
    after = _sentry_canary(spid, canary_name)[1] if sentry_alive else None
    (shared / "finish").touch()
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_and_reap(proc)
        pytest.fail("the run did not end")

    victim_alive = start_time(victim.pid) is not None
    buffer = _victim_report(victim, dump)
    found = Findings()
    found.check(victim_alive, "the victim died")
    found.check(buffer == VICTIM_PATTERN, f"the victim's buffer changed: {buffer[:64]!r}")
    found.check(sentry_alive, f"sentry died during the attempts ({proc.returncode})")
    found.check(after in (None, before), f"sentry's memory changed: {before!r} -> {after!r}")
    found.check(proc.returncode == 5, f"the run ended with status {proc.returncode}, not 5")
    found.check(victim_file.read_bytes() == ORIGINAL, "wrote the victim's file through its fd")
    found.check(
        b"STOLEN" not in sentry_file.read_bytes(),
        f"wrote sentry's debug log through its fd {sentry_held_fd}",
    )
    for name in ("via-victim-root", "via-sentry-root"):
        found.check(
            not (outside / name).exists(), f"created {outside}/{name} through /proc/PID/root"
        )
    found.assert_none(err)
    assert marker, f"the app never finished:\n{err.decode(errors='replace')}"


# ------------------------------------------------------------ kernel objects


def _object_fds(pids) -> list[str]:
    """The escaped kernel objects among pids' fds, as 'PID: LINK'."""
    found = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith(OBJECT_LINKS) or link == "/dev/userfaultfd":
                found.append(f"{pid}: {link}")
    return found


def _keys(user: SandboxUser, desc: str) -> list[str]:
    """Lines of /proc/keys, read as user, that name desc."""
    r = run_host_as(user, ["cat", "/proc/keys"], timeout=10)
    assert r.returncode == 0, r.stderr
    return [line for line in r.stdout.decode().splitlines() if desc in line]


def _objects_run(user, argv_or_args, *, sandboxed, token, shared, user_popen, host_spawn):
    """Start the objects attempt, wait until it holds what it could make, and
    return (proc, pids of its processes, done-marker path)."""
    if sandboxed:
        proc = user_popen(user, argv_or_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    else:
        proc = host_spawn(argv_or_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = shared / "done"
    assert wait_file(done, proc), f"the app never got past its attempts: {finish(proc)[1]}"
    pids = set(descendants(proc.pid)) | set(token_pids(token)) | {proc.pid}
    return proc, pids


def test_kernel_objects_native_half(sandbox_user, escape, token, shared, host_spawn, user_popen):
    """Natively, the same steps make objects that the checks below find (so
    an empty finding in the sandbox means something)."""
    desc = f"key-{token}"
    argv = [
        escape,
        token,
        *steps(
            ["objects", desc], ["done", shared / "done"], ["waitfile", shared / "finish", TIMEOUT]
        ),
    ]
    proc, pids = _objects_run(
        sandbox_user,
        argv,
        sandboxed=False,
        token=token,
        shared=shared,
        user_popen=user_popen,
        host_spawn=host_spawn,
    )
    links = _object_fds(pids)
    keys = _keys(sandbox_user, desc)
    (shared / "finish").touch()
    proc.communicate(timeout=TIMEOUT)
    assert any("perf_event" in link for link in links), links
    assert any("userfaultfd" in link for link in links), links
    if sandbox_user.privileged:
        assert any("bpf" in link for link in links), links
    assert keys, "add_key made no key visible in /proc/keys"


def test_kernel_objects(sandbox_user, escape, token, shared, host_spawn, user_popen):
    """bpf maps, perf events, userfaultfds and keys: none can be made."""
    desc = f"key-{token}"
    app = steps(
        ["objects", desc],
        ["done", "/shared/done"],
        ["waitfile", "/shared/finish", TIMEOUT],
        ["exit", 0],
    )
    proc, pids = _objects_run(
        sandbox_user,
        sentry_args(escape, token, app, binds=[f"{shared}:/shared"]),
        sandboxed=True,
        token=token,
        shared=shared,
        user_popen=user_popen,
        host_spawn=host_spawn,
    )
    links = _object_fds(pids - {proc.pid})
    keys = _keys(sandbox_user, desc)
    (shared / "finish").touch()
    _, err = proc.communicate(timeout=TIMEOUT)
    keys_after = _keys(sandbox_user, desc)
    found = Findings()
    found.check(not links, f"the app holds kernel objects: {links}")
    found.check(not keys, f"the app made keys: {keys}")
    found.check(not keys_after, f"the app's keys outlive it: {keys_after}")
    found.assert_none(err)
    assert proc.returncode == 0, err


# ------------------------------------------------------------------ mounts


@pytest.mark.parametrize("root", [False, True], ids=["app-uid", "app-root"])
def test_mount_over_host_dir(sandbox_user, escape, token, shared, root):
    """mount(2) (tmpfs, bind), the new mount API and open_tree change
    neither the host's mount table nor a host dir."""
    target = sandbox_user.mkdtemp("target")
    put(target / "sentinel", ORIGINAL, sandbox_user)
    before = mountinfo_lines(str(target), " escape ")
    app = steps(["mounthost", target], ["done", "/shared/done"])
    r = run_as(
        sandbox_user,
        sentry_args(escape, token, app, binds=[f"{shared}:/shared"], root=root),
        timeout=TIMEOUT,
    )
    after = mountinfo_lines(str(target), " escape ")
    assert r.returncode == 0, r.stderr
    assert (shared / "done").exists(), f"the app never finished:\n{r.stderr}"
    found = Findings()
    found.check(after == before, f"the host's mount table changed: {after}")
    found.check(
        sorted(os.listdir(target)) == ["sentinel"]
        and (target / "sentinel").read_bytes() == ORIGINAL,
        f"the host dir changed: {sorted(os.listdir(target))}",
    )
    found.assert_none(r.stderr)


MOUNT_MANY = """
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
for i in range(80):
    os.mkdir(f"/tmp/m{i}")
    libc.mount(b"x", f"/tmp/m{i}".encode(), b"tmpfs", 0, None)
open("/shared/ready", "w").close()
time.sleep(60)
"""


@pytest.mark.slow
def test_tmpfs_mounts_cannot_flood_the_host(sandbox_user, shared, user_popen):
    """Each tmpfs an app mounts is a server process outside the sandbox: an
    app that mounts 80 gets at most 64 of them (the rest are ENOSPC), seen
    from the host as sentry's processes."""
    args = ["run", "--root", "--bind", f"{shared}:/shared", "--", "python3", "-c", MOUNT_MANY]
    proc = user_popen(sandbox_user, args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert wait_file(shared / "ready", proc, timeout=60), finish(proc)[1]
    servers = [
        pid for pid in descendants(proc.pid) if b"sentry.fuse_server" in (read_cmdline(pid) or b"")
    ]
    assert 0 < len(servers) <= 64, len(servers)


@pytest.mark.slow
def test_setns_into_host_namespaces(
    sandbox_user, escape, token, shared, outside, listener, host_spawn
):
    """Joining the net or mount namespace of a host process (the test's own,
    a sleep of the user's), by /proc/PID/ns or by pidfd, or by namespace fds
    handed down to the app, reaches neither the host listener nor the host's
    files."""
    sleeper = host_spawn(["sleep", "60"])
    port = listener.getsockname()[1]
    netfd = os.open("/proc/self/ns/net", os.O_RDONLY)
    mntfd = os.open("/proc/self/ns/mnt", os.O_RDONLY)
    app = steps(
        ["setns", os.getpid(), port, token, outside / "via-setns-test"],
        ["setns", sleeper.pid, port, token, outside / "via-setns-sleep"],
        ["setnsfd", netfd, mntfd, port, token, outside / "via-setns-fd"],
        ["done", "/shared/done"],
    )
    try:
        r = run_as(
            sandbox_user,
            sentry_args(escape, token, app, binds=[f"{shared}:/shared"]),
            timeout=TIMEOUT,
            pass_fds=(netfd, mntfd),
        )
    finally:
        os.close(netfd)
        os.close(mntfd)
    assert r.returncode == 0, r.stderr
    assert (shared / "done").exists(), f"the app never finished:\n{r.stderr}"
    got = accepted(listener)
    found = Findings()
    found.check(got == [], f"the host listener accepted {len(got)} connection(s)")
    for name in ("via-setns-test", "via-setns-sleep", "via-setns-fd"):
        found.check(not (outside / name).exists(), f"created {outside}/{name} after setns")
    found.assert_none(r.stderr)


# -------------------------------------------------------- mount bypasses


@pytest.mark.slow
@pytest.mark.parametrize("root", [False, True], ids=["app-uid", "app-root"])
def test_mount_bypasses(sandbox_user, escape, token, root):
    """With --bind TMP:/shared --mount /shared/mnt=memfs, every way around
    sentry's path check leaves the host dir TMP/mnt empty: /proc/self/root,
    /proc/self/fd/N of O_PATH and O_DIRECTORY fds, /proc/self/cwd, a host
    symlink into the mount, '..', chroot, bind() of a socket, mknod, rename,
    link, name_to_handle_at/open_by_handle_at, open_tree, a thread and a
    CLONE_VM sibling racing the path, a vfork child, a seccomp USER_NOTIF
    filter of the app's own. The files' names say which way."""
    tmp = _bypass_dir(sandbox_user)
    app = steps(["bypass", "/shared"], ["done", "/shared/done"])
    r = run_as(
        sandbox_user,
        sentry_args(
            escape, token, app, binds=[f"{tmp}:/shared"], mounts=["/shared/mnt=memfs"], root=root
        ),
        timeout=2 * TIMEOUT,
    )
    assert (tmp / "done").exists(), f"the app never finished ({r.returncode}):\n{r.stderr}"
    found = Findings()
    landed = sorted(os.listdir(tmp / "mnt"))
    found.check(landed == [], f"files reached the host dir under the mount: {landed}")
    found.assert_none(r.stderr)
    assert r.returncode == 0, r.stderr


def test_umount_of_a_sentry_mount(sandbox_user, escape, token):
    """An app that is not root in its user namespace cannot take a --mount
    away (umount2 needs CAP_SYS_ADMIN there), so what lies under it stays out
    of reach. (Root in the namespace may: then the host dir under it is the
    bind's own, which the app may write anyway.)"""
    if sandbox_user.privileged:
        pytest.skip("as root the app is uid 0 in its user namespace: umount2 is its right")
    tmp = _bypass_dir(sandbox_user)
    app = steps(["umount", "/shared/mnt"], ["done", "/shared/done"])
    r = run_as(
        sandbox_user,
        sentry_args(escape, token, app, binds=[f"{tmp}:/shared"], mounts=["/shared/mnt=memfs"]),
        timeout=TIMEOUT,
    )
    assert (tmp / "done").exists(), f"the app never finished ({r.returncode}):\n{r.stderr}"
    found = Findings()
    landed = sorted(os.listdir(tmp / "mnt"))
    found.check(landed == [], f"umount2 worked without privilege, then files landed: {landed}")
    found.assert_none(r.stderr)


def _bypass_dir(user: SandboxUser) -> Path:
    """TMP for the bypass tests: TMP/mnt (empty, where the memfs mount goes),
    symlinks to it, a deep host dir, files to rename and link."""
    tmp = user.mkdtemp("bypass")
    for d in ("mnt", "deep/x/y"):
        (tmp / d).mkdir(parents=True)
    (tmp / "link-abs").symlink_to(tmp / "mnt")
    (tmp / "link-rel").symlink_to("mnt")
    put(tmp / "rename-me", ORIGINAL, user)
    put(tmp / "link-me", ORIGINAL, user)
    user.chown(*tmp.rglob("*"))
    return tmp


# ------------------------------------------------------------ sentry itself


def test_hostile_arguments(sandbox_user, escape, token, shared):
    """lseek past 2^63, huge counts and bad pointers on a memfs file: sentry
    answers and the app goes on."""
    app = steps(["hostile", "/data/f"], ["done", "/shared/after-hostile"], ["exit", 0])
    r = run_as(
        sandbox_user,
        sentry_args(escape, token, app, binds=[f"{shared}:/shared"], mounts=["/data=memfs"]),
        timeout=TIMEOUT,
    )
    assert b"Traceback" not in r.stderr, r.stderr.decode(errors="replace")
    assert (shared / "after-hostile").exists(), f"the app did not go on:\n{r.stderr}"
    assert r.returncode == 0, r.stderr


def test_attach_to_sentry_then_sigterm(sandbox_user, escape, token, shared):
    """The app PTRACE_ATTACHes sentry (signals not blocked) and sends it
    SIGTERM: neither stops sentry, and the run ends with the app's status."""
    app = steps(
        ["attach", SENTRY_PID],
        ["done", "/shared/after-attach"],
        ["signal", SENTRY_PID, int(signal.SIGTERM)],
        ["done", "/shared/after-signal"],
        ["exit", 6],
    )
    try:
        status, _, err = run_own_pid(
            sandbox_user,
            sentry_args(escape, token, app, binds=[f"{shared}:/shared"]),
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run did not end within {TIMEOUT} s")
    assert b"Traceback" not in err, err.decode(errors="replace")
    found = Findings()
    found.check((shared / "after-attach").exists(), "the app did not go on after attaching")
    found.check((shared / "after-signal").exists(), "the app did not go on after SIGTERM")
    found.check(status == 6, f"the run ended with status {status}, not the app's 6")
    found.assert_none(err)


def test_sigterm_to_sentry_ends_the_run(sandbox_user, escape, token, shared, user_popen):
    """SIGTERM from the host ends a run promptly, without a traceback and
    without leftovers."""
    app = steps(["done", "/shared/started"], ["sleep", TIMEOUT])
    proc = user_popen(
        sandbox_user,
        sentry_args(escape, token, app, binds=[f"{shared}:/shared"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert wait_file(shared / "started", proc), finish(proc)[1]
    snap = snapshot(set(descendants(proc.pid)) | set(token_pids(token)))
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("sentry did not end within 10 s of SIGTERM")
    assert b"Traceback" not in err, err.decode(errors="replace")
    left = wait_gone(snap, token)
    assert not left, f"processes of the sandbox survive: {describe(left)}"


@pytest.mark.slow
def test_fork_bomb(sandbox_user, escape, token, shared):
    """500 sleeping children, then the app exits: the run ends and none of
    them is left on the host."""
    app = steps(["forkbomb", 500, 50], ["done", "/shared/done"], ["exit", 0])
    try:
        r = run_as(
            sandbox_user,
            sentry_args(escape, token, app, binds=[f"{shared}:/shared"]),
            timeout=2 * TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run did not end within {2 * TIMEOUT} s")
    left = wait_gone({}, token)
    assert not left, f"{len(left)} processes of the sandbox survive: {describe(left[:5])}"
    assert (shared / "done").exists(), f"the app never finished:\n{r.stderr}"
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------ sentry killed


def _kill_sentry(proc: subprocess.Popen, token: str) -> dict[int, str]:
    """SIGKILL sentry; return a snapshot of its processes just before."""
    snap = snapshot(set(descendants(proc.pid)) | set(token_pids(token)))
    proc.kill()
    proc.wait(timeout=10)
    return snap


def _heartbeat_stopped(prefix: Path) -> tuple[bool, dict]:
    first = heartbeats(prefix)
    time.sleep(0.3)
    second = heartbeats(prefix)
    return first == second, second


@pytest.mark.slow
def test_clone_untraced_dies_with_sentry(sandbox_user, escape, token, shared, user_popen):
    """A child made with CLONE_UNTRACED (raw clone, clone3) keeps no
    heartbeat once sentry is SIGKILLed, and no process of the sandbox
    survives."""
    hb = shared / "hb"
    app = steps(["untraced", "/shared/hb"], ["done", "/shared/done"], ["sleep", TIMEOUT])
    proc = user_popen(
        sandbox_user,
        sentry_args(escape, token, app, binds=[f"{shared}:/shared"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert wait_file(shared / "done", proc), finish(proc)[1]
    assert wait_file(shared / "hb.traced", proc), "the traced child keeps no heartbeat"
    snap = _kill_sentry(proc, token)
    left = wait_gone(snap, token)
    stopped, beats = _heartbeat_stopped(hb)
    found = Findings()
    found.check(not left, f"processes of the sandbox survive sentry: {describe(left)}")
    found.check(stopped, f"heartbeats go on after sentry died: {sorted(beats)}")
    found.assert_none(proc.stderr.read())


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.3, 1.0])
def test_sentry_sigkilled_at_any_moment(sandbox_user, escape, token, shared, user_popen, delay):
    """SIGKILL to sentry while the app forks, execs, runs threads and tries
    CLONE_UNTRACED: no process of the sandbox survives, no heartbeat goes
    on."""
    hb = shared / "hb"
    app = steps(["churn", "/shared/hb"])
    proc = user_popen(
        sandbox_user,
        sentry_args(escape, token, app, binds=[f"{shared}:/shared"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(delay)
    snap = _kill_sentry(proc, token)
    left = wait_gone(snap, token)
    stopped, beats = _heartbeat_stopped(hb)
    found = Findings()
    found.check(not left, f"processes of the sandbox survive sentry: {describe(left)}")
    found.check(stopped, f"heartbeats go on after sentry died: {sorted(beats)}")
    err = proc.stderr.read()
    found.assert_none(err)
    if delay >= 1.0:
        assert "hb.traced" in beats, f"the app was not running when sentry was killed:\n{err}"
