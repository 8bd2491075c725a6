"""sentry's system call layer: the table of owned syscalls and their handlers
(analogous to gVisor's ``pkg/sentry/syscalls/linux``)."""
