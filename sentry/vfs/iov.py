"""The app's buffers as a file operation sees them.

Analogous to gVisor's ``usermem.IOSequence`` (Linux: an ``iov_iter`` over
user memory): the (address, length) ranges of a read(2)'s buffer or a
readv(2)'s iovec array, in one task's memory. Copies go straight between
sentry's buffers and the app's memory, one helper call per copy, and stop
at the first fault with the count moved so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentry.vfs.context import Context


class IOSequence:
    """Ranges of a task's memory, in order."""

    def __init__(self, t: Context, ranges: Sequence[tuple[int, int]]) -> None:
        self.t = t
        self.ranges = [(base, length) for base, length in ranges if length]
        self.size = sum(length for _, length in self.ranges)

    def _from(self, skip: int, limit: int) -> list[tuple[int, int]]:
        """The ranges from byte ``skip`` on, ``limit`` bytes at most."""
        out = []
        for base, length in self.ranges:
            if skip >= length:
                skip -= length
                continue
            take = min(length - skip, limit)
            out.append((base + skip, take))
            limit -= take
            skip = 0
            if limit == 0:
                break
        return out

    def prefix(self, length: int) -> IOSequence:
        """The first ``length`` bytes, as a sequence of their own."""
        return IOSequence(self.t, self._from(0, length))

    def address(self, skip: int) -> int:
        """The address of byte ``skip`` of the sequence (``skip`` < size)."""
        for base, length in self.ranges:
            if skip < length:
                return base + skip
            skip -= length
        raise IndexError(skip)

    def copy_out(self, skip: int, data: bytes | bytearray | memoryview) -> int:
        """Write ``data`` at byte ``skip`` of the sequence; the count written.

        Raises SyscallError(EFAULT) if nothing could be written.
        """
        return self.t.mm.copy_out_iov(self._from(skip, len(data)), data)

    def copy_in(self, skip: int, length: int) -> bytes:
        """Up to ``length`` bytes from byte ``skip`` (fewer on a fault).

        Raises SyscallError(EFAULT) if nothing could be read.
        """
        return self.t.mm.copy_in_iov(self._from(skip, length))

    def copy_in_to(self, skip: int, buf: memoryview) -> int:
        """Fill ``buf`` from byte ``skip`` on, with no copy in between; the
        count (fewer on a fault). Raises SyscallError(EFAULT) if none."""
        return self.t.mm.copy_in_iov_into(self._from(skip, len(buf)), buf)


class BufferSequence(IOSequence):
    """A buffer of sentry's own, in place of the app's memory: file data
    read for sentry itself (the contents of a mapping) lands in ``data``,
    and data sentry writes itself (splice's bytes in flight) comes from it.
    Its addresses are its offsets, so a page-aligned read stays aligned.
    A copy never faults: it stops at the end of ``data``."""

    def __init__(self, data: bytearray | memoryview) -> None:
        self.data = data
        self.ranges = [(0, len(data))] if data else []
        self.size = len(data)

    def copy_out(self, skip: int, data: bytes | bytearray | memoryview) -> int:
        """Implements IOSequence.copy_out."""
        count = min(len(data), self.size - skip)
        self.data[skip : skip + count] = data[:count]
        return count

    def copy_in(self, skip: int, length: int) -> bytes:
        """Implements IOSequence.copy_in."""
        return bytes(self.data[skip : skip + length])

    def copy_in_to(self, skip: int, buf: memoryview) -> int:
        """Implements IOSequence.copy_in_to; 0 from the end on."""
        count = max(0, min(len(buf), self.size - skip))
        buf[:count] = self.data[skip : skip + count]
        return count
