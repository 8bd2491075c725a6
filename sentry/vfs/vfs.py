"""The virtual file system: sentry's mounts over the host's tree, and path
resolution across both.

Analogous to gVisor's ``vfs/vfs.go`` and ``resolving_path.go`` (Linux:
``namei.c``). The app sees the host's file system, with sentry's mounts laid
over host directories and a few special files (``/dev/fuse``, the mount
tables in ``/proc``) served by sentry. A path is resolved in two parts:

- :meth:`VirtualFilesystem.locate` (synchronous) walks the host part
  lexically and stops where the path enters a sentry mount or special file.
  A path that never does is a host path: the syscall passes through to the
  host, untouched.
- :meth:`VirtualFilesystem.walk` (a coroutine: it may ask a daemon) walks
  the rest inside the mount: ``..``, symlinks (40 at most, then ELOOP), and
  back out to the host when ``..`` or an absolute symlink leaves the mount.

Host symlinks are not followed during the lexical part, so a host symlink
that points into a sentry mount is not seen as sentry's.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sentry.abi.linux import (
    RESOLVE_BENEATH,
    RESOLVE_IN_ROOT,
    RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
)
from sentry.errors import SyscallError
from sentry.vfs.file_description_impl import FileDescriptionImpl
from sentry.vfs.filesystem import Filesystem, FilesystemType, Inode

if TYPE_CHECKING:
    from sentry.vfs.context import Context

SYMLOOP_MAX = 40


@dataclass(eq=False)
class Mount:
    """A sentry file system mounted over the host directory ``point``.

    ``root`` is the directory of ``fs`` seen at ``point``: the file
    system's root, or for a bind mount the directory bound (several mounts
    may share one ``fs``; it ends with the last of them).
    """

    point: str
    fs: Filesystem[Any]  # with inodes of its own type
    source: str
    fstype: str
    options: str
    dev: int
    owner: int | None = None  # the uid that mounted it by mount(2), if any
    root: Inode | None = None  # None: fs.root
    root_path: str = "/"  # where ``root`` lies in ``fs`` (mountinfo's root)
    # The mount ``point`` lies in (None: the host's tree). A walk crosses
    # into this mount only from its parent, so a mount stacked over a
    # directory hides the mounts that were below it.
    parent: Mount | None = None
    guarded: bool = False  # sentry put a guard at ``point`` (see Kernel.guard)
    seq: int = 0  # the mount table's order

    def __post_init__(self) -> None:
        if self.root is None:
            self.root = self.fs.root


@dataclass
class Location:
    """Where a path led: a file of a sentry mount, or a host path.

    ``path`` is the app's absolute view of it (used for getcwd, the
    working directory and error reporting).
    """

    path: str
    mount: Mount | None = None
    inode: Inode | None = None

    @property
    def host(self) -> bool:
        """Whether this is a host path (the host serves it)."""
        return self.mount is None


@dataclass
class Start:
    """Where :meth:`VirtualFilesystem.walk` begins: a location in a mount,
    and the components still to walk from it."""

    at: Location
    rest: list[bytes] = field(default_factory=list)


@dataclass
class Last:
    """A path's last component and the directory holding it (Linux's
    ``nameidata`` after ``path_parentat``): what a call that creates,
    removes or renames a name works on.

    ``name`` is b"." or b".." for those components (Linux's LAST_DOT and
    LAST_DOTDOT), and b"" when the path is a mount's root itself. ``slash``:
    the path ended in ``/``, which makes it name a directory.
    """

    dir: Location
    name: bytes
    slash: bool = False

    @property
    def normal(self) -> bool:
        """Whether ``name`` is an ordinary name (LAST_NORM)."""
        return self.name not in (b"", b".", b"..")

    @property
    def path(self) -> str:
        """The app's absolute view of the named file."""
        return os.path.join(self.dir.path, os.fsdecode(self.name))

    def on_host(self) -> Location:
        """The named path itself, for the host to act on when the walk to
        it left sentry's mounts (a trailing slash kept)."""
        return Location(self.path + "/" * self.slash)


