"""execve of a program on a sentry mount.

Analogous to gVisor's ``Execve`` (``syscalls/linux/sys_thread.go``) and
Linux's ``fs/exec.c`` with ``binfmt_script.c``. The host kernel runs every
exec, but it cannot see a sentry mount (it finds the mount point's empty
guard), so sentry resolves a path that enters one and hands the host
something it can run, keeping what the app and the program see as they
are on Linux:

- a path that leads back to the host (a symlink on the mount to
  ``/usr/bin/python3``, as in a venv): the host runs that path, with the
  app's argv and envp untouched;
- a script (``#!``): sentry reads the interpreter line itself, as
  ``binfmt_script`` does, and runs the interpreter with ``argv`` =
  interpreter, its optional argument, the script's path as the app gave
  it, then the app's ``argv[1:]``; the interpreter then opens the script
  through sentry (``./configure`` finds itself by ``$0``). An interpreter
  on a sentry mount is resolved the same way, five levels at most (ELOOP);
- anything else (an ELF program): sentry copies the file into a memfd the
  task makes, and the task executes ``/proc/self/fd/N``. The memfd is
  close-on-exec, so the program does not inherit it; its
  ``/proc/self/exe`` names the memfd.

Linux's checks come first: a directory or any other non-regular file is
EACCES, as is a file the task may not execute (``Filesystem.permission``:
the mode bits under ``default_permissions``, else any execute bit), and the
file is opened for execution (``OPEN_EXEC``: no read permission needed).
A text file with no ``#!`` reaches the host, which gives ENOEXEC (a shell
then runs it as a script).

The exec itself is an injected ``execve``; when it succeeds the kernel
drops the old image's saved registers (see ``Kernel``), and the call
returns 0 in the new program, as on Linux. The host named the new program
(``comm``) after what it ran (the fd number for a memfd, the interpreter
for a script); Linux names it after the path the app gave, so before the
new program runs its first instruction, it calls ``prctl(PR_SET_NAME)``
with that path's base name. No syscall instruction precedes its first
one: the call runs from one in its vDSO (``Platform.syscall_instruction``).

The memfd is written through sentry's own dup of the task's fd
(``Platform.take_fd``), never reopened by path: a thread of the app could
put another file at that fd number meanwhile, and sentry must not write
with its own rights what the app cannot.
"""

from __future__ import annotations

import errno
import os
import resource
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from sentry.abi.linux import AT_FDCWD, PR_SET_NAME, S_IFMT, S_IFREG, TASK_COMM_LEN
from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.errors import SyscallError
from sentry.kernel.syscalls import PASS, SyscallResult
from sentry.kernel.task import SCRATCH
from sentry.syscalls.common import locate, read_path
from sentry.vfs.file_description import FileDescription
from sentry.vfs.file_description_impl import O_RDONLY
from sentry.vfs.iov import BufferSequence
from sentry.vfs.permissions import MAY_EXEC, OPEN_EXEC

if TYPE_CHECKING:
    from sentry.kernel.task import Task
    from sentry.vfs.vfs import Location, Start

BINPRM_BUF_SIZE = 256  # what Linux reads of a file to recognise it
MAX_INTERPRETERS = 5  # Linux's limit on nested interpreters
STK_LIM = 8 << 20  # Linux's _STK_LIM
ARG_MAX = 32 * 4096  # Linux's floor for the argument area (MAX_ARG_PAGES pages)
SCAN_MAX = 1 << 24  # argv entries sentry reads at most, looking for the end
MFD_CLOEXEC = 1
CHUNK = 1 << 20  # bytes copied into the memfd per read
_PTR = struct.Struct("<Q")

# An argv entry: a pointer into the app's memory, or a new string.
Arg = int | bytes
T = TypeVar("T")


def execve(t: Task, path: int, argv: int, envp: int) -> SyscallResult:
    """execve(2): a path that enters a sentry mount is resolved by sentry
    (see the module's docstring); any other passes through."""
    name = read_path(t, path)
    start = locate(t, AT_FDCWD, name)
    if start is None:
        return PASS
    return _execve(t, name, start, argv, envp)


async def _execve(t: Task, name: bytes, start: Start, argv: int, envp: int) -> int:
    """Find what the host runs for ``name`` and run it, named after
    ``name``; the exec's result."""
    result = await _exec_found(t, name, start, argv, envp)
    if result == 0:
        comm = name.rsplit(b"/", 1)[-1][: TASK_COMM_LEN - 1]
        try:
            await t.inject(SYSCALL_NUMBERS["prctl"], PR_SET_NAME, SCRATCH, data=comm + b"\0")
        except SyscallError:
            pass  # no vDSO, or no room below the stack: the host's name stays
    return result


