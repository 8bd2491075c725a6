"""The README's table of trapped syscalls, made from :data:`linux64.TABLE`.

Run as ``python3 -m sentry.syscalls.support``: it prints the table in
Markdown (syscall, support level, notes), in the table's order. With
``--write FILE`` it replaces the part of FILE between :data:`START` and
:data:`END` with it; with ``--check FILE`` it only says, in one line and
exit status 1, whether that part is stale (``make syscall-table`` and
``make check-syscall-table``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence

from sentry.kernel.syscalls import Syscall
from sentry.syscalls.linux64 import TABLE

START = "<!-- syscall-table:start -->"
END = "<!-- syscall-table:end -->"


def markdown_table(entries: Iterable[Syscall] | None = None) -> str:
    """The Markdown table of ``entries`` (default: every trapped syscall)."""
    lines = ["| syscall | support | notes |", "|---|---|---|"]
    for entry in TABLE.values() if entries is None else entries:
        note = " ".join(entry.note.split()).replace("|", "\\|")
        lines.append(f"| `{entry.name}` | {entry.support.value} | {note} |")
    return "\n".join(lines) + "\n"


def with_table(text: str, table: str) -> str:
    """``text`` with ``table`` between its START and END markers (each on
    a line of its own). Raises ValueError if they are missing."""
    try:
        head, rest = text.split(START + "\n", 1)
        _old, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"no {START} ... {END} section") from None
    return f"{head}{START}\n{table}{END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module notes); the exit status."""
    parser = argparse.ArgumentParser(prog="python3 -m sentry.syscalls.support")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="FILE", help="rewrite FILE's syscall table")
    group.add_argument("--check", metavar="FILE", help="fail if FILE's syscall table is stale")
    args = parser.parse_args(argv)
    table = markdown_table()
    path = args.write or args.check
    if path is None:
        sys.stdout.write(table)
        return 0
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        updated = with_table(text, table)
    except ValueError as err:
        print(f"{path}: {err}", file=sys.stderr)
        return 1
    if args.check:
        if updated != text:
            print(f"{path}: the syscall table is stale; run `make syscall-table`", file=sys.stderr)
            return 1
        return 0
    if updated != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
