"""sentry's pytest plugin (sentry/pytest_plugin.py), used as a user would.

Each test writes a small test file and runs pytest on it in a subprocess
(pytester), where the plugin loads through its ``pytest11`` entry point, as
in any project that installs sentry. The native runs of ``run_both`` mount
FUSE on the host kernel, so most tests need root and /dev/fuse.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sentry import RunResult
from sentry.pytest_plugin import Both

pytest_plugins = ["pytester"]

# The inner pytest runs this long at most, in seconds.
INNER_TIMEOUT = 120

needs_fuse = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse"),
    reason="run_both mounts FUSE natively: needs root and /dev/fuse",
)

PREAD_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char buf[8];
    ssize_t n;
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror("open"); return 1; }
    printf("write %zd\n", write(fd, "hello, world", 12));
    n = pread(fd, buf, 5, 7);
    printf("pread %zd %.*s\n", n, (int)n, buf);
    printf("lseek %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    printf("lseek %ld\n", (long)lseek(fd, -3, SEEK_END));
    n = read(fd, buf, sizeof(buf));
    printf("read %zd %.*s\n", n, (int)n, buf);
    printf("pread %zd\n", pread(fd, buf, 4, 100));
    return 0;
}
"""


def run_inner(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    """Run pytest on *source* (a test file) in a subprocess."""
    pytester.makepyfile(source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", timeout=INNER_TIMEOUT)


def leftovers(path: Path) -> list[str]:
    """Mounts and live processes that still name a folder under *path*."""
    found = []
    with open("/proc/self/mountinfo") as f:
        found += [line for line in f if str(path) in line]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if os.fsencode(path) in cmdline:
            found.append(cmdline.decode(errors="replace"))
    return found


@needs_fuse
def test_run_both_memfs_syscalls_match(pytester):
    """The issue's example: a C snippet doing write/pread/lseek on {mnt}/f,
    run natively and in the sandbox on memfs, gives the same results."""
    result = run_inner(
        pytester,
        f"""
        PREAD_C = {PREAD_C!r}

        def test_pread(compile_c, run_both):
            both = run_both([compile_c(PREAD_C), "{{mnt}}/f"], server="memfs")
            both.assert_same()
            assert both.native.returncode == 0
            assert both.native.stdout.decode().splitlines() == [
                "write 12", "pread 5 world", "lseek 12", "lseek 9", "read 3 rld", "pread 0",
            ]
        """,
    )
    result.assert_outcomes(passed=1)
    assert leftovers(pytester.path) == []


@pytest.mark.slow
@needs_fuse
def test_run_both_passthrough_gets_two_copies(pytester, tmp_path):
    """Each run sees its own copy of DIR: the native run's append does not
    reach the sandbox run, nor DIR itself; ``:ro`` refuses writes in both."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "log").write_text("start\n")
    result = run_inner(
        pytester,
        f"""
        import pytest

        SCRIPT = "echo more >> {{mnt}}/log; cat {{mnt}}/log"

        @pytest.mark.parametrize("ro", ["", ":ro"])
        def test_append(run_both, ro):
            both = run_both(["sh", "-c", SCRIPT], server="passthrough:{data}" + ro)
            both.assert_same()
            expected = b"start\\n" if ro else b"start\\nmore\\n"
            assert both.native.stdout == expected
        """,
    )
    result.assert_outcomes(passed=2)
    assert (data / "log").read_text() == "start\n"
    assert leftovers(pytester.path) == []


@pytest.mark.slow
def test_sandbox_fixture_follows_the_marker(pytester):
    """The marker mounts memfs at /data, a path the host need not have; the
    nearest marker wins, and a test without one gets a plain sandbox."""
    result = run_inner(
        pytester,
        """
        import pytest

        pytestmark = pytest.mark.sandbox(mounts=["/nowhere=memfs"])

        @pytest.mark.sandbox(mounts=["/data=memfs"])
        def test_data(sandbox):
            res = sandbox.run(["sh", "-c", "echo hi > /data/f && cat /data/f && ls /nowhere"])
            assert res.stdout == b"hi\\n"
            assert b"/nowhere" in res.stderr and res.returncode != 0

        def test_module_marker(sandbox):
            assert sandbox.mounts == ["/nowhere=memfs"]
        """,
    )
    result.assert_outcomes(passed=2)
    pytester.makepyfile(
        test_plain="""
        def test_plain(sandbox):
            assert sandbox.mounts == [] and sandbox.fuse == [] and not sandbox.strace
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_plain.py")
    result.assert_outcomes(passed=1)


@pytest.mark.slow
def test_bad_markers_fail_in_one_line(pytester):
    """Misused markers fail the test with a one-line reason, no traceback."""
    result = run_inner(
        pytester,
        """
        import pytest

        @pytest.mark.sandbox(mount=["/data=memfs"])
        def test_unknown_option(sandbox):
            pass

        @pytest.mark.sandbox(mounts="/data=memfs")
        def test_string(sandbox):
            pass

        @pytest.mark.sandbox(mounts=["/data=tmpfs"])
        def test_bad_spec(sandbox):
            pass
        """,
    )
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.sandbox: unknown option 'mount' (expected one of: strace, *",
            "*@pytest.mark.sandbox: mounts= takes a list of specs, not a string",
            "*@pytest.mark.sandbox: --mount /data=tmpfs: unknown server 'tmpfs'*",
        ]
    )
    result.stdout.no_fnmatch_line("*pytest_plugin.py*")


@pytest.mark.slow
def test_compile_c_compiles_each_snippet_once(pytester, monkeypatch):
    """A gcc that logs its calls shows one compile per distinct (source,
    flags), across tests; a compile error fails with gcc's message."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    bin_dir = pytester.mkdir("bin")
    log = pytester.path / "gcc.log"
    (bin_dir / "gcc").write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {gcc} "$@"\n')
    (bin_dir / "gcc").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    pytester.makefile(".c", prog="int main(void) { return 7; }\n")
    result = run_inner(
        pytester,
        """
        import subprocess
        from pathlib import Path

        SNIPPET = "#include <stdio.h>\\nint main(void) { puts(\\"hi\\"); return 0; }\\n"
        built = []

        def test_first(compile_c):
            built.append(compile_c(SNIPPET))
            assert subprocess.run([built[0]], capture_output=True).stdout == b"hi\\n"

        def test_again(compile_c):
            assert compile_c(SNIPPET) == built[0]
            assert compile_c(SNIPPET, "-O0") != built[0]
            assert compile_c(SNIPPET, "-O0") == compile_c(SNIPPET, "-O0")

        def test_file(compile_c):
            exe = compile_c(Path("prog.c"))
            assert compile_c("prog.c") == exe
            assert subprocess.run([exe]).returncode == 7

        def test_error(compile_c):
            compile_c("int main(void) { return undeclared; }\\n")
        """,
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*compile_c: gcc failed:", "*undeclared*undeclared*"])
    calls = log.read_text().splitlines()
    assert len(calls) == 4, calls  # SNIPPET, SNIPPET -O0, prog.c, the error
    assert sum(c.endswith(" -O0") for c in calls) == 1


@pytest.mark.slow
@needs_fuse
def test_assert_same_shows_a_diff(pytester):
    """A program that sees the sandbox (its PID namespace is not the host's)
    makes assert_same fail with a unified diff of stdout."""
    result = run_inner(
        pytester,
        """
        def test_differs(run_both):
            argv = ["sh", "-c", "ls {mnt}; echo pid ns; stat -L -c %i /proc/self/ns/pid"]
            run_both(argv, server="memfs").assert_same()
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*AssertionError: native and sandbox runs differ:",
            "E*--- native stdout",
            "E*+++ sandbox stdout",
            "E*@@ -1,2 +1,2 @@",
            "E* pid ns",
            "E*-[1-9]*",
            "E*+[1-9]*",
        ]
    )
    assert leftovers(pytester.path) == []


