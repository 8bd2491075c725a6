"""Open-file-description semantics on a FUSE file, for test_fuse_device.py:
``python3 fd_semantics.py FILE``. dup, dup2, fcntl(F_DUPFD_CLOEXEC), fork,
exec with and without close-on-exec, and SCM_RIGHTS must all keep one shared
offset; the printed lines must match between Linux and sentry, and so must
the FLUSH and RELEASE requests the daemon sees (one FLUSH per close, one
RELEASE per open)."""

import array
import fcntl
import os
import socket
import subprocess
import sys

path = sys.argv[1]
fd = os.open(path, os.O_RDONLY)
dup = os.dup(fd)
os.lseek(fd, 10, os.SEEK_SET)
print("dup shares the offset:", os.lseek(dup, 0, os.SEEK_CUR))
print("dup2 onto 20:", os.dup2(fd, 20), os.lseek(20, 0, os.SEEK_CUR))
cloexec = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 30)
print("F_DUPFD_CLOEXEC:", cloexec, fcntl.fcntl(cloexec, fcntl.F_GETFD))
pid = os.fork()
if pid == 0:
    os.read(fd, 5)
    os._exit(0)
os.waitpid(pid, 0)
print("after the child read 5:", os.lseek(fd, 0, os.SEEK_CUR))
child = (
    "import os, sys\n"
    "print('exec sees offset', os.lseek(int(sys.argv[1]), 0, os.SEEK_CUR), flush=True)\n"
    "try:\n    os.lseek(int(sys.argv[2]), 0, os.SEEK_CUR)\n"
    "except OSError as e:\n    print('cloexec fd after exec:', e.strerror)\n"
)
os.set_inheritable(dup, True)
subprocess.run([sys.executable, "-c", child, str(dup), str(cloexec)], close_fds=False, check=True)
a, b = socket.socketpair()
pid = os.fork()
if pid == 0:
    _, ancillary, _, _ = b.recvmsg(1, socket.CMSG_LEN(4))
    received = array.array("i", ancillary[0][2])[0]
    print("received fd reads:", len(os.read(received, 7)), flush=True)
    os._exit(0)
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
os.waitpid(pid, 0)
print("offset after the receiver read 7:", os.lseek(fd, 0, os.SEEK_CUR))
for n in (fd, dup, 20, cloexec):
    os.close(n)
print("closed")
