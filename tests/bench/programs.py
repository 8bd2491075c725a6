"""Section 10 of the benchmark: real programs on a FUSE mount of memfs.

Two workloads that map and sync many files, each timed inside its own shell (so neither the
copy that sets it up nor the sandbox's start counts):

- ``git gc -q`` of a generated repository (REPO_FILES Python-like files, REPO_COMMITS commits
  that change a fifth of them: some 3,000 loose objects), copied onto the mount first;
- ``sqlite3`` in WAL mode: SQL_ROWS inserts, each its own transaction, then a second
  ``sqlite3`` process counts the rows.

Rows: "kernel", memfs mounted by the host kernel (``python3 -m sentry.fuse_server memfs MNT``,
root only), and "sentry", ``sentry run --mount MNT=memfs``. The target, from issue 12: the
sentry within 1.5x of the kernel's mount, in the same run.
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    OUT,
    SENTRY,
    Failed,
    fmt,
    is_mounted,
    print_table_head,
    progress,
    ratio,
    run,
    run_err,
    verdict,
)

DIR = OUT / "programs"
REPO = DIR / "repo-src"
KERNEL_MNT = DIR / "mnt_kernel"
SANDBOX_MNT = DIR / "mnt_sandbox"
REPO_FILES, REPO_COMMITS, REPO_SEED = 1500, 5, 20261205
SQL_ROWS = 1000
TARGET_X = 1.5
MEMFS = (sys.executable, "-P", "-m", "sentry.fuse_server", "memfs")
ROWS = ("kernel", "sentry")
WORKLOADS = ("git gc", "sqlite3 WAL")


@dataclass
class Runs:
    """The seconds of one workload under one row, or why it has none."""

    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        if self.error is not None or not self.samples:
            return None
        return sorted(self.samples)[len(self.samples) // 2]


def make_repo() -> None:
    """The repository git gc packs, made once (deterministic, kept in out/programs)."""
    if (REPO / ".git").is_dir():
        return
    shutil.rmtree(REPO, ignore_errors=True)
    REPO.mkdir(parents=True)
    rng = random.Random(REPO_SEED)
    words = [f"name{n}" for n in range(400)]
    files = [REPO / f"pkg{i % 30}" / f"mod{i}.py" for i in range(REPO_FILES)]
    for path in files:
        path.parent.mkdir(exist_ok=True)
        lines = [f"def {rng.choice(words)}_{n}(x):\n    return x + {n}\n" for n in range(60)]
        path.write_text("".join(lines))
    git = ["git", "-C", str(REPO), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    run([*git, "init", "-q"])
    run([*git, "add", "-A"])
    run([*git, "commit", "-qm", "files"])
    for commit in range(REPO_COMMITS):
        for path in rng.sample(files, REPO_FILES // 5):
            with path.open("a") as f:
                f.write(f"# change {commit}\n")
        run([*git, "commit", "-qam", f"change {commit}"])


def script(workload: str, mnt: Path) -> str:
    """The workload as one shell command line on mnt; it prints "took START END"."""
    where = shlex.quote(str(mnt))
    clock = "date +%s.%N"
    if workload == "git gc":
        setup = f"cp -r {shlex.quote(str(REPO))} {where}/repo && cd {where}/repo"
        timed = "git -c gc.auto=0 gc -q && git fsck --no-progress"
    else:
        inserts = "".join(f"INSERT INTO t VALUES({n}, randomblob(100));" for n in range(SQL_ROWS))
        setup = (
            f"cd {where} && sqlite3 db 'PRAGMA journal_mode=WAL; CREATE TABLE t(a, b);' "
            f"> /dev/null && printf '%s' {shlex.quote(inserts)} > inserts.sql"
        )
        count = "sqlite3 db 'SELECT count(*) FROM t'"
        timed = f'sqlite3 db < inserts.sql && test "$({count})" = {SQL_ROWS}'
    return f"{setup} || exit 1; t0=$({clock}); {timed} || exit 1; t1=$({clock}); echo took $t0 $t1"


@contextmanager
def kernel_memfs() -> Iterator[None]:
    """memfs mounted on KERNEL_MNT by the host kernel for the with block."""
    proc = subprocess.Popen(
        [*MEMFS, str(KERNEL_MNT)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not is_mounted(KERNEL_MNT):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Failed("memfs did not mount")
            time.sleep(0.02)
        yield
    finally:
        if is_mounted(KERNEL_MNT):
            run(["umount", "-l", str(KERNEL_MNT)])
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def once(row: str, workload: str) -> float:
    """One timed run of workload under row; its seconds."""
    if row == "kernel":
        with kernel_memfs():
            _, stdout, _ = run_err(("sh", "-c", script(workload, KERNEL_MNT)))
    else:
        mount = f"--mount={SANDBOX_MNT}=memfs"
        cmd = (*SENTRY, mount, "--", "sh", "-c", script(workload, SANDBOX_MNT))
        _, stdout, _ = run_err(cmd)
    for line in stdout.splitlines():
        if line.startswith("took "):
            start, end = line.split()[1:3]
            return float(end) - float(start)
    raise Failed("no time printed")


def measure_programs(reps: int, missing: dict[str, str]) -> dict[str, dict[str, Runs]]:
    """{workload: {row: Runs}}, the rows taking turns."""
    results = {w: {r: Runs() for r in ROWS} for w in WORKLOADS}
    why: dict[str, str] = {}
    for tool in ("git", "sqlite3"):
        if shutil.which(tool) is None:
            why.update({w: f"{tool} is not installed" for w in WORKLOADS})
    if "sentry" in missing:
        for w in WORKLOADS:
            results[w]["sentry"].error = missing["sentry"]
    if not Path("/dev/fuse").exists():
        for w in WORKLOADS:
            results[w]["kernel"].error = "no /dev/fuse"
    elif os.geteuid() != 0:
        for w in WORKLOADS:
            results[w]["kernel"].error = "mounting memfs on the host needs root"
    for w, reason in why.items():
        for r in ROWS:
            results[w][r].error = reason
    DIR.mkdir(parents=True, exist_ok=True)
    for d in (KERNEL_MNT, SANDBOX_MNT):
        if not is_mounted(d):
            d.mkdir(exist_ok=True)
    try:
        make_repo()
    except Failed as exc:
        for r in ROWS:
            results["git gc"][r].error = f"cannot make the repository: {exc}"
    for rep in range(reps):
        progress(f"[programs {rep + 1}/{reps}]")
        for w in WORKLOADS:
            for r in ROWS:
                res = results[w][r]
                if res.error is not None:
                    continue
                try:
                    res.samples.append(once(r, w))
                except Failed as exc:
                    res.error = str(exc)
                    progress(f" {w}:{r}=x")
                    continue
                progress(f" {w}:{r}={res.samples[-1]:.2f}s")
        progress("\n")
    return results


def print_programs(results: dict[str, dict[str, Runs]]) -> list[tuple[str, str, str, str]]:
    """Print section 10's table; return its targets as summary rows."""
    print("10. Real programs on a FUSE mount of memfs: the host kernel's and the sentry's")
    print_table_head(
        f"git gc -q and git fsck of a {REPO_FILES}-file repository with {REPO_COMMITS + 1} "
        f"commits (loose objects), and {SQL_ROWS} sqlite3 inserts in WAL mode, each its own "
        "transaction, then a second sqlite3 counting the rows. Seconds measured inside the "
        "shell, median of the runs; target: the sentry within "
        f"{TARGET_X}x of the kernel's mount.",
        f"   {'workload':<14} {'kernel s':>9} {'sentry s':>9} {'x kernel':>9}  why n/a",
    )
    rows = []
    for w in WORKLOADS:
        kernel, sentry = results[w]["kernel"], results[w]["sentry"]
        x = ratio(sentry.median, kernel.median)
        why = sentry.error or kernel.error or ""
        print(
            f"   {w:<14} {fmt(kernel.median, '.2f', 9)} {fmt(sentry.median, '.2f', 9)} "
            f"{fmt(x, '.2f', 9)}  {why[:60]}"
        )
        rows.append(
            (
                f"{w} on memfs, x kernel FUSE",
                fmt(x, ".2f", 0),
                f"<= {TARGET_X}x",
                verdict(x, TARGET_X),
            )
        )
    print()
    return rows


def programs_json(results: dict[str, dict[str, Runs]]) -> dict[str, object]:
    """Section 10's runs, for results.json under "programs"."""
    return {
        w: {
            r: {"samples": res.samples, "median": res.median, "error": res.error}
            for r, res in rs.items()
        }
        for w, rs in results.items()
    }
