"""Benchmark: sentry against native Linux, a minimal C tracer, gVisor's runsc and proot.

Run it with ``make bench`` (installs sentry, runsc and proot first), or
``python3 tests/bench/bench.py`` from the repository root once sentry is installed.
It takes about eleven minutes, five of them section 9's (``--only scale`` runs that
section alone, and results.json then holds only its figures). It prints a table per
measurement and saves the raw numbers to tests/bench/out/results.json. Each figure is a
median: of --reps runs (default 3) for dd, FUSE, the buffer cache and section 9, of 5 for
getppid and startup (3 for runsc's startup), and of --server-reps runs (default 1: a run
takes up to half a minute under the sentry) for the built-in FUSE servers. The runs take
turns round-robin, so drift on the host spreads evenly over the tools.

What is measured
 1. Cost of a pass-through trapped syscall. ``dd if=/dev/zero of=/dev/null bs=1
    count=100000`` makes 200,000 read+write syscalls. The C tracer traps read and write
    with seccomp RET_TRACE and passes each one through with one ptrace stop; the sentry
    no longer stops for them at all (a process without sentry fds runs its fd syscalls
    natively), so its rows show what is left: startup. dd runs
    natively, under the minimal C tracer, under the sentry, under
    ``runsc --platform=ptrace`` and under Debian's proot. Per syscall:
    overhead = (t_tool - t_native) / 200000.
 2. ctracer.c, compiled here, is the floor: the same seccomp filter shape (read and
    write -> RET_TRACE) and nothing but PTRACE_CONT at each stop. The ``-i`` variant
    also calls PTRACE_GET_SYSCALL_INFO. Target: the sentry's stop at its default
    placement costs at most 1.35x the pinned C tracer's stop.
 3. Untrapped syscalls. getppid_loop.c makes 5,000,000 getppid calls, which the
    sentry's filter allows without a stop. This shows the seccomp filter's cost per
    syscall. Target: sentry/native <= 1.25.
 4. Startup: wall time of ``true`` natively, under the sentry and under runsc.
    Target: the sentry starts no slower than runsc.
 5. FUSE. A libfuse daemon started inside the sandbox mounts a FUSE file system that
    the sandbox serves: ``sh -c 'squashfuse IMG MNT || exit 1; dd ...; fusermount3 -u
    MNT'``. squashfuse serves a 200 MiB file of seeded random bytes (made once in
    out/fuse/ and kept while its size is right) from an uncompressed squashfs image
    built each run; dd reads it at bs=128k (all of it) and at bs=4k (the first 10000
    blocks). bindfs takes 50 MiB of dd writes at bs=128k. The same runs natively on the
    host kernel's FUSE (mounted afresh each run) and under ``runsc --platform=ptrace do
    --force-overlay=false``. Cold reads drop the host's caches first; the "img cached"
    read has the image in the host page cache, which isolates the FUSE path from the
    disk. Figures come from dd's own report. Targets: the sentry's bs=128k read at
    least gVisor's 352 MB/s (measured earlier in this VM) and at least runsc's in this
    run.
 6. Built-in FUSE servers: sentry's own memfs and passthrough, written in Python. One
    run writes a file with dd and reads it back at bs=1M and 128k (64 MiB) and at bs=4k
    (16 MiB), then fsmeta.c, compiled here, creates 10,000 empty files, stats each and
    unlinks each, timing each phase. "native" runs it in a plain directory: on tmpfs
    (/dev/shm) for memfs, in the backing directory (out/servers/) for passthrough. "host
    kernel" mounts the server with the host's FUSE (``python3 -P -m sentry.fuse_server
    memfs MNT``) and drops the file's pages before each read, as memfs lets the kernel
    keep them. "sentry" is ``sentry run --mount MNT=memfs`` (or ``=passthrough:DIR``),
    with the server outside the sandbox. "runsc" starts the server inside gVisor (``do
    --force-overlay=false``) on a /dev/fuse that the shell opened (``--fd 3``) and mounts
    it with ``mount -i -t fuse``: the server's own mount hangs in gVisor, as it reads
    /proc/self/mountinfo before it answers INIT and gVisor's mountinfo waits for INIT.
    Figures: MB/s and us per block from dd's own report, us per file for each phase, and
    the sentry's time over native's and over runsc's. No targets.
 7. Buffer cache: the sentry's page cache of FUSE files (chunks, readahead, writeback
    caching), each figure against gVisor with the same daemon inside the sandbox and against
    the host kernel's FUSE mount. Reads use section 5's squashfuse image, daemon inside the
    sandbox: one command drops the host's caches, then reads the 200 MiB file at bs=128k
    (cold) and again at bs=1M (the re-read: its pages are cached now; the second dd's figure
    is reported); another, on a fresh mount, reads the first 10000 blocks at bs=4k, cold.
    The sentry runs with its default --cache-size (256M). Writes: memfs --writeback
    (``python3 -P -m sentry.fuse_server memfs --writeback MNT &`` in the sentry's shell, which
    then polls /proc/self/mounts for the mount, at most 10 s; natively on the host's FUSE; in
    runsc with section 6's ``--fd 3`` trick), and ``dd if=/dev/zero bs=4k count=10000
    conv=fsync`` to a new file: with fsync, so the figure includes sending the cached pages
    to memfs. An extra sentry row runs ``sentry run --mount MNT=memfs:writeback`` (the
    server outside the sandbox). Figures: MB/s and us per dd block, from dd's own report,
    median of --reps runs (about 40 s at the default 3, a minute at 5), and the peak RSS:
    the sentry's VmHWM, which it writes to its debug log at exit, and for runsc the
    largest RSS of its process tree (GNU time's %M; n/a without /usr/bin/time). Targets,
    from the issue: cold read >= 700 MB/s, 4 KiB reads <= 25 us each, re-read >= 2.5 GB/s,
    4 KiB writes with writeback <= 25 us each.
 8. A summary of the sentry's figures against their targets (PASS/MISS), section 9's
    included, then its main built-in FUSE server figures next to runsc's. It is printed
    last, after section 9.
 9. Scale with the machine, and real programs (tests/bench/scale.py). N is the number of
    CPUs the bench may use (os.sched_getaffinity), printed as "N cores". Every workload
    has four rows: native; the sentry at its default placement (``sentry run --``, now
    ``--cpu-affinity none``: the app gets every CPU and the sentry polls briefly for
    stops); ``sentry run --cpu-affinity=same`` (sentry and app on one CPU, the old
    default); runsc (``--platform=ptrace --network=none do``, with
    ``--force-overlay=false`` where the workload writes to the host). Each sentry run
    writes a fresh ``--debug-log``, and its closing line ``stops: T (C passed through in
    C, P served in Python)`` gives the stops column (the medians of T and of P). Targets
    are for the sentry's default placement.
     1. ``nproc``: the CPUs the app gets; the default must print N, same 1 (a summary row).
     2. ``make -s -jN`` of 4N generated C files (out/scale/make/: seeded, deterministic,
        about 0.3 s of ``gcc -O2 -c`` each here), after an untimed native ``make -s
        clean``. Target: <= 1.15x native.
     3. One ``dd if=/dev/zero of=/dev/null bs=1 count=20000`` (40,000 read and write
        syscalls), with native and the C tracer pinned (``taskset -c 0``) added as in
        section 1: the time, the overhead per syscall over native in the same placement,
        and the same with each tool's ``true`` time taken out of its dd time (at 40,000
        syscalls the sentry's startup would add several us to each), over the pinned C
        tracer's. Target: the latter <= 1.35; if the sentry stops for under a tenth of the
        dd's syscalls (more stops than for ``true``), it passes trivially, and says so.
     4. N such dd's at once (``sh -c 'for i in $(seq N); do dd ... 2>/dev/null & ...
        done; ...'``, which waits for each dd's own exit status): the syscalls per second
        of all N, over N times one dd's (workload 3's), each time less the tool's ``true``
        time. Target: >= 0.8.
     5. Readers. N+1 files of 64 MiB, read with dd bs=1M: f0 alone, then f1..fN at once;
        bash's $EPOCHREALTIME before, between and after times only the reading. (a) memfs:
        ``sentry run --mount /data=memfs``, the files written by the sandbox's shell first
        (untimed); natively a directory on the host's tmpfs (/dev/shm), under runsc the
        same path, on gVisor's own tmpfs. (b) squashfuse run inside the sandbox (natively
        on the host kernel's FUSE), as in section 5: an uncompressed image of N+1 random
        files built once (out/scale/readers-N+1.sqfs), mounted afresh each run, the image
        read into the host's page cache first. Figures: one reader's MB/s and the N
        readers' together. Target, each file system: the N readers' >= 0.8 x N x one's.
     6. Programs, each time against native's and runsc's: ``true`` (workload 3's runs;
        target <= 0.25x runsc's); ``find /usr -type f`` to /dev/null (<= 4x native);
        ``tar xf`` of a tarball of 5,000 files from /usr/lib and /usr/share, about 100 MB
        (out/scale/usr.tar, built once), into a directory on tmpfs (the host's /dev/shm
        natively, the sandbox's own inside one) (<= 2.5x); ``gcc -o hello hello.c``
        (<= 2x); ``/usr/bin/python3 -c pass`` (<= 3x); ``sha256sum`` of section 5's 200
        MiB file (no target); and ``./configure && make -jN && make test`` in a fresh
        copy of zlib's source (<= 1.5x). The source is ``--zlib DIR``, or else fetched once
        with ``apt-get source zlib`` (the host's apt sources as deb-src, in a private apt
        state under out/scale/, the version of the installed zlib1g) and kept in
        out/scale/zlib-src; without either the row is n/a with the reason. runsc runs
        find and zlib once (15-20 s each here) to keep the section near five minutes.
10. Real programs on a FUSE mount of memfs (tests/bench/programs.py): ``git gc`` of a
    generated repository and sqlite3 inserts in WAL mode, on memfs mounted by the host
    kernel and by ``sentry run --mount``; target: the sentry within 1.5x of the kernel's
    mount. ``--only programs`` runs it alone (about a minute).
 The sentry runs isolated, as it does by default (namespaces, the seccomp allow list),
 with the bench's own directory shared (``--bind``). ``--baseline SENTRY`` adds another
 sentry console script (an earlier version's, say) to sections 1, 3 and 4 as
 "sentry (baseline)", to see what a change costs within one run.
 A tool that is missing or fails is reported as n/a with a one-line reason. Every
 command has a 60 s timeout.

Why pinning matters. In this VM (2 vCPUs, Firecracker) a ptrace stop costs about
50 us when the tracer and the tracee run on different vCPUs: each stop is a
cross-vCPU wake-up. On the same vCPU it costs about 10 us
(/work/shared/docs/ptrace-notes.md, sections 1.3, 1.4 and 4). So every tracer is
measured in two placements. "pinned" is ``taskset -c 0 <whole command>``, which puts
the tracer and the tracee on CPU 0. "unpinned" leaves placement to the scheduler.
The sentry gets three rows: "default" is ``sentry run --`` with its default
``--cpu-affinity none`` (nothing pinned; the sentry polls briefly for the next stop);
"pinned" is ``taskset -c 0 sentry run --cpu-affinity=none --``; "unpinned" is
``sentry run --cpu-affinity=none --spin=0 --`` (no polling).

Debian's proot is built without its seccomp acceleration: it stops twice on every
syscall. It is reported pinned only, because an unpinned run takes about 20 s. Pass
--full to add it unpinned, and the unpinned C tracer -i variant as well.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import (
    BIN,
    DD_COPIED,
    FUSE_BIG,
    FUSE_BIG_SIZE,
    FUSE_DIR,
    MKSQUASHFS_OPTS,
    OUT,
    PIN,
    RUNSC,
    RUNSC_RW,
    SENTRY,
    SENTRY_EXE,
    Config,
    Failed,
    Result,
    as_json,
    build_c,
    ctracer,
    drop_caches,
    find_tools,
    fmt,
    is_mounted,
    make_big_file,
    measure,
    ms,
    needs,
    one_line,
    parse_dd,
    print_table_head,
    progress,
    ratio,
    run,
    run_err,
    spread,
    unmount,
    verdict,
    verdict_at_least,
    with_unit,
)
from programs import measure_programs, print_programs, programs_json
from scale import measure_scale, print_scale, scale_json

DD_COUNT = 100_000
DD_SYSCALLS = 2 * DD_COUNT  # one read and one write per byte
DD = ("dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={DD_COUNT}")
GETPPID_N = 5_000_000
GETPPID_REPS = 5  # ~1 s each, and noisier than dd

# FUSE (section 5). The daemon (squashfuse, bindfs) runs inside the sandbox.
FUSE_IMG = FUSE_DIR / "big.sqfs"
BIND_SRC = FUSE_DIR / "bind_src"  # bindfs mounts this; the writes land in it
FUSE_4K_COUNT = 10_000  # bs=4k reads only the first 41 MB: 10000 reads are plenty
FUSE_WRITE_COUNT = 400  # 50 MiB at bs=128k
GVISOR_FUSE_MBS = 352.0  # runsc --platform=ptrace, bs=128k read, measured earlier in this VM

# Built-in FUSE servers (section 6): sentry's own memfs and passthrough, written in Python.
SERVERS_DIR = OUT / "servers"
PT_SRC = SERVERS_DIR / "passthrough_src"  # passthrough serves it; native runs write in it
SHM_DIR = Path("/dev/shm/sentry-bench")  # memfs's native counterpart: a directory on tmpfs
HOST_MNT = SERVERS_DIR / "mnt_host"  # the server mounted by the host kernel
SANDBOX_MNT = SERVERS_DIR / "mnt_sandbox"  # sentry --mount, or the daemon inside runsc
FUSE_SERVER = (sys.executable, "-P", "-m", "sentry.fuse_server")
META_N = 10_000  # files created, stat'ed and unlinked by fsmeta
SERVER_WAIT_S = 10.0  # for the server's host mount to appear, and for it to exit after umount

TARGET_STOP_RATIO = 1.35
TARGET_GETPPID_RATIO = 1.25
STARTUP_REPS = {"runsc": 3}  # every other tool: 5


# ---------------------------------------------------------------- tools


def tool_version(argv: Sequence[str]) -> str | None:
    """The first line argv prints, or None."""
    try:
        lines = run(argv)[1].splitlines()
    except Failed:
        return None
    return one_line(lines[0]) if lines else None


def environment() -> dict[str, object]:
    proot = None
    try:
        proot = run(["dpkg-query", "-W", "-f", "${Version}", "proot"])[1].strip() or None
    except Failed:
        pass
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sentry": SENTRY_EXE,
        "runsc": tool_version(["runsc", "--version"]) if shutil.which("runsc") else None,
        "proot": proot,
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[0],
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# ---------------------------------------------------------------- configs


# --baseline: another sentry (an earlier version's console script), measured
# beside this one in sections 1, 3 and 4.
BASELINE: list[str] = []


def baseline_configs() -> list[Config]:
    """The baseline sentry's row at the default placement, if one was given."""
    label, placement = "sentry (baseline)", "default (none)"
    return [
        Config("sentry_baseline", "sentry", label, placement, (exe, "run", "--"))
        for exe in BASELINE
    ]


