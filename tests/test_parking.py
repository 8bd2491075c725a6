"""Parked tasks: a handler that awaits leaves its task stopped while sentry
serves the others, then resumes it with a result; signals interrupt the wait
the way Linux interrupts a blocking syscall, and SIGKILL ends it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import finish

HERE = Path(__file__).parent / "park"


@pytest.fixture(scope="module")
def park_app(tmp_path_factory: pytest.TempPathFactory) -> str:
    exe = tmp_path_factory.mktemp("park") / "park_app"
    subprocess.run(
        ["gcc", "-O1", "-pthread", "-o", str(exe), str(HERE / "park_app.c")],
        check=True,
        timeout=60,
    )
    return str(exe)


def _kernel(delay: float | str, *argv: str, **kwargs: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-P", str(HERE / "park_kernel.py"), str(delay), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.slow
def test_parked_task_gets_result_and_signals_follow_linux_rules(park_app: str) -> None:
    proc = _kernel(0.3, park_app)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.decode().splitlines() == [
        "parked: 4242, other thread done meanwhile: 1",
        "signal, no SA_RESTART: -1 Interrupted system call",
        "signal, SA_RESTART: 4242 Success",
    ]


def test_parked_task_is_killable(park_app: str) -> None:
    proc = _kernel(60, park_app, "kill")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"parking\n"
        app = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        os.kill(app, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        finish(proc)
    assert proc.returncode == 128 + signal.SIGKILL


@pytest.fixture(scope="module")
def inject_app(tmp_path_factory: pytest.TempPathFactory) -> str:
    exe = tmp_path_factory.mktemp("inject") / "inject_app"
    subprocess.run(
        ["gcc", "-O1", "-o", str(exe), str(HERE / "inject_app.c")], check=True, timeout=60
    )
    return str(exe)


def _inject_run(inject_app: str, *modes: str) -> tuple[list[str], int]:
    """The app's lines and the run's ptrace stops."""
    proc = _kernel("inject", inject_app, *modes)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return out.decode().splitlines(), int(err.decode().splitlines()[-1].split()[1])


def test_injected_syscall_keeps_the_apps_registers(inject_app: str) -> None:
    lines, _ = _inject_run(inject_app)
    assert lines == [
        "mode 0: fd=3 -> /memfd:placeholder (deleted), rsi kept=1 r8 kept=1",
        "mode 1: fd=4 -> /memfd:placeholder (deleted), rsi kept=1 r8 kept=1",
        "mode 2: fd=5 -> /memfd:placeholder (deleted), rsi kept=1 r8 kept=1",
    ]


def test_a_short_wait_holds_the_task_instead_of_parking_it(inject_app: str) -> None:
    # A wait that ends within the hold (0.1 ms) leaves the task in its
    # seccomp stop: no pause() to resume it into and interrupt it out of,
    # and the injection starts from there (no entry stop). Its timer always
    # completes before the hold's, whatever the machine's load.
    stops = {}
    for mode in ("0", "1", "2"):
        lines, stops[mode] = _inject_run(inject_app, mode)
        fd = "fd=3 -> /memfd:placeholder (deleted)"
        assert lines == [f"mode {mode}: {fd}, rsi kept=1 r8 kept=1"]
    assert stops["2"] == stops["0"] == stops["1"] - 2
