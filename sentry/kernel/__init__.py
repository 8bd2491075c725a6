"""sentry's kernel: tasks, processes, fd tables and the event loop that
serves the app's trapped syscalls (analogous to gVisor's ``pkg/sentry/kernel``).

Lock order: there are no locks. The kernel runs on one thread, the one that
traces the app (ptrace requires it); a task that must wait is *parked* (see
:class:`sentry.kernel.task.Task`) rather than blocking that thread.
"""