def dd_configs(full: bool) -> list[Config]:
    pin_sentry = (*PIN, *SENTRY, "--cpu-affinity=none", "--")
    configs = [
        Config("native", "native", "native", "unpinned", ()),
        Config("native_pinned", "native", "native", "pinned", PIN, "native_pinned"),
        Config(
            "ctracer_pinned", "ctracer", "C tracer", "pinned", (*PIN, *ctracer()), "native_pinned"
        ),
        Config(
            "ctracer_info_pinned",
            "ctracer",
            "C tracer + GET_SYSCALL_INFO",
            "pinned",
            (*PIN, *ctracer("-i")),
            "native_pinned",
        ),
        Config("ctracer", "ctracer", "C tracer", "unpinned", ctracer()),
        Config("sentry_default", "sentry", "sentry", "default (none)", (*SENTRY, "--")),
        *baseline_configs(),
        Config("sentry_pinned", "sentry", "sentry", "pinned", pin_sentry, "native_pinned"),
        Config(
            "sentry_unpinned",
            "sentry",
            "sentry",
            "unpinned, no polling",
            (*SENTRY, "--cpu-affinity=none", "--spin=0", "--"),
        ),
        Config(
            "runsc_pinned",
            "runsc",
            "runsc --platform=ptrace",
            "pinned",
            (*PIN, *RUNSC),
            "native_pinned",
        ),
        Config("runsc", "runsc", "runsc --platform=ptrace", "unpinned", RUNSC),
        Config(
            "proot_pinned",
            "proot",
            "proot (Debian, no seccomp)",
            "pinned",
            (*PIN, "proot"),
            "native_pinned",
        ),
    ]
    if full:
        configs.insert(
            5,
            Config(
                "ctracer_info", "ctracer", "C tracer + GET_SYSCALL_INFO", "unpinned", ctracer("-i")
            ),
        )
        configs.append(
            Config("proot", "proot", "proot (Debian, no seccomp)", "unpinned", ("proot",))
        )
    return configs


def getppid_configs() -> list[Config]:
    return [
        Config("native", "native", "native", "unpinned", ()),
        Config(
            "ctracer_pinned", "ctracer", "C tracer (filter only)", "pinned", (*PIN, *ctracer())
        ),
        Config("sentry_default", "sentry", "sentry", "default (none)", (*SENTRY, "--")),
        *baseline_configs(),
    ]


def startup_configs() -> list[Config]:
    return [
        Config("native", "native", "native", "unpinned", ()),
        Config("ctracer_pinned", "ctracer", "C tracer", "pinned", (*PIN, *ctracer())),
        Config("sentry_default", "sentry", "sentry", "default (none)", (*SENTRY, "--")),
        *baseline_configs(),
        Config("runsc", "runsc", "runsc --platform=ptrace", "unpinned", RUNSC),
    ]


# ---------------------------------------------------------------- measuring


def probe_startup(missing: dict[str, str]) -> dict[str, Result]:
    """Measure `true` under each tool; a tool that cannot start is marked missing."""
    reps: dict[str, int] = {"*": 5, **STARTUP_REPS}
    results = measure("startup", startup_configs(), ["true"], reps, missing)
    for res in results.values():
        if res.error is not None and res.config.tool != "native":
            missing.setdefault(res.config.tool, res.error)
    return results


# ---------------------------------------------------------------- derived figures


def dd_figures(results: dict[str, Result]) -> dict[str, dict[str, float | None]]:
    """Per config: ns per syscall, overhead ns per syscall, and ratios."""
    figures: dict[str, dict[str, float | None]] = {}
    for key, res in results.items():
        t = res.median
        t_nat = results[res.config.native_ref].median
        over = None if t is None or t_nat is None else (t - t_nat) / DD_SYSCALLS * 1e9
        figures[key] = {
            "median_s": t,
            "x_native": ratio(t, t_nat),
            "ns_per_syscall": None if t is None else t / DD_SYSCALLS * 1e9,
            "overhead_ns": over,
        }
    c_pin = figures["ctracer_pinned"]["overhead_ns"]
    for key, fig in figures.items():
        native = results[key].config.tool == "native"
        fig["x_ctracer_pinned"] = None if native else ratio(fig["overhead_ns"], c_pin)
    return figures


def stop_without_startup(
    dd: dict[str, Result], startup: dict[str, Result], key: str, native_key: str
) -> float | None:
    """ns per stop with the tool's startup (its `true` time) taken out on both sides."""
    parts = [dd[key].median, startup[key].median, dd[native_key].median, startup["native"].median]
    if any(p is None for p in parts):
        return None
    t_dd, t_true, n_dd, n_true = (float(p) for p in parts)  # type: ignore[arg-type]
    return ((t_dd - t_true) - (n_dd - n_true)) / DD_SYSCALLS * 1e9


# ---------------------------------------------------------------- FUSE


@dataclass(frozen=True)
class FuseWorkload:
    """One dd through a FUSE mount: a read from squashfuse or a write to bindfs."""

    key: str
    label: str
    kind: str  # "read" (squashfuse of FUSE_IMG) or "write" (bindfs of BIND_SRC)
    bs: str
    bs_bytes: int
    count: int | None = None  # None: the whole file
    cold: bool = True  # a read: drop the host's caches first, else read the image into them

    @property
    def nbytes(self) -> int:
        return FUSE_BIG_SIZE if self.count is None else self.bs_bytes * self.count

    @property
    def nops(self) -> int:
        return self.nbytes // self.bs_bytes

    def daemon(self, mnt: Path) -> tuple[str, ...]:
        if self.kind == "read":
            return ("squashfuse", str(FUSE_IMG), str(mnt))
        return ("bindfs", str(BIND_SRC), str(mnt))

    def dd(self, mnt: Path) -> tuple[str, ...]:
        count = () if self.count is None else (f"count={self.count}",)
        if self.kind == "read":
            files = (f"if={mnt / 'big'}", "of=/dev/null")
        else:
            files = ("if=/dev/zero", f"of={mnt / 'out'}")
        return ("env", "LC_ALL=C", "dd", *files, f"bs={self.bs}", *count)


