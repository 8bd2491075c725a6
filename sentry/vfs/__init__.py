"""sentry's virtual file system, vfs2 (analogous to gVisor's ``pkg/sentry/vfs``):
mounts over the host's tree, path resolution, open file descriptions.

Lock order: none; the kernel is single-threaded (see ``sentry.kernel``).
"""
