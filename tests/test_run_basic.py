"""`sentry run`: exit statuses, signal deaths, launch errors and CLI usage.

In this milestone every syscall reaches the host, so a program's exit status,
stdout and stderr must be exactly what they are natively.
"""

import os
import shutil
import subprocess
import sys
import time

import pytest
from conftest import (
    SHARED_BINDS,
    descendants,
    finish,
    kill_leftovers,
    pids_with_cmdline,
    read_cmdline,
    run_cli,
    run_native,
    run_sandbox,
    sentry_cli,
    wait_for,
)

from sentry.pytest_plugin import Both

# ------------------------------------------------------------ exit status


@pytest.mark.parametrize(
    "argv",
    [
        ["true"],
        ["false"],
        ["sh", "-c", "exit 42"],
        ["sh", "-c", "exit 255"],
        ["sh", "-c", "echo out; echo err >&2; exit 7"],
        ["sh", "-c", "kill -TERM $$"],
        ["sh", "-c", "kill -USR1 $$"],
        ["cat", "/no/such/file"],
    ],
    ids=["true", "false", "exit42", "exit255", "out-err-7", "sigterm", "sigusr1", "cat-enoent"],
)
def test_exit_status_and_output(run_both, argv):
    run_both(argv).assert_same()


@pytest.mark.parametrize(
    ("program", "status"),
    [("segv", 128 + 11), ("kill_self", 128 + 9)],
)
def test_killed_by_signal(c_program, program, status):
    exe = c_program(program)
    native = run_native([exe])
    assert native.returncode == status  # run_native converts -N to 128+N
    assert native.stdout == b"before\n"
    sandboxed = run_sandbox([exe])
    Both(native, sandboxed).assert_same()


def test_stdin_is_passed_through(run_both):
    data = b"".join(b"line %d\n" % i for i in range(5000))
    both = run_both(["cat"], input=data)
    assert both.native.stdout == data
    both.assert_same()


def test_large_output(run_both):
    both = run_both(["seq", "1", "200000"])
    assert len(both.native.stdout) > 1_000_000
    both.assert_same()


