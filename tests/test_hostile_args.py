"""No app input ends sentry (issue 9): hostile syscall arguments get Linux's
answers, and a bug of sentry's costs the app one EIO, not the sandbox.

``tests/c/hostile_args.c`` makes each hostile call (huge, negative and
wrapping offsets, sizes and counts; bad pointers; overlong and unterminated
paths; odd fd numbers and flags) on a memfs mount, natively on the kernel's
FUSE mount (the oracle) and in the sandbox; the outputs must be the same.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
HOSTILE_ARGS = HERE / "c" / "hostile_args.c"
BUGS = HERE / "bugs"


def test_hostile_args_match_linux(run_both, sandbox, compile_c, tmp_path: Path) -> None:
    debug_log = tmp_path / "debug.log"
    sandbox.debug_log = str(debug_log)
    both = run_both([compile_c(HOSTILE_ARGS), "{mnt}"], server="memfs")
    assert both.native.returncode == 0, both.native.stderr.decode()
    both.assert_same()
    assert b"Traceback" not in both.sandbox.stderr
    assert "sentry bug" not in debug_log.read_text()


@pytest.mark.slow
def test_bugs_fail_the_call_with_eio_and_the_sandbox_goes_on(
    compile_c, tmp_path: Path
) -> None:
    """Handlers that raise (plainly, in their coroutine, in an injection, in
    an exit hook), return what no syscall can, or start background work
    that raises: each call gets EIO (an exit hook's keeps the host's
    result), the traceback goes to the debug log only, and the app runs to
    its end."""
    debug_log = tmp_path / "debug.log"
    proc = subprocess.run(
        [sys.executable, "-P", BUGS / "bug_kernel.py", debug_log, compile_c(BUGS / "bug_app.c")],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr.decode()
    assert proc.stdout.decode().splitlines() == [
        "handler raises: -1 5",
        "coroutine raises: -1 5",
        "result out of range: -1 5",
        "injection fails: -1 5",
        "exit hook raises: 1 0",
        "background work started: 0 0",
        "still served: 4242 0",
    ]
    stderr = proc.stderr.decode()
    assert "Traceback" not in stderr
    for what in ("getppid: ZeroDivisionError", "getuid: KeyError", "getpgrp: TypeError"):
        assert f"sentry bug in {what}" in stderr
    assert "sentry bug in background work: OverflowError" in stderr
    log = debug_log.read_text()
    assert log.count("Traceback (most recent call last)") == 5
    assert "1 // 0" in log and 'raise OverflowError("background")' in log
