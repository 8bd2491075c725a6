"""Advisory file locks of sentry files: POSIX record locks (fcntl F_SETLK
and friends, classic and open-file-description) and flock(2) locks.

Analogous to gVisor's ``vfs/lock`` and Linux's ``fs/locks.c``. A FUSE
daemon that does not implement locking (none of sentry's do, and Linux
asks a daemon only when it negotiated FUSE_POSIX_LOCKS) leaves locks to the
kernel, which keeps them per inode. So does sentry, here: the host cannot
(every sentry fd is an eventfd placeholder, and all eventfds share one
inode, so host locks on them would conflict across files and be dropped by
the close of any of them).

Rules, as Linux's:

- A record lock covers ``[start, end]`` (``end`` inclusive, OFFSET_MAX for
  "to the end of file"), is a read or a write lock, and has an owner: the fd
  table for a classic POSIX lock (all threads that share it), the open file
  description for an OFD lock. Locks of different owners conflict when they
  overlap and one is a write lock; an owner's new lock replaces its own in
  the range, and its locks of one type that touch are merged.
- A classic lock goes when its owner closes any fd of the file (not only
  the one it was set through) and when the owner goes; an OFD lock, and a
  flock lock, when its open file description is released.
- flock locks are whole-file, shared or exclusive, owned by the open file
  description, and independent of record locks.
- A blocked F_SETLKW or flock waits for any change on the file and tries
  again; a classic lock that would wait on an owner waiting (in a chain) on
  the caller fails with EDEADLK instead.
- A file holds at most MAX_RECORDS record locks: past that a new one is
  ENOLCK, so that an app cannot make sentry's loop scan without bound.

Invariants: every FileLocks in ``_FILES`` holds a lock or a waiter;
``_BLOCKED`` has one (owner, holder) pair for each thread of a classic owner
waiting in F_SETLKW.
"""

from __future__ import annotations

import errno
import weakref
from dataclasses import dataclass

from sentry.errors import SyscallError
from sentry.waiter import Waiter

F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
OFFSET_MAX = 2**63 - 1
LOCK_SH, LOCK_EX = 1, 2


@dataclass
class RecordLock:
    """One record lock: ``[start, end]`` of ``kind`` held by ``owner``
    (``pid``: the host tgid that set it, or -1 for an OFD lock)."""

    owner: object
    pid: int
    start: int
    end: int
    kind: int


class FileLocks:
    """The locks of one file."""

    def __init__(self) -> None:
        self.records: list[RecordLock] = []
        self.flocks: dict[object, int] = {}  # open file description -> LOCK_SH/EX
        self._changed: Waiter | None = None

    def conflict(self, owner: object, kind: int, start: int, end: int) -> RecordLock | None:
        """The first record lock of another owner that a ``kind`` lock of
        ``owner`` on ``[start, end]`` would conflict with (F_GETLK)."""
        for lock in self.records:
            if (
                lock.owner is not owner
                and lock.start <= end
                and start <= lock.end
                and F_WRLCK in (kind, lock.kind)
            ):
                return lock
        return None

    def set_record(self, owner: object, pid: int, kind: int, start: int, end: int) -> None:
        """Make ``owner``'s lock on ``[start, end]`` be ``kind`` (F_UNLCK:
        none), replacing and merging its own locks there. Precondition: no
        conflict (``conflict`` is None) unless ``kind`` is F_UNLCK."""
        mine: list[RecordLock] = []
        others: list[RecordLock] = []
        for lock in self.records:
            (mine if lock.owner is owner else others).append(lock)
        kept: list[RecordLock] = []
        for lock in mine:
            if lock.end < start or end < lock.start:
                kept.append(lock)
                continue
            if lock.start < start:
                kept.append(RecordLock(owner, lock.pid, lock.start, start - 1, lock.kind))
            if end < lock.end:
                kept.append(RecordLock(owner, lock.pid, end + 1, lock.end, lock.kind))
        if kind != F_UNLCK:
            kept.append(RecordLock(owner, pid, start, end, kind))
        kept.sort(key=lambda lock: lock.start)
        merged: list[RecordLock] = []
        for lock in kept:
            last = merged[-1] if merged else None
            if last is not None and last.kind == lock.kind and lock.start <= last.end + 1:
                last.end = max(last.end, lock.end)
            else:
                merged.append(lock)
        self.records = others + merged
        self.changed()  # waiters look again (an unlock or a downgrade may let them in)

    def release_records(self, owner: object) -> None:
        """Every record lock of ``owner`` goes."""
        kept = [lock for lock in self.records if lock.owner is not owner]
        if len(kept) != len(self.records):
            self.records = kept
            self.changed()

    def flock_conflict(self, owner: object, kind: int) -> bool:
        """Whether another description's flock lock bars a ``kind`` one."""
        return any(
            held == LOCK_EX or kind == LOCK_EX
            for other, held in self.flocks.items()
            if other is not owner
        )

    def set_flock(self, owner: object, kind: int | None) -> None:
        """``owner``'s flock lock is now ``kind`` (None: none)."""
        if kind is None:
            if self.flocks.pop(owner, None) is not None:
                self.changed()
        else:
            self.flocks[owner] = kind

    def wait(self) -> Waiter:
        """A Waiter that completes at the file's next unlock."""
        if self._changed is None:
            self._changed = Waiter()
        return self._changed

    def changed(self) -> None:
        """A lock went or weakened: wake every waiter to try again."""
        waiter, self._changed = self._changed, None
        if waiter is not None:
            waiter.complete()

    @property
    def empty(self) -> bool:
        """Holds no lock and no waiter."""
        return not self.records and not self.flocks and self._changed is None


