"""sentry: a gVisor-style application sandbox in Python.

The app runs as an ordinary Linux process traced with ptrace and filtered
with seccomp; sentry, a small kernel in Python, serves the file syscalls it
owns and lets all others run natively. Run programs with the ``sentry``
command or :class:`Sandbox`.
"""

__version__ = "0.1.0"

from sentry.errors import SyscallError  # noqa: E402
from sentry.sandbox import RunResult, Sandbox  # noqa: E402

__all__ = ["RunResult", "Sandbox", "SyscallError", "__version__"]
