"""Runs sentry's kernel in-process with a blocking getppid handler (for
test_parking.py): ``python park_kernel.py SECONDS APP [ARG...]``.

With SECONDS "inject", getppid(mode) instead makes the task create a memfd
(after a wait of 50 ms if mode is 1, which parks the task, or of 0.1 ms if
mode is 2, which only holds it) and returns its fd. The last line on stderr
counts the ptrace stops of the run.
"""

import os
import sys

from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.boot.loader import new_kernel
from sentry.kernel.task import SCRATCH
from sentry.platform.platform import lookup


async def slow_getppid(t):
    await t.kernel.sleep(float(sys.argv[1]))
    return 4242


WAITS = {1: 0.05, 2: 0.0001}


async def injecting_getppid(t, mode):
    if mode in WAITS:
        await t.kernel.sleep(WAITS[mode])
    return await t.inject(SYSCALL_NUMBERS["memfd_create"], SCRATCH, 0, data=b"placeholder\0")


handler = injecting_getppid if sys.argv[1] == "inject" else slow_getppid
kernel = new_kernel(lookup("ptrace")(), handlers={"getppid": handler})
status = kernel.run(sys.argv[2], sys.argv[2:], dict(os.environ))
print(f"stops: {kernel.platform.stop_counts()[0]}", file=sys.stderr)
sys.exit(status)
