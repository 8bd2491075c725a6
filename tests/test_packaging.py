"""The repository root must not break Python, and `pip install .` must give
a working package (the cffi helper compiled, platform/ mapped to
sentry.platform)."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_native


def test_platform_folder_does_not_shadow_stdlib():
    """The repository has a top-level platform/ folder; from the root,
    `import platform` must still be the standard library's module."""
    assert (REPO_ROOT / "platform").is_dir()
    r = run_native(
        [
            sys.executable,
            "-c",
            "import platform; print(platform.system()); print(platform.__file__)",
        ],
        cwd=REPO_ROOT,
    )
    assert r.returncode == 0, r.stderr
    system, path = r.stdout.decode().splitlines()
    assert system == "Linux"
    assert not Path(path).resolve().is_relative_to(REPO_ROOT)


@pytest.mark.slow
def test_pip_runs_from_the_root():
    """pip and setuptools import `platform`; a shadowing folder would break
    them when run from the root."""
    r = run_native([sys.executable, "-m", "pip", "--version"], cwd=REPO_ROOT)
    assert r.returncode == 0, r.stderr
    r = run_native(
        [sys.executable, "-c", "import setuptools, platform; print(platform.machine())"],
        cwd=REPO_ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()


@pytest.mark.slow
def test_pip_install_into_venv(tmp_path):
    venv = tmp_path / "venv"
    r = run_native([sys.executable, "-m", "venv", "--system-site-packages", venv], timeout=300)
    assert r.returncode == 0, r.stderr
    py = venv / "bin" / "python"
    pip = venv / "bin" / "pip"
    r = run_native(
        [pip, "install", "-q", "--no-build-isolation", "--no-deps", REPO_ROOT],
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")[-5000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    script = (
        "import sys, sentry, sentry.platform.ptrace.helper as h; "
        "print(sentry.__file__); print(h.__file__)"
    )
    r = run_native([py, "-P", "-c", script], cwd=work, timeout=300)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    # The import came from the venv, not from a system-wide install.
    for line in r.stdout.decode().splitlines():
        assert Path(line).resolve().is_relative_to(venv.resolve()), line
    # The console script is installed too.
    assert (venv / "bin" / "sentry").exists()
    r = subprocess.run(
        [venv / "bin" / "sentry", "run", "--", "echo", "from-venv"],
        capture_output=True,
        timeout=60,
        cwd=work,
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, b"from-venv\n", b"")
