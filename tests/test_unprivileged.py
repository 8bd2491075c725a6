"""Core runs of sentry as root and as nobody (uid 65534, no capabilities).

The same few runs both ways: sentry must work for an ordinary user, not only
for root (it creates its namespaces without privileges). The results are
compared with the same commands run natively as the same user.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from sentry.pytest_plugin import Both

# Loaded as a plugin below: let pytest rewrite its asserts before this import.
pytest.register_assert_rewrite("unprivileged")
from unprivileged import run_as, run_host_as, run_python_as  # noqa: E402

# The sandbox_user and nobody_install fixtures.
pytest_plugins = ["unprivileged"]

TIMEOUT = 60

PIPELINE = "seq 2000 | sort -rn | head -5 | tr 9 x | wc -c; echo done | cat"


def test_true(sandbox_user):
    r = run_as(sandbox_user, ["run", "--", "true"], timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b""
    assert b"Traceback" not in r.stderr, r.stderr


def test_exit_status(sandbox_user):
    r = run_as(sandbox_user, ["run", "--", "sh", "-c", "exit 7"], timeout=TIMEOUT)
    assert r.returncode == 7, r.stderr


def test_strace(sandbox_user):
    r = run_as(sandbox_user, ["run", "--strace", "--", "cat", "/etc/hostname"], timeout=TIMEOUT)
    with open("/etc/hostname", "rb") as f:
        assert r.stdout == f.read()
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err
    assert re.search(r'openat\(AT_FDCWD, "/etc/hostname", O_RDONLY\S*\) = \d+', err), err
    assert "Traceback" not in err


def test_coreutils_pipeline(sandbox_user):
    native = run_host_as(sandbox_user, ["sh", "-c", PIPELINE], timeout=TIMEOUT)
    sandboxed = run_as(sandbox_user, ["run", "--", "sh", "-c", PIPELINE], timeout=TIMEOUT)
    assert native.returncode == 0, native.stderr
    Both(native, sandboxed).assert_same()


@pytest.mark.slow
def test_memfs_write_read(sandbox_user):
    script = (
        "seq 100000 > /data/n && wc -l < /data/n && tail -1 /data/n"
        " && mkdir /data/d && echo x > /data/d/f && ls /data /data/d"
    )
    r = run_as(
        sandbox_user, ["run", "--mount", "/data=memfs", "--", "sh", "-c", script], timeout=TIMEOUT
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"100000\n100000\n/data:\nd\nn\n\n/data/d:\nf\n"


def test_exec_from_memfs(sandbox_user):
    """A program and a script copied onto a memfs mount run."""
    script = (
        "cp /bin/echo /data/echo && /data/echo copied"
        " && printf '#!/bin/sh\\necho script $0\\n' > /data/s && chmod +x /data/s && /data/s"
    )
    argv = ["run", "--mount", "/data=memfs", "--", "sh", "-c", script]
    r = run_as(sandbox_user, argv, timeout=TIMEOUT)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"copied\nscript /data/s\n", b"")


def test_libfuse2_daemon_outside_needs_root(sandbox_user, tmp_path):
    """bindfs (libfuse 2) outside the sandbox runs as root (through
    sentry's fusermount); as another user it is refused in one line."""
    bindfs = shutil.which("bindfs")
    if bindfs is None:
        pytest.skip("bindfs is not installed (run `make install`)")
    tmp_path.chmod(0o755)
    (tmp_path / "f").write_text("seen\n")
    (tmp_path / "f").chmod(0o644)
    argv = ["run", "--fuse", f"/mnt/b={bindfs} -f {tmp_path} {{}}", "--", "cat", "/mnt/b/f"]
    r = run_as(sandbox_user, argv, timeout=TIMEOUT)
    if sandbox_user.name == "root":
        assert (r.returncode, r.stdout, r.stderr) == (0, b"seen\n", b"")
    else:
        assert r.returncode != 0 and r.stdout == b"", r.stderr
        lines = r.stderr.decode().splitlines()
        assert len(lines) == 1 and "only when sentry runs as root" in lines[0], lines


def test_memfs_mode_bits_are_enforced(sandbox_user):
    """memfs mounts use default_permissions: the app's own files are
    checked against their mode bits (the app holds no capability), as
    Linux checks them."""
    script = (
        "echo x > /data/f && chmod 000 /data/f && cat /data/f; echo x >> /data/f;"
        " mkdir /data/d && chmod 500 /data/d && touch /data/d/new;"
        " chmod 600 /data/f && cat /data/f"
    )
    argv = ["run", "--mount", "/data=memfs", "--", "sh", "-c", script]
    r = run_as(sandbox_user, argv, timeout=TIMEOUT)
    if sandbox_user.name == "root":
        assert r.returncode == 0 and r.stderr == b"", r.stderr
    else:
        assert r.stdout == b"x\n" and r.stderr.count(b"Permission denied") == 3, r.stderr


@pytest.mark.parametrize("root", [False, True], ids=["app-uid", "app-root"])
def test_tmpfs_and_bind_mount(sandbox_user, root):
    """An app that is root in its user namespace (--root, or run by root)
    mounts a tmpfs and binds a memfs directory; as an ordinary user's own
    uid, with no CAP_SYS_ADMIN, mount(2) is EPERM, as in Linux."""
    script = (
        "mkdir -p /data/src /data/b /tmp/t && echo hi > /data/src/f"
        " && mount -t tmpfs x /tmp/t && echo in-tmpfs > /tmp/t/f && cat /tmp/t/f"
        " && mount --bind /data/src /data/b && cat /data/b/f"
        " && umount /tmp/t /data/b && ls /tmp/t /data/b"
    )
    args = ["run", *(["--root"] if root else []), "--mount", "/data=memfs", "--"]
    r = run_as(sandbox_user, [*args, "sh", "-c", script], timeout=TIMEOUT)
    if root or sandbox_user.uid == 0:
        assert (r.returncode, r.stdout) == (0, b"in-tmpfs\nhi\n/data/b:\n\n/tmp/t:\n"), r.stderr
        return
    # mount(8) refuses by itself; ask mount(2).
    code = (
        "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); os.mkdir('/tmp/t')\n"
        "for args in [(b'x', b'/tmp/t', b'tmpfs', 0), (b'/data', b'/tmp/t', None, 4096)]:\n"
        "    print(libc.mount(*args, None), ctypes.get_errno())\n"
    )
    r = run_as(sandbox_user, [*args, "python3", "-c", code], timeout=TIMEOUT)
    assert (r.returncode, r.stdout) == (0, b"-1 1\n-1 1\n"), r.stderr


@pytest.mark.parametrize("root", [False, True], ids=["app-uid", "app-root"])
def test_app_identity(sandbox_user, root):
    """The app runs as the invoking user's ids, or as 0 with --root."""
    args = ["run", *(["--root"] if root else []), "--", "id", "-u"]
    r = run_as(sandbox_user, args, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (b"0\n" if root else f"{sandbox_user.uid}\n".encode())


@pytest.mark.slow
def test_python_api(sandbox_user):
    code = (
        "from sentry import Sandbox\n"
        "r = Sandbox(mounts=['/data=memfs']).run(\n"
        "    ['sh', '-c', 'echo hi > /data/f && cat /data/f && exit 3'], timeout=60)\n"
        "print(r.returncode, r.stdout, r.stderr)\n"
    )
    r = run_python_as(sandbox_user, code, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"3 b'hi\\n' b''\n"


@pytest.fixture
def squashfs_image(sandbox_user):
    """A squashfs image of one file, in a directory this user owns."""
    for tool in ("mksquashfs", "squashfuse", "fusermount3"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    work = sandbox_user.mkdtemp("sqfs")
    src = work / "src"
    src.mkdir()
    (src / "hello.txt").write_text("hello from squashfs\n")
    image = work / "img.sqfs"
    subprocess.run(
        ["mksquashfs", str(src), str(image), "-quiet", "-noappend"], check=True, timeout=60
    )
    (work / "mnt").mkdir()
    sandbox_user.chown(src, src / "hello.txt", image, work / "mnt")
    return work


def test_fuse_daemon_inside(sandbox_user, squashfs_image):
    """A libfuse daemon in the sandbox mounts through sentry's /dev/fuse
    and mount(2), for an ordinary user too (fusermount3's setuid bit does
    not count under no_new_privs: sentry serves its mount(2))."""
    script = "squashfuse img.sqfs mnt && cat mnt/hello.txt && fusermount3 -u mnt"
    r = run_as(
        sandbox_user, ["run", "--", "sh", "-c", script], timeout=TIMEOUT, cwd=squashfs_image
    )
    assert (r.returncode, r.stdout) == (0, b"hello from squashfs\n"), r.stderr


def test_fuse_daemon_outside(sandbox_user, squashfs_image):
    image = squashfs_image / "img.sqfs"
    r = run_as(
        sandbox_user,
        ["run", f"--fuse=/img=squashfuse {image} {{}}", "--", "cat", "/img/hello.txt"],
        timeout=TIMEOUT,
    )
    assert (r.returncode, r.stdout) == (0, b"hello from squashfs\n"), r.stderr


@pytest.mark.slow
def test_passthrough_mount(sandbox_user, squashfs_image):
    src = squashfs_image / "src"
    script = "cat /src/hello.txt && echo new > /src/new"
    r = run_as(
        sandbox_user,
        ["run", f"--mount=/src=passthrough:{src}", "--", "sh", "-c", script],
        timeout=TIMEOUT,
    )
    assert (r.returncode, r.stdout) == (0, b"hello from squashfs\n"), r.stderr
    assert (src / "new").read_text() == "new\n"


@pytest.mark.slow
def test_pytest_plugin_sandbox_fixture(sandbox_user):
    """The plugin's sandbox marker and fixture, in a pytest run as this user."""
    code = (
        "import sys, tempfile, pathlib, pytest\n"
        "d = pathlib.Path(tempfile.mkdtemp())\n"
        "(d / 'test_it.py').write_text(\n"
        "    'import pytest\\n'\n"
        "    '@pytest.mark.sandbox(mounts=[\"/data=memfs\"])\\n'\n"
        "    'def test_data(sandbox):\\n'\n"
        "    '    r = sandbox.run([\"sh\", \"-c\", \"echo hi > /data/f && cat /data/f\"])\\n'\n"
        "    '    assert (r.returncode, r.stdout) == (0, b\"hi\\\\n\")\\n'\n"
        ")\n"
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', str(d)]))\n"
    )
    r = run_python_as(sandbox_user, code, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"1 passed" in r.stdout


def test_directory_made_in_a_host_directory_can_be_renamed(sandbox_user):
    """The app writes over host directories into memory (overlayfs): a
    directory it makes there can be renamed and removed, as on the host
    (renaming a directory the host has gives EXDEV: see the README), and the
    host's directory stays as it was."""
    host = sandbox_user.mkdtemp("rename")
    (host / "old").mkdir()
    sandbox_user.chown(host / "old")
    script = (
        "import os; os.mkdir('made'); os.mkdir('old/made'); os.rename('made', 'made2'); "
        "os.rename('old/made', 'old/made2'); os.rmdir('made2'); os.rmdir('old/made2'); "
        "print(*os.listdir())"
    )
    argv = ["run", "--", "python3", "-c", script]
    r = run_as(sandbox_user, argv, cwd=str(host), timeout=TIMEOUT)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"old\n", b"")
    assert sorted(p.name for p in host.iterdir()) == ["old"]
    assert list((host / "old").iterdir()) == []
