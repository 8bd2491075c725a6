"""FUSE test support: the testfs server (testfs.c) and helpers.py."""
