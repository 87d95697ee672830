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

.PHONY: all demo test test-python matrix sanitize tsan valgrind cross lint format-c clean deps \
	test-stdlib thirdparty-deps wsgi-deps test-wsgi-fuzz compat-deps aio-deps \
	dist dist-check docs

all: $(VENV)/.installed

deps:
	@scripts/ensure-deps.sh

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) 'setuptools>=77' wheel -r requirements-dev.txt

# Tests run against the installed package, never the source tree.
$(VENV)/.installed: $(VENV)/bin/python $(SOURCES) | deps
	@scripts/ensure-deps.sh
	$(PIP) 'setuptools>=77' wheel   # pyproject.toml's build requirement (older venvs)
	$(PIP) --no-build-isolation --force-reinstall --no-deps .
	@$(PY) -c 'import httptools' 2>/dev/null || $(PIP) 'httptools>=0.6.4'
	@touch $@

# The greenlet core briefly, then the chat server with 1,000 simulated users,
# then two chat servers sharing rooms through a real redis-server (hence
# thirdparty-deps: redis-server and redis-py).
demo: thirdparty-deps
	$(PY) examples/greenlet_demo.py 100000
	$(PY) examples/chat_demo.py

test: lint thirdparty-deps wsgi-deps compat-deps aio-deps test-python matrix test-stdlib bench-smoke docs dist-check

# What tests/thirdparty runs under corolib.monkey.patch_all(): requests, redis-py
# and a real redis-server; dnspython for tests/net's cooperative resolver.
thirdparty-deps: $(VENV)/.installed
	@scripts/ensure-deps.sh redis-server
	@$(PY) -c 'import requests, redis, dns.message' 2>/dev/null || $(PIP) requests redis dnspython

# What tests/wsgi serves and drives: Flask, Django, gunicorn, requests, hypothesis, curl
# (and openssl, which makes its test certificates).
WSGI_TEST_DEPS = flask django gunicorn requests hypothesis
wsgi-deps: $(VENV)/.installed
	@scripts/ensure-deps.sh curl openssl
	@$(PY) -c 'import flask, django, gunicorn, requests, hypothesis' 2>/dev/null || $(PIP) $(WSGI_TEST_DEPS)

# The request-path fuzz test for longer (tests/wsgi, -m slow; WSGI_FUZZ_SECONDS each).
WSGI_FUZZ_SECONDS ?= 120
test-wsgi-fuzz: wsgi-deps
	WSGI_FUZZ_SECONDS=$(WSGI_FUZZ_SECONDS) $(VENV)/bin/pytest -q -m slow tests/wsgi/test_fuzz.py

# What tests/db runs against: real PostgreSQL and MariaDB servers (started by the
# tests as throw-away instances on 127.0.0.1) and their client libraries (asyncpg:
# the asyncio driver on corolib.asyncio); and mypy, which tests/typing runs on users' code.
compat-deps: $(VENV)/.installed
	@scripts/ensure-deps.sh postgresql mariadb-server || echo "corolib: database servers missing: tests/db will skip"
	@$(PY) -c 'import psycopg2, psycopg, pymysql, asyncpg, mypy' 2>/dev/null || \
	  $(PIP) psycopg2-binary 'psycopg[binary]' PyMySQL asyncpg mypy

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

# AddressSanitizer + UBSan build of the extension, core tests (and the hub
# life-cycle tests: thread exit, destroy, shutdown) under it.
ASAN_LIB = $(shell gcc -print-file-name=libasan.so)
sanitize: deps
	@test -x .venv-asan/bin/pytest || ($(PYTHON) -m venv .venv-asan && .venv-asan/bin/pip install -q wheel pytest)
	.venv-asan/bin/pip install -q 'setuptools>=77'
	COROLIB_CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	COROLIB_LDFLAGS="-fsanitize=address,undefined" \
	  .venv-asan/bin/pip install -q --no-build-isolation --force-reinstall --no-deps .
	LD_PRELOAD=$(ASAN_LIB) PYTHONMALLOC=malloc COROLIB_TEST_SCALE=0.05 \
	ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  .venv-asan/bin/pytest -q -p no:cacheprovider tests/core tests/c tests/hub/test_lifecycle.py

