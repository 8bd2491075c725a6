"""Setting up a sandbox before its app starts: the mounts of the command line."""