async def _exec_found(t: Task, name: bytes, start: Start, argv: int, envp: int) -> int:
    """Find what the host runs for ``name`` and run it; the exec's result."""
    args: list[Arg] | None = None  # None: the app's own argv
    for _ in range(MAX_INTERPRETERS + 1):
        location = await t.kernel.vfs.walk(t, start)
        if location.mount is None:
            return await _exec_host(t, os.fsencode(location.path), args, argv, envp)
        head = await _check(t, location)
        script = _interpreter(head)
        if script is None:
            return await _exec_copy(t, location, args, argv, envp)
        interpreter, optional = script
        rest = _read_argv(t, argv)[1:] if args is None else args[1:]
        args = [interpreter, *([optional] if optional is not None else []), name, *rest]
        name = interpreter
        found = locate(t, AT_FDCWD, interpreter)
        if found is None:
            return await _exec_host(t, interpreter, args, argv, envp)
        start = found
    raise SyscallError(errno.ELOOP)


async def _check(t: Task, location: Location) -> bytes:
    """Linux's checks of a file to execute; its first bytes."""
    assert location.mount is not None and location.inode is not None
    if location.inode.mode & S_IFMT != S_IFREG:
        raise SyscallError(errno.EACCES)
    await location.mount.fs.permission(t, location.inode, MAY_EXEC)
    return await _with_file(t, location, lambda file: _pread(t, file, BINPRM_BUF_SIZE, 0))


def _spacetab(byte: int) -> bool:
    return byte in b" \t"


def _non_spacetab(buf: bytes, first: int, last: int) -> int | None:
    return next((i for i in range(first, last) if not _spacetab(buf[i])), None)


def _terminator(buf: bytes, first: int, last: int) -> int | None:
    return next((i for i in range(first, last) if _spacetab(buf[i]) or not buf[i]), None)


def _interpreter(head: bytes) -> tuple[bytes, bytes | None] | None:
    """A script's interpreter and optional argument, or None if ``head``
    does not start with ``#!``: ``load_script`` of Linux's
    ``binfmt_script.c``, step by step, on the same 256 bytes (NUL beyond
    the file's end). ENOEXEC for a line with no interpreter, or one whose
    interpreter the 256-byte limit may have cut."""
    if not head.startswith(b"#!"):
        return None
    buf = head[:BINPRM_BUF_SIZE].ljust(BINPRM_BUF_SIZE, b"\0")
    buf_end = BINPRM_BUF_SIZE - 1
    i_end = buf.find(b"\n")
    if i_end < 0:
        first = _non_spacetab(buf, 2, buf_end)
        if first is None or _terminator(buf, first, buf_end) is None:
            raise SyscallError(errno.ENOEXEC)
        i_end = buf_end
    while _spacetab(buf[i_end - 1]):
        i_end -= 1
    i_name = _non_spacetab(buf, 2, i_end)
    if i_name is None or i_name == i_end:
        raise SyscallError(errno.ENOEXEC)
    i_sep = _terminator(buf, i_name, i_end)
    i_arg = _non_spacetab(buf, i_sep, i_end) if i_sep is not None and buf[i_sep] else None
    name = buf[i_name : i_end if i_sep is None else i_sep]
    optional = buf[i_arg:i_end].split(b"\0", 1)[0] if i_arg is not None else None
    return name, optional


