"""What the FUSE client's modules share: inodes, open files with a handle,
and the reading of replies.

A module of its own so that the file system (``fusefs.py``) and its open
files (``regular_file.py``, ``directory.py``, ``path_file.py``) all import
it, and not each other at run time.
"""

from __future__ import annotations

import errno
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from sentry.abi import fuse
from sentry.errors import SyscallError
from sentry.vfs.file_description_impl import FileDescriptionImpl

if TYPE_CHECKING:
    from sentry.fsimpl.fuse.page_cache import FileCache
    from sentry.fsimpl.fuse.regular_file import RegularFile
    from sentry.fsimpl.fuse.shared_mapping import SharedMapping
    from sentry.waiter import Waiter

log = logging.getLogger("sentry")

S = TypeVar("S", bound=fuse.Struct)

MAX_TIMEOUT = 365 * 24 * 3600.0  # daemons send up to 2**64 s: clamp


def expiry(seconds: int, nsec: int) -> float:
    """When a timeout the daemon gave (``seconds``, ``nsec``) ends, clamped."""
    return time.monotonic() + min(seconds + nsec / 1e9, MAX_TIMEOUT)


@dataclass(eq=False)
class Inode:
    """A file the daemon knows by ``nodeid``."""

    nodeid: int
    generation: int
    mode: int
    attr: fuse.Attr | None = None
    attr_expires: float = 0.0
    lookups: int = 0
    opens: int = 0  # open files on it
    pinned: bool = False  # a working directory or a bind mount's root: never forgotten
    # name -> (nodeid, expiry); nodeid 0 is a negative entry.
    entries: dict[bytes, tuple[int, float]] = field(default_factory=dict)
    cache: FileCache | None = None  # its data (a regular file opened cached)
    # Writeback caching: the open files that may write its dirty data back,
    # and once sentry has written to it, the size and times sentry knows
    # better than the daemon (Linux trusts its own i_size and mtime).
    writers: list[RegularFile] = field(default_factory=list)
    local: tuple[int, int, int] | None = None  # (size, mtime ns, ctime ns)
    expect_change: bool = False  # its data changed through sentry: no inval
    atime_stale: bool = False  # READ since the last GETATTR: stat asks again
    flushing: Waiter | None = None  # a writeback under way
    flush_timer: bool = False  # a delayed writeback is scheduled
    mapping: SharedMapping | None = None  # the memory of its shared mappings
    gone: bool = False  # its last name went (nlink 0): forgotten once unused
    changes: int = 0  # writes, truncates and fallocates through sentry, counted


class HandleFile(FileDescriptionImpl):
    """An open file the daemon knows by a file handle (OPEN's ``fh``)."""

    fh: int


def unpack_reply(cls: type[S], body: bytes) -> S:
    """``cls.unpack(body)``; a malformed reply is EIO (and a warning). A
    fixed-size reply must be exactly its struct, as Linux's
    ``copy_out_args`` demands: bytes after it are malformed too."""
    try:
        if len(body) > cls.SIZE:
            raise ValueError(f"{len(body)} bytes, not {cls.SIZE}")
        return cls.unpack(body)
    except ValueError as err:
        log.warning("malformed FUSE reply (%s): %s", cls.__name__, err)
        raise SyscallError(errno.EIO) from None
