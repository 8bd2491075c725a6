"""What the bench's sections share: paths, the tools' command lines, running and timing a
command, measuring configs round-robin, and formatting figures and verdicts.

bench.py runs the sections and scale.py holds section 9. Both import this module: bench.py
runs as a script, so nothing may import bench.py itself.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
BIN = OUT / "bin"
TIMEOUT_S = 60.0

PIN = ("taskset", "-c", "0")
RUNSC = ("runsc", "--platform=ptrace", "--network=none", "do")
# runsc do: FUSE is on by default in 20221219 (--fuse is deprecated and has no effect).
# Without --force-overlay=false the app's writes to host directories (bindfs's, a build's)
# would land in the sandbox's tmpfs overlay.
RUNSC_RW = (*RUNSC, "--force-overlay=false")


def find_sentry() -> str | None:
    """The sentry console script installed next to this Python, else the one on PATH.

    The direct path matters: a pyenv shim on PATH adds ~50 ms to every start.
    """
    beside = Path(sys.executable).parent / "sentry"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("sentry")


SENTRY_EXE = find_sentry()
# The app is isolated: the bench's files are shared with it, so that writes
# (bindfs's backing directory, fsmeta's files) land on the host's disk as
# they do natively and under runsc.
SENTRY = (SENTRY_EXE or "sentry", "run", f"--bind={OUT}")

# Section 5's big file, which section 9 reads too.
FUSE_DIR = OUT / "fuse"
FUSE_BIG = FUSE_DIR / "src" / "big"  # the image holds this directory, i.e. /big
FUSE_BIG_SIZE = 200 * 2**20
FUSE_SEED = 20240601  # the file's bytes are random.Random(FUSE_SEED).randbytes
# No compression: random bytes do not compress, so gzip would store the data blocks raw
# anyway; this way the image builds in 0.3 s instead of 2 s and nothing is decompressed.
MKSQUASHFS_OPTS = ("-noappend", "-quiet", "-no-progress", "-noI", "-noD", "-noF", "-noX")


class Failed(Exception):
    """A command that could not be measured; the message is a one-line reason."""


@dataclass(frozen=True)
class Config:
    """One way of running a workload: a tool in a placement."""

    key: str
    tool: str  # native, ctracer, sentry, runsc or proot
    label: str
    placement: str
    prefix: tuple[str, ...]  # put in front of the workload's argv
    native_ref: str = "native"  # the native config to subtract for the overhead


@dataclass
class Result:
    """The samples of one config, or why it has none."""

    config: Config
    samples: list[float] = field(default_factory=list)
    error: str | None = None
    walls: list[float] = field(default_factory=list)  # FUSE: the whole command's wall s

    @property
    def median(self) -> float | None:
        if self.error is not None or not self.samples:
            return None
        return statistics.median(self.samples)


# ---------------------------------------------------------------- helpers


def one_line(text: str, limit: int = 140) -> str:
    """The last non-empty line of text, shortened to limit characters."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def run(argv: Sequence[str]) -> tuple[float, str]:
    """Run argv; return (wall seconds, stdout). Raise Failed with a reason."""
    elapsed, stdout, _ = run_err(argv)
    return elapsed, stdout


