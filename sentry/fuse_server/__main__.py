"""``python -m sentry.fuse_server``: the same as ``sentry fuse-server``."""

import sys

from sentry.fuse_server.cli import main

sys.exit(main())