def _arg_limit(t: Task) -> int:
    """The bytes an exec's argument pointers may take: Linux's
    ``bprm_stack_limits`` (a quarter of RLIMIT_STACK, at most 6 MiB, at
    least ARG_MAX)."""
    try:
        stack = resource.prlimit(t.group.tgid, resource.RLIMIT_STACK)[0]
    except OSError:
        stack = STK_LIM
    if stack == resource.RLIM_INFINITY:
        stack = STK_LIM * 4
    return max(min(STK_LIM // 4 * 3, stack // 4), ARG_MAX)


def _read_argv(t: Task, argv: int) -> list[Arg]:
    """The app's argv array: its string pointers. As Linux: EFAULT where
    the array runs into memory it cannot read (a pointer that crosses into
    an unmapped page included), then E2BIG if the pointers alone pass the
    exec's argument limit. Past the limit the array is only scanned for its
    end, and SCAN_MAX entries are taken as too many."""
    pointers: list[Arg] = []
    most = _arg_limit(t) // _PTR.size
    count = 0
    addr = argv
    while argv:
        # To the end of the page, and on to the end of a pointer across it.
        raw = t.mm.copy_in(addr, -(-(4096 - addr % 4096) // _PTR.size) * _PTR.size)
        if len(raw) < _PTR.size:
            raise SyscallError(errno.EFAULT)
        whole = len(raw) // _PTR.size * _PTR.size
        for (pointer,) in _PTR.iter_unpack(raw[:whole]):
            if pointer == 0:
                if count >= most:
                    raise SyscallError(errno.E2BIG)
                return pointers
            count += 1
            if count < most:
                pointers.append(pointer)
            elif count >= SCAN_MAX:
                raise SyscallError(errno.E2BIG)
        addr += whole
    return pointers


def _pack(path: bytes, args: list[Arg] | None) -> tuple[Callable[[int], bytes], int]:
    """Scratch data (a function of its address) with ``path`` at offset 0
    and, if ``args`` is given, a NULL-terminated argv array after the
    strings; and the array's offset."""
    strings = bytearray(path + b"\0")
    entries: list[tuple[bool, int]] = []  # (a new string?, its offset or the app's pointer)
    for arg in args or []:
        if isinstance(arg, bytes):
            entries.append((True, len(strings)))
            strings += arg + b"\0"
        else:
            entries.append((False, arg))
    strings += b"\0" * (-len(strings) % 8)
    array_at = len(strings)

    def data(addr: int) -> bytes:
        pointers = [addr + value if new else value for new, value in entries]
        return bytes(strings) + b"".join(_PTR.pack(p) for p in [*pointers, 0])

    return data, array_at


async def _exec_host(
    t: Task, path: bytes, args: list[Arg] | None, argv: int, envp: int
) -> int:
    """The task executes host path ``path`` (with argv ``args``, or its own)."""
    data, array_at = _pack(path, args)
    argv_arg = SCRATCH + array_at if args is not None else argv
    return await t.inject(SYSCALL_NUMBERS["execve"], SCRATCH, argv_arg, envp, data=data)


async def _exec_copy(
    t: Task, location: Location, args: list[Arg] | None, argv: int, envp: int
) -> int:
    """The task executes a copy of ``location``'s file, from a memfd."""
    label = os.fsencode(os.path.basename(location.path))[:200] or b"exec"
    fd = await t.inject(SYSCALL_NUMBERS["memfd_create"], SCRATCH, MFD_CLOEXEC, data=label + b"\0")
    if fd < 0:
        return fd
    try:
        await _with_file(t, location, lambda file: _copy_to(t, file, fd))
        result = await _exec_host(t, f"/proc/self/fd/{fd}".encode(), args, argv, envp)
    except SyscallError:
        await t.inject(SYSCALL_NUMBERS["close"], fd)
        raise
    if result < 0:
        await t.inject(SYSCALL_NUMBERS["close"], fd)
    return result


async def _copy_to(t: Task, file: FileDescription, memfd: int) -> None:
    """Copy ``file`` into the task's fd ``memfd``, through sentry's dup of it."""
    out = t.kernel.platform.take_fd(t.group.tgid, memfd)
    try:
        offset = 0
        while chunk := await _pread(t, file, CHUNK, offset):
            done = 0
            while done < len(chunk):
                done += os.pwrite(out, chunk[done:], offset + done)
            offset += len(chunk)
    except OSError as err:
        raise SyscallError(err.errno or errno.EIO) from None
    finally:
        os.close(out)


async def _with_file(
    t: Task, location: Location, body: Callable[[FileDescription], Awaitable[T]]
) -> T:
    """``body`` on a read-only open of ``location``'s file, closed after as
    close(2) closes it (FLUSH, then RELEASE with the last reference). If the
    task is gone (the handler is being closed), the file is only let go:
    a closing handler cannot wait for the daemon."""
    assert location.mount is not None
    impl = await location.mount.fs.open(t, location.inode, O_RDONLY | OPEN_EXEC)
    file = FileDescription(impl, O_RDONLY, location)
    file.inc_ref()
    try:
        value = await body(file)
    except GeneratorExit:
        file.dec_ref()
        raise
    except BaseException:
        await _close(t, file)
        raise
    await _close(t, file)
    return value


async def _pread(t: Task, file: FileDescription, size: int, offset: int) -> bytes:
    buf = bytearray(size)
    count = await file.impl.pread(t, file, BufferSequence(memoryview(buf)), offset)
    return bytes(buf[:count])


async def _close(t: Task, file: FileDescription) -> None:
    try:
        await file.impl.flush(t)
    finally:
        file.dec_ref()
