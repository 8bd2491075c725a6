"""``python -m sentry``: the same as the ``sentry`` command."""

import sys

from sentry.cli import main

sys.exit(main())