# The locks of each file, by the object that stands for it (its inode).
_FILES: weakref.WeakKeyDictionary[object, FileLocks] = weakref.WeakKeyDictionary()
# (a classic owner waiting in F_SETLKW, the owner whose lock it waits for):
# one pair per waiting thread.
_BLOCKED: list[tuple[object, object]] = []
MAX_DEADLK_ITERATIONS = 10
# Record locks per file: past this a new one is ENOLCK (Linux bounds them by
# memory alone; sentry's single loop scans them at every lock call).
MAX_RECORDS = 65536


def file_locks(key: object, create: bool = True) -> FileLocks | None:
    """The locks of the file ``key`` stands for (made if ``create``)."""
    locks = _FILES.get(key)
    if locks is None and create:
        locks = _FILES[key] = FileLocks()
    return locks


def forget_if_empty(key: object) -> None:
    """Drop the file's entry once it holds nothing."""
    locks = _FILES.get(key)
    if locks is not None and locks.empty:
        del _FILES[key]


async def lock_record(
    key: object, owner: object, pid: int, kind: int, start: int, end: int, wait: bool, ofd: bool
) -> None:
    """Set ``owner``'s record lock (F_SETLK, or F_SETLKW if ``wait``).
    Raises SyscallError: EAGAIN on a conflict without ``wait``, EDEADLK if a
    classic lock's wait would close a cycle; ERESTARTSYS (a signal) from the
    wait propagates."""
    try:
        while True:
            locks = file_locks(key)
            assert locks is not None
            holder = locks.conflict(owner, kind, start, end) if kind != F_UNLCK else None
            if holder is None:
                if kind != F_UNLCK and len(locks.records) >= MAX_RECORDS:
                    raise SyscallError(errno.ENOLCK)
                break
            if not wait:
                raise SyscallError(errno.EAGAIN)
            edge = (owner, holder.owner)
            if not ofd:
                if _waits_on(holder.owner, owner):
                    raise SyscallError(errno.EDEADLK)
                _BLOCKED.append(edge)
            try:
                await locks.wait()
            finally:
                if edge in _BLOCKED:
                    _BLOCKED.remove(edge)
        locks.set_record(owner, pid, kind, start, end)
    finally:
        forget_if_empty(key)


def _waits_on(start: object, owner: object) -> bool:
    """Whether ``start`` is ``owner`` or waits, through a chain of classic
    owners (any of their waiting threads), on ``owner`` (Linux's
    posix_locks_deadlock, bounded as its: MAX_DEADLK_ITERATIONS)."""
    frontier, seen = [start], set()
    for _ in range(MAX_DEADLK_ITERATIONS):
        if not frontier:
            return False
        here = frontier.pop()
        if here is owner:
            return True
        if id(here) in seen:
            continue
        seen.add(id(here))
        frontier.extend(holder for waiter, holder in _BLOCKED if waiter is here)
    return False


async def lock_flock(key: object, owner: object, kind: int | None, wait: bool) -> None:
    """flock(2): set (LOCK_SH, LOCK_EX) or drop (None) ``owner``'s lock.
    A conversion drops the old lock first, as Linux's. Raises SyscallError:
    EWOULDBLOCK without ``wait``; ERESTARTSYS from the wait propagates."""
    locks = file_locks(key)
    assert locks is not None
    try:
        if kind is not None and locks.flocks.get(owner) == kind:
            return
        locks.set_flock(owner, None)
        while kind is not None and locks.flock_conflict(owner, kind):
            if not wait:
                raise SyscallError(errno.EWOULDBLOCK)
            await locks.wait()
            locks = file_locks(key)
            assert locks is not None
        locks.set_flock(owner, kind)
    finally:
        forget_if_empty(key)


def release(key: object, owner: object) -> None:
    """``owner``'s locks on the file go: its record locks (a classic owner
    closed an fd of it), and its flock lock (a released description)."""
    locks = file_locks(key, create=False)
    if locks is None:
        return
    locks.release_records(owner)
    locks.set_flock(owner, None)
    forget_if_empty(key)
