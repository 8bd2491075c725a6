"""Runs sentry's kernel in-process with a FUSE inode cache of 4 entries, so
that test_fuse_device.py sees FORGETs: ``python small_cache_kernel.py CMD``."""

import os
import sys

from sentry.boot.loader import new_kernel
from sentry.fsimpl.fuse.fusefs import FuseFilesystem
from sentry.platform.platform import lookup

FuseFilesystem.inode_limit = 4
kernel = new_kernel(lookup("ptrace")())
sys.exit(kernel.run("/bin/sh", ["sh", "-c", sys.argv[1]], dict(os.environ)))
