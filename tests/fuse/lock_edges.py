"""Advisory locks on a FUSE mount, run in the current directory: POSIX record
locks (classic and OFD) between processes and files, what F_GETLK reports,
splitting and merging, release at the close of any fd of the file, F_SETLKW
waiting and EDEADLK, flock(2), and the errors. Prints each call and its
result or errno name, so that a native run and a sandboxed run compare line
by line.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import struct
import sys
import threading
import time

from edge_calls import call

FLOCK = struct.Struct("=hh4xqqi4x")
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
SHORT = 0.3  # seconds a process holds a lock another one waits for


def setlk(
    fd: int,
    kind: int,
    start: int,
    length: int,
    cmd: int = fcntl.F_SETLK,
    whence: int = os.SEEK_SET,
    pid: int = 0,
) -> int:
    fcntl.fcntl(fd, cmd, FLOCK.pack(kind, whence, start, length, pid))
    return 0


def getlk(fd: int, kind: int, start: int, length: int, cmd: int = fcntl.F_GETLK) -> str:
    """What F_GETLK says; the holder's pid as "parent"/"child"/-1."""
    out = fcntl.fcntl(fd, cmd, FLOCK.pack(kind, os.SEEK_SET, start, length, 0))
    kind, whence, start, length, pid = FLOCK.unpack(out)
    who = {PARENT: "parent", -1: -1}.get(pid, "child" if pid > 0 else pid)
    return f"type {kind} whence {whence} start {start} len {length} pid {who}"


def in_child(what: str, fn) -> None:
    """Run ``fn`` in a child process (another lock owner), printing there."""
    pid = os.fork()
    if pid == 0:
        try:
            call(what, fn)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


PARENT = os.getpid()


def interrupt(signo: int, frame: object) -> None:
    raise InterruptedError(errno.EINTR, "interrupted")


def waited(pid: int) -> str:
    """A child's end: "yes" if it exited 0."""
    status = os.waitpid(pid, 0)[1]
    return "yes" if os.waitstatus_to_exitcode(status) == 0 else f"no ({status})"