def run_err(argv: Sequence[str]) -> tuple[float, str, str]:
    """Run argv; return (wall seconds, stdout, stderr). Raise Failed with a reason."""
    start = time.perf_counter()
    try:
        # Own session, so that a timeout kills the tool's whole process group.
        proc = subprocess.Popen(
            list(argv),
            cwd=OUT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        raise Failed(f"{argv[0]}: {exc.strerror}") from None
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise Failed(f"timed out after {TIMEOUT_S:.0f} s") from None
    elapsed = time.perf_counter() - start
    if proc.returncode < 0:
        raise Failed(f"killed by signal {-proc.returncode}: {one_line(stderr) or 'no output'}")
    if proc.returncode != 0:
        why = one_line(stderr) or one_line(stdout) or "no output"
        raise Failed(f"exit status {proc.returncode}: {why}")
    return elapsed, stdout, stderr


def fmt(value: float | None, spec: str, width: int) -> str:
    """value formatted with spec and right-aligned, or n/a."""
    text = "n/a" if value is None else format(value, spec)
    return text.rjust(width)


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return num / den


def spread(res: Result, scale: float, spec: str, width: int) -> str:
    """The min-max range of res's samples times scale, right-aligned."""
    if res.error is not None or not res.samples:
        return "".rjust(width)
    lo, hi = min(res.samples) * scale, max(res.samples) * scale
    return f"{lo:{spec}}-{hi:{spec}}".rjust(width)


def with_unit(value: float | None, spec: str, unit: str) -> str:
    """value formatted with spec followed by unit, or n/a."""
    return "n/a" if value is None else format(value, spec) + unit


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def verdict(value: float | None, limit: float | None) -> str:
    if value is None or limit is None:
        return "n/a"
    return "PASS" if value <= limit else "MISS"


def verdict_at_least(value: float | None, floor: float | None) -> str:
    if value is None or floor is None:
        return "n/a"
    return "PASS" if value >= floor else "MISS"


def print_notes(notes: str) -> None:
    """A section's notes, wrapped and indented."""
    indent = "   "
    print(
        textwrap.fill(
            notes, 99, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
        )
    )


def print_table_head(notes: str, head: str) -> None:
    """A section's notes, wrapped, then a table's column heads and rule."""
    print_notes(notes)
    print(head)
    print("   " + "-" * (len(head) - 3))


def progress(text: str) -> None:
    print(text, end="", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- tools


def build_c() -> dict[str, str]:
    """Compile the C helpers into out/bin; return {name: reason} for failures."""
    BIN.mkdir(parents=True, exist_ok=True)
    failures: dict[str, str] = {}
    for name in ("ctracer", "getppid_loop", "fsmeta"):
        try:
            run(["gcc", "-O2", "-Wall", "-o", str(BIN / name), str(HERE / f"{name}.c")])
        except Failed as exc:
            failures[name] = f"gcc failed: {exc}"
    return failures


def find_tools(build_failures: dict[str, str]) -> dict[str, str]:
    """Return {tool: reason} for each tool that cannot run here."""
    missing: dict[str, str] = {}
    if "ctracer" in build_failures:
        missing["ctracer"] = build_failures["ctracer"]
    if SENTRY_EXE is None:
        missing["sentry"] = "sentry is not installed (make install)"
    if shutil.which("runsc") is None:
        missing["runsc"] = "runsc is not installed (apt-get install runsc)"
    elif os.geteuid() != 0:
        missing["runsc"] = "runsc do needs root"
    if shutil.which("proot") is None:
        missing["proot"] = "proot is not installed (apt-get install proot)"
    if shutil.which("taskset") is None:
        missing["taskset"] = "taskset is not installed (util-linux)"
    return missing


def ctracer(*args: str) -> tuple[str, ...]:
    return (str(BIN / "ctracer"), *args)


def needs(config: Config) -> list[str]:
    """The tools config depends on."""
    tools = [config.tool] if config.tool != "native" else []
    if config.prefix[:1] == PIN[:1]:
        tools.append("taskset")
    return tools


# ---------------------------------------------------------------- measuring


def measure(
    name: str,
    configs: list[Config],
    workload: Sequence[str],
    reps: int | dict[str, int],
    missing: dict[str, str],
    parse_stdout: bool = False,
) -> dict[str, Result]:
    """Run each config's prefix + workload, round-robin, reps times.

    A sample is the wall time in seconds, or with parse_stdout the number the
    program prints. A config that fails once is n/a from then on.
    """
    results = {c.key: Result(c) for c in configs}
    for c in configs:
        for tool in needs(c):
            if tool in missing:
                results[c.key].error = missing[tool]
    rounds = reps if isinstance(reps, int) else max(reps.values())
    for rep in range(rounds):
        progress(f"[{name} {rep + 1}/{rounds}]")
        for c in configs:
            res = results[c.key]
            wanted = reps if isinstance(reps, int) else reps.get(c.tool, reps["*"])
            if res.error is not None or rep >= wanted:
                continue
            try:
                elapsed, stdout = run((*c.prefix, *workload))
                res.samples.append(float(stdout.split()[-1]) if parse_stdout else elapsed)
            except (Failed, ValueError, IndexError) as exc:
                res.error = str(exc) if isinstance(exc, Failed) else f"bad output: {exc}"
            progress(f" {c.key}={'x' if res.error else format(res.samples[-1], '.3g')}")
        progress("\n")
    return results


def as_json(results: dict[str, Result]) -> dict[str, object]:
    return {
        key: {
            "label": r.config.label,
            "placement": r.config.placement,
            "argv_prefix": list(r.config.prefix),
            "samples": r.samples,
            "median": r.median,
            "error": r.error,
            **({"wall_s": r.walls} if r.walls else {}),
        }
        for key, r in results.items()
    }


# ---------------------------------------------------------------- files and mounts

DD_COPIED = re.compile(r"^(\d+) bytes\b.*\bcopied, ([0-9.]+) s", re.MULTILINE)


def parse_dd(stderr: str, expected: int) -> float:
    """The seconds dd reports for its copy; raise Failed unless it copied expected bytes."""
    m = DD_COPIED.search(stderr)
    if m is None:
        raise Failed(f"no dd summary: {one_line(stderr) or 'no output'}")
    if int(m[1]) != expected:
        raise Failed(f"dd copied {m[1]} bytes, not {expected}: {one_line(stderr)}")
    return float(m[2])


def is_mounted(mnt: Path) -> bool:
    lines = Path("/proc/self/mounts").read_text().splitlines()
    return any(len(f) > 1 and f[1] == str(mnt) for f in (ln.split() for ln in lines))


def unmount(mnt: Path) -> None:
    """Unmount a host FUSE mount; lazily if it is busy."""
    try:
        run(["fusermount3", "-u", str(mnt)])
    except Failed:
        run(["fusermount3", "-uz", str(mnt)])


def drop_caches() -> None:
    """Write back dirty pages and drop the host's page, dentry and inode caches."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        raise Failed(f"cannot drop the page cache: {exc.strerror}") from None


def make_big_file() -> None:
    """The 200 MiB random file, kept between runs while its size is right."""
    if FUSE_BIG.is_file() and FUSE_BIG.stat().st_size == FUSE_BIG_SIZE:
        return
    FUSE_BIG.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(FUSE_SEED)
    tmp = FUSE_BIG.with_suffix(".tmp")
    with tmp.open("wb") as f:
        for _ in range(FUSE_BIG_SIZE // 2**20):
            f.write(rng.randbytes(2**20))
    tmp.replace(FUSE_BIG)
