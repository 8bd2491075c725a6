"""A FUSE file system mounted in the sandbox: mount options, inodes, lookup.

Analogous to gVisor's ``fuse/fusefs.go`` and ``inode.go`` (Linux:
``fs/fuse/inode.c``, ``dir.c``). Names and attributes are cached for the
entry and attribute timeouts the daemon gives (clamped), a LOOKUP reply
with nodeid 0 is a cached negative entry, and every entry the daemon hands
out (LOOKUP, READDIRPLUS except ``.`` and ``..``) counts one lookup.
"""

from __future__ import annotations

import errno
import logging
import time
from typing import TYPE_CHECKING

from sentry.abi import fuse
from sentry.abi.linux import (
    PAGE_SIZE,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    S_IFDIR,
    S_IFMT,
    S_IFREG,
    S_ISGID,
    S_ISUID,
    S_IXUGO,
    STATX_ATIME,
    STATX_BASIC_STATS,
    STATX_GID,
    STATX_MODE,
    STATX_MTIME,
    STATX_SIZE,
    STATX_UID,
    UTIME_NOW,
    Statx,
    pack_statfs,
)
from sentry.errors import SyscallError
from sentry.fsimpl.fuse import notify
from sentry.fsimpl.fuse.connection import Connection
from sentry.fsimpl.fuse.directory import Directory
from sentry.fsimpl.fuse.inode import HandleFile, Inode, expiry, unpack_reply
from sentry.fsimpl.fuse.page_cache import FileCache, PageCache
from sentry.fsimpl.fuse.path_file import PathFile
from sentry.fsimpl.fuse.regular_file import RegularFile
from sentry.fsimpl.fuse.writeback import write_back
from sentry.vfs import permissions
from sentry.vfs.file_description_impl import (
    O_ACCMODE,
    O_PATH,
    O_TRUNC,
    OPEN_ONLY,
    FileDescriptionImpl,
)
from sentry.vfs.filesystem import SetStat
from sentry.vfs.permissions import MAY_EXEC, MAY_WRITE, OPEN_EXEC, may_open
from sentry.waiter import run_background

if TYPE_CHECKING:
    from sentry.fsimpl.fuse.shared_mapping import SharedMapping
    from sentry.vfs.context import Context
    from sentry.waiter import Waiter

log = logging.getLogger("sentry")

FUSE_SUPER_MAGIC = 0x65735546


def parse_options(data: str) -> dict[str, str]:
    """The options of a fuse mount's data string, checked as Linux does.

    Raises SyscallError(EINVAL) for an unknown option, a malformed value or
    a missing fd, rootmode, user_id or group_id.
    """
    known = {"fd", "rootmode", "user_id", "group_id", "max_read", "blksize"}
    flags = {"default_permissions", "allow_other"}
    options: dict[str, str] = {}
    for item in filter(None, data.split(",")):
        key, eq, value = item.partition("=")
        if (key in known and eq and value) or (key in flags and not eq):
            options[key] = value
        else:
            raise SyscallError(errno.EINVAL)
    try:
        int(options["fd"])
        int(options["rootmode"], 8)
        int(options["user_id"])
        int(options["group_id"])
        int(options.get("max_read", "0"))
    except (KeyError, ValueError):
        raise SyscallError(errno.EINVAL) from None
    return options