@pytest.mark.slow
@needs_fuse
def test_run_both_failures_clean_up(pytester):
    """A bad server fails in one line; a run that times out fails too, and
    still leaves no mount and no server behind."""
    result = run_inner(
        pytester,
        """
        def test_bad_server(run_both):
            run_both(["true"], server="tmpfs")

        def test_timeout(run_both):
            run_both(["sh", "-c", "exec sleep 30 > {mnt}/f"], server="memfs", timeout=0.5)
        """,
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "run_both: server='tmpfs': unknown server 'tmpfs' (expected memfs or passthrough)",
            "run_both: sh did not finish within 0.5 s natively",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    assert leftovers(pytester.path) == []


def test_assert_same_message():
    """The message names each difference: status, then each stream's diff,
    with a missing final newline shown; stderr=False ignores stderr."""
    both = Both(
        native=RunResult(0, b"a\nb\n", b"warning\n"),
        sandbox=RunResult(1, b"a\nc", b""),
    )
    with pytest.raises(AssertionError) as info:
        both.assert_same()
    assert str(info.value).splitlines() == [
        "native and sandbox runs differ:",
        "exit status: native 0, sandbox 1",
        "--- native stdout",
        "+++ sandbox stdout",
        "@@ -1,2 +1,3 @@",
        " a",
        "-b",
        "+c",
        "+\\ No newline at end",
        "--- native stderr",
        "+++ sandbox stderr",
        "@@ -1 +0,0 @@",
        "-warning",
    ]
    with pytest.raises(AssertionError) as info:
        both.assert_same(stderr=False)
    assert "stderr" not in str(info.value)
    Both(RunResult(0, b"x", b"y"), RunResult(0, b"x", b"z")).assert_same(stderr=False)
