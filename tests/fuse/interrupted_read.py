"""A read(2) interrupted by a signal while the daemon holds the request, for
test_fuse_device.py: ``python3 interrupted_read.py FILE``. The kernel sends
FUSE_INTERRUPT; testfs (slow_read_ms) answers EINTR; Python retries the read
(PEP 475), which then succeeds."""

import os
import signal
import sys

signal.signal(signal.SIGALRM, lambda *a: None)
signal.siginterrupt(signal.SIGALRM, True)
fd = os.open(sys.argv[1], os.O_RDONLY)
signal.setitimer(signal.ITIMER_REAL, 0.3)
try:
    print("read", len(os.read(fd, 4096)))
except OSError as e:
    print("read failed:", e.strerror)
