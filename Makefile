# corolib -- the two commands that work on a fresh machine:
#   make demo    build everything and run the demo
#   make test    build everything and run the whole test suite (+ version matrix)
# Everything else is for developers.

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip install -q --disable-pip-version-check
SOURCES := $(shell find csrc corolib -name '*.c' -o -name '*.h' -o -name '*.py' -o -name '*.pyi') setup.py pyproject.toml
PYTEST_ARGS ?=

.PHONY: all demo test test-python matrix sanitize valgrind cross lint clean deps \
	test-stdlib thirdparty-deps aio-deps

all: $(VENV)/.installed

deps:
	@scripts/ensure-deps.sh

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) setuptools wheel pytest

# Tests run against the installed package, never the source tree.
$(VENV)/.installed: $(VENV)/bin/python $(SOURCES) | deps
	@scripts/ensure-deps.sh
	$(PIP) --no-build-isolation --force-reinstall --no-deps .
	@touch $@

# The greenlet core briefly, then the chat server with 1,000 simulated users.
demo: $(VENV)/.installed
	$(PY) examples/greenlet_demo.py 100000
	$(PY) examples/chat_demo.py

test: thirdparty-deps aio-deps test-python matrix test-stdlib bench-smoke

# What tests/thirdparty runs under corolib.monkey.patch_all(): requests, redis-py
# and a real redis-server.
thirdparty-deps: $(VENV)/.installed
	@scripts/ensure-deps.sh redis-server
	@$(PY) -c 'import requests, redis' 2>/dev/null || $(PIP) requests redis

# What tests/aio runs on corolib.asyncio: aiohttp (client and server) and httpx.
aio-deps: $(VENV)/.installed
	@$(PY) -c 'import aiohttp, httpx' 2>/dev/null || $(PIP) aiohttp httpx

# CPython's own test modules (test_socket, test_threading, ...) under patch_all(),
# one process per module, 2 at a time, each with a timeout, on every CPython
# 3.10-3.13 present (3.11: the project venv; the others: the matrix venvs).
# `make test-stdlib STDLIB_PYTHONS=3.11` for one.
STDLIB_PYTHONS ?= 3.11 3.12 3.13 3.10
test-stdlib: $(VENV)/.installed
	scripts/test-stdlib.sh $(STDLIB_PYTHONS)

test-python: $(VENV)/.installed
	@scripts/ensure-deps.sh gcc-aarch64-linux-gnu qemu-user clang || echo "corolib: AArch64/clang checks will be skipped"
	$(VENV)/bin/pytest $(PYTEST_ARGS) tests

# The core tests on the other CPython versions pyenv provides (3.10, 3.12, 3.13).
matrix: deps
	scripts/matrix.sh

# AddressSanitizer + UBSan build of the extension, core tests under it.
ASAN_LIB = $(shell gcc -print-file-name=libasan.so)
sanitize: deps
	@test -x .venv-asan/bin/pytest || ($(PYTHON) -m venv .venv-asan && .venv-asan/bin/pip install -q setuptools wheel pytest)
	COROLIB_CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	COROLIB_LDFLAGS="-fsanitize=address,undefined" \
	  .venv-asan/bin/pip install -q --no-build-isolation --force-reinstall --no-deps .
	LD_PRELOAD=$(ASAN_LIB) PYTHONMALLOC=malloc COROLIB_TEST_SCALE=0.05 \
	ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  .venv-asan/bin/pytest -q -p no:cacheprovider tests/core tests/c

# The core tests under valgrind memcheck, on 3.11 and (when built by
# `make matrix`) 3.12.  The suppression file covers CPython's own noise only.
VALGRIND = PYTHONMALLOC=malloc COROLIB_TEST_SCALE=0.02 valgrind -q --error-exitcode=99 \
	  --suppressions=tests/valgrind-python.supp
valgrind: $(VENV)/.installed
	$(VALGRIND) $(VENV)/bin/python $(VENV)/bin/pytest -q -p no:cacheprovider -x tests/core
	@if [ -x .venv-3.12/bin/pytest ]; then \
	  $(VALGRIND) .venv-3.12/bin/python .venv-3.12/bin/pytest -q -p no:cacheprovider -x tests/core; fi

# The pure-C switch test cross-compiled for AArch64, run under qemu when present.
cross:
	$(VENV)/bin/pytest -q tests/c -k aarch64

lint: $(VENV)/.installed
	$(PIP) ruff mypy
	$(VENV)/bin/ruff check corolib tests examples bench
	$(VENV)/bin/ruff format --check corolib
	$(VENV)/bin/mypy corolib

clean:
	rm -rf build $(VENV) .venv-* *.egg-info

-include bench/bench.mk
