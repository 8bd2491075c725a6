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

.PHONY: help install system-packages example test bench lint clean

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

system-packages:  ## Install the Debian packages sentry needs (as root; skipped otherwise).
	@$(call apt_install,$(APT_PACKAGES))

install: system-packages  ## Install sentry (the cffi helper is compiled here).
	$(PIP) install -q --root-user-action=ignore $(PIP_USER) "cffi>=1.15" "setuptools>=61" wheel pytest hypothesis
	$(PIP) install -q --root-user-action=ignore $(PIP_USER) --no-build-isolation .

example:  ## Run a program in the sandbox that writes and reads a file through FUSE.
	sentry run --mount /data=memfs -- sh -c 'seq 100000 > /data/n && wc -l /data/n && ls -l /data'

# The tests run from tests/ so that the source folder sentry/ (which lacks
# sentry.platform until installed) never shadows the installed package.
test: install  ## Install, then run the whole test suite.
	cd tests && $(PYTHON) -m pytest -p no:cacheprovider .

# BENCH_ARGS: the bench's options, e.g. BENCH_ARGS="--baseline /path/to/older/sentry".
bench: install  ## Measure sentry against native Linux, a minimal C tracer, gVisor's runsc and proot.
	@$(call apt_install,$(BENCH_PACKAGES))
	$(PYTHON) tests/bench/bench.py $(BENCH_ARGS)

lint:  ## Check the code with ruff.
	$(PIP) install -q --root-user-action=ignore ruff
	$(PYTHON) -m ruff check sentry platform fsimpl tests setup.py

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