# ThreadSanitizer build of the extension; the cross-thread and thread-exit tests
# under it.  CPython and libuv stay uninstrumented (TSan sees their locks through
# its interceptors, not their memory accesses), so CPython makes no noise here and
# tests/tsan-python.supp has nothing to suppress so far.
TSAN_LIB = $(shell gcc -print-file-name=libtsan.so)
TSAN_TESTS = tests/core/test_threads.py tests/core/test_lifetime.py tests/sync/test_sync_threads.py \
	tests/hub/test_hub.py tests/crash
tsan: deps
	@test -x .venv-tsan/bin/pytest || ($(PYTHON) -m venv .venv-tsan && .venv-tsan/bin/pip install -q setuptools wheel pytest)
	COROLIB_CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=thread" COROLIB_LDFLAGS="-fsanitize=thread" \
	  .venv-tsan/bin/pip install -q --no-cache-dir --no-build-isolation --force-reinstall --no-deps .
	nm -D .venv-tsan/lib/python*/site-packages/corolib/_core*.so | grep -q __tsan_init  # instrumented?
	LD_PRELOAD=$(TSAN_LIB) COROLIB_TEST_SCALE=0.05 \
	TSAN_OPTIONS="halt_on_error=1:exitcode=66:suppressions=$(CURDIR)/tests/tsan-python.supp" \
	  .venv-tsan/bin/pytest -q -p no:cacheprovider $(TSAN_TESTS) -k "thread or Thread or exit"

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

# The documentation site, docs/_build/html/index.html: Sphinx + furo, API pages
# from the installed package's docstrings.  Strict: a broken reference or any
# warning fails the build; always a fresh environment (-E), so none is hidden.
docs: $(VENV)/.installed
	@scripts/ensure-deps.sh python3-doc
	@$(PY) -c 'import sphinx, furo, myst_parser, gunicorn' 2>/dev/null || $(PIP) -r docs/requirements.txt
	@rm -rf docs/_build docs/_api
	cd docs && ../$(PY) -m sphinx -n -W --keep-going -E -q -b html . _build/html
	@echo "docs: file://$(CURDIR)/docs/_build/html/index.html"

# An sdist and manylinux wheels carrying their own libuv (auditwheel repair), one
# per CPython in DIST_PYTHONS, into dist/ (scripts/dist.sh says how and why).
DIST_PYTHONS ?= 3.10 3.11 3.12 3.13
dist:
	scripts/dist.sh $(DIST_PYTHONS)

# The 3.11 wheel (built if dist/ lacks it) in a fresh venv: ldd of the installed
# _core shows libuv from inside the wheel only; a quick test subset passes there.
dist-check:
	scripts/dist-check.sh 3.11

# ruff (lint + format) and mypy, at the versions requirements-dev.txt pins, and
# clang-format (the PyPI wheel pinned there too) over csrc/, style in .clang-format.
# Files listed here are left out of the check (none now).
CLANG_FORMAT_SKIP :=
CLANG_FORMAT_FILES = $(filter-out $(CLANG_FORMAT_SKIP),$(sort $(shell find csrc -name '*.[ch]')))

lint: $(VENV)/.installed
	$(PIP) -r requirements-dev.txt
	$(VENV)/bin/ruff check corolib tests examples bench
	$(VENV)/bin/ruff format --check corolib tests examples bench
	$(VENV)/bin/mypy corolib
	$(VENV)/bin/clang-format --dry-run --Werror $(CLANG_FORMAT_FILES)

format-c: $(VENV)/.installed
	$(PIP) -r requirements-dev.txt
	$(VENV)/bin/clang-format -i $(CLANG_FORMAT_FILES)

clean:
	rm -rf build dist docs/_build docs/_api $(VENV) .venv-* *.egg-info

-include bench/bench.mk
