"""The sandbox's namespaces and root file system, as ``runsc do`` makes them.

The app starts in new user, mount, PID, IPC and UTS namespaces, and a new
network namespace (loopback only) unless the host's is asked for. Its view of
files is built by a plan that the sandbox's init runs before the app starts:

- **Root.** The host's root (or ``--rootfs DIR``) read-only under a writable
  overlay whose upper layer is a tmpfs: the app can write anywhere, and none
  of it reaches the host. Each host mount below the root gets an overlay of
  its own (overlayfs does not cross mounts), or a read-only bind where
  overlayfs refuses it; pseudo file systems are not carried over.
- **/proc, /sys, /dev.** A fresh ``/proc`` of the PID namespace, a read-only
  ``/sys`` of the network namespace (or an empty one), and a minimal ``/dev``:
  null, zero, full, random, urandom and tty bound from the host, a new
  devpts instance, a tmpfs ``/dev/shm``, ``/dev/fuse``, which sentry
  serves, and the host's terminal (if sentry has one) as ``/dev/console``.
- **Binds.** ``--bind HOST_DIR[:TARGET][:ro]`` shares a host directory or
  file: writes land on the host.
- **Guards.** At each sentry mount point the host kernel finds an empty,
  read-only tmpfs. A path that slips past sentry (a racing thread, a name
  sentry does not resolve) therefore reaches nothing and can write nothing.
  The one exception is a mount point inside a ``--bind`` that does not
  exist on the host: a guard would create it there.
- **Ids.** The app runs as the invoking user's uid and gid inside, mapped to
  the same ids outside (as bubblewrap does), or as root with ``--root``.
  As root, sentry maps every id to itself.

Building the plan happens in the host's mount namespace: the staging tmpfs
is mounted over ``/proc`` (whose host contents no step needs after the id
maps are written), the new root is assembled there, and ``pivot_root``
drops the host's tree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sentry.abi.linux import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
)
from sentry.platform.namespaces import Plan, Sandbox

STAGING = "/proc"
NEW_ROOT = STAGING + "/root"
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
# File systems that are not carried into the sandbox's tree: the kernel's
# views of the host (the sandbox gets its own /proc, /sys and /dev).
PSEUDO = frozenset(
    "proc sysfs devtmpfs devpts mqueue cgroup cgroup2 debugfs tracefs securityfs pstore "
    "bpf configfs fusectl hugetlbfs binfmt_misc autofs efivarfs selinuxfs nsfs rpc_pipefs "
    "nfsd".split()
)
KERNEL_TREES = ("/proc", "/sys", "/dev")
# How mountinfo escapes a space, tab, newline or backslash in a path.
_OCTAL = re.compile(r"\\([0-7]{3})")


class BindError(ValueError):
    """A ``--bind`` spec that cannot be used; the message says why."""


@dataclass(frozen=True)
class Bind:
    """A host path shared with the sandbox at ``target``."""

    source: str
    target: str
    read_only: bool


@dataclass(frozen=True)
class Options:
    """What ``sentry run`` asks of the sandbox."""

    binds: Sequence[Bind] = ()
    rootfs: str | None = None
    network: str = "none"
    root: bool = False
    guards: Sequence[str] = ()  # sentry mount points


def parse_bind(spec: str, cwd: str) -> Bind:
    """``HOST[:TARGET][:ro]`` as a Bind; HOST must exist.

    Raises BindError.
    """
    parts = spec.split(":")
    read_only = len(parts) > 1 and parts[-1] in ("ro", "rw") and parts.pop() == "ro"
    if not parts[0] or len(parts) > 2:
        raise BindError(f"bad --bind {spec!r}: expected HOST_DIR[:TARGET][:ro]")
    source = os.path.normpath(os.path.join(cwd, parts[0]))
    target = os.path.normpath(parts[1]) if len(parts) == 2 and parts[1] else source
    if not os.path.exists(source):
        raise BindError(f"bad --bind {spec!r}: {source} does not exist")
    if not target.startswith("/"):
        raise BindError(f"bad --bind {spec!r}: the target must be an absolute path")
    if target == "/" or _under(target, KERNEL_TREES):
        raise BindError(f"bad --bind {spec!r}: cannot bind over {target}")
    return Bind(source, target, read_only)


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)


def _host_mounts() -> dict[str, str]:
    """The host's mount points below ``/``, and their file system types."""
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = _OCTAL.sub(lambda m: chr(int(m[1], 8)), fields[4])
            mounts[point] = fields[fields.index("-") + 1]
    mounts.pop("/", None)
    return mounts


