"""Unit tests of sentry/abi/fuse.py, the FUSE wire structs and constants.

The kernel header is the oracle: a small C program, compiled once per module,
prints sizeof, offsetof, member widths and signedness for every struct, and
the value of every constant both sides define. That also proves the field
names are the C member names (the program would not compile otherwise).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import struct
import subprocess
import typing
from pathlib import Path

import pytest

from sentry.abi import fuse

HEADER = Path("/usr/include/linux/fuse.h")

# Every wire struct and the C struct it mirrors.
C_STRUCTS: dict[type, str] = {
    fuse.InHeader: "fuse_in_header",
    fuse.OutHeader: "fuse_out_header",
    fuse.Attr: "fuse_attr",
    fuse.EntryOut: "fuse_entry_out",
    fuse.AttrOut: "fuse_attr_out",
    fuse.GetattrIn: "fuse_getattr_in",
    fuse.SetattrIn: "fuse_setattr_in",
    fuse.InitIn: "fuse_init_in",
    fuse.InitOut: "fuse_init_out",
    fuse.CuseInitIn: "cuse_init_in",
    fuse.CuseInitOut: "cuse_init_out",
    fuse.OpenIn: "fuse_open_in",
    fuse.OpenOut: "fuse_open_out",
    fuse.CreateIn: "fuse_create_in",
    fuse.ReleaseIn: "fuse_release_in",
    fuse.FlushIn: "fuse_flush_in",
    fuse.ReadIn: "fuse_read_in",
    fuse.WriteIn: "fuse_write_in",
    fuse.WriteOut: "fuse_write_out",
    fuse.FsyncIn: "fuse_fsync_in",
    fuse.LseekIn: "fuse_lseek_in",
    fuse.LseekOut: "fuse_lseek_out",
    fuse.FallocateIn: "fuse_fallocate_in",
    fuse.CopyFileRangeIn: "fuse_copy_file_range_in",
    fuse.FileLock: "fuse_file_lock",
    fuse.LkIn: "fuse_lk_in",
    fuse.LkOut: "fuse_lk_out",
    fuse.BmapIn: "fuse_bmap_in",
    fuse.BmapOut: "fuse_bmap_out",
    fuse.IoctlIn: "fuse_ioctl_in",
    fuse.IoctlIovec: "fuse_ioctl_iovec",
    fuse.IoctlOut: "fuse_ioctl_out",
    fuse.PollIn: "fuse_poll_in",
    fuse.PollOut: "fuse_poll_out",
    fuse.MknodIn: "fuse_mknod_in",
    fuse.MkdirIn: "fuse_mkdir_in",
    fuse.RenameIn: "fuse_rename_in",
    fuse.Rename2In: "fuse_rename2_in",
    fuse.LinkIn: "fuse_link_in",
    fuse.AccessIn: "fuse_access_in",
    fuse.ForgetIn: "fuse_forget_in",
    fuse.ForgetOne: "fuse_forget_one",
    fuse.BatchForgetIn: "fuse_batch_forget_in",
    fuse.InterruptIn: "fuse_interrupt_in",
    fuse.SyncfsIn: "fuse_syncfs_in",
    fuse.Kstatfs: "fuse_kstatfs",
    fuse.StatfsOut: "fuse_statfs_out",
    fuse.SetxattrIn: "fuse_setxattr_in",
    fuse.SetxattrInExt: "fuse_setxattr_in",
    fuse.GetxattrIn: "fuse_getxattr_in",
    fuse.GetxattrOut: "fuse_getxattr_out",
    fuse.NotifyPollWakeupOut: "fuse_notify_poll_wakeup_out",
    fuse.NotifyInvalInodeOut: "fuse_notify_inval_inode_out",
    fuse.NotifyInvalEntryOut: "fuse_notify_inval_entry_out",
    fuse.NotifyDeleteOut: "fuse_notify_delete_out",
    fuse.NotifyStoreOut: "fuse_notify_store_out",
    fuse.NotifyRetrieveOut: "fuse_notify_retrieve_out",
    fuse.NotifyRetrieveIn: "fuse_notify_retrieve_in",
    fuse.Dirent: "fuse_dirent",
    fuse.Direntplus: "fuse_direntplus",
}

# The size a class must have when it is not sizeof its C struct.
C_SIZE_EXPR = {fuse.SetxattrIn: "FUSE_COMPAT_SETXATTR_IN_SIZE"}

# Records with a name: a valid one is needed to pack them at all.
NAMED = {fuse.Dirent: {"name": b"a"}, fuse.Direntplus: {"dirent.name": b"a"}}

FIXED = [cls for cls in C_STRUCTS if cls not in NAMED]

# Constants that the 7.38 header does not define (later headers, kernel
# internals, libfuse, sentry's own), with the values they must have.
NOT_IN_738_HEADER = {
    "CLIENT_MINOR_VERSION": 31,
    "FUSE_STATX": 52,
    "FUSE_COPY_FILE_RANGE_64": 53,
    "FUSE_NOTIFY_RESEND": 7,
    "FUSE_NOTIFY_INC_EPOCH": 8,
    "FUSE_NOTIFY_PRUNE": 9,
    "FUSE_CREATE_SUPP_GROUP": 1 << 34,
    "FUSE_DIRECT_IO_ALLOW_MMAP": 1 << 36,
    "FUSE_DIRECT_IO_RELAX": 1 << 36,
    "FUSE_PASSTHROUGH": 1 << 37,
    "FUSE_NO_EXPORT_SUPPORT": 1 << 38,
    "FUSE_HAS_RESEND": 1 << 39,
    "FUSE_ALLOW_IDMAP": 1 << 40,
    "FUSE_OVER_IO_URING": 1 << 41,
    "FUSE_REQUEST_TIMEOUT": 1 << 42,
    "FOPEN_PASSTHROUGH": 1 << 7,
    "FUSE_UNIQUE_RESEND": 1 << 63,
    "FUSE_NAME_MAX": 1024,
    "FUSE_UNKNOWN_INO": 0xFFFFFFFF,
    "FUSE_INT_REQ_BIT": 1,
    "FUSE_REQ_ID_STEP": 2,
    "FUSE_DEVICE": (10 << 8) | 229,  # /dev/fuse, 10:229 (devices.txt)
}


# ------------------------------------------------------------ helpers


def module_constants() -> dict[str, int]:
    return {
        name: value
        for name, value in vars(fuse).items()
        if name.isupper() and not name.startswith("_") and type(value) is int
    }


def header_names() -> tuple[set[str], set[str]]:
    """Return (every object-like macro and enum member, the fuse_opcode members)."""
    text = HEADER.read_text()
    names = set(re.findall(r"^#define\s+([A-Z][A-Z0-9_]*)[ \t]+\S", text, re.M))
    names |= set(re.findall(r"^\s+([A-Z][A-Z0-9_]*)\s*=", text, re.M))
    opcode_block = re.search(r"enum fuse_opcode \{(.*?)\};", text, re.S)
    assert opcode_block is not None
    opcodes = set(re.findall(r"^\s+([A-Z][A-Z0-9_]*)\s*=", opcode_block.group(1), re.M))
    return names, opcodes


def leaf_paths(cls: type, prefix: str = "") -> list[str]:
    """The integer members of *cls*, nested ones as "attr.blksize"."""
    hints = typing.get_type_hints(cls)
    paths = []
    for f in dataclasses.fields(cls):
        t = hints[f.name]
        if dataclasses.is_dataclass(t):
            paths += leaf_paths(t, prefix + f.name + ".")
        elif t is int:
            paths.append(prefix + f.name)
    return paths


def build(cls: type, values: dict[str, object], prefix: str = "") -> typing.Any:
    """Make a *cls* with the members named in *values* set (paths as in leaf_paths)."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        if dataclasses.is_dataclass(hints[f.name]):
            kwargs[f.name] = build(hints[f.name], values, path + ".")
        elif path in values:
            kwargs[f.name] = values[path]
    return cls(**kwargs)