FUSE_WORKLOADS = (
    FuseWorkload("read_128k", "read bs=128k, cold", "read", "128k", 128 * 1024),
    FuseWorkload(
        "read_128k_cached", "read bs=128k, img cached", "read", "128k", 128 * 1024, cold=False
    ),
    FuseWorkload("read_4k", "read bs=4k, cold, 41 MB", "read", "4k", 4096, FUSE_4K_COUNT),
    FuseWorkload(
        "write_128k", "write bs=128k, 50 MiB", "write", "128k", 128 * 1024, FUSE_WRITE_COUNT
    ),
)
FUSE_TOOLS = {
    "read": ("squashfuse", "mksquashfs", "fusermount3"),
    "write": ("bindfs", "fusermount3"),
}


def fuse_configs() -> list[Config]:
    return [
        Config("native", "native", "native (host FUSE)", "unpinned", ()),
        Config("sentry_default", "sentry", "sentry", "default (none)", (*SENTRY, "--")),
        Config("runsc", "runsc", "runsc --platform=ptrace", "unpinned", RUNSC_RW),
    ]


def mountpoint(where: str, kind: str) -> Path:
    """Separate mount points for host mounts and in-sandbox mounts, per file system."""
    return FUSE_DIR / f"mnt_{kind}_{where}"


def fuse_prepare() -> dict[str, str]:
    """Make the file, the image and the mount points; return {kind: reason} for failures."""
    failures: dict[str, str] = {}
    for kind, tools in FUSE_TOOLS.items():
        absent = [t for t in tools if shutil.which(t) is None]
        if absent:
            failures[kind] = (
                f"{', '.join(absent)} not installed "
                "(apt-get install squashfs-tools squashfuse bindfs fuse3)"
            )
    if os.geteuid() != 0:
        failures.setdefault("read", "cold reads need root to drop the page cache")
    BIND_SRC.mkdir(parents=True, exist_ok=True)
    for kind in FUSE_TOOLS:
        for where in ("native", "sandbox"):
            mnt = mountpoint(where, kind)
            if kind not in failures and is_mounted(mnt):  # left by an interrupted run
                try:
                    unmount(mnt)
                except Failed as exc:
                    failures[kind] = f"cannot unmount {mnt}: {exc}"
            if not is_mounted(mnt):  # a dead daemon's mount point fails even stat
                mnt.mkdir(parents=True, exist_ok=True)
    if "read" not in failures:
        try:
            make_big_file()
            run(["mksquashfs", str(FUSE_BIG.parent), str(FUSE_IMG), *MKSQUASHFS_OPTS])
        except Failed as exc:
            failures["read"] = f"mksquashfs failed: {exc}"
        except OSError as exc:
            failures["read"] = f"cannot write {FUSE_BIG}: {exc.strerror}"
    return failures


def before_fuse_run(w: FuseWorkload) -> None:
    """A cold read starts with empty host caches, a cached one with the whole image in the
    host's page cache; a write starts with no old file and no dirty pages."""
    if w.kind == "read" and w.cold:
        drop_caches()
    elif w.kind == "read":
        with FUSE_IMG.open("rb", buffering=0) as f:
            while f.read(2**20):
                pass
    else:
        (BIND_SRC / "out").unlink(missing_ok=True)
        os.sync()


def fuse_native(w: FuseWorkload) -> tuple[float, float]:
    """Mount on the host, run dd, unmount; return (dd's seconds, dd's wall seconds).

    Remounting each time is what drops the FUSE file's page cache reliably.
    """
    mnt = mountpoint("native", w.kind)
    if w.kind == "write":
        before_fuse_run(w)
    run(w.daemon(mnt))  # squashfuse and bindfs return once the mount exists
    try:
        if w.kind == "read":
            before_fuse_run(w)
        wall, _, stderr = run_err(w.dd(mnt))
    finally:
        unmount(mnt)
    return parse_dd(stderr, w.nbytes), wall


def fuse_sandbox(prefix: Sequence[str], w: FuseWorkload) -> tuple[float, float]:
    """Mount, dd and unmount in one sandboxed shell; return (dd's seconds, the wall seconds
    of the whole command: sandbox start, mount, dd, unmount and exit)."""
    mnt = mountpoint("sandbox", w.kind)
    script = (
        f"{shlex.join(w.daemon(mnt))} || exit 1; {shlex.join(w.dd(mnt))}; s=$?; "
        f"fusermount3 -u {shlex.quote(str(mnt))}; exit $s"
    )
    before_fuse_run(w)
    wall, _, stderr = run_err((*prefix, "sh", "-c", script))
    return parse_dd(stderr, w.nbytes), wall


def measure_fuse(
    configs: list[Config], reps: int, missing: dict[str, str], failures: dict[str, str]
) -> dict[str, dict[str, Result]]:
    """{workload: {config: Result}}; samples are dd's seconds, round-robin over the configs."""
    results = {w.key: {c.key: Result(c) for c in configs} for w in FUSE_WORKLOADS}
    for w in FUSE_WORKLOADS:
        for c in configs:
            reasons = [failures[w.kind]] if w.kind in failures else []
            reasons += [missing[t] for t in needs(c) if t in missing]
            results[w.key][c.key].error = reasons[0] if reasons else None
    for rep in range(reps):
        progress(f"[fuse {rep + 1}/{reps}]")
        for w in FUSE_WORKLOADS:
            for c in configs:
                res = results[w.key][c.key]
                if res.error is not None:
                    continue
                try:
                    if c.tool == "native":
                        secs, wall = fuse_native(w)
                    else:
                        secs, wall = fuse_sandbox(c.prefix, w)
                    res.samples.append(secs)
                    res.walls.append(wall)
                except Failed as exc:
                    res.error = str(exc)
                rate = "x" if res.error else format(w.nbytes / res.samples[-1] / 1e6, ".0f")
                progress(f" {w.key}:{c.key}={rate}")
        progress("\n")
    (BIND_SRC / "out").unlink(missing_ok=True)
    return results


def fuse_figures(
    results: dict[str, dict[str, Result]],
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per workload and config: MB/s (10^6 bytes), us per dd block, and ratios."""
    figures: dict[str, dict[str, dict[str, float | None]]] = {}
    for w in FUSE_WORKLOADS:
        per: dict[str, dict[str, float | None]] = {}
        for key, res in results[w.key].items():
            t = res.median
            per[key] = {
                "median_s": t,
                "mb_s": None if t is None else w.nbytes / t / 1e6,
                "us_per_op": None if t is None else t / w.nops * 1e6,
                "wall_s": statistics.median(res.walls) if t is not None else None,
            }
        for fig in per.values():
            fig["x_native"] = ratio(fig["mb_s"], per["native"]["mb_s"])
            fig["x_runsc"] = ratio(fig["mb_s"], per["runsc"]["mb_s"])
        figures[w.key] = per
    return figures


# ---------------------------------------------------------------- built-in FUSE servers


@dataclass(frozen=True)
class SeqSize:
    """A block size of the sequential workload: dd writes count blocks, then reads them back."""

    bs: str
    bs_bytes: int
    count: int

    @property
    def nbytes(self) -> int:
        return self.bs_bytes * self.count


@dataclass(frozen=True)
class Metric:
    """One figure of a run: a dd, a phase of fsmeta, or the wall time of the whole command."""

    key: str
    label: str
    kind: str  # "dd" (MB/s, us per block), "meta" (us per file) or "wall" (s)
    nops: int = 1  # dd blocks or files
    nbytes: int = 0  # a dd's bytes


@dataclass(frozen=True)
class BuiltinServer:
    """A built-in server and the host directory that the same workload uses natively."""

    name: str  # memfs or passthrough
    native_dir: Path
    native_label: str

    @property
    def args(self) -> tuple[str, ...]:
        """The words after ``python -m sentry.fuse_server``, before MOUNTPOINT or --fd."""
        return ("passthrough", str(PT_SRC)) if self.name == "passthrough" else (self.name,)

    @property
    def spec(self) -> str:
        """The server as ``sentry run --mount TARGET=SERVER`` names it."""
        return f"passthrough:{PT_SRC}" if self.name == "passthrough" else self.name


SEQ_SIZES = (
    SeqSize("1M", 2**20, 64),
    SeqSize("128k", 128 * 1024, 512),
    SeqSize("4k", 4096, 4096),
)
METRICS = (
    *(
        Metric(f"{op}_{s.bs}", f"{op} bs={s.bs} {s.nbytes // 2**20}MiB", "dd", s.count, s.nbytes)
        for s in SEQ_SIZES
        for op in ("write", "read")
    ),
    *(
        Metric(phase, f"{phase} {META_N} files", "meta", META_N)
        for phase in ("create", "stat", "unlink")
    ),
    Metric("wall", "whole command, s", "wall"),
)
BUILTIN_SERVERS = (
    BuiltinServer("memfs", SHM_DIR, f"a directory on tmpfs, {SHM_DIR}"),
    BuiltinServer("passthrough", PT_SRC, "its backing directory, on disk"),
)
META_OUT = re.compile(r"^create ([0-9.]+) stat ([0-9.]+) unlink ([0-9.]+)$", re.MULTILINE)


def builtin_configs() -> list[Config]:
    return [
        Config("native", "native", "native", "unpinned", ()),
        Config("kernel", "kernel", "host kernel", "unpinned", ()),
        Config("sentry_default", "sentry", "sentry", "default (none)", SENTRY),
        Config("runsc", "runsc", "runsc", "unpinned", RUNSC_RW),
    ]


def fs_type(path: Path) -> str | None:
    """The type of the file system mounted last on path, or None if nothing is."""
    found = None
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[1] == str(path):
            found = fields[2]
    return found


def clear_dir(d: Path) -> None:
    """Remove the files a failed run left in d."""
    for p in d.iterdir():
        p.unlink()


def builtin_prepare(
    build_failures: dict[str, str], missing: dict[str, str]
) -> dict[tuple[str, str], str]:
    """Make the directories and check what each run needs; return {(server, tool): reason}
    for the runs that cannot happen."""
    why = {c.tool: missing[c.tool] for c in builtin_configs() if c.tool in missing}
    if os.geteuid() != 0:
        why["kernel"] = "mounting the server on the host needs root"
    elif not Path("/dev/fuse").exists():
        why["kernel"] = "no /dev/fuse"
    if shutil.which("mount") is None:
        why.setdefault("runsc", "mount is not installed (util-linux)")
    try:
        run((*FUSE_SERVER, "--help"))
    except Failed as exc:
        for tool in ("kernel", "runsc"):
            why.setdefault(tool, f"python3 -m sentry.fuse_server: {exc}")
    if is_mounted(HOST_MNT):  # left by an interrupted run
        try:
            run(["umount", "-l", str(HOST_MNT)])
        except Failed as exc:
            why["kernel"] = f"cannot unmount {HOST_MNT}: {exc}"
    for d in (PT_SRC, SANDBOX_MNT, HOST_MNT):
        if d != HOST_MNT or not is_mounted(d):
            d.mkdir(parents=True, exist_ok=True)
    reasons = {(s.name, tool): r for s in BUILTIN_SERVERS for tool, r in why.items()}
    if fs_type(SHM_DIR.parent) == "tmpfs":
        SHM_DIR.mkdir(exist_ok=True)
    else:
        reasons[("memfs", "native")] = f"{SHM_DIR.parent} is not a tmpfs"
    if "fsmeta" in build_failures:
        for s in BUILTIN_SERVERS:
            for c in builtin_configs():
                reasons[(s.name, c.tool)] = build_failures["fsmeta"]
    return reasons


def workload_script(d: Path, drop_cache: bool = False) -> str:
    """The workload as one shell command line, run in d: for each block size a dd write of
    the file seq and a read of it, then sync, so that no writeback of the host's is left to
    slow passthrough's backing disk, then fsmeta.

    With drop_cache dd drops the file's cached pages before each read (posix_fadvise
    DONTNEED), so that the read asks the server: memfs lets the host kernel keep them.
    """
    steps = ["export LC_ALL=C", "set -e", f"cd {shlex.quote(str(d))}"]
    for s in SEQ_SIZES:
        steps.append(f"dd if=/dev/zero of=seq bs={s.bs} count={s.count}")
        if drop_cache:
            steps.append("dd if=seq iflag=nocache count=0 status=none")
        steps += [f"dd if=seq of=/dev/null bs={s.bs}", "rm seq"]
    steps += ["sync", f"{shlex.quote(str(BIN / 'fsmeta'))} . {META_N}"]
    return "; ".join(steps)


def runsc_script(server: BuiltinServer) -> str:
    """Section 6's whole workload inside gVisor, served as runsc_serve says."""
    return runsc_serve(server.args, server.name, SANDBOX_MNT, workload_script(SANDBOX_MNT))


