"""Helpers for running FUSE daemons and their clients in one shell script.

A FUSE test in the sandbox is one ``sh -c`` script: it starts the daemon
without ``-f`` (libfuse daemonizes once its mount(2) has succeeded, so the
next command sees the mount), runs the clients, then unmounts. The same
script also runs natively (as root, with the host kernel's FUSE), which
gives the result the sandbox must reproduce.

Every command of the script is a named step; after each, the script prints a
separator line with the step's exit status on stdout and on stderr, so that
the outputs can be split per step. Paths under the run's root folder are
replaced with ``ROOT`` in the outputs, so that a native run and a sandboxed
run in two folders can be compared as text.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fuse.helpers import COMMAND_TIMEOUT, fuse_io_exe, read_log, testfs_argv

SEP = "@@sentry-fuse-step@@"
_SEP_RE = re.compile(re.escape(SEP) + r" (\d+)\n")


@dataclass
class Step:
    """What one command of a script did."""

    name: str
    status: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


@dataclass
class ScriptResult:
    """The outcome of a whole script: its exit status, each step by name,
    and what came after the last step (``tail_out``, ``tail_err``)."""

    returncode: int
    steps: dict[str, Step]
    tail_out: str
    tail_err: str
    raw_stdout: str
    raw_stderr: str

    def __getitem__(self, name: str) -> Step:
        return self.steps[name]

    def describe(self) -> str:
        return (
            f"exit status {self.returncode}\n--- stdout:\n{self.raw_stdout[-4000:]}\n"
            f"--- stderr:\n{self.raw_stderr[-4000:]}"
        )


@dataclass
class Script:
    """A shell script made of named steps. ``root`` is replaced with ``ROOT``
    in the outputs."""

    root: Path
    lines: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def step(self, name: str, cmd: str | Sequence[object]) -> Script:
        """Add a command (a shell string, or an argv that is quoted here)."""
        if name in self.names:
            raise ValueError(f"duplicate step name {name!r}")
        if not isinstance(cmd, str):
            cmd = shlex.join(str(a) for a in cmd)
        self.names.append(name)
        self.lines.append(f'{{ {cmd}\n}}; __rc=$?; echo "{SEP} $__rc"; echo "{SEP} $__rc" >&2')
        return self

    def raw(self, text: str) -> Script:
        """Add shell text that is not a step (``exit 3``, a variable...)."""
        self.lines.append(text)
        return self

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def run(self, runner, *, timeout=COMMAND_TIMEOUT, env=None) -> ScriptResult:
        """Run the script with runner (run_native or run_sandbox) and split
        its output. Fails if a step's separator is missing."""
        res = runner(["sh", "-c", self.text()], timeout=timeout, env=env)
        return split_output(self, res)


def _normalize(text: str, root: Path) -> str:
    return text.replace(str(root), "ROOT")


def split_output(script: Script, res) -> ScriptResult:
    out = _normalize(res.stdout.decode(errors="replace"), script.root)
    err = _normalize(res.stderr.decode(errors="replace"), script.root)
    o_parts = _SEP_RE.split(out)
    e_parts = _SEP_RE.split(err)
    n = len(script.names)
    partial = ScriptResult(res.returncode, {}, "", "", out, err)
    assert len(o_parts) == 2 * n + 1 and len(e_parts) == 2 * n + 1, (
        f"the script did not finish its {n} steps:\n{partial.describe()}"
    )
    steps = {}
    for i, name in enumerate(script.names):
        status = int(o_parts[2 * i + 1])
        assert status == int(e_parts[2 * i + 1]), partial.describe()
        steps[name] = Step(name, status, o_parts[2 * i], e_parts[2 * i])
    return ScriptResult(res.returncode, steps, o_parts[-1], e_parts[-1], out, err)


def testfs_daemon_argv(mnt, *opts, log=None, threads=False) -> list[str]:
    """testfs's command line (see testfs_argv) without ``-f``: it
    daemonizes once mounted."""
    return [a for a in testfs_argv(mnt, *opts, log=log, threads=threads) if a != "-f"]


def fuse_io(path, *steps) -> list[str]:
    """The argv of ``fuse_io PATH STEP...`` (tests/fuse/fuse_io.c)."""
    return [str(fuse_io_exe()), str(path), *steps]


def umount(mnt) -> list[str]:
    """The argv that unmounts mnt (in the sandbox: its umount2)."""
    return ["fusermount3", "-u", str(mnt)]


def dd_counts(stderr: str) -> tuple[str, str, int]:
    """dd's "N+M records in", "N+M records out" and byte count (its speed and
    time vary)."""
    lines = stderr.splitlines()
    assert len(lines) == 3, stderr
    return lines[0], lines[1], int(lines[2].split()[0])


# A command that prints the fstype and super options of the mount on a path,
# from /proc/self/mountinfo (nothing if nothing is mounted there).
MOUNTINFO_AWK = (
    "awk -v m={mnt} '$5 == m {{ for (i = 7; $i != \"-\"; i++); print $(i+1), $(i+3) }}' "
    "/proc/self/mountinfo"
)


def mountinfo_step(mnt) -> str:
    """A step: the mount on mnt's "FSTYPE SUPER_OPTIONS", or nothing."""
    return MOUNTINFO_AWK.format(mnt=mnt)


def log_mark(log, name) -> str:
    """A step that writes "MARK name" into a testfs log (opened O_APPEND by
    testfs, so the lines interleave in order)."""
    return f"echo 'MARK {name}' >> {log}"


def log_sections(log, *ops) -> dict[str, list[str]]:
    """The lines of a log between MARK lines (keyed by the mark before
    them; "" before the first), only opcodes ops if given."""
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in read_log(log):
        if line.startswith("MARK "):
            current = line[5:]
            sections[current] = []
        elif not ops or line.split(" ", 1)[0] in ops:
            sections[current].append(line)
    return sections


def _diff(native: str, sandboxed: str, what: str) -> str:
    if native == sandboxed:
        return ""
    lines = difflib.unified_diff(
        native.splitlines(),
        sandboxed.splitlines(),
        f"native {what}",
        f"sandboxed {what}",
        lineterm="",
    )
    return "\n".join(lines) + "\n"


class Pair:
    """The native and the sandboxed run of the same script."""

    def __init__(self, native, sandbox, roots):
        self.native = native
        self.sandbox = sandbox
        self.roots = roots  # kind -> root folder

    def assert_steps_same(self, *names):
        """Each step (all if none named) has the same status, stdout and
        stderr natively and in the sandbox."""
        names = names or tuple(self.native.steps)
        report = []
        for name in names:
            n, s = self.native[name], self.sandbox[name]
            if (s.status, s.stdout, s.stderr) != (n.status, n.stdout, n.stderr):
                report.append(
                    f"step {name!r} differs (native -> sandboxed):\n"
                    f"status {n.status} -> {s.status}\n"
                    + _diff(n.stdout, s.stdout, "stdout")
                    + _diff(n.stderr, s.stderr, "stderr")
                )
        assert not report, "".join(report) + f"\nwhole sandboxed run: {self.sandbox.describe()}"


testfs_daemon_argv.__test__ = False  # type: ignore[attr-defined]
