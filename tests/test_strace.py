"""`sentry run --strace`: each trapped syscall is printed strace-style, as
``[pid N] name(args) = result`` or ``= -1 ENOENT (No such file or
directory)``, on stderr or into --strace-file. The app's own output is
unchanged.

The patterns are checked against the real strace(1) too, when installed.
"""

import re
import shutil

import pytest
from conftest import SHARED_BINDS, run_cli, run_native

HOSTNAME = "/etc/hostname"
MISSING = "/sentry-test-no-such-file"

PREFIX = r"\[pid\s+\d+\] "
OPEN_OK = r'openat\(AT_FDCWD, "/etc/hostname", O_RDONLY(\|O_[A-Z_]+)*(, 0[0-7]*)?\) = 3$'
OPEN_ENOENT = (
    r'openat\(AT_FDCWD, "'
    + re.escape(MISSING)
    + r'", O_RDONLY(\|O_[A-Z_]+)*(, 0[0-7]*)?\) = -1 ENOENT \(No such file or directory\)$'
)


def _search(pattern, text, prefix=PREFIX):
    return re.search("^" + prefix + pattern, text, re.M)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize(
    ("path", "pattern"), [(HOSTNAME, OPEN_OK), (MISSING, OPEN_ENOENT)], ids=["ok", "enoent"]
)
def test_patterns_match_real_strace(path, pattern):
    r = run_native(["strace", "-f", "-qq", "-e", "trace=openat", "cat", path])
    assert _search(pattern, r.stderr.decode(), prefix=r"(\[pid\s+\d+\] )?"), r.stderr


def test_strace_open():
    expected = run_native(["cat", HOSTNAME])
    r = run_cli(["run", "--strace", "--", "cat", HOSTNAME])
    assert r.returncode == 0
    assert r.stdout == expected.stdout
    err = r.stderr.decode()
    assert _search(OPEN_OK, err), err
    assert "Traceback" not in err


def test_strace_enoent():
    expected = run_native(["cat", MISSING])
    r = run_cli(["run", "--strace", "--", "cat", MISSING])
    assert r.returncode == expected.returncode == 1
    assert r.stdout == b""
    err = r.stderr.decode()
    assert _search(OPEN_ENOENT, err), err
    # cat's own message is written in pieces (several write(2) calls), and
    # the trace lines of those writes land between them, as with strace(1):
    # the message is only compared whole in test_strace_file_enoent.
    assert "cat: " in err


def test_strace_lines_are_well_formed():
    r = run_cli(["run", "--strace", "--", "cat", HOSTNAME])
    assert r.returncode == 0
    app_message = run_native(["cat", HOSTNAME]).stderr.decode()
    lines = [ln for ln in r.stderr.decode().splitlines() if ln]
    assert lines
    bad = [
        ln
        for ln in lines
        if not re.fullmatch(PREFIX + r"\w+\(.*\) = (-?\d+|0x[0-9a-f]+|\?)( .*)?", ln)
        and not re.match(PREFIX + r"(\+\+\+|---) ", ln)  # exits and signals
        and ln not in app_message
    ]
    assert not bad, bad


def test_strace_file(tmp_path):
    log = tmp_path / "trace.txt"
    expected = run_native(["cat", HOSTNAME])
    r = run_cli(["run", "--strace-file", log, "--", "cat", HOSTNAME])
    assert (r.returncode, r.stdout, r.stderr) == (0, expected.stdout, b"")
    text = log.read_text()
    assert _search(OPEN_OK, text), text


def test_strace_file_enoent(tmp_path):
    log = tmp_path / "trace.txt"
    expected = run_native(["cat", MISSING])
    r = run_cli(["run", "--strace-file", log, "--", "cat", MISSING])
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", expected.stderr)
    assert _search(OPEN_ENOENT, log.read_text()), log.read_text()


def test_strace_api():
    from sentry import Sandbox

    r = Sandbox(binds=SHARED_BINDS, strace=True).run(["cat", HOSTNAME], timeout=60)
    assert r.returncode == 0
    assert _search(OPEN_OK, r.stderr.decode()), r.stderr


def test_strace_follows_children():
    """The trace covers processes the app forks, each under its own pid."""
    r = run_cli(["run", "--strace", "--", "sh", "-c", f"cat {HOSTNAME}; cat {MISSING}; true"])
    assert r.returncode == 0
    err = r.stderr.decode()
    ok = _search(OPEN_OK, err)
    missing = _search(OPEN_ENOENT, err)
    assert ok and missing, err
    pids = {int(re.match(r"\[pid\s+(\d+)\]", m.group(0)).group(1)) for m in (ok, missing)}
    assert len(pids) == 2, err