def runsc_serve(args: Sequence[str], name: str, mnt: Path, workload: str) -> str:
    """Serve on a /dev/fuse the shell opens, mount it with mount(8), run workload (a shell
    command line), unmount and stop the server: all inside gVisor. args are the server's
    words after ``python -m sentry.fuse_server``, before ``--fd``.

    Not ``python3 -m sentry.fuse_server memfs MNT``: that server reads /proc/self/mountinfo
    after its mount(2) and before it answers INIT, and gVisor's mountinfo waits for INIT, so
    it hangs. Nor does gVisor's unmount end the server's read, hence the kill.
    """
    where = shlex.quote(str(mnt))
    serve = shlex.join((*FUSE_SERVER, *args, "--fd", "3"))
    opts = (
        f"fd=3,rootmode=40000,user_id={os.getuid()},group_id={os.getgid()},"
        "default_permissions,allow_other"
    )
    return (
        f"exec 3<>/dev/fuse; {serve} & srv=$!; "
        f"if mount -i -t fuse -o {opts} {name} {where}; then exec 3>&-; "
        f"({workload}); s=$?; umount {where} 2>/dev/null; else s=1; fi; "
        "kill $srv 2>/dev/null; wait $srv; exit $s"
    )


@contextmanager
def host_server(server: BuiltinServer) -> Iterator[None]:
    """Run the server mounted on HOST_MNT by the host kernel for the with block."""
    with host_daemon((*FUSE_SERVER, *server.args, str(HOST_MNT)), HOST_MNT):
        yield


@contextmanager
def host_daemon(argv: Sequence[str], mnt: Path) -> Iterator[None]:
    """Run argv, a server that mounts mnt with the host kernel and stays in the foreground,
    for the with block; unmount it lazily and reap it at the end, killing it if it outlives
    the unmount."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            argv,
            cwd=OUT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + SERVER_WAIT_S
            while not is_mounted(mnt):
                if proc.poll() is not None:
                    err.seek(0)
                    why = one_line(err.read()) or "no output"
                    raise Failed(f"the server exited with status {proc.returncode}: {why}")
                if time.monotonic() > deadline:
                    raise Failed(f"the server did not mount within {SERVER_WAIT_S:.0f} s")
                time.sleep(0.02)
            yield
        finally:
            if is_mounted(mnt):
                try:
                    run(["umount", "-l", str(mnt)])
                except Failed as exc:  # the kill below ends the server all the same
                    progress(f" (umount -l {mnt}: {exc})")
            try:
                proc.wait(timeout=SERVER_WAIT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def builtin_run(c: Config, server: BuiltinServer) -> tuple[float, str, str]:
    """One run of the whole workload under c's tool; return (wall s, stdout, stderr)."""
    clear_dir(PT_SRC)
    if c.tool == "native":
        clear_dir(server.native_dir)
        return run_err(("sh", "-c", workload_script(server.native_dir)))
    if c.tool == "kernel":
        with host_server(server):
            return run_err(("sh", "-c", workload_script(HOST_MNT, drop_cache=True)))
    if c.tool == "sentry":
        mount = f"{SANDBOX_MNT}={server.spec}"
        script = workload_script(SANDBOX_MNT)
        return run_err((*c.prefix, "--mount", mount, "--", "sh", "-c", script))
    return run_err((*c.prefix, "sh", "-c", runsc_script(server)))


def parse_run(stdout: str, stderr: str) -> dict[str, float]:
    """{metric key: seconds} from dd's summaries on stderr and fsmeta's line on stdout."""
    dds = [m for m in METRICS if m.kind == "dd"]
    copies = DD_COPIED.findall(stderr)
    if [int(n) for n, _ in copies] != [m.nbytes for m in dds]:
        raise Failed(f"not {len(dds)} whole dd copies: {one_line(stderr) or 'no output'}")
    secs = {m.key: float(t) for m, (_, t) in zip(dds, copies, strict=True)}
    meta = META_OUT.search(stdout)
    if meta is None:
        raise Failed(f"no fsmeta summary: {one_line(stdout) or 'no output'}")
    secs.update(create=float(meta[1]), stat=float(meta[2]), unlink=float(meta[3]))
    return secs


def measure_builtin(
    reps: int, reasons: dict[tuple[str, str], str]
) -> dict[str, dict[str, dict[str, Result]]]:
    """{server: {metric: {config: Result}}}; the runs go round-robin over servers and tools."""
    configs = builtin_configs()
    results = {
        s.name: {
            m.key: {c.key: Result(c, error=reasons.get((s.name, c.tool))) for c in configs}
            for m in METRICS
        }
        for s in BUILTIN_SERVERS
    }
    try:
        for rep in range(reps):
            progress(f"[fuse servers {rep + 1}/{reps}]")
            for s in BUILTIN_SERVERS:
                for c in configs:
                    per = {m.key: results[s.name][m.key][c.key] for m in METRICS}
                    if per["wall"].error is not None:
                        continue
                    try:
                        wall, stdout, stderr = builtin_run(c, s)
                        secs = {**parse_run(stdout, stderr), "wall": wall}
                    except Failed as exc:
                        for res in per.values():
                            res.error = str(exc)
                        progress(f" {s.name}:{c.key}=x")
                        continue
                    for key, res in per.items():
                        res.samples.append(secs[key])
                    progress(f" {s.name}:{c.key}={wall:.1f}s")
            progress("\n")
    finally:
        clear_dir(PT_SRC)
        shutil.rmtree(SHM_DIR, ignore_errors=True)
    return results


def builtin_figures(
    results: dict[str, dict[str, dict[str, Result]]],
) -> dict[str, dict[str, dict[str, dict[str, float | None]]]]:
    """Per server, metric and config: the median seconds, MB/s (dd), us per block or file,
    and that time over native's and over runsc's."""
    figures: dict[str, dict[str, dict[str, dict[str, float | None]]]] = {}
    for s in BUILTIN_SERVERS:
        figures[s.name] = {}
        for m in METRICS:
            runs = results[s.name][m.key]
            nat, runsc = runs["native"].median, runs["runsc"].median
            per: dict[str, dict[str, float | None]] = {}
            for key, res in runs.items():
                t = res.median
                per[key] = {
                    "median_s": t,
                    "mb_s": None if t is None or m.kind != "dd" else m.nbytes / t / 1e6,
                    "us_per_op": None if t is None or m.kind == "wall" else t / m.nops * 1e6,
                    "time_x_native": ratio(t, nat),
                    "time_x_runsc": ratio(t, runsc),
                }
            figures[s.name][m.key] = per
    return figures


# ---------------------------------------------------------------- buffer cache


@dataclass(frozen=True)
class CacheRun:
    """One command of section 7: a FUSE daemon, mounted afresh, and dd's through it."""

    key: str
    kind: str  # "read" (squashfuse of FUSE_IMG) or "write" (memfs --writeback)
    dds: tuple[tuple[str, int, int | None, str], ...]  # (bs, bs bytes, count or all, flags)

    def dd_argvs(self, mnt: Path) -> list[tuple[str, ...]]:
        argvs = []
        for bs, _, count, flags in self.dds:
            if self.kind == "read":
                files: tuple[str, ...] = (f"if={mnt / 'big'}", "of=/dev/null")
            else:
                files = ("if=/dev/zero", f"of={mnt / 'f'}")
            extra = (*(() if count is None else (f"count={count}",)), *flags.split())
            argvs.append(("dd", *files, f"bs={bs}", *extra))
        return argvs

    def nbytes(self) -> list[int]:
        return [FUSE_BIG_SIZE if n is None else b * n for _, b, n, _ in self.dds]

    def script(self, mnt: Path) -> str:
        """The dd's as one shell command line that stops at the first failure."""
        return " && ".join(shlex.join(a) for a in self.dd_argvs(mnt))


