"""File system implementations served by sentry's vfs (installed as ``sentry.fsimpl``)."""