def _escape(path: str) -> str:
    """``path`` as an overlayfs option value."""
    return "".join("\\" + c if c in ",:\\" else c for c in path)


class _Builder:
    """Assembles the plan; ``layers`` counts overlay upper/work pairs.

    overlayfs cannot take as its lower layer a directory below which the
    host has mounts (the kernel locks those in a new user namespace, and a
    private clone of the lower layer would drop them). So a directory with
    no mount below it becomes one overlay; one with mounts below it becomes
    a tmpfs (held in memory like the overlays' upper layers) filled with
    what it holds: directories built the same way, symlinks copied, other
    files bound read-only.
    """

    def __init__(self, host_mounts: dict[str, str]) -> None:
        self.plan = Plan()
        self.layers = 0
        self.mounts = host_mounts

    def tree(self, lower: str, target: str, skip: Sequence[str] = ()) -> None:
        """Make ``target`` show host directory ``lower``, writable in memory
        (``skip``: host paths to leave out)."""
        prefix = lower.rstrip("/") + "/"
        if not any(point.startswith(prefix) for point in self.mounts):
            self.overlay(lower, target)
            return
        self.plan.mount("sentry", target, "tmpfs", 0, f"mode={_mode(lower):o}")
        try:
            entries = sorted(os.scandir(lower), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            path, inner = entry.path, f"{target}/{entry.name}"
            if path in skip or self.mounts.get(path) in PSEUDO:
                continue
            if entry.is_symlink():
                self.plan.symlink(os.readlink(path), inner)
            elif entry.is_dir():
                self.plan.mkdirs(inner)
                self.tree(path, inner, skip)
            else:
                self.plan.mkfile(inner)
                self.plan.mount(path, inner, "", MS_BIND | MS_RDONLY, ignore=True)

    def overlay(self, lower: str, target: str) -> None:
        """An overlay of ``lower`` at ``target`` with a tmpfs upper layer."""
        self.layers += 1
        upper, work = f"{STAGING}/u{self.layers}", f"{STAGING}/w{self.layers}"
        self.plan.mkdirs(upper)
        self.plan.mkdirs(work)
        data = f"lowerdir={_escape(lower)},upperdir={upper},workdir={work}"
        # userxattr (Linux 5.11) keeps overlayfs's own marks in user.*
        # xattrs, which a user namespace may set: without it a directory made
        # in a merged one cannot be renamed (EXDEV).
        self.plan.mount("overlay", target, "overlay", 0, data + ",userxattr", otherwise=True)
        self.plan.mount("overlay", target, "overlay", 0, data, otherwise=True)
        self.plan.mount(lower, target, "", MS_BIND | MS_RDONLY, ignore=True)


def _guardable(point: str, binds: Sequence[Bind]) -> bool:
    """Whether a guard may be put at mount point ``point``: always, except
    where it would create a directory on the host, at a missing point inside
    a ``--bind`` (the app may write there anyway: the user shared it)."""
    inside = [b for b in binds if point == b.target or point.startswith(b.target + "/")]
    if not inside:
        return True
    bind = max(inside, key=lambda b: len(b.target))
    return os.path.isdir(bind.source + point[len(bind.target) :])


def _mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o755


def sandbox(options: Options, cwd: str) -> Sandbox:
    """The namespaces and plan that isolate the app as ``options`` say."""
    b = _Builder(_host_mounts())
    plan = b.plan
    plan.mount("", "/", "", MS_REC | MS_PRIVATE)
    plan.mount("sentry", STAGING, "tmpfs", MS_NOSUID | MS_NODEV, "mode=700")
    plan.mkdirs(NEW_ROOT)
    b.tree(options.rootfs or "/", NEW_ROOT, skip=KERNEL_TREES if options.rootfs is None else ())
    _kernel_trees(plan, options.network == "none")
    for bind in options.binds:
        target = NEW_ROOT + bind.target
        if os.path.isdir(bind.source):
            plan.mkdirs(target)
        else:
            plan.mkdirs(os.path.dirname(target))
            plan.mkfile(target)
        read_only = MS_RDONLY if bind.read_only else 0
        plan.mount(bind.source, target, "", MS_BIND | MS_REC | read_only)
    for point in options.guards:
        if _guardable(point, options.binds):
            plan.guard(NEW_ROOT + point)
    plan.pivot(NEW_ROOT)
    plan.chdir("/" if options.rootfs else cwd)
    namespaces = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if options.network == "none":
        namespaces |= CLONE_NEWNET
        plan.loopback_up()
    return Sandbox(namespaces, *_id_maps(options.root), plan)


def _id_maps(root: bool) -> tuple[str, str, str]:
    """uid_map, gid_map and setgroups of the sandbox.

    As root, every id maps to itself, so files show their owners as on the
    host. Otherwise only the invoking user's ids exist inside (as root with
    ``root``), the rest show as the overflow ids (nobody, nogroup).
    """
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        return "0 0 4294967295\n", "0 0 4294967295\n", "allow"
    inside_uid, inside_gid = (0, 0) if root else (os.getuid(), os.getgid())
    return f"{inside_uid} {uid} 1\n", f"{inside_gid} {gid} 1\n", "deny"


def _terminal() -> str | None:
    """The terminal on sentry's stdin, stdout or stderr, if any."""
    for fd in (0, 1, 2):
        try:
            return os.ttyname(fd)
        except OSError:
            continue
    return None


def _kernel_trees(plan: Plan, own_network: bool) -> None:
    """/proc, /sys and /dev of the new root."""
    root = NEW_ROOT
    hidden = MS_NOSUID | MS_NODEV | MS_NOEXEC
    plan.mkdirs(root + "/proc")
    plan.mount("proc", root + "/proc", "proc", hidden)
    plan.mkdirs(root + "/sys")
    if own_network:
        plan.mount("sysfs", root + "/sys", "sysfs", hidden | MS_RDONLY, otherwise=True)
    plan.mount("sys", root + "/sys", "tmpfs", hidden | MS_RDONLY, "size=4k,mode=755")
    dev = root + "/dev"
    plan.mkdirs(dev)
    plan.mount("dev", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=1m")
    for name in (*DEVICES, "fuse"):
        plan.mkfile(f"{dev}/{name}")
        if name != "fuse" or os.path.exists("/dev/fuse"):
            plan.mount(f"/dev/{name}", f"{dev}/{name}", "", MS_BIND, ignore=True)
    plan.mkdirs(dev + "/pts")
    plan.mount("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC,
               "newinstance,ptmxmode=0666,mode=620", ignore=True)
    plan.symlink("pts/ptmx", dev + "/ptmx")
    terminal = _terminal()
    if terminal:
        # The host's terminal is not in the new devpts: as bubblewrap does,
        # show it as /dev/console, where ttyname(3) finds it.
        plan.mkfile(dev + "/console")
        plan.mount(terminal, dev + "/console", "", MS_BIND, ignore=True)
    plan.mkdirs(dev + "/shm")
    plan.mount("shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        plan.symlink(target, f"{dev}/{name}")
