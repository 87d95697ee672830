# Benchmark targets; the top-level Makefile does `include bench/bench.mk`.
# Standalone: make -f bench/bench.mk bench-quick   (from the repository root)
#
#   make bench         full run (<= 15 min): results to bench/results/<stamp>-full.jsonl,
#                      then BENCHMARKS.md regenerated from them
#   make bench-quick   ~2 min smoke run (CI): bench/results/quick.jsonl and quick.md,
#                      report printed; BENCHMARKS.md untouched
#   make bench-report  regenerate BENCHMARKS.md from the newest full results
#   make bench-venvs   only create/refresh the bench venvs
#
# Each Python in BENCH_PYTHONS gets its own venv, .venv-bench-X.Y, holding the peers
# (bench/requirements.txt) and corolib built from this tree; the project's own venv
# is never touched.

# Including this file never changes the including Makefile's default goal.
bench_saved_default_goal := $(.DEFAULT_GOAL)

BENCH_PYTHONS ?= 3.11 3.13
BENCH_ARGS ?=
# The interpreter that runs the orchestrator and the report (stdlib only).
BENCH_HOST_PYTHON ?= python3

bench_python_args = $(foreach v,$(BENCH_PYTHONS),--python .venv-bench-$(v)/bin/python)

bench_stamp := $(shell date -u +%Y%m%dT%H%M%SZ)

.PHONY: bench bench-quick bench-report bench-venvs

# Every run upgrades the peers to the newest releases requirements.txt allows and
# rebuilds corolib from this tree, so the figures are those of the tree being measured.
bench-venvs:
	@[ ! -x scripts/ensure-deps.sh ] || scripts/ensure-deps.sh wrk gcc
	@for v in $(BENCH_PYTHONS); do \
	  d=.venv-bench-$$v; \
	  if [ ! -x $$d/bin/python ]; then \
	    py=$$(ls /root/.pyenv/versions/$$v.*/bin/python$$v 2>/dev/null | sort -V | tail -n 1); \
	    py=$${py:-$$(command -v python$$v)}; \
	    [ -n "$$py" ] || { echo "bench: no python$$v found" >&2; exit 1; }; \
	    echo "bench: creating $$d from $$py"; \
	    "$$py" -m venv $$d || exit 1; \
	  fi; \
	  echo "bench: peers and corolib into $$d"; \
	  $$d/bin/python -m pip install -q --upgrade -r bench/requirements.txt || exit 1; \
	  $$d/bin/python -m pip install -q --no-build-isolation --force-reinstall --no-deps . || exit 1; \
	done

bench: bench-venvs
	BENCH_COMMAND='make bench' $(BENCH_HOST_PYTHON) bench/run.py $(bench_python_args) \
	  --out bench/results/$(bench_stamp)-full.jsonl $(BENCH_ARGS)
	$(BENCH_HOST_PYTHON) bench/report.py bench/results/$(bench_stamp)-full.jsonl -o BENCHMARKS.md

bench-quick: bench-venvs
	BENCH_COMMAND='make bench-quick' $(BENCH_HOST_PYTHON) bench/run.py --quick \
	  $(bench_python_args) --out bench/results/quick.jsonl $(BENCH_ARGS)
	$(BENCH_HOST_PYTHON) bench/report.py bench/results/quick.jsonl -o bench/results/quick.md
	@cat bench/results/quick.md

bench-report:
	$(BENCH_HOST_PYTHON) bench/report.py -o BENCHMARKS.md

.DEFAULT_GOAL := $(bench_saved_default_goal)
