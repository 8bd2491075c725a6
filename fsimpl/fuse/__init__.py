"""The FUSE client: sentry's file system backed by a FUSE daemon.

Analogous to gVisor's ``pkg/sentry/fsimpl/fuse`` and Linux's ``fs/fuse``. It
speaks the Linux FUSE wire protocol to an unmodified daemon over the sandbox's
``/dev/fuse`` or a socket.
"""
