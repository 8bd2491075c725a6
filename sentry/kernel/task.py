"""Tasks (threads of the app) and the syscalls they are made to run.

Analogous to gVisor's ``kernel.Task`` and Linux's ``task_struct``.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sentry.abi.linux import CMSGHDR, IOVEC, MSG_CMSG_CLOEXEC, MSGHDR, SCM_RIGHTS, SOL_SOCKET
from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.auth import Credentials
from sentry.errors import SyscallError
from sentry.vfs.vfs import Location
from sentry.waiter import Waiter

if TYPE_CHECKING:
    from sentry.kernel.fd_table import FDTable
    from sentry.kernel.thread_group import ThreadGroup
    from sentry.platform.platform import AddressSpace, Platform, Scratch
    from sentry.vfs.file_description import FileDescription
    from sentry.vfs.vfs import Mount, VirtualFilesystem

T = TypeVar("T")

# An argument of Task.inject that stands for the address of its ``data``.
SCRATCH = -(2**70)
# give_fd's recvmsg: a msghdr, its one iovec of one byte, and room for one
# cmsghdr with one fd.
_IOV_AT = MSGHDR.size
_BYTE_AT = _IOV_AT + IOVEC.size
_CMSG_AT = _BYTE_AT + 8
_CMSG_SPACE = CMSGHDR.size + 8  # CMSG_SPACE(sizeof(int))
_FD = struct.Struct("<i")


def _recvmsg_header(where: int) -> bytes:
    """give_fd's recvmsg arguments, laid out at ``where`` in the task."""
    header = MSGHDR.pack(0, 0, where + _IOV_AT, 1, where + _CMSG_AT, _CMSG_SPACE, 0)
    return header + IOVEC.pack(where + _BYTE_AT, 1) + bytes(8) + bytes(_CMSG_SPACE)


class TaskKernel(Protocol):
    """The kernel as a task, and the syscall handlers it runs, see it.

    A protocol so that this module sits below the kernel that makes the
    tasks (as gVisor's packages take small interfaces):
    :class:`sentry.kernel.kernel.Kernel` implements it. It holds what a
    task's own methods and the handlers reach through ``t.kernel``.
    """

    @property
    def platform(self) -> Platform:
        """Where the app runs (a task's memory, fds taken from the app)."""
        ...

    @property
    def vfs(self) -> VirtualFilesystem:
        """The mounts the task's paths resolve in."""
        ...

    @property
    def precise_filter(self) -> bytes:
        """The filter a process stacks with its first sentry fd (see
        :mod:`sentry.kernel.fd_traps`); empty under --strace."""
        ...

    def sleep(self, seconds: float) -> Waiter:
        """A Waiter that completes after ``seconds``."""
        ...

    def cwd_changed(self, group: ThreadGroup[Task]) -> None:
        """``group`` changed directory (see Kernel.cwd_changed)."""
        ...

    def guard(self, point: str, on: bool) -> None:
        """Put or take away the guard at sentry mount point ``point`` (see
        Kernel.guard). Raises SyscallError."""
        ...

    def uses_mount(self, mount: Mount) -> bool:
        """Whether an open file or a working directory is in ``mount`` (see
        Kernel.uses_mount)."""
        ...


class Injection(Waiter):
    """A syscall the task makes on sentry's behalf, awaited for its result.

    ``await t.inject(nr, *args, data=...)`` in a handler: the task runs
    syscall ``nr`` in the middle of the app's own, e.g. ``memfd_create`` to
    make the placeholder of a new sentry fd (a trapped ``nr`` must be one
    that always reaches Python: a path syscall). ``data``, if given, is
    copied below the task's stack and an argument equal to SCRATCH (plus
    an offset) is replaced by its address (plus the offset); ``data`` may
    be a function of that address, for data that points into itself. The syscall's
    result is the awaited value; the app's registers are put back when the
    handler returns. If the call cannot be set up (``data`` does not fit
    below the stack: EFAULT), the await raises SyscallError and the task
    has made no call; the handler may still inject others (a close).
    """

    def __init__(self, nr: int, args: tuple[int, ...], data: Scratch) -> None:
        super().__init__()
        self.nr = nr
        self.args = args
        self.data = data
        # Where ``data`` went in the task's memory, once the call is made:
        # what the call wrote there (pipe2's fds) can be read back until
        # the handler's next injection.
        self.where = 0

    if TYPE_CHECKING:

        def __await__(self) -> Generator[Waiter, Any, int]:
            """Awaiting an injection gives the syscall's result."""
            ...


