"""sentry's kernel: tasks, processes, fd tables and the event loop that
serves the app's trapped syscalls (analogous to gVisor's ``pkg/sentry/kernel``).

Lock order: there are no locks. The kernel runs on one thread, the one that
traces the app (ptrace requires it); a task that must wait is *parked* (see
:class:`sentry.kernel.task.Task`) rather than blocking that thread.

Layers: each module imports only the ones below it, type-only imports
included. From the bottom: ``thread_group`` and ``fd_table``; ``task``;
``syscalls``; ``fd_traps``, ``job_control`` and ``task_syscall``; ``kernel``
on top, which makes and owns all the rest. A lower module that needs a
higher type takes a small protocol of its own that the higher one
implements (``fd_table.FDTableUser``, ``task.TaskKernel``,
``job_control.JobKernel``, ``task_syscall.DispatchKernel``), as gVisor's
packages take small interfaces; a ThreadGroup is generic in its tasks' type.
"""
