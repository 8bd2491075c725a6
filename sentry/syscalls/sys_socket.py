"""Sentry fds passed over unix sockets: sendmsg and recvmsg with SCM_RIGHTS.

The placeholder travels natively (the host passes the memfd); sentry only
has to know what arrived. These calls reach Python only while some sentry
fd exists anywhere in the sandbox. At sendmsg, each sentry file sent gets a
reference for its time in flight (Linux keeps a file in flight alive too);
at recvmsg, each received fd whose placeholder sentry made is installed in
the receiver's table and takes that reference over (a receiver with no
sentry fd before becomes precise, see fd_traps). A file whose message is
never received keeps its in-flight reference until the sandbox ends.
sendmmsg and recvmmsg are not followed.
"""

from __future__ import annotations

import struct
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from sentry.abi.linux import CMSGHDR, MSG_CMSG_CLOEXEC, MSGHDR, SCM_RIGHTS, SOL_SOCKET
from sentry.kernel.fd_traps import make_precise
from sentry.kernel.syscalls import Passthrough, SyscallResult
from sentry.syscalls.common import PLACEHOLDERS, c_int, placeholder_id, sentry_file

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.file_description import FileDescription


# Files sent and not yet received, one entry per reference held.
_in_flight: list[FileDescription] = []


def _passed_fds(t: Task, msg: int) -> list[int]:
    """The fds of the SCM_RIGHTS messages in the msghdr at ``msg``."""
    raw = t.mm.copy_in(msg, MSGHDR.size)
    if len(raw) < MSGHDR.size:
        return []
    _name, _namelen, _iov, _iovlen, control, controllen, _flags = MSGHDR.unpack(raw)
    if not control or controllen < CMSGHDR.size:
        return []
    data = t.mm.copy_in(control, min(controllen, 65536))
    fds = []
    pos = 0
    while pos + CMSGHDR.size <= len(data):
        length, level, kind = CMSGHDR.unpack_from(data, pos)
        if length < CMSGHDR.size or pos + length > len(data):
            break
        if level == SOL_SOCKET and kind == SCM_RIGHTS:
            body = data[pos + CMSGHDR.size : pos + length]
            fds += [fd for (fd,) in struct.iter_unpack("<i", body[: len(body) // 4 * 4])]
        pos += (length + 7) & ~7
    return fds


def sendmsg(t: Task, sockfd: int, msg: int, flags: int) -> SyscallResult:
    """sendmsg(2): sentry files sent gain an in-flight reference, counted
    from the call's start: the receiver's recvmsg may end before sentry sees
    this call's own end (and its reference would then never go)."""
    files = [f for fd in _passed_fds(t, msg) if (f := sentry_file(t, fd, opath=True)) is not None]
    for file in files:
        file.inc_ref()
    _in_flight.extend(files)

    def on_exit(result: int) -> None:
        if result < 0:
            for file in files:
                if file in _in_flight:
                    _in_flight.remove(file)
                    file.dec_ref()

    return Passthrough(on_exit)


def recvmsg(t: Task, sockfd: int, msg: int, flags: int) -> SyscallResult:
    """recvmsg(2): received placeholders become sentry fds of the receiver."""

    def on_exit(result: int) -> Coroutine[Any, Any, int] | None:
        if result < 0:
            return None
        received = False
        for fd in _passed_fds(t, msg):
            identity = placeholder_id(t.tid, fd)
            file = PLACEHOLDERS.get(identity) if identity else None
            if file is None:
                continue
            t.fd_table.install(fd, file, bool(c_int(flags) & MSG_CMSG_CLOEXEC))
            received = True
            if file in _in_flight:
                _in_flight.remove(file)
                file.dec_ref()
        return _precise(t, result) if received and not t.group.precise else None

    return Passthrough(on_exit)


async def _precise(t: Task, result: int) -> int:
    """The first sentry fd of the process came in a message: make it
    precise (see ``fd_traps``) before recvmsg returns ``result``."""
    await make_precise(t)
    return result
