"""The ``--mount`` and ``--fuse`` specs of ``sentry run``.

Analogous to the mounts of an OCI spec that gVisor's ``runsc/boot`` sets up
before the app starts. A spec names a target in the sandbox and what serves
it:

- ``--mount TARGET=memfs[:writeback]``: the built-in in-memory server
  (accepting writeback caching with ``:writeback``);
- ``--mount TARGET=passthrough:DIR[:ro]``: the built-in server of host
  directory DIR (read-only with ``:ro``);
- ``--fuse 'TARGET=COMMAND'``: a FUSE daemon started outside the sandbox;
  ``{}`` in COMMAND is replaced by ``/dev/fd/N``, the daemon's end of the
  connection (libfuse 3.3 and newer take it as their mountpoint), or for a
  libfuse 2 daemon by a directory (see ``sentry.boot.fusermount``).

Parsing is pure: :func:`parse` checks the spec's syntax and the host
directory, and raises :class:`SpecError` with the one-line message the user
sees.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field

SERVERS = ("memfs", "passthrough")
DEVICE_PLACEHOLDER = "{}"


class SpecError(Exception):
    """A spec that cannot be used; ``str()`` is the message for the user."""


@dataclass(frozen=True)
class MountSpec:
    """One mount asked for on the command line.

    ``kind`` is "memfs", "passthrough" or "fuse"; ``source`` is the host
    directory of a passthrough mount; ``command`` the argv of a ``--fuse``
    daemon, with ``{}`` still in it.
    """

    option: str  # "--mount" or "--fuse", for messages
    text: str  # the spec as given, for messages
    target: str
    kind: str
    source: str = ""
    read_only: bool = False
    writeback: bool = False  # memfs:writeback
    command: tuple[str, ...] = field(default=())
    mode: int | None = None  # memfs: its root's mode (tmpfs's mode=)
    size: int | None = None  # memfs: the size statfs shows (tmpfs's size=)

    @property
    def fstype(self) -> str:
        """The type the mount tables show: ``fuse.<server or daemon>``."""
        return f"fuse.{self.fsname if self.kind == 'fuse' else self.kind}"

    @property
    def fsname(self) -> str:
        """The source the mount tables show."""
        if self.kind == "fuse":
            return os.path.basename(self.command[0])
        return self.source or self.kind

    def describe(self) -> str:
        """``--mount /data=memfs``, for messages."""
        return f"{self.option} {self.text}"


def _target(option: str, text: str, cwd: str) -> tuple[str, str]:
    target, eq, rest = text.partition("=")
    if not eq or not target:
        raise SpecError(
            f"{option} {text}: expected TARGET={'SERVER' if option == '--mount' else 'COMMAND'}"
        )
    if not rest:
        raise SpecError(f"{option} {text}: nothing to mount at {target}")
    path = os.path.normpath(os.path.join(cwd, target))
    if path == "/":
        raise SpecError(f"{option} {text}: cannot mount over /")
    return path, rest


def parse_mount(text: str, cwd: str) -> MountSpec:
    """A ``--mount`` spec; ``cwd`` resolves relative targets and directories."""
    target, rest = _target("--mount", text, cwd)
    server, _, arg = rest.partition(":")
    if server == "memfs":
        if arg not in ("", "writeback"):
            raise SpecError(f"--mount {text}: memfs takes no argument but 'writeback'")
        return MountSpec("--mount", text, target, "memfs", writeback=bool(arg))
    if server != "passthrough":
        raise SpecError(
            f"--mount {text}: unknown server {server!r} (expected {' or '.join(SERVERS)})"
        )
    directory, read_only = arg, False
    if arg.endswith(":ro"):
        directory, read_only = arg[:-3], True
    if not directory:
        raise SpecError(f"--mount {text}: passthrough needs a directory: passthrough:DIR[:ro]")
    path = os.path.normpath(os.path.join(cwd, directory))
    if not os.path.isdir(path):
        why = "not a directory" if os.path.exists(path) else "no such directory"
        raise SpecError(f"--mount {text}: {why}: {directory}")
    return MountSpec("--mount", text, target, "passthrough", path, read_only)


def parse_fuse(text: str, cwd: str) -> MountSpec:
    """A ``--fuse`` spec."""
    target, rest = _target("--fuse", text, cwd)
    try:
        argv = shlex.split(rest)
    except ValueError as err:
        raise SpecError(f"--fuse {text}: {err}") from None
    if not argv:
        raise SpecError(f"--fuse {text}: no command")
    if not any(DEVICE_PLACEHOLDER in arg for arg in argv):
        raise SpecError(f"--fuse {text}: the command must have {{}} where the mountpoint goes")
    return MountSpec("--fuse", text, target, "fuse", command=tuple(argv))


def parse(mounts: list[str], fuses: list[str], cwd: str) -> list[MountSpec]:
    """Every spec of the command line, checked; raises SpecError."""
    specs = [parse_mount(m, cwd) for m in mounts] + [parse_fuse(f, cwd) for f in fuses]
    seen: set[str] = set()
    for spec in specs:
        if spec.target in seen:
            raise SpecError(f"{spec.describe()}: {spec.target} is mounted twice")
        seen.add(spec.target)
    return specs
