"""Runs sentry's kernel in-process with handlers that have bugs (for
test_hostile_args.py): ``python bug_kernel.py DEBUG_LOG APP``.

Logging is set up as ``sentry run --debug-log DEBUG_LOG`` sets it up:
warnings on stderr, everything in the debug log.
"""

import logging
import os
import sys

from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.boot.loader import new_kernel
from sentry.kernel.syscalls import Passthrough
from sentry.platform.platform import lookup
from sentry.waiter import run_background

log = logging.getLogger("sentry")
log.setLevel(logging.DEBUG)
stderr = logging.StreamHandler(sys.stderr)
stderr.setLevel(logging.WARNING)
stderr.setFormatter(logging.Formatter("sentry: %(message)s"))
log.addHandler(stderr)
log.addHandler(logging.FileHandler(sys.argv[1]))


def raising_getppid(t):
    return 1 // 0


async def raising_getuid(t):
    await t.kernel.sleep(0.01)
    return {}["missing"]


def huge_geteuid(t):
    return 2**64


async def injecting_getpgrp(t):
    return await t.inject(SYSCALL_NUMBERS["getpid"], "not a number")


def getsid(t, pid):
    def on_exit(result):
        raise ValueError(result)

    return Passthrough(on_exit)


def background_getgid(t):
    async def fail():
        await t.kernel.sleep(0.05)
        raise OverflowError("background")

    run_background(fail())
    return 0


def getegid(t):
    return 4242


handlers = {
    "getppid": raising_getppid,
    "getuid": raising_getuid,
    "geteuid": huge_geteuid,
    "getpgrp": injecting_getpgrp,
    "getsid": getsid,
    "getgid": background_getgid,
    "getegid": getegid,
}
kernel = new_kernel(lookup("ptrace")(), handlers=handlers)
sys.exit(kernel.run(sys.argv[2], sys.argv[2:], dict(os.environ)))