@dataclass
class _Walk:
    """One path walk's state: the symlinks followed so far, and openat2's
    RESOLVE_* restrictions (NO_SYMLINKS: ELOOP at a symlink to follow;
    BENEATH: EXDEV for ``..`` above the start or an absolute symlink;
    IN_ROOT: the start is the root, for ``..`` and absolute symlinks;
    NO_XDEV: EXDEV for leaving the mount)."""

    resolve: int = 0
    links: int = 0


# A special file's opener: (task, flags) -> the impl of a new open file;
# for a pattern, (task, path).
SpecialOpener = Callable[["Context", int], FileDescriptionImpl]
PatternOpener = Callable[["Context", str], FileDescriptionImpl]


class VirtualFilesystem:
    """Sentry's mount table and special files, and path resolution.

    Invariants: mount points are normalized absolute host paths with no
    trailing slash; at most one mount per point (a new mount hides an older
    one until it is unmounted).
    """

    def __init__(self) -> None:
        self.mounts: dict[str, list[Mount]] = {}
        self._types: dict[str, FilesystemType] = {}
        self.specials: dict[str, SpecialOpener] = {}
        self.special_patterns: list[tuple[re.Pattern[str], PatternOpener]] = []
        self._pattern_names: list[str] = []
        self._next_dev = 1
        self._seq = 0
        # Every file system ever mounted, unmounted ones too while they live
        # (a lazy unmount's lasts while busy): app_ended reaches them all.
        self._filesystems: weakref.WeakSet[Filesystem[Any]] = weakref.WeakSet()
        # Called whenever prefixes() or special_names() change (the kernel
        # tells the platform, which then decides host paths without it).
        self.on_change: Callable[[], None] = lambda: None

    def prefixes(self) -> list[str]:
        """The paths whose lexical walk makes a path sentry's: mount points
        and special files (see also special_names())."""
        return sorted({*self.mounts, *self.specials})

    def special_names(self) -> list[str]:
        """The last names of the files special patterns serve: a path that
        ends in one may be sentry's."""
        return list(self._pattern_names)

    def covers(self, path: str) -> bool:
        """Whether host path ``path`` is at or below one of prefixes()."""
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.prefixes())

    def add_special(self, path: str, opener: SpecialOpener) -> None:
        """Serve the file at host path ``path`` from sentry (to open(2))."""
        self.specials[path] = opener
        self.on_change()

    def add_special_pattern(
        self, names: tuple[str, ...], pattern: re.Pattern[str], opener: PatternOpener
    ) -> None:
        """Serve the files whose host path matches ``pattern``, all of them
        with a last name among ``names``."""
        self.special_patterns.append((pattern, opener))
        self._pattern_names.extend(names)
        self.on_change()

    def register_filesystem_type(self, name: str, fstype: FilesystemType) -> None:
        """Let mount(2) make file systems of type ``name``."""
        self._types[name] = fstype

    def filesystem_type(self, name: str) -> FilesystemType | None:
        """The registered type mount(2)'s ``name`` asks for, if any."""
        fstype = self._types.get(name)
        if fstype is None and "." in name:
            fstype = self._types.get(name.split(".", 1)[0])
            if fstype is not None and not fstype.has_subtype:
                return None
        return fstype

    def new_dev(self) -> int:
        """A device number for a new mount (an anonymous one, major 0)."""
        self._next_dev += 1
        return os.makedev(0, 200 + self._next_dev)

    def add_mount(
        self,
        point: str,
        fs: Filesystem[Any],
        source: str,
        fstype: str,
        options: str,
        dev: int,
        owner: int | None = None,
        root: Inode | None = None,
        root_path: str = "/",
        parent: Mount | None = None,
        guarded: bool = False,
    ) -> Mount:
        """Mount ``fs`` over ``point``, a host directory (``parent`` None)
        or a directory of mount ``parent`` (by ``owner``'s mount(2), or by
        sentry itself); ``root``: its directory to show there (a bind
        mount's, at ``root_path`` in ``fs``), by default its root."""
        if root is not None:
            fs.pin(root)
        self._filesystems.add(fs)
        mount = Mount(
            point, fs, source, fstype, options, dev, owner, root, root_path, parent, guarded
        )
        self.attach(mount)
        return mount

    def attach(self, mount: Mount) -> None:
        """Put ``mount`` (new, or taken away by :meth:`detach`) on top of
        the mounts at its point."""
        self._seq += 1
        mount.seq = self._seq
        self.mounts.setdefault(mount.point, []).append(mount)
        self.on_change()

    def detach(self, mount: Mount) -> None:
        """Take ``mount`` out of the table (wherever it is in its stack)."""
        stack = self.mounts.get(mount.point, [])
        stack.remove(mount)
        if not stack:
            del self.mounts[mount.point]
        self.on_change()

    def covered(self, path: str, mount: Mount) -> bool:
        """Whether a mount sits on ``path``, a directory of ``mount``."""
        return self._mount_at(path, mount) is not None

    def mount_root(self, point: str) -> Mount | None:
        """The mount whose root is at ``point`` (the topmost, if several
        are stacked there), or None."""
        stack = self.mounts.get(point)
        return stack[-1] if stack else None

    def descendants(self, mount: Mount) -> list[Mount]:
        """The mounts inside ``mount``, and inside those, oldest first."""
        found: list[Mount] = []
        for m in self.all_mounts():
            up = m.parent
            while up is not None and up is not mount:
                up = up.parent
            if up is mount:
                found.append(m)
        return found

    def move_points(self, old: str, new: str) -> None:
        """A directory at ``old`` (in a mount) was renamed to ``new``: the
        mounts inside it move with it, as Linux's follow the dentry."""
        for m in [m for m in self.all_mounts() if is_below(m.point, old)]:
            self.detach(m)
            m.point = new + m.point[len(old) :]
            self.attach(m)

    def special(self, path: str) -> SpecialOpener | None:
        """The opener of the special file at host path ``path``, if any."""
        opener = self.specials.get(path)
        if opener is not None:
            return opener
        for pattern, by_path in self.special_patterns:
            if pattern.fullmatch(path):
                return functools.partial(_open_by_path, by_path, path)
        return None

    def shares_fs(self, mount: Mount) -> bool:
        """Whether another mount in the table shows ``mount``'s file system
        (a bind mount of it, or the mount it was bound from)."""
        return any(m.fs is mount.fs and m is not mount for m in self.all_mounts())

    def filesystems(self) -> list[Filesystem[Any]]:
        """Each mounted file system, once."""
        return list({id(m.fs): m.fs for m in self.all_mounts()}.values())

    async def sync(self, t: Context) -> None:
        """Filesystem.sync of each mounted file system (sync(2))."""
        for fs in self.filesystems():
            await fs.sync(t)

    def app_ended(self) -> None:
        """Tell each file system still alive, mounted or unmounted lazily,
        once, that the app ended (Filesystem.app_ended)."""
        for fs in list(self._filesystems):
            fs.app_ended()

    def all_mounts(self) -> list[Mount]:
        """Every mount, oldest first."""
        return sorted((m for stack in self.mounts.values() for m in stack), key=lambda m: m.seq)

    def _mount_at(self, point: str, parent: Mount | None = None) -> Mount | None:
        """The mount a walk in ``parent`` (None: the host) enters at
        ``point``: the one mounted there in ``parent``, then any stacked on
        top of it, each in the one below."""
        found = None
        for m in self.mounts.get(point, []):
            if m.parent is parent:
                found = parent = m
        return found

    # -- resolution -------------------------------------------------------

    def locate(self, path: bytes, base: Location | None, opening: bool = False) -> Start | None:
        """Where a path syscall's path enters sentry's tree, or None if it
        stays on the host (the syscall then passes through). A relative
        path starts at ``base`` (the syscall's dirfd or working directory,
        which the caller resolves: the VFS knows no fd table). Special
        files are sentry's only to open(2) (``opening``); other calls on
        their paths see the host's.

        Raises SyscallError: ENOENT for an empty path. Precondition:
        ``base`` is given for a relative path.
        """
        if not path:
            raise SyscallError(errno.ENOENT)
        if not path.startswith(b"/"):
            assert base is not None
            if base.mount is not None:
                return Start(base, path.split(b"/"))
            path = os.fsencode(base.path) + b"/" + path
        return self._locate_host(os.fsencode("/"), path.split(b"/"), opening)

    def _locate_host(self, host: bytes, comps: list[bytes], opening: bool = False) -> Start | None:
        current = os.fsdecode(host).rstrip("/") or "/"
        for i, comp in enumerate(comps):
            if comp in (b"", b"."):
                continue
            if comp == b"..":
                current = os.path.dirname(current)
            else:
                current = os.path.join(current, os.fsdecode(comp))
            mount = self._mount_at(current)
            if mount is not None:
                return Start(Location(current, mount, mount.root), comps[i + 1 :])
        if opening and comps and comps[-1] not in (b"", b".", b"..") and self.special(current):
            return Start(Location(current), [])
        return None

    async def walk(
        self, t: Context, start: Start, follow: bool = True, resolve: int = 0
    ) -> Location:
        """Resolve the rest of a located path (``follow``: the final symlink
        too; ``resolve``: openat2's RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH and
        RESOLVE_NO_XDEV). A path ending in ``/`` or ``/.`` names a
        directory: its final symlink is followed, and anything else is
        ENOTDIR."""
        directory = bool(start.rest) and start.rest[-1] in (b"", b".")
        walk = _Walk(resolve)
        location = await self._walk(t, start.at, list(start.rest), follow or directory, walk)
        if directory and not _is_dir(location):
            raise SyscallError(errno.ENOTDIR)
        return location

    async def _walk(
        self, t: Context, at: Location, comps: list[bytes], follow: bool, walk: _Walk
    ) -> Location:
        stack: list[Location] = [at]
        while comps:
            comp = comps.pop(0)
            if comp in (b"", b"."):
                continue
            here = stack[-1]
            if here.mount is None:
                break
            if here.inode is not None and here.inode.mode & S_IFMT != S_IFDIR:
                raise SyscallError(errno.ENOTDIR)
            if comp == b"..":
                if len(stack) > 1:
                    stack.pop()
                    continue
                if walk.resolve & RESOLVE_BENEATH:
                    raise SyscallError(errno.EXDEV)
                if walk.resolve & RESOLVE_IN_ROOT:
                    continue  # ".." of the root is the root
                if here.path != here.mount.point:
                    stack = await self._ancestors(t, here)
                    continue
                return await self._leave(
                    t, os.path.dirname(here.mount.point), comps, follow, walk
                )
            path = os.path.join(here.path, os.fsdecode(comp))
            inner = self._mount_at(path, here.mount)
            if inner is not None:  # a mount inside this one
                if walk.resolve & RESOLVE_NO_XDEV:
                    raise SyscallError(errno.EXDEV)
                stack.append(Location(path, inner, inner.root))
                continue
            inode = await here.mount.fs.lookup(t, here.inode, comp)
            child = Location(path, here.mount, inode)
            last = not any(c not in (b"", b".") for c in comps)
            if inode.mode & S_IFMT == S_IFLNK and (follow or not last):
                walk.links += 1
                if walk.links > SYMLOOP_MAX or walk.resolve & RESOLVE_NO_SYMLINKS:
                    raise SyscallError(errno.ELOOP)
                target = await here.mount.fs.readlink(t, inode)
                if target.startswith(b"/"):
                    if walk.resolve & RESOLVE_BENEATH:
                        raise SyscallError(errno.EXDEV)
                    if walk.resolve & RESOLVE_IN_ROOT:
                        # An absolute target starts again at the root.
                        stack = stack[:1]
                        comps = target.split(b"/") + comps
                        continue
                    return await self._leave(t, "/", target.split(b"/") + comps, follow, walk)
                comps = target.split(b"/") + comps
                continue
            if not last and inode.mode & S_IFMT != S_IFDIR:
                raise SyscallError(errno.ENOTDIR)
            stack.append(child)
        return stack[-1]

    async def _ancestors(self, t: Context, here: Location) -> list[Location]:
        """The directories from the root of ``here``'s mount down to the one
        holding ``here`` (where ``..`` of a walk that started at ``here``
        goes): a walk starts at a working directory or dirfd anywhere in a
        mount, and only its path says what lies above it."""
        assert here.mount is not None
        mount = here.mount
        rel = os.path.relpath(os.path.dirname(here.path), mount.point)
        stack = [Location(mount.point, mount, mount.root)]
        for name in rel.split("/") if rel != "." else []:
            at = stack[-1]
            inode = await mount.fs.lookup(t, at.inode, os.fsencode(name))
            if inode.mode & S_IFMT != S_IFDIR:
                raise SyscallError(errno.ENOENT)
            stack.append(Location(os.path.join(at.path, name), mount, inode))
        return stack

    async def walk_parent(self, t: Context, start: Start, resolve: int = 0) -> Last:
        """The last component of a located path and the directory holding it
        (resolved, symlinks followed; ``resolve`` as for walk). Raises
        SyscallError: ENOTDIR if what holds it is not a directory; the
        walk's errors."""
        rest = list(start.rest)
        slash = False
        while rest and rest[-1] == b"":
            rest.pop()
            slash = True
        if not [c for c in rest if c not in (b"", b".")]:
            return Last(start.at, rest[-1] if rest else b"", slash)
        parent = await self._walk(t, start.at, rest[:-1], True, _Walk(resolve))
        if not _is_dir(parent):
            raise SyscallError(errno.ENOTDIR)
        return Last(parent, rest[-1], slash)

    async def _leave(
        self, t: Context, host: str, comps: list[bytes], follow: bool, walk: _Walk
    ) -> Location:
        """Continue a walk from host directory ``host`` (out of a mount)."""
        if walk.resolve & RESOLVE_NO_XDEV:
            raise SyscallError(errno.EXDEV)
        # From the root: ``host`` itself may lie in a mount (the one that
        # holds a mount inside it).
        start = self._locate_host(b"/", [*os.fsencode(host).split(b"/"), *comps])
        if start is None:
            rest = b"/".join(c for c in comps if c)
            joined = os.path.normpath(os.path.join(host, os.fsdecode(rest))) if rest else host
            if comps and comps[-1] in (b"", b".") and joined != "/":
                joined += "/"  # the host then checks that it is a directory
            return Location(joined)
        return await self._walk(t, start.at, start.rest, follow, walk)


def is_below(path: str, ancestor: str) -> bool:
    """Whether absolute path ``path`` lies strictly inside directory
    ``ancestor`` (both resolved: each names one file)."""
    return path.startswith(ancestor.rstrip("/") + "/")


def _open_by_path(
    opener: PatternOpener, path: str, t: Context, flags: int
) -> FileDescriptionImpl:
    """A special pattern's file at ``path``, opened as a SpecialOpener."""
    return opener(t, path)


def _is_dir(location: Location) -> bool:
    """Whether a location in a mount is a directory (a host path is the
    host's to judge)."""
    return location.inode is None or location.inode.mode & S_IFMT == S_IFDIR