@dataclass(frozen=True)
class CacheFigure:
    """A figure of section 7: one dd of one of its runs, and the sentry's target for it."""

    key: str
    label: str  # in the table
    short: str  # in the summary
    run: str  # the run that makes it: a key of CACHE_RUNS
    index: int  # which of the run's dd's
    per_op: bool  # the figure is us per dd block (at most target), else MB/s (at least)
    target: float
    earlier: str  # gVisor's figure, measured earlier in this VM ("" if none)

    @property
    def nbytes(self) -> int:
        return CACHE_RUNS[self.run].nbytes()[self.index]

    @property
    def nops(self) -> int:
        return self.nbytes // CACHE_RUNS[self.run].dds[self.index][1]

    @property
    def unit(self) -> str:
        if not self.per_op:
            return "MB/s"
        return "us/read" if CACHE_RUNS[self.run].kind == "read" else "us/write"

    @property
    def spec(self) -> str:
        return ".1f" if self.per_op else ".0f"

    @property
    def target_text(self) -> str:
        return f"{'<=' if self.per_op else '>='} {self.target:.0f} {self.unit}"

    def value(self, seconds: float | None) -> float | None:
        """dd's seconds in this figure's unit: us per block or MB/s (10^6 bytes)."""
        if seconds is None:
            return None
        return seconds / self.nops * 1e6 if self.per_op else self.nbytes / seconds / 1e6

    def verdict(self, value: float | None) -> str:
        if self.per_op:
            return verdict(value, self.target)
        return verdict_at_least(value, self.target)


CACHE_DIR = OUT / "cache"
CACHE_HOST_MNT = CACHE_DIR / "mnt_host"  # squashfuse or memfs mounted by the host kernel
CACHE_SANDBOX_MNT = CACHE_DIR / "mnt_sandbox"  # the daemon inside the sandbox mounts here
CACHE_RUSAGE = CACHE_DIR / "rusage"  # GNU time's -o file: runsc's largest RSS, in KiB
CACHE_WRITE_COUNT = 10_000  # 41 MB of 4 KiB writes
CACHE_RUNS = {
    "read": CacheRun("read", "read", (("128k", 2**17, None, ""), ("1M", 2**20, None, ""))),
    "read_4k": CacheRun("read_4k", "read", (("4k", 4096, FUSE_4K_COUNT, ""),)),
    "write": CacheRun("write", "write", (("4k", 4096, CACHE_WRITE_COUNT, "conv=fsync"),)),
}
# Targets from the issue; "earlier": runsc --platform=ptrace, measured before in this VM.
CACHE_FIGURES = (
    CacheFigure("cold_128k", "cold read bs=128k", "cold read 128k", "read", 0, False, 700, "352"),
    CacheFigure("read_4k", "read bs=4k, cold", "read 4k", "read_4k", 0, True, 25, "114"),
    CacheFigure(
        "reread_1m", "re-read bs=1M, cached", "re-read 1M", "read", 1, False, 2500, "1000"
    ),
    CacheFigure("write_4k", "write bs=4k, writeback", "write 4k wb", "write", 0, True, 25, ""),
)
MEMFS_WB = ("memfs", "--writeback")  # the server's words for section 7's writes
POLL_S = 0.02  # the sandboxed shell's wait between looks at /proc/self/mounts
SENTRY_LOG = OUT / "sentry-debug.log"  # where the sentry logs its peak RSS at exit
SENTRY_HWM = re.compile(r"sentry's peak RSS: (\d+) kB")
GNU_TIME = "/usr/bin/time"  # -f %M: the largest RSS of runsc's process tree (wait4)


def cache_configs() -> list[Config]:
    return [
        Config("kernel", "native", "host kernel FUSE", "unpinned", ()),
        Config("sentry_default", "sentry", "sentry, daemon inside", "default (none)", SENTRY),
        Config("sentry_mount", "sentry", "sentry --mount", "default (none)", SENTRY),
        Config("runsc", "runsc", "runsc --platform=ptrace", "unpinned", RUNSC_RW),
    ]


def cache_applies(config: Config, run: CacheRun) -> bool:
    """sentry --mount serves only memfs: it has only the writes."""
    return config.key != "sentry_mount" or run.kind == "write"


def cache_prepare(fuse_failures: dict[str, str]) -> dict[str, str]:
    """Make the mount points; return {run kind: reason} for the runs that cannot happen.
    The reads use section 5's image, which fuse_prepare made."""
    failures: dict[str, str] = {}
    if "read" in fuse_failures:
        failures["read"] = fuse_failures["read"]
    try:
        run((*FUSE_SERVER, "memfs", "--help"))
    except Failed as exc:
        failures["write"] = f"python3 -m sentry.fuse_server: {exc}"
    for mnt in (CACHE_HOST_MNT, CACHE_SANDBOX_MNT):
        if is_mounted(mnt):  # left by an interrupted run
            try:
                run(["umount", "-l", str(mnt)])
            except Failed as exc:
                failures.setdefault("read", f"cannot unmount {mnt}: {exc}")
                failures.setdefault("write", f"cannot unmount {mnt}: {exc}")
        if not is_mounted(mnt):
            mnt.mkdir(parents=True, exist_ok=True)
    return failures


def sentry_cache_script(run: CacheRun, mnt: Path, daemon_inside: bool) -> str:
    """The run as one shell command line for sentry run: mount (unless --mount did), the
    dd's, unmount; exit with the dd's status."""
    where = shlex.quote(str(mnt))
    dds = f"{run.script(mnt)}; s=$?"
    if not daemon_inside:
        return f"{dds}; exit $s"
    if run.kind == "read":
        mount = shlex.join(("squashfuse", str(FUSE_IMG), str(mnt)))
        return f"{mount} || exit 1; {dds}; fusermount3 -u {where}; exit $s"
    # The server mounts by itself and stays in the foreground: poll for its mount, with a
    # bound, and give up early if it exits (its stderr then says why).
    serve = shlex.join((*FUSE_SERVER, *MEMFS_WB, str(mnt)))
    tries = int(SERVER_WAIT_S / POLL_S)
    return (
        f"{serve} & srv=$!; i=0; "
        f"until grep -q {shlex.quote(f' {mnt} ')} /proc/self/mounts; do "
        "kill -0 $srv 2>/dev/null || { wait $srv; exit 1; }; "
        f"i=$((i+1)); if [ $i -gt {tries} ]; then kill $srv; "
        f"echo 'memfs did not mount within {SERVER_WAIT_S:.0f} s' >&2; exit 1; fi; "
        f"sleep {POLL_S}; done; "
        f"{dds}; umount {where}; kill $srv 2>/dev/null; wait $srv; exit $s"
    )


def runsc_cache_script(run: CacheRun, mnt: Path) -> str:
    """The run as one shell command line inside gVisor (memfs: section 6's --fd 3 trick)."""
    if run.kind == "read":
        mount = shlex.join(("squashfuse", str(FUSE_IMG), str(mnt)))
        unmount = shlex.join(("fusermount3", "-u", str(mnt)))
        return f"{mount} || exit 1; {run.script(mnt)}; s=$?; {unmount}; exit $s"
    return runsc_serve(MEMFS_WB, "memfs", mnt, run.script(mnt))


def cache_once(c: Config, run: CacheRun) -> tuple[list[float], float, int | None]:
    """One run under c; return (dd's seconds for each dd, the wall seconds, the peak RSS in
    KiB: the sentry's VmHWM, or the largest in runsc's process tree, or None)."""
    rss: int | None = None
    env = ("env", "LC_ALL=C")
    if run.kind == "read" and c.tool != "native":
        drop_caches()  # both reads start cold: the image is not in the host's page cache
    if c.tool == "native":
        if run.kind == "read":
            run_err(("squashfuse", str(FUSE_IMG), str(CACHE_HOST_MNT)))  # returns once mounted
            try:
                drop_caches()
                wall, _, stderr = run_err((*env, "sh", "-c", run.script(CACHE_HOST_MNT)))
            finally:
                unmount(CACHE_HOST_MNT)
        else:
            with host_daemon((*FUSE_SERVER, *MEMFS_WB, str(CACHE_HOST_MNT)), CACHE_HOST_MNT):
                wall, _, stderr = run_err((*env, "sh", "-c", run.script(CACHE_HOST_MNT)))
    elif c.tool == "sentry":
        inside = c.key == "sentry_default"
        mount = () if inside else ("--mount", f"{CACHE_SANDBOX_MNT}=memfs:writeback")
        script = sentry_cache_script(run, CACHE_SANDBOX_MNT, inside)
        SENTRY_LOG.unlink(missing_ok=True)
        debug = (f"--debug-log={SENTRY_LOG}",)
        wall, _, stderr = run_err((*c.prefix, *debug, *mount, "--", *env, "sh", "-c", script))
        m = SENTRY_HWM.search(SENTRY_LOG.read_text()) if SENTRY_LOG.is_file() else None
        rss = None if m is None else int(m[1])
    else:
        timed = Path(GNU_TIME).is_file()
        CACHE_RUSAGE.unlink(missing_ok=True)
        rusage = (GNU_TIME, "-o", str(CACHE_RUSAGE), "-f", "%M") if timed else ()
        script = runsc_cache_script(run, CACHE_SANDBOX_MNT)
        wall, _, stderr = run_err((*rusage, *c.prefix, *env, "sh", "-c", script))
        if timed and CACHE_RUSAGE.is_file():
            words = CACHE_RUSAGE.read_text().split()
            rss = int(words[-1]) if words and words[-1].isdigit() else None
    copies = DD_COPIED.findall(stderr)
    if [int(n) for n, _ in copies] != run.nbytes():
        raise Failed(f"not {len(run.dds)} whole dd copies: {one_line(stderr) or 'no output'}")
    return [float(t) for _, t in copies], wall, rss


