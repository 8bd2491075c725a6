# sentry: a gVisor-style application sandbox in Python.
# `make help` lists the targets.

PYTHON ?= python3
# As an ordinary user outside a virtual environment, pip installs into the
# user's own site-packages (~/.local), and the sentry script into ~/.local/bin.
PIP_USER := $(shell [ "$$(id -u)" != 0 ] && [ -z "$$VIRTUAL_ENV" ] && echo --user)
PIP ?= PIP_BREAK_SYSTEM_PACKAGES=1 $(PYTHON) -m pip
# System packages: the FUSE daemons and libfuse the sandbox serves, and the
# compilers and tools the tests drive.
APT_PACKAGES = fuse3 libfuse3-dev squashfuse squashfs-tools bindfs gcc make libc6-dev git sqlite3 python3-venv python3-dev
BENCH_PACKAGES = runsc proot time
# The checkers' versions: a new release may find new things, so CI pins them.
RUFF_VERSION = 0.17.6
MYPY_VERSION = 2.4.1

.PHONY: help install system-packages example test test-fast bench lint typecheck clean syscall-table check-syscall-table

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

system-packages:  ## Install the Debian packages sentry needs (as root; skipped otherwise).
	@$(call apt_install,$(APT_PACKAGES))

install: system-packages  ## Install sentry (the cffi helper is compiled here).
	$(PIP) install -q --root-user-action=ignore $(PIP_USER) "cffi>=1.15" "setuptools>=61" wheel pytest pytest-timeout hypothesis
	$(PIP) install -q --root-user-action=ignore $(PIP_USER) --no-build-isolation .

example:  ## Run a program in the sandbox that writes and reads a file through FUSE.
	sentry run --mount /data=memfs -- sh -c 'seq 100000 > /data/n && wc -l /data/n && ls -l /data'

# The tests run from tests/ so that the source folder sentry/ (which lacks
# sentry.platform until installed) never shadows the installed package.
test: install  ## Install, then run the whole test suite.
	cd tests && $(PYTHON) -m pytest -p no:cacheprovider .

# Tests marked slow: those over 2 s, and the next slowest (over about 0.2 s)
# so that the rest, the unit tests and at least one quick test of each
# feature, take under a minute (about 40 s on 2 cores).
test-fast: install  ## Install, then run the unit tests and one fast smoke test of each feature (under a minute).
	cd tests && $(PYTHON) -m pytest -p no:cacheprovider -q -m "not slow" .

# BENCH_ARGS: the bench's options, e.g. BENCH_ARGS="--baseline /path/to/older/sentry".
bench: install  ## Measure sentry against native Linux, a minimal C tracer, gVisor's runsc and proot.
	@$(call apt_install,$(BENCH_PACKAGES))
	$(PYTHON) tests/bench/bench.py $(BENCH_ARGS)

lint:  ## Check the code with ruff.
	$(PIP) install -q --root-user-action=ignore $(PIP_USER) "ruff==$(RUFF_VERSION)"
	$(PYTHON) -m ruff check sentry platform fsimpl tests setup.py
	@$(MAKE) --no-print-directory check-syscall-table

# The syscall table in README.md is made from sentry/syscalls/linux64.py (run
# from here, so that the source tree's table is the one read).
syscall-table:  ## Rewrite the README's table of supported syscalls from the code.
	$(PYTHON) -m sentry.syscalls.support --write README.md

check-syscall-table:  ## Fail if the README's table of supported syscalls is stale.
	@$(PYTHON) -m sentry.syscalls.support --check README.md

# Strict (pyproject.toml's [tool.mypy]); sentry/platform and sentry/fsimpl
# are links to platform/ and fsimpl/, so this reads the whole package.
typecheck:  ## Check the package's types with mypy.
	$(PIP) install -q --root-user-action=ignore $(PIP_USER) "mypy==$(MYPY_VERSION)"
	$(PYTHON) -m mypy sentry

clean:  ## Remove build outputs.
	rm -rf build dist *.egg-info tests/bench/out
	find . -name __pycache__ -prune -exec rm -rf {} +

# apt_install(packages): install the missing ones with apt-get when root.
define apt_install
	missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "apt-get install$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "not root: please install$$missing"; \
		fi; \
	fi
endef