class FuseFilesystem:
    """Implements vfs.Filesystem over one FUSE connection.

    Invariants: ``inodes`` maps every nodeid sentry holds a lookup on, plus
    the root (nodeid 1), to its Inode, oldest first.
    """

    inode_limit = 10000

    def __init__(
        self,
        conn: Connection,
        rootmode: int,
        dev: int,
        default_permissions: bool = False,
        page_cache: PageCache | None = None,
    ) -> None:
        self.conn = conn
        self.page_cache = page_cache or PageCache()
        self.dev = dev
        self.default_permissions = default_permissions
        self.detached = False  # unmounted; the connection ends when unused
        self._working_dirs = 0  # processes whose cwd is in this file system
        self.root = Inode(fuse.FUSE_ROOT_ID, 0, S_IFDIR | (rootmode & ~S_IFMT))
        self.inodes: dict[int, Inode] = {fuse.FUSE_ROOT_ID: self.root}
        conn.notify = lambda code, body: notify.handle(self, code, body)

    def entry(self, out: fuse.EntryOut) -> Inode:
        """The inode an entry_out names, created or refreshed; counts a lookup.

        Raises SyscallError(EIO) for an entry Linux would reject.
        """
        mode = out.attr.mode
        if out.nodeid in (0, fuse.FUSE_ROOT_ID) or mode & S_IFMT == 0:
            log.warning("FUSE daemon gave a bad entry (nodeid %d, mode %o)", out.nodeid, mode)
            raise SyscallError(errno.EIO)
        inode = self.inodes.get(out.nodeid)
        if inode is None or inode.mode & S_IFMT != mode & S_IFMT:
            inode = self.inodes[out.nodeid] = Inode(out.nodeid, out.generation, mode)
        inode.lookups += 1
        inode.mode = mode
        inode.gone = False
        self.set_attr(inode, out.attr, expiry(out.attr_valid, out.attr_valid_nsec))
        if len(self.inodes) > self.inode_limit:
            self._forget_some()
        return inode

    def _forget_some(self) -> None:
        """Drop the oldest unused tenth of the cached inodes (BATCH_FORGET)."""
        drop: list[Inode] = []
        for inode in self.inodes.values():
            if len(drop) >= max(1, self.inode_limit // 10):
                break
            if inode.nodeid != fuse.FUSE_ROOT_ID and not inode.opens and not inode.pinned:
                drop.append(inode)
        self._forget(drop)

    def _forget(self, drop: list[Inode]) -> None:
        """Forget ``drop``: out of ``inodes``, and FORGETs for their lookups."""
        for inode in drop:
            del self.inodes[inode.nodeid]
        if self.conn.minor >= 16:
            body = fuse.BatchForgetIn(count=len(drop)).pack() + b"".join(
                fuse.ForgetOne(nodeid=i.nodeid, nlookup=i.lookups).pack() for i in drop
            )
            self.conn.send(None, fuse.FUSE_BATCH_FORGET, 0, body)
        else:
            for inode in drop:
                forget = fuse.ForgetIn(nlookup=inode.lookups).pack()
                self.conn.send(None, fuse.FUSE_FORGET, inode.nodeid, forget)

    def _unlinked(self, nodeid: int | None, directory: bool) -> None:
        """A name of node ``nodeid`` went (unlink, rmdir, a rename over it):
        its link count drops, as Linux's drop_nlink (clear_nlink for a
        directory), and at 0 it is forgotten once unused, as Linux evicts
        it, so that the daemon can free it."""
        inode = self.inodes.get(nodeid) if nodeid is not None else None
        if inode is None:
            return
        inode.attr_expires = 0.0
        if inode.attr is None:
            return
        inode.attr.nlink = 0 if directory else max(0, inode.attr.nlink - 1)
        if inode.attr.nlink == 0:
            inode.gone = True
            self._evict_if_unused(inode)

    def _evict_if_unused(self, inode: Inode) -> None:
        """Forget a ``gone`` inode that nothing uses any more."""
        if (
            inode.gone
            and not inode.opens
            and not inode.pinned
            and self.inodes.get(inode.nodeid) is inode
        ):
            self._forget([inode])

    async def lookup(self, t: Context, parent: Inode, name: bytes) -> Inode:
        """Implements Filesystem.lookup (search permission on ``parent``
        first, under default_permissions)."""
        if self.default_permissions:
            await self.permission(t, parent, MAY_EXEC)
        if len(name) > fuse.FUSE_NAME_MAX:
            raise SyscallError(errno.ENAMETOOLONG)
        cached = parent.entries.get(name)
        if cached is not None and cached[1] > time.monotonic():
            if cached[0] == 0:
                raise SyscallError(errno.ENOENT)
            inode = self.inodes.get(cached[0])
            if inode is not None:
                return inode
        body = await self.conn.call(t, fuse.FUSE_LOOKUP, parent.nodeid, name + b"\0")
        out = unpack_reply(fuse.EntryOut, body)
        if out.nodeid == 0:
            parent.entries[name] = (0, expiry(out.entry_valid, out.entry_valid_nsec))
            raise SyscallError(errno.ENOENT)
        inode = self.entry(out)
        parent.entries[name] = (out.nodeid, expiry(out.entry_valid, out.entry_valid_nsec))
        return inode

    def forget_entry(self, parent: Inode, name: bytes) -> None:
        """Drop the cached entry ``name`` of ``parent`` (it changed)."""
        parent.entries.pop(name, None)
        parent.attr_expires = 0.0

    async def getattr(self, t: Context | None, inode: Inode, fh: int | None = None) -> fuse.Attr:
        """The inode's attributes, from the cache while they are valid."""
        if inode.attr is not None and inode.attr_expires > time.monotonic():
            return inode.attr
        args = fuse.GetattrIn(
            getattr_flags=fuse.FUSE_GETATTR_FH if fh is not None else 0, fh=fh or 0
        )
        out = unpack_reply(
            fuse.AttrOut, await self.conn.call(t, fuse.FUSE_GETATTR, inode.nodeid, args.pack())
        )
        if out.attr.mode & S_IFMT != inode.mode & S_IFMT:
            log.warning("FUSE daemon changed the type of node %d", inode.nodeid)
            raise SyscallError(errno.EIO)
        inode.mode = out.attr.mode
        return self.set_attr(inode, out.attr, expiry(out.attr_valid, out.attr_valid_nsec))

    @property
    def writeback(self) -> bool:
        """Whether the daemon accepted writeback caching."""
        return bool(self.conn.flags & fuse.FUSE_WRITEBACK_CACHE)

    def file_cache(self, inode: Inode) -> FileCache:
        """The cache of ``inode``'s data (made on first use)."""
        if inode.cache is None:
            inode.cache = FileCache(self.page_cache)
        return inode.cache

    def set_attr(self, inode: Inode, attr: fuse.Attr, expires: float) -> fuse.Attr:
        """Take attributes the daemon sent, as Linux's fuse_change_attributes:
        a new size drops the cached data, and so does a new mtime under
        AUTO_INVAL_DATA, unless the change came through sentry; once sentry
        has written to the file under writeback caching, its own size and
        times win."""
        old, cache = inode.attr, inode.cache
        if inode.local is not None:
            size, mtime, ctime = inode.local
            attr.size = size
            attr.mtime, attr.mtimensec = divmod(mtime, 10**9)
            attr.ctime, attr.ctimensec = divmod(ctime, 10**9)
        elif cache is not None and old is not None and not inode.expect_change:
            if old.size != attr.size:
                cache.drop_all()
            elif self.conn.flags & fuse.FUSE_AUTO_INVAL_DATA and (old.mtime, old.mtimensec) != (
                attr.mtime,
                attr.mtimensec,
            ):
                cache.drop_all()
        inode.expect_change = False
        inode.attr = attr
        inode.attr_expires = expires
        return attr

    def statx(self, attr: fuse.Attr) -> Statx:
        """The Statx of ``attr`` (st_ino is the daemon's ino, as in Linux)."""
        return Statx(
            mode=attr.mode,
            ino=attr.ino,
            nlink=attr.nlink,
            uid=attr.uid,
            gid=attr.gid,
            size=attr.size,
            blocks=attr.blocks,
            blksize=attr.blksize or PAGE_SIZE,
            atime=(attr.atime, attr.atimensec),
            mtime=(attr.mtime, attr.mtimensec),
            ctime=(attr.ctime, attr.ctimensec),
            rdev=attr.rdev,
            dev=self.dev,
        )

    async def stat(
        self, t: Context, inode: Inode, mask: int = STATX_BASIC_STATS, fh: int | None = None
    ) -> Statx:
        """Implements Filesystem.stat: after a READ, a stat that wants the
        atime asks the daemon again, as Linux's fuse_invalidate_atime
        arranges."""
        if inode.atime_stale and mask & STATX_ATIME:
            inode.atime_stale = False
            inode.attr_expires = 0.0
        return self.statx(await self.getattr(t, inode, fh))

    async def readlink(self, t: Context, inode: Inode) -> bytes:
        """Implements Filesystem.readlink (a stat that wants the atime then
        asks again, as after Linux's fuse_readlink_page)."""
        target: bytes = await self.conn.call(t, fuse.FUSE_READLINK, inode.nodeid)
        inode.atime_stale = True
        return target

    async def open(self, t: Context, inode: Inode, flags: int) -> FileDescriptionImpl:
        """Implements Filesystem.open: O_TRUNC is sent in OPEN if the daemon
        handles it (ATOMIC_O_TRUNC), else as a SETATTR of size 0 afterwards."""
        if self.default_permissions and not flags & O_PATH:
            await self.permission(t, inode, may_open(flags))
        flags &= ~OPEN_EXEC
        truncate = bool(flags & O_TRUNC) and inode.mode & S_IFMT == S_IFREG
        atomic = truncate and bool(self.conn.flags & fuse.FUSE_ATOMIC_O_TRUNC)
        impl = await self._open(t, inode, flags if atomic else flags & ~O_TRUNC)
        if truncate and flags & O_ACCMODE and not atomic:
            await self.setstat(t, inode, SetStat(mask=STATX_SIZE, size=0, via=impl))
        elif atomic:
            inode.attr_expires = 0.0
            self.truncated(inode, 0)
        return impl

    async def _open(self, t: Context, inode: Inode, flags: int) -> FileDescriptionImpl:
        """OPEN or OPENDIR (zero-message on ENOSYS); nothing for O_PATH."""
        if flags & O_PATH:
            return PathFile(self, inode)
        directory = inode.mode & S_IFMT == S_IFDIR
        opcode = fuse.FUSE_OPENDIR if directory else fuse.FUSE_OPEN
        latched = self.conn.no_opendir if directory else self.conn.no_open
        fh, open_flags = 0, fuse.FOPEN_KEEP_CACHE
        if not latched:
            args = fuse.OpenIn(flags=flags & ~(0o100 | 0o200 | 0o400)).pack()
            try:
                out = unpack_reply(
                    fuse.OpenOut, await self.conn.call(t, opcode, inode.nodeid, args)
                )
                fh, open_flags = out.fh, out.open_flags
            except SyscallError as err:
                if err.errno != errno.ENOSYS:
                    raise
                if directory:
                    self.conn.no_opendir = True
                else:
                    self.conn.no_open = True
        if directory:
            return Directory(self, inode, fh, flags, release=not self.conn.no_opendir)
        if inode.cache is not None and not open_flags & fuse.FOPEN_KEEP_CACHE:
            await write_back(self, t, inode)
            inode.cache.drop_all()
        return RegularFile(self, inode, fh, flags, open_flags, release=not self.conn.no_open)

    # -- changes -----------------------------------------------------------

    async def _new_entry(
        self, t: Context, opcode: int, parent: Inode, args: bytes, name: bytes
    ) -> Inode:
        """MKNOD, MKDIR, SYMLINK or LINK: the new entry's inode."""
        await self._may_create(t, parent, name)
        out = unpack_reply(fuse.EntryOut, await self.conn.call(t, opcode, parent.nodeid, args))
        return self._remember(parent, name, out)

    def _remember(self, parent: Inode, name: bytes, out: fuse.EntryOut) -> Inode:
        """Cache the entry a reply gave for ``name`` (the directory changed)."""
        inode = self.entry(out)
        parent.entries[name] = (out.nodeid, expiry(out.entry_valid, out.entry_valid_nsec))
        parent.attr_expires = 0.0
        return inode

    async def mknod(self, t: Context, parent: Inode, name: bytes, mode: int, rdev: int) -> Inode:
        """Implements Filesystem.mknod (a regular file, fifo or device)."""
        umask = t.umask()
        args = fuse.MknodIn(mode=mode & ~umask, rdev=rdev, umask=umask).pack() + name + b"\0"
        return await self._new_entry(t, fuse.FUSE_MKNOD, parent, args, name)

    async def mkdir(self, t: Context, parent: Inode, name: bytes, mode: int) -> Inode:
        """Implements Filesystem.mkdir."""
        umask = t.umask()
        args = fuse.MkdirIn(mode=mode & ~umask & 0o7777, umask=umask).pack() + name + b"\0"
        return await self._new_entry(t, fuse.FUSE_MKDIR, parent, args, name)

    async def symlink(self, t: Context, parent: Inode, name: bytes, target: bytes) -> Inode:
        """Implements Filesystem.symlink."""
        args = name + b"\0" + target + b"\0"
        return await self._new_entry(t, fuse.FUSE_SYMLINK, parent, args, name)

    async def link(self, t: Context, inode: Inode, parent: Inode, name: bytes) -> Inode:
        """Implements Filesystem.link."""
        args = fuse.LinkIn(oldnodeid=inode.nodeid).pack() + name + b"\0"
        linked = await self._new_entry(t, fuse.FUSE_LINK, parent, args, name)
        inode.attr_expires = 0.0
        return linked

    async def unlink(self, t: Context, parent: Inode, name: bytes, directory: bool) -> None:
        """Implements Filesystem.unlink (RMDIR if ``directory``)."""
        await self._may_delete(t, parent, name)
        child = parent.entries.get(name)
        opcode = fuse.FUSE_RMDIR if directory else fuse.FUSE_UNLINK
        try:
            await self.conn.call(t, opcode, parent.nodeid, name + b"\0")
        except SyscallError:
            if child is not None and child[0] in self.inodes:
                self.inodes[child[0]].attr_expires = 0.0
            raise
        finally:
            self.forget_entry(parent, name)
        self._unlinked(child[0] if child is not None else None, directory)

    async def rename(
        self,
        t: Context,
        parent: Inode,
        name: bytes,
        new_parent: Inode,
        new_name: bytes,
        flags: int,
    ) -> None:
        """Implements Filesystem.rename (RENAME2 when ``flags`` are given);
        under default_permissions, Linux's vfs_rename checks first."""
        if self.default_permissions:
            await self._may_rename(t, parent, name, new_parent, new_name, flags)
        names = name + b"\0" + new_name + b"\0"
        source, target = parent.entries.get(name), new_parent.entries.get(new_name)
        if flags:
            args = fuse.Rename2In(newdir=new_parent.nodeid, flags=flags).pack() + names
            opcode = fuse.FUSE_RENAME2
        else:
            args = fuse.RenameIn(newdir=new_parent.nodeid).pack() + names
            opcode = fuse.FUSE_RENAME
        try:
            await self.conn.call(t, opcode, parent.nodeid, args)
        except SyscallError as err:
            if err.errno == errno.ENOSYS and flags:
                raise SyscallError(errno.EINVAL) from None
            raise
        finally:
            self.forget_entry(parent, name)
            self.forget_entry(new_parent, new_name)
        if target is not None and target[0] and not flags & RENAME_EXCHANGE:
            replaced = self.inodes.get(target[0])
            if replaced is not None and (source is None or source[0] != target[0]):
                self._unlinked(target[0], replaced.mode & S_IFMT == S_IFDIR)

    async def create(
        self, t: Context, parent: Inode, name: bytes, flags: int, mode: int
    ) -> tuple[Inode, FileDescriptionImpl]:
        """Implements Filesystem.create: CREATE, or MKNOD then OPEN once the
        daemon answered CREATE with ENOSYS."""
        await self._may_create(t, parent, name)
        if not self.conn.no_create:
            umask = t.umask()
            args = fuse.CreateIn(
                flags=flags & ~0o400, mode=(mode & ~umask) | 0o100000, umask=umask
            ).pack()
            try:
                body = await self.conn.call(
                    t, fuse.FUSE_CREATE, parent.nodeid, args + name + b"\0"
                )
            except SyscallError as err:
                if err.errno == errno.EEXIST:
                    self.forget_entry(parent, name)
                if err.errno != errno.ENOSYS:
                    raise
                self.conn.no_create = True
            else:
                entry = unpack_reply(fuse.EntryOut, body[: fuse.EntryOut.SIZE])
                opened = unpack_reply(fuse.OpenOut, body[fuse.EntryOut.SIZE :])
                inode = self._remember(parent, name, entry)
                impl = RegularFile(self, inode, opened.fh, flags, opened.open_flags, release=True)
                return inode, impl
        try:
            inode = await self.mknod(t, parent, name, S_IFREG | mode, 0)
        except SyscallError as err:
            if err.errno == errno.EEXIST:
                self.forget_entry(parent, name)
            raise
        return inode, await self._open(t, inode, flags & ~OPEN_ONLY)

    async def setstat(self, t: Context, inode: Inode, change: SetStat) -> None:
        """Implements Filesystem.setstat: one SETATTR, with the file handle
        of ``change.via`` (FATTR_FH) as Linux sends it; under
        default_permissions, Linux's setattr checks first (a truncate by
        path needs write permission)."""
        if self.default_permissions:
            attr = await self.getattr(t, inode)
            creds = t.credentials()
            try:
                permissions.check(creds, attr.mode, attr.uid, attr.gid, MAY_WRITE)
                writable = True
            except SyscallError:
                writable = False
            if change.mask & STATX_SIZE and change.via is None and not writable:
                raise SyscallError(errno.EACCES)
            permissions.check_setstat(creds, attr.mode, attr.uid, attr.gid, change, writable)
        args = fuse.SetattrIn()
        if (change.chown or change.mask & STATX_SIZE) and not change.mask & STATX_MODE:
            await self._drop_privileges(t, inode, args, change.chown)
        if isinstance(change.via, HandleFile):
            args.valid |= fuse.FATTR_FH
            args.fh = change.via.fh
        if change.mask & STATX_MODE:
            args.valid |= fuse.FATTR_MODE
            args.mode = (inode.mode & S_IFMT) | (change.mode & 0o7777)
        if change.mask & STATX_UID:
            args.valid |= fuse.FATTR_UID
            args.uid = change.uid
        if change.mask & STATX_GID:
            args.valid |= fuse.FATTR_GID
            args.gid = change.gid
        if change.mask & STATX_SIZE:
            args.valid |= fuse.FATTR_SIZE
            args.size = change.size
        now = divmod(time.time_ns(), 10**9)
        if change.mask & STATX_ATIME:
            args.atime, args.atimensec = change.atime
            args.valid |= fuse.FATTR_ATIME
            if args.atimensec == UTIME_NOW:
                args.atime, args.atimensec = now
                args.valid |= fuse.FATTR_ATIME_NOW
        if change.mask & STATX_MTIME:
            args.mtime, args.mtimensec = change.mtime
            args.valid |= fuse.FATTR_MTIME
            if args.mtimensec == UTIME_NOW:
                args.mtime, args.mtimensec = now
                args.valid |= fuse.FATTR_MTIME_NOW
        await self.setattr(t, inode, args)

    async def remove_privileges(self, t: Context, inode: Inode) -> None:
        """Before a write: Linux's ``file_remove_privs``, a SETATTR that
        takes the set-ID bits the writer may not keep (see
        ``permissions.privileges_dropped``)."""
        attr = inode.attr
        if attr is not None and not attr.mode & (S_ISUID | S_ISGID):
            return  # the cached mode has none: no request, as in Linux
        args = fuse.SetattrIn()
        await self._drop_privileges(t, inode, args)
        if args.valid:
            await self.setattr(t, inode, args)

    async def _drop_privileges(
        self, t: Context, inode: Inode, args: fuse.SetattrIn, chown: bool = False
    ) -> None:
        """Add to ``args`` the mode without the set-ID bits that a write or
        truncate (or ``chown``) by ``t`` takes away, unless the daemon takes
        them itself (FUSE_HANDLE_KILLPRIV); the mode is read afresh first,
        as Linux's ``fuse_setattr`` reads it."""
        if self.conn.flags & (fuse.FUSE_HANDLE_KILLPRIV | fuse.FUSE_HANDLE_KILLPRIV_V2):
            return
        inode.attr_expires = 0.0  # read afresh: a stale mode must not come back
        attr = await self.getattr(t, inode)
        creds = t.credentials()
        drop = permissions.privileges_dropped(creds, attr.mode, attr.gid, chown)
        if not drop:
            return
        # A write or truncate changes the mode by force; a chown is a mode
        # change like a chmod (Linux: EPERM to a root without CAP_FOWNER).
        checked = chown and self.default_permissions
        if checked and not permissions.owner_or_capable(creds, attr.uid):
            raise SyscallError(errno.EPERM)
        args.valid |= fuse.FATTR_MODE
        args.mode = attr.mode & ~drop

    async def setattr(self, t: Context, inode: Inode, args: fuse.SetattrIn) -> None:
        """SETATTR; the attributes the reply gives are cached. A size
        change holds the inode's shared mapping (its stores written back
        first, none sent until the memory has the new size)."""
        mapping = inode.mapping if args.valid & fuse.FATTR_SIZE else None
        if mapping is not None:
            await mapping.hold(t)
        try:
            await self._setattr(t, inode, args)
        finally:
            if mapping is not None:
                mapping.release()

    async def _setattr(self, t: Context, inode: Inode, args: fuse.SetattrIn) -> None:
        if args.valid & fuse.FATTR_SIZE and inode.cache is not None:
            await write_back(self, t, inode)
        body = await self.conn.call(t, fuse.FUSE_SETATTR, inode.nodeid, args.pack())
        out = unpack_reply(fuse.AttrOut, body)
        if args.valid & fuse.FATTR_SIZE:
            self.truncated(inode, args.size)
        inode.expect_change = True
        self.set_attr(inode, out.attr, expiry(out.attr_valid, out.attr_valid_nsec))

    def truncated(self, inode: Inode, size: int) -> None:
        """The file is now ``size`` bytes long: trim its cached data and
        its shared mappings."""
        inode.changes += 1
        if inode.cache is not None:
            inode.cache.truncate(size)
        if inode.mapping is not None:
            inode.mapping.resize(size)
        if inode.local is not None:
            inode.local = (size, *inode.local[1:])

    async def fsync(
        self, t: Context, inode: Inode, fh: int, datasync: bool, directory: bool
    ) -> None:
        """FSYNC, or FSYNCDIR for a directory; ENOSYS
        counts as success, and is remembered."""
        if self.conn.no_fsync:
            return
        args = fuse.FsyncIn(fh=fh, fsync_flags=1 if datasync else 0).pack()
        opcode = fuse.FUSE_FSYNCDIR if directory else fuse.FUSE_FSYNC
        try:
            await self.conn.call(t, opcode, inode.nodeid, args)
        except SyscallError as err:
            if err.errno != errno.ENOSYS:
                raise
            self.conn.no_fsync = True

    async def getxattr(self, t: Context, inode: Inode, name: bytes, size: int) -> bytes | int:
        """Implements Filesystem.getxattr: the value, or its size if ``size``
        is 0. ENOSYS from the daemon is EOPNOTSUPP (and remembered)."""
        args = fuse.GetxattrIn(size=size).pack() + name + b"\0"
        return await self._xattr_call(t, fuse.FUSE_GETXATTR, inode, args, size)

    async def listxattr(self, t: Context, inode: Inode, size: int) -> bytes | int:
        """Implements Filesystem.listxattr: the names, or their size if
        ``size`` is 0."""
        args = fuse.GetxattrIn(size=size).pack()
        return await self._xattr_call(t, fuse.FUSE_LISTXATTR, inode, args, size)

    async def _xattr_call(
        self, t: Context, opcode: int, inode: Inode, args: bytes, size: int
    ) -> bytes | int:
        if opcode in self.conn.no_xattr:
            raise SyscallError(errno.EOPNOTSUPP)
        try:
            body = await self.conn.call(t, opcode, inode.nodeid, args)
        except SyscallError as err:
            if err.errno != errno.ENOSYS:
                raise
            self.conn.no_xattr.add(opcode)
            raise SyscallError(errno.EOPNOTSUPP) from None
        if size < 0:
            return b""
        if size == 0:
            return int(unpack_reply(fuse.GetxattrOut, body).size)
        if len(body) > size:
            raise SyscallError(errno.ERANGE)
        value: bytes = body
        return value

    async def setxattr(
        self, t: Context, inode: Inode, name: bytes, value: bytes, flags: int
    ) -> None:
        """Implements Filesystem.setxattr (the 8-byte setxattr_in: sentry never
        offers SETXATTR_EXT)."""
        args = fuse.SetxattrIn(size=len(value), flags=flags).pack() + name + b"\0" + value
        await self._xattr_call(t, fuse.FUSE_SETXATTR, inode, args, -1)
        inode.attr_expires = 0.0

    async def removexattr(self, t: Context, inode: Inode, name: bytes) -> None:
        """Implements Filesystem.removexattr."""
        await self._xattr_call(t, fuse.FUSE_REMOVEXATTR, inode, name + b"\0", -1)
        inode.attr_expires = 0.0

    async def access(self, t: Context, inode: Inode, mask: int, effective: bool) -> None:
        """Implements Filesystem.access: the mode bits under
        default_permissions (the daemon then trusts the client), else
        FUSE_ACCESS, unless the daemon answered ENOSYS once (then everything
        is allowed, as in Linux)."""
        if not mask:
            return
        if self.default_permissions:
            attr = await self.getattr(t, inode)
            creds = t.credentials() if effective else t.credentials().for_access()
            permissions.check(creds, attr.mode, attr.uid, attr.gid, mask)
            return
        if self.conn.no_access:
            return
        try:
            await self.conn.call(
                t, fuse.FUSE_ACCESS, inode.nodeid, fuse.AccessIn(mask=mask).pack()
            )
        except SyscallError as err:
            if err.errno != errno.ENOSYS:
                raise
            self.conn.no_access = True

    async def permission(self, t: Context, inode: Inode, mask: int) -> None:
        """Implements Filesystem.permission, as Linux's fuse_permission: the
        mode bits under default_permissions (with fresh attributes); else
        the daemon decides, but a regular file needs an execute bit to be
        executed."""
        if self.default_permissions:
            attr = await self.getattr(t, inode)
            permissions.check(t.credentials(), attr.mode, attr.uid, attr.gid, mask)
        elif mask & MAY_EXEC and inode.mode & S_IFMT == S_IFREG:
            if not (await self.getattr(t, inode)).mode & S_IXUGO:
                raise SyscallError(errno.EACCES)

    async def _may_create(self, t: Context, parent: Inode, name: bytes) -> None:
        """Linux's may_create: write and search permission on the directory
        (under default_permissions), after filename_create's EEXIST for a
        name that exists."""
        if not self.default_permissions:
            return
        try:
            await self.permission(t, parent, MAY_WRITE | MAY_EXEC)
        except SyscallError as refused:
            try:
                await self.lookup(t, parent, name)
            except SyscallError:
                raise refused from None
            raise SyscallError(errno.EEXIST) from None

    async def _may_delete(self, t: Context, parent: Inode, name: bytes) -> Inode | None:
        """Linux's may_delete (under default_permissions): the entry must
        exist, the directory be writable and searchable, and a sticky
        directory's entry be the caller's or the directory's (EPERM)."""
        if not self.default_permissions:
            return None
        victim = await self.lookup(t, parent, name)
        await self.permission(t, parent, MAY_WRITE | MAY_EXEC)
        directory = await self.getattr(t, parent)
        owner = (await self.getattr(t, victim)).uid
        permissions.check_sticky(t.credentials(), directory.mode, directory.uid, owner)
        return victim

    async def _may_rename(
        self,
        t: Context,
        parent: Inode,
        name: bytes,
        new_parent: Inode,
        new_name: bytes,
        flags: int,
    ) -> None:
        """Linux's vfs_rename checks: may_delete of the source; may_delete
        of the target if there is one, else may_create; a directory that
        changes parent must be writable (its ``..``)."""
        source = await self.lookup(t, parent, name)
        try:
            target: Inode | None = await self.lookup(t, new_parent, new_name)
        except SyscallError as err:
            if err.errno != errno.ENOENT:
                raise
            target = None
        # do_renameat2's checks, then vfs_rename's.
        if flags & RENAME_NOREPLACE and target is not None:
            raise SyscallError(errno.EEXIST)
        if flags & RENAME_EXCHANGE and target is None:
            raise SyscallError(errno.ENOENT)
        if source is target:
            return
        await self._may_delete(t, parent, name)
        if target is None:
            await self._may_create(t, new_parent, new_name)
        else:
            await self._may_delete(t, new_parent, new_name)
        if new_parent is not parent:
            for moved in (source, target if flags & RENAME_EXCHANGE else None):
                if moved is not None and moved.mode & S_IFMT == S_IFDIR:
                    await self.permission(t, moved, MAY_WRITE)

    async def statfs(self, t: Context) -> bytes:
        """Implements Filesystem.statfs: a packed struct statfs."""
        out = unpack_reply(
            fuse.StatfsOut, await self.conn.call(t, fuse.FUSE_STATFS, fuse.FUSE_ROOT_ID)
        )
        st = out.st
        return pack_statfs(
            FUSE_SUPER_MAGIC,
            st.bsize,
            st.blocks,
            st.bfree,
            st.bavail,
            st.files,
            st.ffree,
            st.namelen,
            st.frsize or st.bsize,
        )

    def busy(self) -> bool:
        """Implements Filesystem.busy: a file of it is open, or a process's
        working directory is in it."""
        return self._working_dirs > 0 or any(inode.opens for inode in self.inodes.values())

    def closes_in_flight(self) -> list[Waiter]:
        """Implements Filesystem.closes_in_flight: the waiters of the WRITEs
        and FLUSHes of closes under way."""
        conn = self.conn
        return [
            r.waiter
            for r in (*conn.queue, *conn.sent.values())
            if r.opcode in (fuse.FUSE_FLUSH, fuse.FUSE_WRITE) and r.waiter is not None
        ]

    def pin(self, inode: Inode) -> None:
        """Implements Filesystem.pin: never sent in a FORGET."""
        inode.pinned = True

    def working_dirs(self, delta: int) -> None:
        """Implements Filesystem.working_dirs: a process's cwd entered (+1) or
        left (-1) this file system."""
        self._working_dirs += delta
        self.closed_one()

    def unmount(self, lazy: bool = False) -> None:
        """Implements Filesystem.unmount: end the connection, as Linux does
        for a plain fuse mount (no FORGET, no DESTROY); if ``lazy``, once the
        last open file is closed."""
        self.detached = True
        if not lazy or not self.busy():
            self.conn.abort(errno.ENOTCONN)

    async def sync(self, t: Context) -> None:
        """Implements Filesystem.sync: each inode's mapped stores, then its
        dirty cached data."""
        for inode in list(self.inodes.values()):
            if inode.mapping is not None:
                await inode.mapping.write_back(t)
            if inode.cache is not None:
                await write_back(self, t, inode)

    def app_ended(self) -> None:
        """Implements Filesystem.app_ended: the stores of each shared mapping
        go back to the daemon, then its writer's RELEASE."""
        for inode in list(self.inodes.values()):
            if inode.mapping is not None:
                run_background(self._unmap(inode, inode.mapping))

    async def _unmap(self, inode: Inode, mapping: SharedMapping) -> None:
        try:
            await mapping.close(None)
            await write_back(self, None, inode)
        finally:
            if mapping.writer is not None:
                mapping.writer.unmapped()

    def closed_one(self, inode: Inode | None = None) -> None:
        """An open file (of ``inode``) or a working directory of this file
        system went away: a gone inode unused now is forgotten, and a
        detached file system unused now ends."""
        if inode is not None:
            self._evict_if_unused(inode)
        if self.detached and not self.busy():
            self.conn.abort(errno.ENOTCONN)