def packs(cls: type, values: dict[str, object]) -> bool:
    try:
        build(cls, values).pack()
    except ValueError:
        return False
    return True


def py_layout(cls: type, path: str) -> tuple[int, int, bool]:
    """Find a member's (offset, width, signed) by packing probe values."""
    base = NAMED.get(cls, {})
    zero = build(cls, base).pack()
    one = build(cls, {**base, path: 1}).pack()
    offset = next(i for i, (a, b) in enumerate(zip(zero, one, strict=True)) if a != b)
    width = next(w for w in (8, 4, 2, 1) if packs(cls, {**base, path: 2 ** (8 * w - 1) - 1}))
    return offset, width, packs(cls, {**base, path: -1})


def widths(cls: type) -> dict[str, tuple[int, bool]]:
    return {path: py_layout(cls, path)[1:] for path in leaf_paths(cls)}


def sample(cls: type) -> typing.Any:
    """A *cls* whose members all differ and use their high bytes."""
    values: dict[str, object] = dict(NAMED.get(cls, {}))
    for i, (path, (width, signed)) in enumerate(widths(cls).items()):
        if signed:
            values[path] = -(i + 2)
        else:
            values[path] = int.from_bytes(bytes((i * 16 + j + 1) & 0xFF for j in range(width)))
    return build(cls, values)


