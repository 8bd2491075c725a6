"""A FUSE daemon written against the raw device protocol, printing what each
device and mount call returns, for test_fuse_device.py.

``python3 raw_daemon.py MOUNTPOINT`` runs the same steps natively (on the
kernel's /dev/fuse, as root) and inside sentry; the printed lines must match.
It speaks only as much protocol as the steps need (INIT, GETATTR of the
root, LOOKUP), so the test can check the device's rules: mount options,
the read buffer minimum, malformed replies (a LOOKUP reply with bytes after
its entry: EINVAL to the daemon, EIO to the caller), ENODEV after unmount.
"""

import ctypes
import errno
import os
import select
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
MS_NOSUID, MS_NODEV, MNT_DETACH = 2, 4, 2
FUSE_INIT, FUSE_GETATTR = 26, 3


def result(call):
    try:
        value = call()
    except OSError as err:
        return errno.errorcode[err.errno]
    return value


def poll(fd):
    """What poll(2) reports for reading and writing, at once."""
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLOUT)
    return [bin(events) for _, events in p.poll(0)]


def mount(mnt, data):
    rc = libc.mount(b"rawfs", mnt.encode(), b"fuse.rawfs", MS_NOSUID | MS_NODEV, data.encode())
    return "0" if rc == 0 else errno.errorcode[ctypes.get_errno()]


def main():
    mnt = sys.argv[1]
    fd = os.open("/dev/fuse", os.O_RDWR)
    base = f"fd={fd},rootmode=40000,user_id=0,group_id=0"
    print("read before mount:", result(lambda: len(os.read(fd, 8192))))
    print("mount, unknown option:", mount(mnt, base + ",bogus=1"))
    print("mount, no fd:", mount(mnt, "rootmode=40000,user_id=0,group_id=0"))
    print("mount, fd not /dev/fuse:", mount(mnt, base.replace(f"fd={fd}", "fd=0")))
    print("mount:", mount(mnt, base + ",max_read=65536"))
    print("read, small buffer:", result(lambda: len(os.read(fd, 4096))))
    print("poll with INIT queued:", poll(fd))
    request = os.read(fd, 1 << 20)
    print("poll with nothing queued:", poll(fd))
    length, opcode, unique = struct.unpack_from("<IIQ", request)
    print("first request: opcode", opcode, "length matches", length == len(request))
    major, minor = struct.unpack_from("<II", request, 40)
    print("init version", major, minor >= 31)
    print("reply, wrong len:", result(lambda: os.write(fd, struct.pack("<IiQ", 99, 0, unique))))
    print(
        "reply, unknown unique:", result(lambda: os.write(fd, struct.pack("<IiQ", 16, -2, 1000)))
    )
    print("reply, bad error:", result(lambda: os.write(fd, struct.pack("<IiQ", 16, 5, unique))))
    init_out = struct.pack("<IIIIHHIIHH", 7, 31, 65536, 0, 0, 0, 65536, 1, 16, 0) + bytes(28)
    print(
        "reply init:",
        result(
            lambda: os.write(fd, struct.pack("<IiQ", 16 + len(init_out), 0, unique) + init_out)
        ),
    )
    pid = os.fork()
    if pid == 0:
        st = os.stat(mnt)
        print("child stat: mode", oct(st.st_mode), "size", st.st_size, flush=True)
        os._exit(0)
    request = os.read(fd, 1 << 20)
    length, opcode, unique, nodeid = struct.unpack_from("<IIQQ", request)
    print("second request: opcode", opcode, "nodeid", nodeid)
    attr = struct.pack(
        "<QQQQQQIIIIIIIIII", 1, 4096, 8, 0, 0, 0, 0, 0, 0, 0o40755, 2, 0, 0, 0, 4096, 0
    )
    attr_out = struct.pack("<QII", 1, 0, 0) + attr
    os.write(fd, struct.pack("<IiQ", 16 + len(attr_out), 0, unique) + attr_out)
    os.waitpid(pid, 0)
    print(
        "reply, already answered:",
        result(lambda: os.write(fd, struct.pack("<IiQ", 16, -2, unique))),
    )
    pid = os.fork()
    if pid == 0:
        print(
            "child stat of x:", result(lambda: os.stat(os.path.join(mnt, "x")) and 0), flush=True
        )
        os._exit(0)
    request = os.read(fd, 1 << 20)
    length, opcode, unique, nodeid = struct.unpack_from("<IIQQ", request)
    print("third request: opcode", opcode, "nodeid", nodeid)
    entry_out = struct.pack("<QQQQII", 2, 0, 1, 0, 0, 0) + attr + bytes(8)  # 8 bytes too many
    written = result(
        lambda: os.write(fd, struct.pack("<IiQ", 16 + len(entry_out), 0, unique) + entry_out)
    )
    os.waitpid(pid, 0)
    print("reply, entry with extra bytes:", written)
    print(
        "umount:",
        "0"
        if libc.umount2(mnt.encode(), MNT_DETACH) == 0
        else errno.errorcode[ctypes.get_errno()],
    )
    print("read after umount:", result(lambda: len(os.read(fd, 1 << 20))))
    print("poll after umount:", poll(fd))


main()
