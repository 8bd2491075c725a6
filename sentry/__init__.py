"""sentry: a gVisor-style application sandbox in Python.

The app runs as an ordinary Linux process traced with ptrace and filtered
with seccomp; sentry, a small kernel in Python, serves the file syscalls it
owns and lets all others run natively. Run programs with the ``sentry``
command or :class:`Sandbox`.
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any  # noqa: E402

from sentry.errors import SyscallError  # noqa: E402

if TYPE_CHECKING:
    from sentry.sandbox import RunResult, Sandbox, run_native

__all__ = ["RunResult", "Sandbox", "SyscallError", "__version__", "run_native"]


def __getattr__(name: str) -> Any:
    """The Python API on first use: ``sentry run`` itself never needs it
    (it imports subprocess, tempfile and pathlib)."""
    if name in ("RunResult", "Sandbox", "run_native"):
        from sentry import sandbox

        return getattr(sandbox, name)
    raise AttributeError(f"module 'sentry' has no attribute {name!r}")