# ------------------------------------------------------------ the C oracle


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Compile and run a program printing the header's layouts and constants."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    if not HEADER.exists():
        pytest.skip(f"{HEADER} is missing (linux-libc-dev)")
    lines = []
    for cls, cname in C_STRUCTS.items():
        size = C_SIZE_EXPR.get(cls, f"sizeof(struct {cname})")
        lines.append(f'printf("size {cls.__name__} %zu\\n", (size_t)({size}));')
        for path in leaf_paths(cls):
            member = f"((struct {cname} *)0)->{path}"
            lines.append(
                f'printf("field {cls.__name__} {path} %zu %zu %d\\n", '
                f"offsetof(struct {cname}, {path}), sizeof({member}), "
                f"(int)((__typeof__({member}))-1 < 0));"
            )
    names, _ = header_names()
    for name in sorted(names & module_constants().keys()):
        # An int constant such as (1 << 31) is negative in C: print its bits.
        lines.append(
            f'printf("const {name} %llu\\n", sizeof({name}) == 4 ? '
            f"(unsigned long long)(unsigned int)({name}) : (unsigned long long)({name}));"
        )
    for extra in ("fuse_dirent, namelen", "fuse_dirent, name", "fuse_direntplus, dirent.name"):
        lines.append(f'printf("offsetof %s %zu\\n", "{extra}", offsetof(struct {extra}));')
    src = "\n".join(
        [
            "#include <stddef.h>",
            "#include <stdio.h>",
            "#include <sys/ioctl.h>",
            "#include <linux/fuse.h>",
            "int main(void) {",
            *lines,
            "return 0;",
            "}",
        ]
    )
    tmp = tmp_path_factory.mktemp("fuse_abi")
    (tmp / "layout.c").write_text(src)
    cc = subprocess.run(
        [gcc, "-o", str(tmp / "layout"), str(tmp / "layout.c")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # A failure here usually means a field name differs from the C member.
    assert cc.returncode == 0, cc.stderr
    run = subprocess.run([str(tmp / "layout")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out: dict[str, dict] = {"size": {}, "field": {}, "const": {}, "offsetof": {}}
    for line in run.stdout.splitlines():
        kind, rest = line.split(" ", 1)
        if kind == "size":
            name, size = rest.split()
            out["size"][name] = int(size)
        elif kind == "field":
            name, path, off, width, signed = rest.split()
            out["field"][name, path] = (int(off), int(width), signed == "1")
        elif kind == "const":
            name, value = rest.split()
            out["const"][name] = int(value)
        else:
            key, off = rest.rsplit(" ", 1)
            out["offsetof"][key] = int(off)
    return out


def test_every_struct_is_mapped_and_names_its_c_struct():
    classes = {
        obj
        for obj in vars(fuse).values()
        if isinstance(obj, type)
        and obj.__module__ == fuse.__name__
        and not obj.__name__.startswith("_")
        and hasattr(obj, "SIZE")
    }
    assert classes == set(C_STRUCTS)
    for cls, cname in C_STRUCTS.items():
        assert f"struct {cname}" in (cls.__doc__ or ""), cls


@pytest.mark.parametrize("cls", list(C_STRUCTS), ids=lambda c: c.__name__)
def test_size_matches_kernel(kernel, cls):
    assert cls.SIZE == kernel["size"][cls.__name__]
    if cls in FIXED:
        assert cls.SIZE == cls._STRUCT.size == len(cls().pack())


@pytest.mark.parametrize("cls", list(C_STRUCTS), ids=lambda c: c.__name__)
def test_members_match_kernel(kernel, cls):
    """Every member sits at the C offset with the C width and signedness."""
    for path in leaf_paths(cls):
        assert py_layout(cls, path) == kernel["field"][cls.__name__, path], path


def test_selected_offsets(kernel):
    """A few offsets the client relies on, spelled out."""
    assert kernel["field"]["Attr", "blksize"][0] == 80
    assert kernel["field"]["EntryOut", "attr.ino"][0] == 40
    assert kernel["field"]["AttrOut", "attr.ino"][0] == 16
    assert kernel["field"]["InitOut", "max_write"][0] == 20
    assert kernel["field"]["InitOut", "max_pages"][0] == 28
    assert kernel["field"]["InitOut", "flags2"][0] == 32
    assert kernel["field"]["InitIn", "flags2"][0] == 16
    assert kernel["field"]["InHeader", "total_extlen"][0] == 36
    assert kernel["offsetof"]["fuse_dirent, name"] == fuse.FUSE_NAME_OFFSET
    assert kernel["offsetof"]["fuse_direntplus, dirent.name"] == fuse.FUSE_NAME_OFFSET_DIRENTPLUS
    # namelen is derived from the name, so check where pack puts it.
    namelen_at = kernel["offsetof"]["fuse_dirent, namelen"]
    record = fuse.pack_dirent(1, 2, 4, b"hello")
    assert struct.unpack_from("<I", record, namelen_at)[0] == 5


def test_constants_match_header(kernel):
    names, _ = header_names()
    ours = module_constants()
    checked = names & ours.keys()
    assert len(checked) > 150
    for name in checked:
        assert ours[name] == kernel["const"][name], name


def test_constants_missing_from_header_are_known():
    names, _ = header_names()
    for name, value in module_constants().items():
        if name not in names:
            assert NOT_IN_738_HEADER.get(name) == value, name


# ------------------------------------------------------------ opcodes


def test_opcode_names():
    ours = module_constants()
    for opcode, name in fuse.OPCODE_NAMES.items():
        assert ours[name] == opcode
    assert fuse.OPCODE_NAMES[fuse.FUSE_NOTIFY_REPLY] == "FUSE_NOTIFY_REPLY"
    assert fuse.OPCODE_NAMES[fuse.CUSE_INIT] == "CUSE_INIT"
    assert fuse.opcode_name(fuse.FUSE_READ) == "FUSE_READ"
    assert fuse.opcode_name(999) == "FUSE_OPCODE_999"


def test_opcode_names_cover_the_header():
    if not HEADER.exists():
        pytest.skip(f"{HEADER} is missing")
    _, opcodes = header_names()
    real = {name for name in opcodes if not name.endswith("_BSWAP_RESERVED")}
    assert real <= set(fuse.OPCODE_NAMES.values())


# ------------------------------------------------------------ round trips


@pytest.mark.parametrize("cls", list(C_STRUCTS), ids=lambda c: c.__name__)
def test_round_trip(cls):
    obj = sample(cls)
    data = obj.pack()
    assert cls.unpack(data) == obj
    # At an offset, with trailing bytes.
    assert cls.unpack(b"\xaa" * 3 + data + b"\xbb" * 9, 3) == obj
    assert cls.unpack(memoryview(bytearray(data))) == obj


@pytest.mark.parametrize("cls", FIXED, ids=lambda c: c.__name__)
def test_padding_is_zero(cls):
    """With every member all-ones, exactly the member bytes are 0xff."""
    layout = widths(cls)
    ones = {
        path: -1 if signed else 2 ** (8 * width) - 1 for path, (width, signed) in layout.items()
    }
    data = build(cls, ones).pack()
    assert len(data) == cls.SIZE
    assert data.count(0xFF) == sum(width for width, _ in layout.values())
    assert data.count(0) == cls.SIZE - data.count(0xFF)
    assert cls().pack() == bytes(cls.SIZE)


@pytest.mark.parametrize("cls", FIXED, ids=lambda c: c.__name__)
def test_short_buffer_raises(cls):
    data = cls().pack()
    # INIT bodies have shorter legal forms; they are tested below.
    short = {fuse.InitIn: 15, fuse.InitOut: 7}.get(cls, cls.SIZE - 1)
    if cls.SIZE > 0:
        with pytest.raises(ValueError):
            cls.unpack(data[:short])
    with pytest.raises(ValueError):
        cls.unpack(data + data, -1)
    with pytest.raises(ValueError):
        cls.unpack(data[: short + 1], 1)


def test_out_of_range_raises_valueerror():
    with pytest.raises(ValueError):
        fuse.InHeader(len=1 << 32).pack()
    with pytest.raises(ValueError):
        fuse.OutHeader(error=-(1 << 31) - 1).pack()
    with pytest.raises(ValueError):
        fuse.EntryOut(attr=fuse.Attr(mode=-1)).pack()
    with pytest.raises(ValueError):
        fuse.InitOut(max_pages=1 << 16).pack()


def test_headers_by_hand():
    hdr = fuse.InHeader(len=48, opcode=fuse.FUSE_FORGET, unique=4, nodeid=7, pid=99)
    assert hdr.pack() == struct.pack("<IIQQIIIHH", 48, 2, 4, 7, 0, 0, 99, 0, 0)
    out = fuse.OutHeader.unpack(struct.pack("<IiQ", 16, -2, 4))
    assert out == fuse.OutHeader(len=16, error=-2, unique=4)


# ------------------------------------------------------------ INIT


def test_init_in_forms():
    init = fuse.InitIn(
        major=7,
        minor=fuse.CLIENT_MINOR_VERSION,
        max_readahead=0x20000,
        flags=fuse.FUSE_ASYNC_READ | fuse.FUSE_MAX_PAGES,
    )
    legacy = init.pack_for(fuse.CLIENT_MINOR_VERSION)
    assert legacy == struct.pack("<IIII", 7, 31, 0x20000, init.flags)
    assert fuse.InitIn.unpack(legacy) == init
    assert len(init.pack_for(36)) == len(init.pack()) == 64

    ext = fuse.InitIn(7, 38, 0, fuse.FUSE_INIT_EXT, 1)
    assert fuse.InitIn.unpack(ext.pack()) == ext
    assert ext.all_flags == fuse.FUSE_INIT_EXT | fuse.FUSE_SECURITY_CTX
    # flags2 is dropped from the legacy form and ignored without INIT_EXT.
    assert fuse.InitIn.unpack(ext.pack_for(35)).flags2 == 0
    assert fuse.InitIn(flags2=1).all_flags == 0


def test_init_out_libfuse2_reply():
    """libfuse 2.9 replies 7.19 with FUSE_COMPAT_22_INIT_OUT_SIZE bytes."""
    body = struct.pack("<IIIIHHI", 7, 19, 0x20000, 0x1B, 12, 9, 131072)
    assert len(body) == fuse.FUSE_COMPAT_22_INIT_OUT_SIZE
    out = fuse.InitOut.unpack(body)
    assert out == fuse.InitOut(7, 19, 0x20000, 0x1B, 12, 9, 131072)
    assert out.time_gran == out.max_pages == out.flags2 == 0
    assert out.pack_for(19) == body
    assert fuse.InitOut.unpack_for(body, 19) == out


def test_init_out_other_sizes():
    assert fuse.InitOut.unpack(struct.pack("<II", 7, 4)) == fuse.InitOut(7, 4)
    assert len(fuse.InitOut(7, 4).pack_for(4)) == fuse.FUSE_COMPAT_INIT_OUT_SIZE
    full = fuse.InitOut(
        major=7,
        minor=31,
        max_readahead=0x20000,
        flags=fuse.FUSE_MAX_PAGES | fuse.FUSE_INIT_EXT,
        max_background=16,
        congestion_threshold=12,
        max_write=1 << 20,
        time_gran=1,
        max_pages=256,
        map_alignment=0,
        flags2=fuse.FUSE_HAS_INODE_DAX >> 32,
    )
    body = full.pack()
    assert len(body) == 64
    assert struct.unpack_from("<HHI", body, 28) == (256, 0, 2)
    assert fuse.InitOut.unpack(body) == full
    assert fuse.InitOut.unpack(body + b"\xff" * 8) == full
    assert full.all_flags & fuse.FUSE_HAS_INODE_DAX
    assert len(full.pack_for(31)) == 64
    # Linux zero-fills any shorter body; under 8 bytes there is no version.
    assert fuse.InitOut.unpack(body[:20]).max_write == 0
    with pytest.raises(ValueError):
        fuse.InitOut.unpack(body[:7])


def test_split_join_init_flags():
    all_flags = fuse.FUSE_INIT_EXT | fuse.FUSE_ASYNC_READ | fuse.FUSE_HAS_EXPIRE_ONLY
    flags, flags2 = fuse.split_init_flags(all_flags)
    assert (flags, flags2) == (fuse.FUSE_INIT_EXT | fuse.FUSE_ASYNC_READ, 1 << 3)
    assert fuse.join_init_flags(flags, flags2) == all_flags


# ------------------------------------------------------------ compat forms


def test_entry_and_attr_out_before_7_9():
    attr = fuse.Attr(ino=9, size=10, mode=0o100644, nlink=1, blksize=4096, flags=1)
    entry = fuse.EntryOut(nodeid=9, generation=1, entry_valid=1, attr=attr)
    old = entry.pack_for(8)
    assert len(old) == fuse.FUSE_COMPAT_ENTRY_OUT_SIZE
    parsed = fuse.EntryOut.unpack_for(old, 8)
    assert parsed.attr.blksize == parsed.attr.flags == 0
    assert parsed.attr.mode == 0o100644 and parsed.nodeid == 9
    assert fuse.EntryOut.unpack_for(entry.pack(), 31) == entry
    with pytest.raises(ValueError):
        fuse.EntryOut.unpack_for(old, 9)

    out = fuse.AttrOut(attr_valid=1, attr=attr)
    assert len(out.pack_for(8)) == fuse.FUSE_COMPAT_ATTR_OUT_SIZE
    assert fuse.AttrOut.unpack_for(out.pack_for(8), 8).attr.size == 10


def test_other_compat_sizes():
    assert fuse.WriteIn.size_for(8) == fuse.FUSE_COMPAT_WRITE_IN_SIZE
    assert fuse.WriteIn.size_for(9) == fuse.WriteIn.SIZE
    assert fuse.MknodIn.size_for(11) == fuse.FUSE_COMPAT_MKNOD_IN_SIZE
    assert fuse.StatfsOut.size_for(3) == fuse.FUSE_COMPAT_STATFS_SIZE
    st = fuse.StatfsOut(fuse.Kstatfs(blocks=100, bsize=4096, namelen=255, frsize=4096))
    assert fuse.StatfsOut.unpack_for(st.pack_for(3), 3).st == fuse.Kstatfs(
        blocks=100, bsize=4096, namelen=255
    )
    write = fuse.WriteIn(fh=1, offset=2, size=3, write_flags=fuse.FUSE_WRITE_CACHE, flags=2)
    assert write.pack_for(8) == struct.pack("<QQII", 1, 2, 3, 1)
    assert fuse.OpenIn.size_for(1) == fuse.OpenIn.SIZE
    assert fuse.SetxattrIn.SIZE == fuse.FUSE_COMPAT_SETXATTR_IN_SIZE


# ------------------------------------------------------------ directories


def test_dirent_alignment_and_iteration():
    entries = [fuse.Dirent(ino=i, off=i + 1, type=8, name=b"n" * i) for i in range(1, 18)]
    records = [fuse.pack_dirent(d.ino, d.off, d.type, d.name) for d in entries]
    for d, rec in zip(entries, records, strict=True):
        assert len(rec) % 8 == 0
        assert len(rec) == fuse.fuse_dirent_size(d.namelen) == d.record_size
        assert (
            fuse.FUSE_NAME_OFFSET + d.namelen <= len(rec) < fuse.FUSE_NAME_OFFSET + d.namelen + 8
        )
        assert rec[fuse.FUSE_NAME_OFFSET + d.namelen :] == bytes(len(rec) - 24 - d.namelen)
    assert list(fuse.iter_dirents(b"".join(records))) == entries
    assert list(fuse.iter_dirents(b"")) == []
    longest = fuse.Dirent(1, 1, 4, b"x" * fuse.FUSE_NAME_MAX)
    assert list(fuse.iter_dirents(longest.pack())) == [longest]


def test_direntplus_iteration():
    def entry(i: int) -> fuse.EntryOut:
        return fuse.EntryOut(nodeid=100 + i, attr_valid=1, attr=fuse.Attr(ino=100 + i, nlink=1))

    names = [b".", b"..", b"file", b"a-longer-name"]
    data = b"".join(
        fuse.pack_direntplus(entry(i), 100 + i, i + 1, 4, name) for i, name in enumerate(names)
    )
    got = list(fuse.iter_direntplus(data))
    assert [p.dirent.name for p in got] == names
    assert [p.entry_out for p in got] == [entry(i) for i in range(len(names))]
    for p in got:
        assert p.record_size == fuse.fuse_direntplus_size(len(p.dirent.name))
        assert p.record_size % 8 == 0
    assert fuse.Direntplus.SIZE == fuse.FUSE_NAME_OFFSET_DIRENTPLUS


def raw_dirent(namelen: int, name: bytes, pad: bool = True) -> bytes:
    """A record packed by hand, as a broken server might send it."""
    rec = struct.pack("<QQII", 1, 1, namelen, 8) + name
    return rec.ljust(fuse.fuse_dirent_align(len(rec)), b"\0") if pad else rec


@pytest.mark.parametrize(
    "data",
    [
        raw_dirent(0, b""),  # namelen 0
        raw_dirent(1025, b"x" * 1025),  # longer than FUSE_NAME_MAX
        raw_dirent(3, b"a/b"),  # '/' in the name
        raw_dirent(3, b"a\0b"),
        raw_dirent(20, b"short"),  # name runs past the end
        raw_dirent(3, b"abc", pad=False),  # padding missing
        raw_dirent(3, b"abc")[:10],  # header cut
    ],
    ids=["namelen0", "toolong", "slash", "nul", "overrun", "nopad", "header"],
)
def test_malformed_dirents_raise(data):
    with pytest.raises(ValueError):
        list(fuse.iter_dirents(data))
    with pytest.raises(ValueError):
        list(fuse.iter_direntplus(fuse.EntryOut().pack() + data))


def test_straddling_record_raises_after_the_good_ones():
    """A partial trailing record is an error, not a short entry (gVisor issue 13721)."""
    good = fuse.pack_dirent(1, 1, 4, b"first")
    second = fuse.pack_dirent(2, 2, 4, b"second")
    it = fuse.iter_dirents(good + second[:-1])
    assert next(it).name == b"first"
    with pytest.raises(ValueError):
        next(it)
    for cut in range(1, len(second)):
        with pytest.raises(ValueError):
            list(fuse.iter_dirents(good + second[:cut]))
    plus = fuse.pack_direntplus(fuse.EntryOut(nodeid=2), 2, 2, 4, b"second")
    for cut in (1, 100, fuse.EntryOut.SIZE, len(plus) - 1):
        with pytest.raises(ValueError):
            list(fuse.iter_direntplus(plus + plus[:cut]))


@pytest.mark.parametrize("name", [b"", b"a/b", b"nul\0", b"x" * 1025])
def test_pack_dirent_rejects_bad_names(name):
    with pytest.raises(ValueError):
        fuse.pack_dirent(1, 1, 0, name)
    with pytest.raises(ValueError):
        fuse.pack_direntplus(fuse.EntryOut(), 1, 1, 0, name)
