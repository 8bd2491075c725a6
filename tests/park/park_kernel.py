"""Runs sentry's kernel in-process with a blocking getppid handler (for
test_parking.py): ``python park_kernel.py SECONDS APP [ARG...]``."""

import os
import sys

from sentry.kernel.kernel import Kernel
from sentry.platform.platform import lookup

DELAY = float(sys.argv[1])


async def slow_getppid(t):
    await t.kernel.sleep(DELAY)
    return 4242


kernel = Kernel(lookup("ptrace")(), handlers={"getppid": slow_getppid})
sys.exit(kernel.run(sys.argv[2], sys.argv[2:], dict(os.environ)))