def measure_cache(
    reps: int, missing: dict[str, str], failures: dict[str, str]
) -> tuple[dict[str, dict[str, Result]], dict[str, dict[str, list[int]]]]:
    """({figure: {config: Result}}, {run: {config: peak RSS samples in KiB}}); the runs go
    round-robin over the configs."""
    configs = cache_configs()
    results: dict[str, dict[str, Result]] = {f.key: {} for f in CACHE_FIGURES}
    rss: dict[str, dict[str, list[int]]] = {r: {} for r in CACHE_RUNS}
    for f in CACHE_FIGURES:
        run_ = CACHE_RUNS[f.run]
        for c in configs:
            if not cache_applies(c, run_):
                continue
            reasons = [failures[run_.kind]] if run_.kind in failures else []
            reasons += [missing[t] for t in needs(c) if t in missing]
            results[f.key][c.key] = Result(c, error=reasons[0] if reasons else None)
            rss[run_.key][c.key] = []
    for rep in range(reps):
        progress(f"[cache {rep + 1}/{reps}]")
        for run_ in CACHE_RUNS.values():
            figs = [f for f in CACHE_FIGURES if f.run == run_.key]
            for c in configs:
                per = [(f, results[f.key][c.key]) for f in figs if c.key in results[f.key]]
                if not per or any(r.error is not None for _, r in per):
                    continue
                try:
                    secs, wall, peak = cache_once(c, run_)
                except Failed as exc:
                    for _, r in per:
                        r.error = str(exc)
                    progress(f" {run_.key}:{c.key}=x")
                    continue
                for f, r in per:
                    r.samples.append(secs[f.index])
                    r.walls.append(wall)
                if peak is not None:
                    rss[run_.key][c.key].append(peak)
                progress(f" {run_.key}:{c.key}={wall:.1f}s")
        progress("\n")
    CACHE_RUSAGE.unlink(missing_ok=True)
    return results, rss


