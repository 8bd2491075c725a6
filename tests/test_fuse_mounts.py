"""``sentry run --fuse`` and ``--mount``: FUSE daemons outside the sandbox.

A libfuse 3 daemon (squashfuse) gets ``/dev/fd/N``, its end of a socketpair,
as its mountpoint; the app reads the same bytes as the host kernel's FUSE
mount of the same image shows. Bad specs and daemons that fail give one
line and exit 2 before the app starts; a daemon killed mid-run gives the
app ENOTCONN and sentry reports it. mmap of a FUSE file matches Linux.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import (
    DEFAULT_TIMEOUT,
    SHARED_BINDS,
    kill_and_reap,
    kill_daemon_mid_run,
    run_cli,
    run_native,
)
from fuse.helpers import (
    LISTING_ENV,
    fuse_daemon,
    make_squashfs,
    mount_squashfuse,
    require_fuse,
    require_tool,
    squashfs_commands,
)

from sentry import Sandbox
from sentry.boot.mount_spec import SpecError, parse


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    require_tool("mksquashfs")
    return make_squashfs(tmp_path_factory.mktemp("squash"))


def sandbox(*fuse, **kw):
    return Sandbox(binds=SHARED_BINDS, fuse=list(fuse), **kw)


def squashfuse_spec(image, target="/img", *flags):
    exe = require_tool("squashfuse")
    return f"{target}={exe} {' '.join(flags)} {image} {{}}"


@pytest.mark.slow
def test_fuse_squashfuse_reads_what_the_kernel_mount_shows(tmp_path, image):
    require_fuse()
    target = tmp_path / "mnt"
    target.mkdir()
    commands = squashfs_commands(target)
    with mount_squashfuse(image, target):
        native = {
            name: run_native(argv, cwd=target, env=LISTING_ENV) for name, argv in commands.items()
        }
    box = sandbox(squashfuse_spec(image, str(target)))
    for name, argv in commands.items():
        res = box.run(argv, cwd=str(target), env=LISTING_ENV, timeout=DEFAULT_TIMEOUT)
        assert (res.returncode, res.stderr) == (0, b""), name
        assert res.stdout == native[name].stdout, name


@pytest.mark.slow
@pytest.mark.parametrize("foreground", [True, False], ids=["-f", "daemonized"])
def test_libfuse2_daemon_outside_the_sandbox(tmp_path, foreground):
    """bindfs (libfuse 2.9) as a --fuse daemon outside the sandbox, through
    sentry's fusermount: the app sees what the kernel's bindfs mount shows,
    its write lands in the host directory, the run prints nothing else, and
    the daemon is gone afterwards."""
    require_fuse()
    bindfs = require_tool("bindfs")
    src, target = tmp_path / "src", tmp_path / "mnt"
    src.mkdir()
    target.mkdir()
    (src / "greeting").write_text("hello\n")
    (src / "sub").mkdir()
    script = "ls -ln . sub && cat greeting && echo made > new && cat new && rm new"
    with fuse_daemon([bindfs, "-f", src, target], target):
        native = run_native(["sh", "-c", script], cwd=target, env=LISTING_ENV)
    flags = "-f " if foreground else ""
    box = sandbox(f"{target}={bindfs} {flags}{src} {{}}")
    argv = ["sh", "-c", f"cd {target} && {script} && echo x > kept"]
    res = box.run(argv, env=LISTING_ENV, timeout=DEFAULT_TIMEOUT)
    assert (res.returncode, res.stdout, res.stderr) == (0, native.stdout, b"")
    assert (src / "kept").read_text() == "x\n"
    assert subprocess.run(["pgrep", "-x", "bindfs"], capture_output=True).returncode == 1


@pytest.mark.parametrize("foreground", [True, False], ids=["-f", "daemonized"])
def test_fuse_daemon_is_stopped_when_the_app_exits(image, foreground):
    """squashfuse in the foreground or forked into the background: after
    the run no squashfuse of this image is left, and nothing is reported."""
    flags = ["-f"] if foreground else []
    res = sandbox(squashfuse_spec(image, "/img", *flags)).run(
        ["sh", "-c", "cat /img/hello.txt; grep ' /img ' /proc/self/mounts"]
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    assert res.stdout.splitlines()[-1].startswith(b"squashfuse /img fuse.squashfuse ")
    left = subprocess.run(
        ["pgrep", "-f", f"^{require_tool('squashfuse')}.*{image}"], capture_output=True, timeout=10
    )
    assert left.stdout == b""


@pytest.mark.slow
def test_fuse_daemon_killed_mid_run_gives_enotconn(image, tmp_path):
    """The daemon runs outside the sandbox, where the app cannot see it: the
    test kills it from the host once the app has read a file."""
    ready, go = tmp_path / "ready", tmp_path / "go"
    script = (
        f"cat /img/hello.txt; touch {ready}; while [ ! -e {go} ]; do sleep 0.05; done; "
        "cat /img/hello.txt; echo status=$?"
    )
    proc = sandbox(squashfuse_spec(image, "/img", "-f")).popen(
        ["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err_bytes = kill_daemon_mid_run(
            proc, ready, go, lambda argv: argv[0].endswith(b"squashfuse")
        )
    finally:
        kill_and_reap(proc)
    assert proc.returncode == 0
    assert out.splitlines()[-1] == b"status=1"
    err = err_bytes.decode()
    assert "Transport endpoint is not connected" in err
    assert "the FUSE daemon was killed by signal 9; files under /img now fail with ENOTCONN" in err


@pytest.mark.slow
@pytest.mark.parametrize(
    "option, spec, message",
    [
        ("--fuse", "/img=squashfuse img", "the command must have {} where the mountpoint goes"),
        ("--fuse", "/img=", "nothing to mount at /img"),
        ("--fuse", "img", "expected TARGET=COMMAND"),
        ("--fuse", "/img=squashfuse 'open {}", "No closing quotation"),
        ("--fuse", "/img=/nonexistent/daemon {}", "cannot run /nonexistent/daemon"),
        ("--fuse", "/img=true {}", "the daemon exited with status 0 before it answered FUSE_INIT"),
        (
            "--fuse",
            "/img=sh -c 'kill -9 $$' {}",
            "the daemon was killed by signal 9 before it answered FUSE_INIT",
        ),
        ("--fuse", "/=squashfuse img {}", "cannot mount over /"),
        ("--mount", "/data=nfs", "unknown server 'nfs' (expected memfs or passthrough)"),
        ("--mount", "/data=memfs:x", "memfs takes no argument but 'writeback'"),
        ("--mount", "/data=passthrough", "passthrough needs a directory"),
        ("--mount", "/data=passthrough:/nonexistent", "no such directory: /nonexistent"),
        ("--mount", "/data=passthrough:/etc/passwd", "not a directory: /etc/passwd"),
        ("--mount", "=memfs", "expected TARGET=SERVER"),
    ],
)
def test_bad_spec_is_one_line_and_exit_2(option, spec, message):
    res = run_cli(["run", f"{option}={spec}", "--", "echo", "app ran"])
    assert res.returncode == 2
    assert res.stdout == b""
    last = res.stderr.decode().splitlines()[-1]
    assert last == f"sentry: run: {option} {spec}: {message}" or message in last, last
    assert "Traceback" not in res.stderr.decode()


@pytest.mark.slow
def test_daemon_that_never_answers_init_times_out():
    res = run_cli(["run", "--fuse=/img=sh -c 'sleep 100' {}", "--", "true"], timeout=40)
    assert res.returncode == 2
    assert res.stderr.decode().endswith("did not answer FUSE_INIT within 10 s\n")


def test_same_target_twice():
    with pytest.raises(SpecError, match="mounted twice"):
        parse(["/a=memfs"], ["/a/=x {}"], "/")


def test_relative_targets_and_dirs_resolve_from_cwd(tmp_path):
    (tmp_path / "src").mkdir()
    specs = parse(["data=memfs", "s=passthrough:src:ro"], ["img=d x {}"], str(tmp_path))
    assert [(s.target, s.kind, s.source, s.read_only) for s in specs] == [
        (str(tmp_path / "data"), "memfs", "", False),
        (str(tmp_path / "s"), "passthrough", str(tmp_path / "src"), True),
        (str(tmp_path / "img"), "fuse", "", False),
    ]
    assert specs[2].command == ("d", "x", "{}")
    assert specs[2].fstype == "fuse.d"


@pytest.mark.slow
def test_mmap_of_fuse_file_matches_linux(tmp_path, image, c_program):
    """Private, shared read-only, offset, SIGBUS past EOF, private writes
    that stay in the mapping, and the errors: as on the kernel's mount."""
    require_fuse()
    exe = c_program("mmap_file")
    target = tmp_path / "mnt"
    target.mkdir()
    cases = ["big.bin", "hello.txt", "empty"]
    with mount_squashfuse(image, target):
        native = [run_native([exe, target / c]) for c in cases]
    box = sandbox(squashfuse_spec(image, str(target)))
    for case, want in zip(cases, native, strict=True):
        got = box.run([str(exe), str(target / case)])
        assert (got.returncode, got.stdout, got.stderr) == (
            want.returncode,
            want.stdout,
            want.stderr,
        ), case


def test_fuse_server_command_help_and_usage():
    """``sentry fuse-server`` hands every word to the servers' own parser."""
    res = run_cli(["fuse-server", "--help"])
    assert res.returncode == 0
    assert res.stdout.decode().startswith("usage: sentry fuse-server memfs")
    res = run_cli(["fuse-server"])
    assert res.returncode == 2 and res.stdout == b""
    assert len(res.stderr.decode().splitlines()) == 1
