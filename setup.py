"""Build and install sentry.

The repository's ``platform/`` folder is installed as ``sentry.platform`` and
``fsimpl/`` as ``sentry.fsimpl``: a top-level package named ``platform`` would
shadow the standard library module (and break pip, setuptools and pytest), so
``platform/`` has no ``__init__.py`` and is only ever imported under ``sentry``.
``sentry/platform`` and ``sentry/fsimpl`` are symlinks to those folders, so the
source tree is itself the package: ``pip install -e .``, mypy and editors
follow ``sentry.platform.*`` and ``sentry.fsimpl.*`` imports to their files.

The cffi helper is compiled here, at install time, in API mode; nothing is
compiled at import time.
"""

from setuptools import setup

setup(
    name="sentry",
    version="0.1.0",
    description="A gVisor-style application sandbox in Python over ptrace and seccomp",
    license="GPL-2.0-only",
    license_files=["LICENSE"],
    python_requires=">=3.11",
    packages=[
        "sentry",
        "sentry.abi",
        "sentry.boot",
        "sentry.fuse_server",
        "sentry.kernel",
        "sentry.syscalls",
        "sentry.vfs",
        "sentry.platform",
        "sentry.platform.ptrace",
        "sentry.fsimpl",
        "sentry.fsimpl.fuse",
    ],
    setup_requires=["cffi>=1.15"],
    cffi_modules=["platform/ptrace/helper_build.py:ffibuilder"],
    install_requires=["cffi>=1.15", "python-ptrace>=0.9.9"],
    extras_require={"test": ["pytest>=7", "hypothesis>=6"]},
    entry_points={
        "console_scripts": ["sentry = sentry.cli:main"],
        "pytest11": ["sentry = sentry.pytest_plugin"],
    },
    classifiers=[
        "License :: OSI Approved :: GNU General Public License v2 (GPLv2)",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
    ],
)