def holder(seconds: float) -> int:
    """A child that write-locks byte 0 of "a" for ``seconds``; its pid, once
    it holds the lock (SHORT later)."""
    pid = os.fork()
    if pid == 0:
        setlk(os.open("a", os.O_RDWR), fcntl.F_WRLCK, 0, 1)
        time.sleep(seconds)
        os._exit(0)
    time.sleep(SHORT)
    return pid


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # nothing buffered across a fork
    for name in ("a", "b"):
        with open(name, "wb") as f:
            f.write(b"x" * 1000)
    a = os.open("a", os.O_RDWR)
    b = os.open("b", os.O_RDWR)

    call("lock a [0,100) write", setlk, a, fcntl.F_WRLCK, 0, 100)
    in_child(
        "child: b [0,100) write", lambda: setlk(os.open("b", os.O_RDWR), fcntl.F_WRLCK, 0, 100)
    )
    in_child(
        "child: a [50,60) read", lambda: setlk(os.open("a", os.O_RDWR), fcntl.F_RDLCK, 50, 10)
    )
    in_child(
        "child: a [100,200) write", lambda: setlk(os.open("a", os.O_RDWR), fcntl.F_WRLCK, 100, 100)
    )
    in_child(
        "child: getlk a [10,11)", lambda: getlk(os.open("a", os.O_RDONLY), fcntl.F_WRLCK, 10, 1)
    )
    call("own getlk a [10,11)", getlk, a, fcntl.F_WRLCK, 10, 1)
    call("unlock a [40,60)", setlk, a, fcntl.F_UNLCK, 40, 20)
    in_child(
        "child: getlk a [50,51)", lambda: getlk(os.open("a", os.O_RDONLY), fcntl.F_WRLCK, 50, 1)
    )
    in_child(
        "child: getlk a [70,71)", lambda: getlk(os.open("a", os.O_RDONLY), fcntl.F_WRLCK, 70, 1)
    )
    call("downgrade a [0,20) read", setlk, a, fcntl.F_RDLCK, 0, 20)
    in_child(
        "child: getlk a read [0,30)",
        lambda: getlk(os.open("a", os.O_RDONLY), fcntl.F_RDLCK, 0, 30),
    )
    call("lock a [60,100) again: merges", setlk, a, fcntl.F_WRLCK, 40, 20)
    in_child(
        "child: getlk a [20,21)", lambda: getlk(os.open("a", os.O_RDONLY), fcntl.F_WRLCK, 20, 1)
    )

    call("close b keeps a's locks", os.close, b)
    in_child("child: a [0,1) write", lambda: setlk(os.open("a", os.O_RDWR), fcntl.F_WRLCK, 0, 1))
    other = os.open("a", os.O_RDONLY)
    call("close another fd of a", os.close, other)
    in_child(
        "child: a [0,1) write after", lambda: setlk(os.open("a", os.O_RDWR), fcntl.F_WRLCK, 0, 1)
    )

    call(
        "lock a to EOF from SEEK_END-10",
        setlk,
        a,
        fcntl.F_WRLCK,
        -10,
        0,
        fcntl.F_SETLK,
        os.SEEK_END,
    )
    in_child(
        "child: getlk a [995,996)", lambda: getlk(os.open("a", os.O_RDONLY), fcntl.F_WRLCK, 995, 1)
    )
    call("negative len", setlk, a, fcntl.F_WRLCK, 500, -100)
    in_child(
        "child: getlk a [450,451)", lambda: getlk(os.open("a", os.O_RDONLY), fcntl.F_WRLCK, 450, 1)
    )

    call("unlock all of a", setlk, a, fcntl.F_UNLCK, 0, 0)
    call("classic lock [0,10)", setlk, a, fcntl.F_WRLCK, 0, 10)
    ofd = os.open("a", os.O_RDWR)
    call("ofd lock over own classic lock", setlk, ofd, fcntl.F_WRLCK, 0, 1, F_OFD_SETLK)
    call("ofd lock [2000,2001)", setlk, ofd, fcntl.F_WRLCK, 2000, 1, F_OFD_SETLK)
    call("classic getlk of ofd lock", getlk, a, fcntl.F_WRLCK, 2000, 1)
    call("ofd getlk", getlk, os.open("a", os.O_RDONLY), fcntl.F_WRLCK, 2000, 1, F_OFD_GETLK)
    call("ofd with l_pid", setlk, ofd, fcntl.F_WRLCK, 3000, 1, F_OFD_SETLK, os.SEEK_SET, 1)
    call("close ofd fd drops its lock", os.close, ofd)
    call("classic getlk after", getlk, a, fcntl.F_WRLCK, 2000, 1)

    call("bad whence", setlk, a, fcntl.F_WRLCK, 0, 1, fcntl.F_SETLK, 7)
    call("bad type", setlk, a, 9, 0, 1)
    call("start before 0", setlk, a, fcntl.F_WRLCK, -1, 1)
    call("getlk of F_UNLCK", getlk, a, fcntl.F_UNLCK, 0, 1)
    call("len overflow", setlk, a, fcntl.F_WRLCK, 2**62, 2**62 + 10)
    ro = os.open("a", os.O_RDONLY)
    call("write lock on O_RDONLY", setlk, ro, fcntl.F_WRLCK, 0, 1)
    wo = os.open("a", os.O_WRONLY)
    call("read lock on O_WRONLY", setlk, wo, fcntl.F_RDLCK, 0, 1)
    call("unlock on O_RDONLY", setlk, ro, fcntl.F_UNLCK, 0, 1)

    # F_SETLKW: the child waits for the parent's unlock.
    call("unlock a", setlk, a, fcntl.F_UNLCK, 0, 0)
    call("lock a [0,10) write", setlk, a, fcntl.F_WRLCK, 0, 10)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        fd = os.open("a", os.O_RDWR)
        setlk(fd, fcntl.F_WRLCK, 5, 1, fcntl.F_SETLKW)
        os._exit(0 if time.monotonic() - start >= SHORT * 0.9 else 1)
    time.sleep(SHORT)
    call("unlock for the waiter", setlk, a, fcntl.F_UNLCK, 0, 10)
    print("child: setlkw got it after the unlock:", waited(pid))

    # EDEADLK: the child holds b and waits for a; the parent, holding a, then asks for b.
    b = os.open("b", os.O_RDWR)
    call("lock a [0,1)", setlk, a, fcntl.F_WRLCK, 0, 1)
    pid = os.fork()
    if pid == 0:
        fa, fb = os.open("a", os.O_RDWR), os.open("b", os.O_RDWR)
        setlk(fb, fcntl.F_WRLCK, 0, 1)
        setlk(fa, fcntl.F_WRLCK, 0, 1, fcntl.F_SETLKW)
        os._exit(0)
    time.sleep(SHORT)
    call("parent: setlkw b", setlk, b, fcntl.F_WRLCK, 0, 1, fcntl.F_SETLKW)
    call("parent: unlock a", setlk, a, fcntl.F_UNLCK, 0, 1)
    print("child: setlkw a got it:", waited(pid))

    # A signal whose handler raises ends a waiting F_SETLKW with EINTR.
    pid = holder(10 * SHORT)
    signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, SHORT)
    call("setlkw interrupted", setlk, a, fcntl.F_WRLCK, 0, 1, fcntl.F_SETLKW)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    call("setlk once the holder is gone", setlk, a, fcntl.F_WRLCK, 0, 1)

    # A classic lock whose fd another thread closes while it waits: EBADF
    # once the holder lets go, and nothing stays locked.
    call("unlock a before the close case", setlk, a, fcntl.F_UNLCK, 0, 0)
    pid = holder(3 * SHORT)
    closing = os.open("a", os.O_RDWR)
    outcome: list[str] = []

    def wait_for_lock() -> None:
        try:
            setlk(closing, fcntl.F_WRLCK, 0, 1, fcntl.F_SETLKW)
            outcome.append("locked")
        except OSError as err:
            outcome.append(errno.errorcode[err.errno or 0])

    waiter = threading.Thread(target=wait_for_lock)
    waiter.start()
    time.sleep(SHORT)
    os.close(closing)
    waiter.join()
    os.waitpid(pid, 0)
    print("setlkw on an fd closed meanwhile", outcome[0])
    in_child(
        "child: a [0,1) write after that",
        lambda: setlk(os.open("a", os.O_RDWR), fcntl.F_WRLCK, 0, 1),
    )

    # flock: per open file description, whole file, apart from record locks.
    f1, f2 = os.open("a", os.O_RDONLY), os.open("a", os.O_RDONLY)
    call("flock ex", fcntl.flock, f1, fcntl.LOCK_EX)
    call("flock ex other description nb", fcntl.flock, f2, fcntl.LOCK_EX | fcntl.LOCK_NB)
    call("flock sh other description nb", fcntl.flock, f2, fcntl.LOCK_SH | fcntl.LOCK_NB)
    call("flock other file", fcntl.flock, os.open("b", os.O_RDONLY), fcntl.LOCK_EX | fcntl.LOCK_NB)
    dup = os.dup(f1)
    call("flock ex through a dup", fcntl.flock, dup, fcntl.LOCK_EX | fcntl.LOCK_NB)
    call("record lock beside flock", setlk, a, fcntl.F_WRLCK, 0, 1)
    call("flock to shared", fcntl.flock, f1, fcntl.LOCK_SH)
    call("flock sh other nb now", fcntl.flock, f2, fcntl.LOCK_SH | fcntl.LOCK_NB)
    call("flock un", fcntl.flock, f1, fcntl.LOCK_UN)
    call("flock un f2", fcntl.flock, f2, fcntl.LOCK_UN)
    call("flock bad op", fcntl.flock, f1, 64)
    call("flock O_PATH", fcntl.flock, os.open("a", os.O_PATH), fcntl.LOCK_SH)
    call("flock held by a closed description", fcntl.flock, f1, fcntl.LOCK_EX)
    os.close(f1)
    call("flock after one close (a dup is left)", fcntl.flock, f2, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(dup)
    call("flock after its last close", fcntl.flock, f2, fcntl.LOCK_EX | fcntl.LOCK_NB)
    pid = os.fork()
    if pid == 0:
        fcntl.flock(os.open("a", os.O_RDONLY), fcntl.LOCK_EX)
        os._exit(0)
    time.sleep(SHORT)
    call("flock un for the waiter", fcntl.flock, f2, fcntl.LOCK_UN)
    print("child: flock got it:", waited(pid))


main()