def cache_figures(
    results: dict[str, dict[str, Result]], rss: dict[str, dict[str, list[int]]]
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per figure and config: the median, in the figure's unit; the speed over the host
    kernel's and over runsc's (their time over this one; above 1: faster); the largest peak
    RSS in MB; the median wall seconds."""
    figures: dict[str, dict[str, dict[str, float | None]]] = {}
    for f in CACHE_FIGURES:
        runs = results[f.key]
        kernel = runs["kernel"].median if "kernel" in runs else None
        runsc = runs["runsc"].median if "runsc" in runs else None
        per: dict[str, dict[str, float | None]] = {}
        for key, res in runs.items():
            t = res.median
            peaks = rss[f.run].get(key) or []
            per[key] = {
                "median_s": t,
                "value": f.value(t),
                "speed_x_kernel": ratio(kernel, t),
                "speed_x_runsc": ratio(runsc, t),
                "rss_mb": max(peaks) * 1024 / 1e6 if peaks and t is not None else None,
                "wall_s": statistics.median(res.walls) if t is not None else None,
            }
        figures[f.key] = per
    return figures


# ---------------------------------------------------------------- report


def print_dd(
    results: dict[str, Result], figures: dict[str, dict[str, float | None]], reps: int
) -> None:
    print(f"1. Pass-through trapped syscalls: {' '.join(DD)}")
    print(f"   {DD_SYSCALLS} read+write syscalls, median of {reps} runs (range: min-max).")
    print(
        f"   overhead = (t_tool - t_native) / {DD_SYSCALLS}, against native in the same "
        "placement;\n   x C pinned = overhead / the pinned C tracer's overhead."
    )
    head = (
        f"   {'tool':<28} {'placement':<16} {'wall s':>8} {'range s':>12} {'x native':>9} "
        f"{'ns/syscall':>11} {'overhead ns':>12} {'x C pinned':>11}"
    )
    print(head)
    print("   " + "-" * (len(head) - 3))
    for key, res in results.items():
        fig = figures[key]
        c = res.config
        line = (
            f"   {c.label:<28} {c.placement:<16} {fmt(fig['median_s'], '.3f', 8)} "
            f"{spread(res, 1, '.3f', 12)} {fmt(fig['x_native'], '.1f', 9)} "
            f"{fmt(fig['ns_per_syscall'], '.0f', 11)} "
            f"{fmt(fig['overhead_ns'], '.0f', 12)} {fmt(fig['x_ctracer_pinned'], '.2f', 11)}"
        )
        if res.error is not None:
            line = f"   {c.label:<28} {c.placement:<16} {'n/a':>8}   {res.error}"
        print(line)
    print(
        "   Unpinned rows depend on what the other vCPU is doing (cross-vCPU wake-ups), so "
        "they vary\n   far more from run to run than the pinned ones."
    )
    print()


def print_stop_target(
    figures: dict[str, dict[str, float | None]], excl: dict[str, float | None]
) -> float | None:
    sentry = figures["sentry_default"]["overhead_ns"]
    c_pin = figures["ctracer_pinned"]["overhead_ns"]
    r = ratio(sentry, c_pin)
    print(
        "2. Target: sentry default placement pass-through stop "
        f"<= {TARGET_STOP_RATIO} x C tracer pinned stop"
    )
    print(
        f"   sentry default {with_unit(sentry, '.0f', ' ns')} / C tracer pinned "
        f"{with_unit(c_pin, '.0f', ' ns')} = {with_unit(r, '.2f', 'x')}  -> "
        f"{verdict(r, TARGET_STOP_RATIO)}"
    )
    r_ex = ratio(excl["sentry_default"], excl["ctracer_pinned"])
    print(
        f"   (startup taken out of both, i.e. dd minus `true` under the same tool: "
        f"{with_unit(excl['sentry_default'], '.0f', ' ns')} / "
        f"{with_unit(excl['ctracer_pinned'], '.0f', ' ns')} = {with_unit(r_ex, '.2f', 'x')})"
    )
    print()
    return r


def print_getppid(results: dict[str, Result], reps: int) -> float | None:
    nat = results["native"].median
    print(
        f"3. Untrapped syscalls: getppid_loop, {GETPPID_N} x syscall(SYS_getppid), "
        f"median of {reps} runs"
    )
    print(f"   {'tool':<28} {'placement':<16} {'ns/call':>8} {'range':>12} {'x native':>9}")
    for res in results.values():
        c = res.config
        if res.error is not None:
            print(f"   {c.label:<28} {c.placement:<16} {'n/a':>8}   {res.error}")
            continue
        print(
            f"   {c.label:<28} {c.placement:<16} {fmt(res.median, '.1f', 8)} "
            f"{spread(res, 1, '.0f', 12)} {fmt(ratio(res.median, nat), '.2f', 9)}"
        )
    sentry = results["sentry_default"].median
    r = ratio(sentry, nat)
    print(
        "   The C tracer row is the floor: its filter lets getppid through after 6 BPF "
        "instructions."
    )
    print(
        f"   sentry / C tracer (filter only): "
        f"{with_unit(ratio(sentry, results['ctracer_pinned'].median), '.2f', 'x')}"
    )
    print(
        f"   Target: sentry/native <= {TARGET_GETPPID_RATIO}: {with_unit(r, '.2f', 'x')}  -> "
        f"{verdict(r, TARGET_GETPPID_RATIO)}"
    )
    print()
    return r


def print_startup(results: dict[str, Result]) -> None:
    nat = results["native"].median
    print("4. Startup: wall time of `<tool> true` (median of 5 runs, runsc 3)")
    print(f"   {'tool':<28} {'placement':<16} {'ms':>8} {'range ms':>12} {'x native':>9}")
    for res in results.values():
        c = res.config
        if res.error is not None:
            print(f"   {c.label:<28} {c.placement:<16} {'n/a':>8}   {res.error}")
            continue
        med = res.median
        print(
            f"   {c.label:<28} {c.placement:<16} {fmt(ms(med), '.1f', 8)} "
            f"{spread(res, 1e3, '.1f', 12)} {fmt(ratio(med, nat), '.1f', 9)}"
        )
    sentry, runsc = results["sentry_default"].median, results["runsc"].median
    print(
        f"   Target: sentry <= runsc: {with_unit(ratio(sentry, runsc), '.2f', 'x runsc')}  -> "
        f"{verdict(sentry, runsc)}"
    )
    print()


def fuse_mb_range(res: Result, nbytes: int, width: int) -> str:
    """The min-max range of res's samples as MB/s, right-aligned."""
    if res.error is not None or not res.samples:
        return "".rjust(width)
    return f"{nbytes / max(res.samples) / 1e6:.0f}-{nbytes / min(res.samples) / 1e6:.0f}".rjust(
        width
    )


def print_fuse(
    results: dict[str, dict[str, Result]],
    figures: dict[str, dict[str, dict[str, float | None]]],
    reps: int,
) -> list[tuple[str, str, str, str]]:
    """Print the FUSE table and its targets; return the targets as summary rows."""
    print("5. FUSE: dd through a FUSE file system whose daemon runs inside the sandbox")
    notes = (
        f"Reads: /big, {FUSE_BIG_SIZE // 2**20} MiB of seeded random bytes, from a squashfs "
        "image served by squashfuse (uncompressed: mksquashfs -noI -noD -noF -noX; gzip would "
        "store random blocks raw anyway). Writes: /dev/zero to a new file through bindfs "
        "(plain dd, no fsync). native: squashfuse or bindfs mounted on the host kernel's FUSE, "
        "remounted for every run. sentry, runsc: sh -c '<daemon> SRC MNT || exit 1; dd ...; "
        "fusermount3 -u MNT' inside the sandbox (runsc: do --force-overlay=false), so every "
        "run mounts afresh. cold: echo 3 > /proc/sys/vm/drop_caches before the run; "
        "img cached: the image was just read, so only the FUSE mount is cold. bs=4k reads the "
        f"first {FUSE_4K_COUNT} blocks ({FUSE_4K_COUNT * 4096 / 1e6:.0f} MB) only, to keep the "
        f"run short. Figures from dd's own time, median of {reps} runs (range: min-max); "
        "MB = 10^6 bytes; us/op = us per dd block; x native, x runsc = MB/s over theirs; "
        "wall s = the whole command (for a sandbox: its start, the mount, dd, the unmount and "
        "its exit)."
    )
    print_table_head(
        notes,
        (
            f"   {'workload':<24} {'tool':<23} {'placement':<15} {'MB/s':>5} {'range MB/s':>10} "
            f"{'us/op':>7} {'x native':>8} {'x runsc':>7} {'wall s':>6}"
        ),
    )
    for w in FUSE_WORKLOADS:
        for key, res in results[w.key].items():
            fig, c = figures[w.key][key], res.config
            start = f"   {w.label:<24} {c.label:<23} {c.placement:<15}"
            if res.error is not None:
                print(f"{start} {'n/a':>5}   {res.error}")
                continue
            print(
                f"{start} {fmt(fig['mb_s'], '.0f', 5)} {fuse_mb_range(res, w.nbytes, 10)} "
                f"{fmt(fig['us_per_op'], '.1f', 7)} {fmt(fig['x_native'], '.2f', 8)} "
                f"{fmt(fig['x_runsc'], '.2f', 7)} {fmt(fig['wall_s'], '.2f', 6)}"
            )
    print(
        f"   Targets: sentry bs=128k read >= {GVISOR_FUSE_MBS:.0f} MB/s (runsc --platform=ptrace,"
        " measured earlier here,"
    )
    print("   image cache state not recorded) and >= runsc in this run under the same conditions:")
    rows: list[tuple[str, str, str, str]] = []
    for key, name in (("read_128k", "cold"), ("read_128k_cached", "img cached")):
        sentry = figures[key]["sentry_default"]["mb_s"]
        runsc = figures[key]["runsc"]["mb_s"]
        earlier = verdict_at_least(sentry, GVISOR_FUSE_MBS)
        now = verdict_at_least(sentry, runsc)
        print(
            f"   {name + ':':<12} sentry {with_unit(sentry, '.0f', ' MB/s'):>8}  "
            f">= {GVISOR_FUSE_MBS:.0f} -> {earlier};  "
            f">= runsc {with_unit(runsc, '.0f', ' MB/s')} -> {now}"
        )
        value = with_unit(sentry, ".0f", "")
        short = "cold" if key == "read_128k" else "cached"
        rows += [
            (
                f"FUSE read 128k {short}, MB/s, vs gVisor",
                value,
                f">= {GVISOR_FUSE_MBS:.0f} (earlier)",
                earlier,
            ),
            (
                f"FUSE read 128k {short}, MB/s, vs runsc",
                value,
                ">= " + with_unit(runsc, ".0f", " (this run)"),
                now,
            ),
        ]
    print()
    return rows


def print_builtin(
    results: dict[str, dict[str, dict[str, Result]]],
    figures: dict[str, dict[str, dict[str, dict[str, float | None]]]],
    reps: int,
) -> None:
    print("6. Built-in FUSE servers: sentry's memfs and passthrough (Python), same workload")
    sizes = ", ".join(f"{s.count} x {s.bs}" for s in SEQ_SIZES)
    runs = "one run" if reps == 1 else f"median of {reps} runs"
    notes = (
        f"One run: dd writes a file and reads it back ({sizes}), then fsmeta.c creates "
        f"{META_N} empty files, stats each and unlinks each. native: a plain host directory. "
        "host kernel: python3 -P -m sentry.fuse_server memfs MNT (or passthrough DIR MNT) "
        "on the host's FUSE; the file's pages are dropped before each read (dd iflag=nocache "
        "count=0), as memfs lets the kernel keep them; stat may be answered from the "
        "kernel's attribute cache. sentry: sentry run --mount MNT=memfs (or "
        "=passthrough:DIR), the server outside the sandbox. runsc: do --force-overlay=false, "
        "the server inside gVisor on a /dev/fuse the shell opened (--fd 3), mounted with "
        "mount -i -t fuse (its own mount hangs in gVisor: it reads /proc/self/mountinfo "
        "before it answers INIT, and gVisor's mountinfo waits for INIT). Each run mounts "
        f"afresh. dd figures from dd's own time; {runs} (--server-reps; samples in "
        "results.json); MB = 10^6 bytes; us/op = us per dd block or per file; "
        "sentry/native, sentry/runsc = the sentry's time over theirs (below 1: faster); "
        "whole command = the run's wall time, sandbox start and exit included."
    )
    indent = "   "
    print(
        textwrap.fill(
            notes, 99, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
        )
    )
    configs = builtin_configs()
    for s in BUILTIN_SERVERS:
        print(f"   {s.name} (native: {s.native_label})")
        print(
            f"   {'':<20}"
            + "".join(f" {c.label:>13}" for c in configs)
            + f" {'sentry/':>7} {'sentry/':>7}"
        )
        head = f"   {'workload':<20}" + f" {'MB/s':>5} {'us/op':>7}" * len(configs)
        head += f" {'native':>7} {'runsc':>7}"
        print(head)
        print("   " + "-" * (len(head) - 3))
        for m in METRICS:
            line = f"   {m.label:<20}"
            for c in configs:
                fig = figures[s.name][m.key][c.key]
                if m.kind == "wall":
                    line += f" {'':>5} {fmt(fig['median_s'], '.2f', 7)}"
                else:
                    mb_s = "" if m.kind != "dd" else fmt(fig["mb_s"], ".0f", 5)
                    line += f" {mb_s:>5} {fmt(fig['us_per_op'], '.1f', 7)}"
            sentry = figures[s.name][m.key]["sentry_default"]
            line += f" {fmt(sentry['time_x_native'], '.2f', 7)}"
            line += f" {fmt(sentry['time_x_runsc'], '.2f', 7)}"
            print(line)
        for c in configs:
            error = results[s.name]["wall"][c.key].error
            if error is not None:
                print(f"   {c.label}: n/a: {error}")
    print()


def cache_range(f: CacheFigure, res: Result, width: int) -> str:
    """The min-max range of res's samples in f's unit, right-aligned."""
    if res.error is not None or not res.samples:
        return "".rjust(width)
    values = sorted(f.value(t) or 0.0 for t in res.samples)
    return f"{values[0]:{f.spec}}-{values[-1]:{f.spec}}".rjust(width)


def print_cache(
    results: dict[str, dict[str, Result]],
    figures: dict[str, dict[str, dict[str, float | None]]],
    reps: int,
) -> list[tuple[str, str, str, str]]:
    """Print the buffer cache table and its targets; return the targets as summary rows."""
    print("7. Buffer cache: FUSE files through the sentry's page cache, against gVisor and Linux")
    mib = FUSE_BIG_SIZE // 2**20
    notes = (
        f"Reads: /big ({mib} MiB) of section 5's squashfuse image. Run 'read': with the "
        "host's caches dropped, dd bs=128k of the whole file (cold), then in the same command "
        "and mount dd bs=1M of it again (re-read: the figure is this second dd's). Run "
        f"'read 4k': a fresh mount, caches dropped, dd bs=4k of the first {FUSE_4K_COUNT} "
        "blocks. Writes: a fresh memfs --writeback (python3 -P -m sentry.fuse_server) per "
        f"run; dd if=/dev/zero bs=4k count={CACHE_WRITE_COUNT} conv=fsync to a new file, so the "
        "figure includes the fsync that sends the cached pages to memfs. host kernel: the "
        "daemon mounted afresh on the host's FUSE. sentry, daemon inside: sentry run -- sh -c "
        "'<daemon> MNT; dd ...; unmount' (squashfuse returns once mounted; memfs runs in the "
        "background and the shell polls /proc/self/mounts for its mount, at most "
        f"{SERVER_WAIT_S:.0f} s), default --cache-size (256M). sentry --mount: sentry run "
        "--mount MNT=memfs:writeback, the server outside the sandbox. runsc: do "
        "--force-overlay=false; memfs there serves a /dev/fuse the shell opened (--fd 3), "
        f"mounted with mount -i, as in section 6. Figures from dd's own report, median of {reps} "
        "runs (--reps; range: min-max); MB = 10^6 bytes; us = per dd block; x kernel, x runsc "
        "= speed over theirs (their dd time over this one's; above 1: faster). RSS MB: the "
        "largest peak over the runs: for the sentry, its own process's VmHWM, which it "
        "writes to its debug log at exit (a daemon inside is a process of its own and not "
        "counted); for runsc, the "
        "largest RSS in its process tree (GNU time %M); n/a for the host kernel, whose page "
        "cache is no process's. wall s: the whole command (a sandbox's start, the mount, the "
        "dd's, the unmount and its exit; for the host kernel the dd's only)."
    )
    print_table_head(
        notes,
        (
            f"   {'figure':<22} {'tool':<24} {'value':>7} {'unit':<8} {'range':>11} "
            f"{'x kernel':>8} {'x runsc':>7} {'RSS MB':>6} {'wall s':>6}"
        ),
    )
    for f in CACHE_FIGURES:
        label = f.label
        for key, res in results[f.key].items():
            fig, c = figures[f.key][key], res.config
            start = f"   {label:<22} {c.label:<24}"
            label = ""
            if res.error is not None:
                print(f"{start} {'n/a':>7}   {res.error}")
                continue
            print(
                f"{start} {fmt(fig['value'], f.spec, 7)} {f.unit:<8} {cache_range(f, res, 11)} "
                f"{fmt(fig['speed_x_kernel'], '.2f', 8)} {fmt(fig['speed_x_runsc'], '.2f', 7)} "
                f"{fmt(fig['rss_mb'], '.0f', 6)} {fmt(fig['wall_s'], '.2f', 6)}"
            )
    print("   Targets (the sentry; gVisor: runsc in this run and, earlier, in this VM):")
    rows: list[tuple[str, str, str, str]] = []
    for f in CACHE_FIGURES:
        per = figures[f.key]
        runsc = with_unit(per["runsc"]["value"], f.spec, "")
        earlier = f", earlier {f.earlier}" if f.earlier else ""
        for key in ("sentry_default", "sentry_mount"):
            if key not in per:
                continue
            value = with_unit(per[key]["value"], f.spec, "")
            result = f.verdict(per[key]["value"])
            unit = "" if per[key]["value"] is None else f.unit
            who = "daemon inside" if key == "sentry_default" else "--mount"
            print(
                f"   {f.label:<22} {who:<13} {value:>7} {unit:<8} {f.target_text:<16} "
                f"-> {result:<4}  (runsc {runsc}{earlier})"
            )
            name = f.short if key == "sentry_default" else f"{f.short} --mount"
            rows.append((f"cache {name}, {f.unit}", value, f.target_text, result))
    print()
    return rows


def print_builtin_summary(
    figures: dict[str, dict[str, dict[str, dict[str, float | None]]]],
) -> dict[str, dict[str, float | None]]:
    """Print sentry's main figures against runsc's and the host kernel's; return them."""
    print("   Built-in FUSE servers (section 6, no targets): sentry against runsc (daemon inside)")
    print(
        f"   {'figure':<38} {'sentry':>10} {'runsc':>10} {'host kernel':>11} {'sentry/runsc':>12}"
    )
    rows: dict[str, dict[str, float | None]] = {}
    for s in BUILTIN_SERVERS:
        for key, name, unit in (
            ("read_128k", "read bs=128k", "MB/s"),
            ("write_128k", "write bs=128k", "MB/s"),
            ("create", "create", "us/file"),
            ("stat", "stat", "us/file"),
            ("unlink", "unlink", "us/file"),
        ):
            per = figures[s.name][key]
            field_ = "mb_s" if unit == "MB/s" else "us_per_op"
            spec = ".0f" if unit == "MB/s" else ".1f"
            row = {
                "sentry": per["sentry_default"][field_],
                "runsc": per["runsc"][field_],
                "kernel": per["kernel"][field_],
                "sentry_time_x_runsc": per["sentry_default"]["time_x_runsc"],
            }
            label = f"{s.name} {name}, {unit}"
            print(
                f"   {label:<38} {fmt(row['sentry'], spec, 10)} {fmt(row['runsc'], spec, 10)} "
                f"{fmt(row['kernel'], spec, 11)} {fmt(row['sentry_time_x_runsc'], '.2f', 12)}"
            )
            rows[label] = row
    print("   (sentry/runsc: sentry's time over runsc's; below 1: sentry is faster)")
    return rows


def core_rows(
    stop_r: float | None,
    getppid_r: float | None,
    startup: dict[str, Result],
    fuse_rows: list[tuple[str, str, str, str]],
    cache_rows: list[tuple[str, str, str, str]],
) -> list[tuple[str, str, str, str]]:
    """Sections 1 to 7's rows of the summary: (figure, sentry's value, target, verdict)."""
    sentry, runsc = startup["sentry_default"].median, startup["runsc"].median
    return [
        (
            "pass-through stop / C tracer pinned",
            with_unit(stop_r, ".2f", "x"),
            f"<= {TARGET_STOP_RATIO}x",
            verdict(stop_r, TARGET_STOP_RATIO),
        ),
        (
            "getppid (untrapped) / native",
            with_unit(getppid_r, ".2f", "x"),
            f"<= {TARGET_GETPPID_RATIO}x",
            verdict(getppid_r, TARGET_GETPPID_RATIO),
        ),
        (
            "startup `true`",
            with_unit(ms(sentry), ".1f", " ms"),
            "<= runsc " + with_unit(ms(runsc), ".1f", " ms"),
            verdict(sentry, runsc),
        ),
        *fuse_rows,
        *cache_rows,
    ]


def print_summary(rows: list[tuple[str, str, str, str]]) -> dict[str, dict[str, object]]:
    """Print the summary table of the sections that ran; return it for results.json."""
    print("8. Summary: sentry (default placement) against its targets")
    print(f"   {'figure':<38} {'sentry':>10} {'target':>20} {'result':>6}")
    for name, value, target, result in rows:
        print(f"   {name:<38} {value:>10} {target:>20} {result:>6}")
    return {
        name: {"value": value, "target": target, "result": result}
        for name, value, target, result in rows
    }


@dataclass
class Core:
    """What sections 1 to 7 measured."""

    startup: dict[str, Result]
    dd: dict[str, Result]
    getppid: dict[str, Result]
    fuse: dict[str, dict[str, Result]]
    builtin: dict[str, dict[str, dict[str, Result]]]
    cache: dict[str, dict[str, Result]]
    cache_rss: dict[str, dict[str, list[int]]]


def measure_core(
    args: argparse.Namespace, build_failures: dict[str, str], missing: dict[str, str]
) -> Core:
    """Run sections 1 to 7 (the summary, 8, is printed from their figures)."""
    startup = probe_startup(missing)
    dd = measure("dd", dd_configs(args.full), DD, args.reps, missing)
    if "getppid_loop" in build_failures:
        gp = {c.key: Result(c, error=build_failures["getppid_loop"]) for c in getppid_configs()}
    else:
        gp = measure(
            "getppid",
            getppid_configs(),
            [str(BIN / "getppid_loop"), str(GETPPID_N)],
            GETPPID_REPS,
            missing,
            parse_stdout=True,
        )
    fuse_failures = fuse_prepare()
    fuse = measure_fuse(fuse_configs(), args.reps, missing, fuse_failures)
    builtin = measure_builtin(args.server_reps, builtin_prepare(build_failures, missing))
    cache, cache_rss = measure_cache(args.reps, missing, cache_prepare(fuse_failures))
    return Core(startup, dd, gp, fuse, builtin, cache, cache_rss)


def report_core(
    core: Core, args: argparse.Namespace
) -> tuple[
    list[tuple[str, str, str, str]],
    dict[str, object],
    dict[str, dict[str, dict[str, dict[str, float | None]]]],
]:
    """Print sections 1 to 7; return their summary rows, their part of results.json, and
    the built-in servers' figures, whose summary follows section 8's table."""
    dd, startup = core.dd, core.startup
    figures = dd_figures(dd)
    print_dd(dd, figures, args.reps)
    excl = {
        "sentry_default": stop_without_startup(dd, startup, "sentry_default", "native"),
        "ctracer_pinned": stop_without_startup(dd, startup, "ctracer_pinned", "native_pinned"),
    }
    stop_r = print_stop_target(figures, excl)
    getppid_r = print_getppid(core.getppid, GETPPID_REPS)
    print_startup(startup)
    fuse_figs = fuse_figures(core.fuse)
    fuse_rows = print_fuse(core.fuse, fuse_figs, args.reps)
    builtin_figs = builtin_figures(core.builtin)
    print_builtin(core.builtin, builtin_figs, args.server_reps)
    cache_figs = cache_figures(core.cache, core.cache_rss)
    cache_rows = print_cache(core.cache, cache_figs, args.reps)
    rows = core_rows(stop_r, getppid_r, startup, fuse_rows, cache_rows)
    data: dict[str, object] = {
        "dd": {
            "workload": list(DD),
            "syscalls": DD_SYSCALLS,
            "runs": as_json(dd),
            "figures": figures,
            "stop_ns_without_startup": excl,
        },
        "getppid": {"n": GETPPID_N, "unit": "ns per call", "runs": as_json(core.getppid)},
        "startup": {"workload": ["true"], "unit": "s", "runs": as_json(startup)},
        "fuse": {
            "file_bytes": FUSE_BIG_SIZE,
            "mksquashfs": list(MKSQUASHFS_OPTS),
            "unit": "dd's seconds",
            "workloads": {
                w.key: {
                    "label": w.label,
                    "dd": list(w.dd(mountpoint("sandbox", w.kind))),
                    "bytes": w.nbytes,
                    "runs": as_json(core.fuse[w.key]),
                    "figures": fuse_figs[w.key],
                }
                for w in FUSE_WORKLOADS
            },
        },
        "builtin_fuse": {
            "reps": args.server_reps,
            "dd": [{"bs": z.bs, "count": z.count, "bytes": z.nbytes} for z in SEQ_SIZES],
            "files": META_N,
            "unit": "dd's seconds, fsmeta's seconds per phase, the whole command's wall s",
            "servers": {
                sv.name: {
                    "native_dir": str(sv.native_dir),
                    "runs": {m.key: as_json(core.builtin[sv.name][m.key]) for m in METRICS},
                    "figures": builtin_figs[sv.name],
                }
                for sv in BUILTIN_SERVERS
            },
        },
        "buffer_cache": {
            "unit": "dd's seconds; peak RSS in KiB (sentry: VmHWM; runsc: GNU time %M)",
            "runs": {
                r.key: {
                    "dd": [list(a) for a in r.dd_argvs(CACHE_SANDBOX_MNT)],
                    "bytes": r.nbytes(),
                    "peak_rss_kib": core.cache_rss[r.key],
                }
                for r in CACHE_RUNS.values()
            },
            "figures": {
                f.key: {
                    "label": f.label,
                    "unit": f.unit,
                    "target": f.target_text,
                    "runs": as_json(core.cache[f.key]),
                    "figures": cache_figs[f.key],
                }
                for f in CACHE_FIGURES
            },
        },
    }
    return rows, data, builtin_figs


# ---------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reps",
        type=int,
        default=3,
        choices=range(1, 6),
        help="runs per dd, FUSE, buffer cache and section 9 figure (median taken; default 3)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="also run proot and the C tracer -i variant unpinned (+~55 s)",
    )
    parser.add_argument(
        "--server-reps",
        type=int,
        default=1,
        choices=range(1, 6),
        help="runs per built-in FUSE server figure (median taken; default 1, as a run takes "
        "up to ~30 s under the sentry; each one more adds about a minute)",
    )
    parser.add_argument(
        "--baseline",
        metavar="SENTRY",
        help="also measure this sentry console script (e.g. an earlier version's) for the "
        "pass-through stop, getppid and startup, as 'sentry (baseline)'",
    )
    parser.add_argument(
        "--only",
        choices=("scale", "programs"),
        help="run only this section (scale: section 9, about 5 minutes; programs: section 10, "
        "about a minute) and the summary of its targets; results.json then holds only its "
        "figures",
    )
    parser.add_argument(
        "--zlib",
        metavar="DIR",
        type=Path,
        help="zlib's source tree for section 9's build (default: apt-get source zlib, kept "
        "in out/scale/zlib-src)",
    )
    args = parser.parse_args(argv)
    BASELINE[:] = [args.baseline] if args.baseline else []
    core_sections = args.only is None

    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    build_failures = build_c()
    missing = find_tools(build_failures)
    env = environment()

    core = measure_core(args, build_failures, missing) if core_sections else None
    scale = measure_scale(args.reps, missing, args.zlib) if args.only != "programs" else None
    programs = measure_programs(args.reps, missing) if args.only != "scale" else None
    total = time.perf_counter() - started

    print()
    print(
        f"sentry benchmark: Linux {env['kernel']}, {env['cpus']} CPUs, "
        f"Python {env['python']}, {env['runsc'] or 'runsc n/a'}, proot {env['proot'] or 'n/a'}"
    )
    print(f"sentry: {env['sentry'] or 'n/a'}")
    print(
        f"load average at start: {env['loadavg_at_start']}"
        + (
            "  (other work is running: expect noisy figures)"
            if float(str(env["loadavg_at_start"])) > 0.5
            else ""
        )
    )
    print()
    data: dict[str, object] = {"environment": env, "reps": args.reps, "total_s": total}
    rows: list[tuple[str, str, str, str]] = []
    builtin_figs = None
    if core is not None:
        rows, core_data, builtin_figs = report_core(core, args)
        data.update(core_data)
    if scale is not None:
        rows += print_scale(scale)
        data["scale"] = scale_json(scale)
    if programs is not None:
        rows += print_programs(programs)
        data["programs"] = programs_json(programs)
    data["summary"] = print_summary(rows)
    if builtin_figs is not None:
        print()
        data["summary_builtin_fuse"] = print_builtin_summary(builtin_figs)
    print(f"\n(total {total:.0f} s; raw numbers in {OUT / 'results.json'})")

    (OUT / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    if core is not None:
        return 0 if core.dd["native"].median is not None else 1
    if scale is not None:
        return 0 if scale.dd["native"].median is not None else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
