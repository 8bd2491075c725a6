"""The syscall table (``sentry/syscalls/linux64.py``) and the calls that got
handlers with it: sendfile, splice, copy_file_range, the legacy getdents and
the ``*xattrat`` calls.

The differential tests run ``tests/c/syscall_table.c`` natively on a host
directory and in the sandbox on a memfs mount; every line it prints must be
the same. The unit tests check the table itself and that README.md's copy
of it is current.
"""

from __future__ import annotations

import inspect
import os
import struct
import sys

import pytest
from conftest import REPO_ROOT, SHARED_BINDS, run_native

from sentry import Sandbox
from sentry.abi.linux import pack_dirent64
from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.kernel.syscalls import Support
from sentry.syscalls import linux64, support
from sentry.syscalls.linux64 import TABLE
from sentry.syscalls.sys_stat import legacy_dirents

TIMEOUT = 30


def _kernel() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def _same_in_both(c_program, tmp_path, case: str) -> str:
    """Run ``syscall_table CASE DIR`` on a host directory and in the sandbox
    on a memfs mount; assert the same output; return it."""
    exe = c_program("syscall_table")
    host_dir, mnt = tmp_path / "host", tmp_path / "mnt"
    host_dir.mkdir()
    native = run_native([exe, case, host_dir], timeout=TIMEOUT)
    box = Sandbox(binds=SHARED_BINDS, mounts=[f"{mnt}=memfs"])
    sandboxed = box.run([str(exe), case, str(mnt)], timeout=TIMEOUT)
    assert (native.returncode, native.stderr) == (0, b""), native
    assert sandboxed.stdout.decode() == native.stdout.decode()
    assert (sandboxed.returncode, sandboxed.stderr) == (0, b"")
    return native.stdout.decode()


def test_sendfile(c_program, tmp_path):
    """Between sentry files, to and from a memfd, into a pipe (what fits;
    EAGAIN; EPIPE with SIGPIPE), a socket, a terminal and /dev/null, and
    Linux's errors."""
    out = _same_in_both(c_program, tmp_path, "sendfile")
    assert "file->pipe: 65536" in out and "SIGPIPE 1" in out


def test_splice(c_program, tmp_path):
    """A sentry file into a pipe and back, offsets, waiting for a writer,
    EAGAIN, EOF, and EINVAL unless one end is a pipe."""
    out = _same_in_both(c_program, tmp_path, "splice")
    assert "pipe->file, waiting: 4" in out


def test_copy_file_range(c_program, tmp_path):
    """Between sentry files (offsets, EOF, one file), EXDEV with a host file."""
    out = _same_in_both(c_program, tmp_path, "copy_file_range")
    assert "file->memfd: -1 EXDEV" in out


def test_getdents(c_program, tmp_path):
    """The legacy records: well formed, every name and type, d_off usable."""
    out = _same_in_both(c_program, tmp_path, "getdents")
    assert "link type 10" in out and "after seek: the second record" in out


@pytest.mark.skipif(_kernel() < (6, 13), reason="the *xattrat calls are Linux 6.13's")
def test_xattrat(c_program, tmp_path):
    """setxattrat, getxattrat, listxattrat and removexattrat: by path, by
    fd (AT_EMPTY_PATH), with AT_SYMLINK_NOFOLLOW, and struct xattr_args
    of other sizes."""
    out = _same_in_both(c_program, tmp_path, "xattrat")
    assert "get: 3" in out and "list: 14 user.a user.b" in out


@pytest.mark.slow  # the alarms and a late writer take most of a second
def test_signals(c_program, tmp_path):
    """A signal while splice or sendfile waits (the task sleeps in an
    injected poll): EINTR, or a transparent restart under SA_RESTART."""
    out = _same_in_both(c_program, tmp_path, "signals")
    assert "interrupted: -1 EINTR" in out and "restarted: 5" in out