def test_cwd_and_env(run_both, tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SENTRY_TEST_VAR": "a b\tc"}
    argv = ["sh", "-c", 'pwd; printf "%s\\n" "$SENTRY_TEST_VAR"; env | sort']
    both = run_both(argv, cwd=tmp_path, env=env)
    assert both.native.stdout.startswith(str(tmp_path).encode() + b"\na b\tc\n")
    both.assert_same()


def test_environment_is_unchanged(run_both):
    """The app sees exactly the environment it would natively."""
    # An explicit env: the C-level environment of this process can differ
    # from os.environ (a library's setenv), and that is not sentry's doing.
    both = run_both(["env", "-0"], env=dict(os.environ))
    native, sandboxed = both.native, both.sandbox
    assert sorted(sandboxed.stdout.split(b"\0")) == sorted(native.stdout.split(b"\0"))
    assert sandboxed.returncode == native.returncode == 0


def test_signal_state_is_native(run_both):
    """sentry is a Python program: Python ignores SIGPIPE, and a helper thread
    may block signals. The app must start with what it would get natively."""
    argv = ["grep", "-E", "^(SigBlk|SigIgn|SigCgt|NoNewPrivs|Seccomp):", "/proc/self/status"]
    both = run_both(argv)
    native, sandboxed = both.native, both.sandbox
    keep = (b"SigBlk", b"SigIgn", b"SigCgt")
    assert [ln for ln in sandboxed.stdout.splitlines() if ln.startswith(keep)] == [
        ln for ln in native.stdout.splitlines() if ln.startswith(keep)
    ]


def test_app_arguments_after_double_dash_are_not_options():
    argv = ["sh", "-c", 'printf "[%s]" "$@"', "x", "--strace", "--help", "-h", "--", "run"]
    native = run_native(argv)
    cli = run_cli(["run", "--"] + argv)
    assert native.stdout == b"[--strace][--help][-h][--][run]"
    Both(native, cli).assert_same()


def test_command_returns_cli_argv():
    from sentry import Sandbox

    argv = ["sh", "-c", "echo via-command; exit 5"]
    cmd = Sandbox(binds=SHARED_BINDS).command(argv)
    assert isinstance(cmd, list) and all(isinstance(a, str) for a in cmd)
    assert cmd[-len(argv) :] == argv
    result = run_native(cmd)
    assert (result.returncode, result.stdout, result.stderr) == (5, b"via-command\n", b"")


@pytest.mark.slow
def test_python_api_timeout_kills_sentry_and_app():
    from sentry import Sandbox

    arg = f"30.{os.getpid()}"
    marker = b"sleep\0" + arg.encode() + b"\0"
    try:
        start = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            Sandbox(binds=SHARED_BINDS).run(["sleep", arg], timeout=2)
        assert time.monotonic() - start < 15
        # Killing sentry must not leave the app running.
        wait_for(
            lambda: not pids_with_cmdline(marker), timeout=5, what="the app to die with sentry"
        )
    finally:
        kill_leftovers(marker)


# ------------------------------------------------------- launch errors


def test_command_not_found(tmp_path):
    r = run_cli(["run", "--", "./x"], cwd=tmp_path)
    assert r.returncode == 127
    assert r.stderr == b"sentry: cannot execute ./x: No such file or directory\n"
    assert r.stdout == b""


def test_command_not_found_in_path(tmp_path):
    r = run_cli(["run", "--", "sentry-no-such-command-xyz"], cwd=tmp_path)
    assert r.returncode == 127
    assert r.stderr == (
        b"sentry: cannot execute sentry-no-such-command-xyz: No such file or directory\n"
    )
    assert r.stdout == b""


def test_command_not_executable(tmp_path):
    x = tmp_path / "x"
    x.write_text("#!/bin/sh\necho should not run\n")
    x.chmod(0o644)
    r = run_cli(["run", "--", "./x"], cwd=tmp_path)
    assert r.returncode == 126
    assert r.stderr == b"sentry: cannot execute ./x: Permission denied\n"
    assert r.stdout == b""


def test_command_is_a_directory(tmp_path):
    (tmp_path / "d").mkdir()
    r = run_cli(["run", "--", "./d"], cwd=tmp_path)
    assert r.returncode == 126
    assert r.stderr == b"sentry: cannot execute ./d: Permission denied\n"


def test_not_found_through_api(tmp_path):
    r = run_sandbox(["./x"], cwd=tmp_path)
    assert r.returncode == 127
    assert r.stderr == b"sentry: cannot execute ./x: No such file or directory\n"


# ------------------------------------------------------------ CLI usage


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run"],
        ["run", "--"],
        ["run", "--no-such-flag", "--", "true"],
        ["run", "--cpu-affinity", "bogus", "--", "true"],
        ["run", "--strace-file"],
        ["no-such-subcommand"],
    ],
    ids=[
        "no-args",
        "run-no-command",
        "run-dashdash-only",
        "bad-flag",
        "bad-affinity",
        "strace-file-no-arg",
        "bad-subcommand",
    ],
)
def test_bad_usage(args):
    r = run_cli(args)
    assert r.returncode == 2, r
    assert b"Traceback" not in r.stderr
    lines = r.stderr.decode(errors="replace").splitlines()
    assert len(lines) == 1, f"expected a one-line usage error, got {r.stderr!r}"
    assert lines[0].strip()
    assert r.stdout == b""


# ------------------------------------------------------------ CPU affinity


def _allowed_cpus(result):
    for line in result.stdout.decode().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return _parse_cpulist(line.split(":", 1)[1].strip())
    pytest.fail(f"no Cpus_allowed_list in {result.stdout!r}")