@dataclass
class Blocked:
    """A blocking syscall: the handler's coroutine and where it stands.

    ``waiter`` is what the coroutine awaits now. ``parked`` is true once the
    app's syscall was replaced (the task sleeps in the host kernel, or runs
    an injected syscall); ``stopped`` once it sits in a syscall-exit stop.
    ``injecting`` is the Injection the task is running, ``pending`` one it
    must run once it stops. ``args`` are the app's syscall arguments.
    ``saved_regs`` are the app's registers, kept from the first injection
    on. ``execed`` is set once an injected execve succeeded: no syscall
    instruction precedes the new program's rip. ``held_until`` is when the
    task's hold ends, set at its first wait (see ``task_syscall``).
    ``result`` is set when the coroutine has finished and the task is being
    woken to return it.
    ``call`` is the --strace text of the syscall.
    """

    coroutine: Coroutine[Waiter, Any, int]
    nr: int
    args: tuple[int, ...]
    call: str
    waiter: Waiter | None = None
    result: int | None = None
    parked: bool = False
    stopped: bool = False
    injecting: Injection | None = None
    pending: Injection | None = None
    saved_regs: list[int] | None = None
    execed: bool = False
    held_until: float | None = None


class Task:
    """A thread of the app (it implements the VFS's Context, and
    fd_table.FDTableUser).

    Invariants: a task is in exactly one of these states: running in the
    host (or not yet at its first stop); stopped at a stop the kernel is
    handling; parked (``blocked`` set: sleeping in the host kernel, or, once
    ``blocked.stopped``, held in its syscall-exit stop). ``exit_hook`` is set
    while the task runs a syscall whose exit stop the kernel asked for (for
    --strace, or a handler that acts on the host's result); it may hand
    back a Blocked, which holds the task in that exit stop.
    """

    def __init__(
        self, kernel: TaskKernel, tid: int, group: ThreadGroup[Task], fd_table: FDTable
    ) -> None:
        self.kernel = kernel
        self.tid = tid
        self.group = group
        self.fd_table = fd_table
        self.blocked: Blocked | None = None
        self.exit_hook: Callable[[int], Blocked | None] | None = None
        self._credentials: Credentials | None = None
        self._last_credentials: Credentials | None = None  # before the last forget

    def __repr__(self) -> str:
        return f"Task({self.tid})"

    def inject(self, nr: int, *args: int, data: Scratch = b"") -> Injection:
        """Have this task make syscall ``nr``; await the result (see Injection)."""
        return Injection(nr, args, data)

    @property
    def mm(self) -> AddressSpace:
        """The task's memory."""
        return self.kernel.platform.address_space(self.tid)

    def umask(self) -> int:
        """The process's file mode creation mask (``/proc/<tid>/status``,
        read at each create: the app sets it without stopping)."""
        fd = os.open(f"/proc/{self.tid}/status", os.O_RDONLY | os.O_CLOEXEC)
        try:
            status = os.read(fd, 4096)
        finally:
            os.close(fd)
        at = status.find(b"\nUmask:")
        return int(status[at + 7 : status.index(b"\n", at + 1)], 8) if at >= 0 else 0o022

    def capable(self, cap: int) -> bool:
        """Whether the task has capability ``cap`` (CAP_*) in effect, in its
        own user namespace (``/proc/<tid>/status``, read each time)."""
        with open(f"/proc/{self.tid}/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> cap & 1)
        return False

    def file(self, fd: int) -> FileDescription | None:
        """The sentry file ``fd`` names in the task's fd table, or None (a
        host fd, or no fd at all)."""
        descriptor = self.fd_table.get(fd)
        return descriptor.file if descriptor is not None else None

    def file_impl(self, fd: int, kind: type[T]) -> T | None:
        """Implements Context.file_impl."""
        file = self.file(fd)
        return file.impl if file is not None and isinstance(file.impl, kind) else None

    def cwd(self) -> Location:
        """The task's working directory, where its relative paths start."""
        return self.group.cwd or Location(self.group.host_cwd())

    def sleep(self, seconds: float) -> Waiter:
        """Implements Context.sleep."""
        return self.kernel.sleep(seconds)

    async def give_fd(self, fd: int) -> int:
        """A new fd in the task, close-on-exec, for sentry's open file
        ``fd``: the task makes a socket pair, sentry sends ``fd`` into it
        as SCM_RIGHTS from its dup of one end, and the task receives it
        from the other and closes both (four injected calls). The caller
        closes the task's fd. Raises SyscallError (the errno of the first
        call that failed)."""
        pair = self.inject(
            SYSCALL_NUMBERS["socketpair"],
            socket.AF_UNIX,
            socket.SOCK_DGRAM | socket.SOCK_CLOEXEC,
            0,
            SCRATCH,
            data=bytes(8),
        )
        result = await pair
        if result < 0:
            raise SyscallError(-result)
        ends = struct.unpack("=ii", self.mm.copy_in(pair.where, 8))
        try:
            # The app's other thread may have put anything at that fd: never
            # wait on it, and any error of it is this call's (EIO).
            ours = self.kernel.platform.take_fd(self.group.tgid, ends[0])
            try:
                sender = socket.socket(fileno=ours)
            except OSError:
                os.close(ours)
                raise SyscallError(errno.EIO) from None
            with sender:
                try:
                    socket.send_fds(sender, [b"\0"], [fd], socket.MSG_DONTWAIT)
                except OSError:
                    raise SyscallError(errno.EIO) from None
            receive = self.inject(
                SYSCALL_NUMBERS["recvmsg"],
                ends[1],
                SCRATCH,
                MSG_CMSG_CLOEXEC,
                data=_recvmsg_header,
            )
            result = await receive
            if result < 0:
                raise SyscallError(-result)
            cmsg = self.mm.copy_in(receive.where + _CMSG_AT, CMSGHDR.size + _FD.size)
            length, level, kind = CMSGHDR.unpack_from(cmsg)
            if (level, kind) != (SOL_SOCKET, SCM_RIGHTS) or length < CMSGHDR.size + _FD.size:
                raise SyscallError(errno.EIO)  # the app's other thread took it
            return int(_FD.unpack_from(cmsg, CMSGHDR.size)[0])
        finally:
            for end in ends:
                await self.inject(SYSCALL_NUMBERS["close"], end)

    def forget_credentials(self) -> None:
        """Read the credentials afresh next time (after an exec, or a call
        that changes them); the last ones stay for a task gone meanwhile."""
        if self._credentials is not None:
            self._last_credentials = self._credentials
        self._credentials = None

    def credentials(self) -> Credentials:
        """The task's credentials, read from ``/proc/<tid>/status`` once,
        and again after an exec or a call that changes them (the setuid
        family, setgroups, capset: see ``sys_cred``)."""
        if self._credentials is not None:
            return self._credentials
        fields: dict[str, list[int]] = {}
        caps: dict[str, int] = {}
        try:
            status = open(f"/proc/{self.tid}/status")
        except OSError:
            # Gone (a write-back made for it after its end): its last ids.
            if self._last_credentials is None:
                raise SyscallError(errno.ESRCH) from None
            return self._last_credentials
        with status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("Uid", "Gid", "Groups"):
                    fields[key] = [int(v) for v in value.split()]
                elif key in ("CapEff", "CapPrm"):
                    caps[key] = int(value, 16)
        uid, gid = fields["Uid"], fields["Gid"]
        groups = tuple(fields.get("Groups", ()))
        self._credentials = Credentials(
            uid[1],
            gid[1],
            uid[3],
            gid[3],
            groups,
            uid[0],
            gid[0],
            caps.get("CapEff", 0),
            caps.get("CapPrm", 0),
        )
        return self._credentials
