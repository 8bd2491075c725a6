"""sentry's built-in FUSE servers, in pure Python (no libfuse).

Two file systems speak the FUSE protocol to either side of it: to the Linux
kernel through /dev/fuse on a native mount (where the kernel is the oracle
for their behaviour), and to sentry's own FUSE client through an AF_UNIX
SOCK_SEQPACKET socketpair (``sentry run --mount``), with the same bytes.

- ``memfs``: an in-memory file system that behaves like tmpfs.
- ``passthrough``: a host directory, read-write or read-only.

Layout: ``operations.py`` is the contract a file system implements,
``server.py`` the request loop (decoding, dispatch, replies), ``memfs.py``
and ``passthrough.py`` the file systems, ``native.py`` the native mount,
``cli.py`` the command line and ``libc.py`` the few ctypes calls.

Lock order: none. A server is one thread serving one request at a time,
like a libfuse daemon run with ``-s``.

Nothing is imported here: ``python -m sentry.fuse_server`` and sentry's
CLI import ``cli.main``, and embedders take ``server.Server`` with the
file system they want.
"""