def test_exec_from_a_sentry_mount(tmp_path):
    """What the table says of execve and execveat: execve runs a program on
    a sentry mount; execveat passes through, and the host finds a
    placeholder fd (EACCES)."""
    script = (
        "import os, shutil, sys\n"
        "shutil.copy('/bin/echo', '/data/e'); os.chmod('/data/e', 0o755)\n"
        "fd = os.open('/data/e', os.O_RDONLY)\n"
        "try:\n"
        "    os.execve(fd, ['e'], {})\n"
        "except OSError as err:\n"
        "    print('execveat', err.errno)\n"
        "sys.stdout.flush()\n"
        "os.execv('/data/e', ['e', 'execve', 'ran'])\n"
    )
    res = Sandbox(binds=SHARED_BINDS, mounts=["/data=memfs"]).run(
        [sys.executable, "-c", script], timeout=TIMEOUT
    )
    assert (res.returncode, res.stderr) == (0, b"")
    assert res.stdout.decode().split("\n") == ["execveat 13", "execve ran", ""]


# -- the table ---------------------------------------------------------------


def test_every_entry_names_its_own_handler():
    """Each handler is the function of its syscall's name (the table once
    found them by name, and sys_mmap's ``fcntl`` module shadowed sys_file's
    handler), and takes at most the six syscall arguments."""
    for nr, entry in TABLE.items():
        assert SYSCALL_NUMBERS[entry.name] == nr
        if entry.handler is None:
            continue
        assert entry.handler.__name__ == entry.name, entry
        params = list(inspect.signature(entry.handler).parameters)
        assert params[0] == "t" and len(params) <= 7, entry


def test_support_levels_are_consistent():
    for entry in TABLE.values():
        if entry.support is Support.PASSTHROUGH:
            assert entry.handler is None and entry.note, entry
        else:
            assert entry.handler is not None, entry
        if entry.support is Support.PARTIAL:
            assert entry.note, entry
    # The calls that had no handler before the explicit table.
    served = {"sendfile", "splice", "copy_file_range", "getdents"}
    served |= {f"{op}xattrat" for op in ("set", "get", "list", "remove")}
    for name in served:
        assert TABLE[SYSCALL_NUMBERS[name]].handler is not None, name
    assert TABLE[SYSCALL_NUMBERS["execve"]].support is Support.PARTIAL
    assert TABLE[SYSCALL_NUMBERS["execveat"]].support is Support.PASSTHROUGH


def test_fcntl_is_sys_file_s():
    from sentry.syscalls import sys_file

    assert TABLE[SYSCALL_NUMBERS["fcntl"]].handler is sys_file.fcntl


def test_kernel_handlers_replace_the_table_s():
    """Kernel(handlers=...) builds entries with a name only (no table row)."""
    entry = linux64.Syscall("getppid")
    assert (entry.handler, entry.support, entry.fd_args) == (None, Support.SUPPORTED, ())


def test_readme_table_is_current():
    """README.md's table is the generator's (``make syscall-table``)."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert support.with_table(readme, support.markdown_table()) == readme, (
        "README.md's syscall table is stale: run `make syscall-table`"
    )


def test_markdown_table_rows():
    rows = support.markdown_table().splitlines()
    assert rows[:2] == ["| syscall | support | notes |", "|---|---|---|"]
    assert len(rows) == 2 + len(TABLE)
    assert "| `getdents` | Supported |  |" in rows
    assert any(row.startswith("| `execveat` | Passes through | The host runs it") for row in rows)


def test_with_table_needs_the_markers():
    text = f"a\n{support.START}\nold\n{support.END}\nb\n"
    assert support.with_table(text, "new\n") == f"a\n{support.START}\nnew\n{support.END}\nb\n"
    with pytest.raises(ValueError):
        support.with_table("no markers\n", "new\n")


def test_legacy_dirents_keep_each_record_size():
    """linux_dirent64 to linux_dirent: d_type moves to the last byte, the
    name keeps its NUL, and the record its size."""
    records = pack_dirent64(7, 1, 4, b"dir") + pack_dirent64(2**40, 2**62, 8, b"x" * 13)
    out = legacy_dirents(records)
    assert len(out) == len(records)
    ino, off, reclen = struct.unpack_from("<QQH", out)
    assert (ino, off, reclen) == (7, 1, 24)
    assert out[18:22] == b"dir\0" and out[reclen - 1] == 4
    ino, off, reclen2 = struct.unpack_from("<QQH", out, reclen)
    assert (ino, off, reclen2) == (2**40, 2**62, 40)
    assert out[reclen + 18 : reclen + 32] == b"x" * 13 + b"\0"
    assert out[reclen + reclen2 - 1] == 8
