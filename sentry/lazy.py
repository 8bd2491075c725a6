"""Modules loaded on first use, so that a run imports only what it needs.

``sentry run -- true`` is a benchmark figure (about 60 ms of its time was
imports), and most runs never touch FUSE or ``--strace``. A module made
with :func:`lazy_import` is an ordinary module object whose body runs at
the first attribute access (the standard library's
``importlib.util.LazyLoader``); type checkers see a plain import beside it
under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """Module ``name``, loaded when first used (at once if loaded already).

    Raises ModuleNotFoundError at once if there is no such module.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