def _parse_cpulist(text):
    cpus = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def test_cpu_affinity_same_pins_the_app_to_one_cpu():
    r = run_sandbox(["cat", "/proc/self/status"], cpu_affinity="same")
    assert r.returncode == 0
    cpus = _allowed_cpus(r)
    assert len(cpus) == 1
    assert cpus <= os.sched_getaffinity(0)


def test_cpu_affinity_none_leaves_the_app_alone():
    native = run_native(["cat", "/proc/self/status"])
    r = run_sandbox(["cat", "/proc/self/status"], cpu_affinity="none")
    assert r.returncode == 0
    assert _allowed_cpus(r) == _allowed_cpus(native)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_default_placement_keeps_sentry_and_its_servers_on_one_cpu(tmp_path):
    # The app keeps every CPU; sentry and its built-in server take turns
    # on the last one, so that a FUSE request wakes no other CPU.
    cmd = [*sentry_cli(), "run", f"--mount={tmp_path}=memfs", "--"]
    script = "grep Cpus_allowed_list /proc/self/status && exec sleep 30"
    proc = subprocess.Popen([*cmd, "sh", "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert _parse_cpulist(line.split(":")[1].strip()) == os.sched_getaffinity(0)
        servers = [
            pid
            for pid in descendants(proc.pid)
            if b"sentry.fuse_server" in (read_cmdline(pid) or b"")
        ]
        assert len(servers) == 1
        home = {max(os.sched_getaffinity(0))}
        assert os.sched_getaffinity(proc.pid) == home
        assert os.sched_getaffinity(servers[0]) == home
    finally:
        finish(proc)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_cpu_affinity_list():
    cpu = max(os.sched_getaffinity(0))
    r = run_cli(["run", "--cpu-affinity", str(cpu), "--", "cat", "/proc/self/status"])
    assert r.returncode == 0, r.stderr
    assert _allowed_cpus(r) == {cpu}


def test_debug_log(tmp_path):
    log = tmp_path / "debug.log"
    r = run_cli(["run", "--debug-log", log, "--", "echo", "hi"])
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hi\n", b"")
    assert log.exists()


def test_python_child_under_sandbox(run_both):
    argv = [sys.executable, "-c", "import sys; print(sys.argv[1:]); sys.exit(3)", "a", "b"]
    run_both(argv).assert_same()


@pytest.mark.parametrize(("limit", "name"), [("user", "user"), ("net", "network")])
def test_refused_namespaces_give_one_line(limit, name):
    """A kernel that refuses one of the sandbox's namespaces gets one line
    naming it and the setting to change, and exit 2. The refusal is real: in
    a user namespace of the test's own, user.max_<limit>_namespaces is 0."""
    if not shutil.which("unshare"):
        pytest.skip("needs unshare(1)")
    sentry = " ".join(sentry_cli())
    res = run_native(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "sh",
            "-c",
            f"echo 0 > /proc/sys/user/max_{limit}_namespaces && exec {sentry} run -- true",
        ]
    )
    if b"unshare:" in res.stderr:
        pytest.skip(f"no user namespace for the test: {res.stderr!r}")
    assert res.returncode == 2
    lines = res.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert f"cannot create the sandbox's {name} namespace:" in lines[0]
    assert f"user.max_{limit}_namespaces" in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bind=/nonexistent/dir"], "/nonexistent/dir does not exist"),
        (["--bind=:/x"], "expected HOST_DIR[:TARGET][:ro]"),
        (["--bind=/tmp:/a:/b"], "expected HOST_DIR[:TARGET][:ro]"),
        (["--bind=/tmp:relative"], "the target must be an absolute path"),
        (["--bind=/tmp:/proc/x"], "cannot bind over /proc/x"),
        (["--bind=/tmp:/"], "cannot bind over /"),
        (["--rootfs=/nonexistent/dir"], "bad --rootfs"),
        (["--network=bridge"], "invalid choice: 'bridge'"),
    ],
)
def test_bad_isolation_options(args, message):
    res = run_cli(["run", *args, "--", "true"])
    assert res.returncode == 2
    lines = res.stderr.decode().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
