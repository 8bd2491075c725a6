"""Permission checks on a FUSE mount with default_permissions, run as root in
the current directory: files and directories of several modes and owners,
then calls made by a child with another uid and gid and no capabilities,
and by root children that dropped one capability each (DAC_OVERRIDE,
DAC_READ_SEARCH, FOWNER, CHOWN, FSETID), set-ID bits that writes, truncates
and chowns take away included. Prints each call and its result or
errno name, so that a native run and a sandboxed run compare line by line.
Not root: prints one line and stops.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys
from collections.abc import Callable

from edge_calls import call

USER, GROUP, OTHER, OTHER_GROUP = 1000, 1000, 1001, 1001
CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID = 0, 1, 2, 3, 4
libc = ctypes.CDLL(None, use_errno=True)


def make(path: str, mode: int, uid: int, gid: int, data: bytes = b"data\n") -> None:
    with open(path, "wb") as f:
        f.write(data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def make_dir(path: str, mode: int, uid: int, gid: int) -> None:
    os.mkdir(path)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def in_child(setup: Callable[[], None], calls: list[tuple[str, Callable[[], object]]]) -> None:
    """Run ``calls`` in a child process after ``setup`` (its new ids)."""
    pid = os.fork()
    if pid == 0:
        try:
            setup()
            for what, fn in calls:
                call(what, fn)
        finally:
            sys.stdout.flush()
            os._exit(0)
    os.waitpid(pid, 0)


def become_user() -> None:
    os.setgroups([])
    os.setgid(GROUP)
    os.setuid(USER)


def drop_cap(cap: int) -> Callable[[], None]:
    """A setup that clears capability ``cap`` from the effective set."""

    def setup() -> None:
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)
        data = (ctypes.c_uint32 * 6)()
        if libc.capget(header, data) != 0:
            raise OSError(ctypes.get_errno(), "capget")
        data[0] &= ~(1 << cap)  # effective, low word
        if libc.capset(header, data) != 0:
            raise OSError(ctypes.get_errno(), "capset")

    return setup


def mode_of(path: str) -> str:
    return oct(stat.S_IMODE(os.stat(path).st_mode))


def read(path: str) -> int:
    with open(path, "rb") as f:
        return len(f.read())


def write(path: str) -> int:
    fd = os.open(path, os.O_WRONLY)
    try:
        return os.write(fd, b"x")
    finally:
        os.close(fd)


def create(path: str) -> None:
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def execute(path: str) -> str:
    """Run ``path`` (its stderr to /dev/null): its exit status, or the
    errno name execve gave."""
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        try:
            os.execv(path, [path])
        except OSError as err:
            os._exit(100 + (err.errno or 0))
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return f"exit {status}" if status < 100 else errno.errorcode[status - 100]


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # nothing buffered across a fork
    if os.geteuid() != 0:
        print("not root: nothing to check")
        return
    make("mine", 0o600, USER, GROUP)
    make("theirs", 0o600, OTHER, OTHER_GROUP)
    make("grp", 0o640, OTHER, GROUP)
    make("world", 0o604, OTHER, OTHER_GROUP)
    make("shared", 0o666, OTHER, OTHER_GROUP)
    make("nobody", 0o000, 0, 0)
    make("sgid", 0o644, USER, OTHER_GROUP)
    make("rootsgid", 0o644, OTHER, OTHER_GROUP)
    make("prog", 0o755, 0, 0, b"#!/bin/sh\nexit 7\n")
    make("prog_nox", 0o644, 0, 0, b"#!/bin/sh\nexit 7\n")
    make("prog_theirs", 0o700, OTHER, OTHER_GROUP, b"#!/bin/sh\nexit 7\n")
    make("prog_xonly", 0o711, OTHER, OTHER_GROUP, b"#!/bin/sh\nexit 7\n")
    make_dir("closed", 0o700, OTHER, OTHER_GROUP)
    make("closed/f", 0o666, OTHER, OTHER_GROUP)
    make_dir("xonly", 0o711, OTHER, OTHER_GROUP)
    make("xonly/f", 0o644, OTHER, OTHER_GROUP)
    make_dir("ro", 0o555, USER, GROUP)
    make_dir("sticky", 0o1777, 0, 0)
    make("sticky/of_other", 0o666, OTHER, OTHER_GROUP)
    make("sticky/of_user", 0o666, USER, GROUP)
    make_dir("mydir", 0o755, USER, GROUP)
    make_dir("mydir/sub", 0o555, USER, GROUP)
    for name, mode in (
        ("suid_w", 0o4777),
        ("sgid_x", 0o2777),
        ("sgid_nox", 0o2767),
        ("suid_t", 0o4777),
        ("suid_r", 0o6777),
        ("suid_k", 0o6777),
        ("suid_c", 0o6777),
    ):
        make(name, mode, OTHER, OTHER_GROUP)
    make_dir("sgid_dir", 0o2775, OTHER, OTHER_GROUP)

    in_child(
        become_user,
        [
            ("read mine", lambda: read("mine")),
            ("write mine", lambda: write("mine")),
            ("read theirs", lambda: read("theirs")),
            ("read grp (group)", lambda: read("grp")),
            ("write grp", lambda: write("grp")),
            ("read world (other)", lambda: read("world")),
            ("read nobody", lambda: read("nobody")),
            ("open prog rw, bit 0o40", lambda: os.close(os.open("prog", os.O_RDWR | 0o40))),
            ("open world with access mode 3", lambda: os.close(os.open("world", 3))),
            ("stat closed/f", lambda: os.stat("closed/f").st_size),
            ("list closed", lambda: len(os.listdir("closed"))),
            ("stat xonly/f", lambda: os.stat("xonly/f").st_size),
            ("list xonly", lambda: len(os.listdir("xonly"))),
            ("read xonly/f", lambda: read("xonly/f")),
            ("create in ro", lambda: create("ro/new")),
            ("mkdir in ro", lambda: os.mkdir("ro/d")),
            ("symlink in ro", lambda: os.symlink("x", "ro/l")),
            ("link into ro", lambda: os.link("mine", "ro/m")),
            ("create in closed", lambda: create("closed/new")),
            ("unlink sticky/of_other", lambda: os.unlink("sticky/of_other")),
            ("rename sticky/of_other", lambda: os.rename("sticky/of_other", "sticky/x")),
            ("rename sticky/of_user", lambda: os.rename("sticky/of_user", "sticky/mine")),
            ("unlink sticky/mine", lambda: os.unlink("sticky/mine")),
            ("rename dir out of a ro dir", lambda: os.rename("mydir/sub", "sub")),
            ("chmod theirs", lambda: os.chmod("theirs", 0o644)),
            ("chmod mine", lambda: os.chmod("mine", 0o640)),
            ("chown mine to other", lambda: os.chown("mine", OTHER, -1)),
            ("chgrp mine to other group", lambda: os.chown("mine", -1, OTHER_GROUP)),
            ("chgrp mine to own group", lambda: os.chown("mine", -1, GROUP)),
            ("chmod sgid g+s outside the group", lambda: os.chmod("sgid", 0o2755)),
            ("sgid mode", lambda: mode_of("sgid")),
            ("touch theirs", lambda: os.utime("theirs")),
            ("touch shared", lambda: os.utime("shared")),
            ("set times of shared", lambda: os.utime("shared", (1, 1))),
            ("set times of mine", lambda: os.utime("mine", (1, 1))),
            ("truncate theirs", lambda: os.truncate("theirs", 0)),
            ("truncate shared", lambda: os.truncate("shared", 1)),
            ("access theirs R", lambda: os.access("theirs", os.R_OK) or "denied"),
            ("access world R", lambda: os.access("world", os.R_OK) or "denied"),
            ("access mine X", lambda: os.access("mine", os.X_OK) or "denied"),
            ("exec prog", lambda: execute("./prog")),
            ("exec prog_nox", lambda: execute("./prog_nox")),
            ("exec prog_theirs", lambda: execute("./prog_theirs")),
            ("exec prog_xonly (sh cannot read it)", lambda: execute("./prog_xonly")),
            ("write suid_w", lambda: write("suid_w")),
            ("suid_w mode", lambda: mode_of("suid_w")),
            ("write sgid_x", lambda: write("sgid_x")),
            ("sgid_x mode", lambda: mode_of("sgid_x")),
            ("write sgid_nox (not in its group)", lambda: write("sgid_nox")),
            ("sgid_nox mode", lambda: mode_of("sgid_nox")),
            ("truncate suid_t", lambda: os.truncate("suid_t", 1)),
            ("suid_t mode", lambda: mode_of("suid_t")),
            ("chdir closed", lambda: os.chdir("closed")),
            ("chdir xonly", lambda: os.chdir("xonly")),
        ],
    )
    for cap, name, calls in (
        (
            CAP_DAC_OVERRIDE,
            "DAC_OVERRIDE",
            [
                ("read theirs", lambda: read("theirs")),
                ("write theirs", lambda: write("theirs")),
                ("stat closed/f", lambda: os.stat("closed/f").st_size),
                ("create in closed", lambda: create("closed/new2")),
                ("exec prog_theirs", lambda: execute("./prog_theirs")),
                ("access theirs W", lambda: os.access("theirs", os.W_OK) or "denied"),
            ],
        ),
        (
            CAP_DAC_READ_SEARCH,
            "DAC_READ_SEARCH",
            [
                ("read nobody", lambda: read("nobody")),
                ("list closed", lambda: len(os.listdir("closed"))),
            ],
        ),
        (
            CAP_FOWNER,
            "FOWNER",
            [
                ("chmod theirs", lambda: os.chmod("theirs", 0o640)),
                ("set times of theirs", lambda: os.utime("theirs", (1, 1))),
                ("touch theirs", lambda: os.utime("theirs")),
                ("unlink sticky/of_other", lambda: os.unlink("sticky/of_other")),
                ("write suid_k", lambda: write("suid_k")),
                ("suid_k mode (FSETID keeps it)", lambda: mode_of("suid_k")),
                ("chown suid_c", lambda: os.chown("suid_c", USER, -1)),
                ("suid_c mode (a chown drops it)", lambda: mode_of("suid_c")),
                ("chown sgid_dir", lambda: os.chown("sgid_dir", USER, -1)),
                ("sgid_dir mode", lambda: mode_of("sgid_dir")),
            ],
        ),
        (CAP_CHOWN, "CHOWN", [("chown theirs", lambda: os.chown("theirs", USER, -1))]),
        (
            CAP_FSETID,
            "FSETID",
            [
                ("chmod rootsgid g+s", lambda: os.chmod("rootsgid", 0o2755)),
                ("rootsgid mode", lambda: mode_of("rootsgid")),
                ("write suid_r", lambda: write("suid_r")),
                ("suid_r mode", lambda: mode_of("suid_r")),
            ],
        ),
    ):
        print(f"-- root without CAP_{name}")
        in_child(drop_cap(cap), calls)


main()
