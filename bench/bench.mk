# Benchmark targets; the top-level Makefile does `include bench/bench.mk`.
# Standalone: make -f bench/bench.mk bench-quick   (from the repository root)
#
#   make bench         full run (<= 15 min): results to bench/results/<stamp>-full.jsonl,
#                      then BENCHMARKS.md and docs/bench-ratios.png regenerated from them
#   make bench-quick   ~2 min run: bench/results/quick.jsonl and quick.md, report
#                      printed; BENCHMARKS.md untouched
#   make bench-smoke   the CI smoke test (part of `make test`): every benchmark once, in
#                      its quick mode, on 3.11, then the report and the chart, all into
#                      $(BENCH_SMOKE_DIR); fails only when something crashes or prints
#                      garbage, never on timings
#   make bench-report  regenerate BENCHMARKS.md and the chart from the newest full results
#   make bench-venvs   only create/refresh the bench venvs
#
# Each Python in BENCH_PYTHONS gets its own venv, .venv-bench-X.Y, holding the peers
# (bench/requirements.txt) and corolib built from this tree; the project's own venv
# is never touched.

# Including this file never changes the including Makefile's default goal.
bench_saved_default_goal := $(.DEFAULT_GOAL)

# One Python keeps `make bench` within its 15 minutes on 2 cores; both of 3.11 and 3.13
# take twice as long: make bench BENCH_PYTHONS="3.11 3.13"
BENCH_PYTHONS ?= 3.11
BENCH_ARGS ?=
# The interpreter that runs the orchestrator and the report (stdlib only).
BENCH_HOST_PYTHON ?= python3
# The chart needs matplotlib: the first bench venv's interpreter draws it.
BENCH_CHART_PYTHON ?= .venv-bench-$(firstword $(BENCH_PYTHONS))/bin/python
BENCH_CHART ?= docs/bench-ratios.png
BENCH_SMOKE_DIR ?= $(or $(TMPDIR),/tmp)/corolib-bench-smoke

bench_python_args = $(foreach v,$(BENCH_PYTHONS),--python .venv-bench-$(v)/bin/python)

bench_stamp := $(shell date -u +%Y%m%dT%H%M%SZ)

.PHONY: bench bench-quick bench-smoke bench-report bench-venvs

# Every run upgrades the peers to the newest releases requirements.txt allows and
# rebuilds corolib from this tree, so the figures are those of the tree being measured.
bench-venvs:
	@[ ! -x scripts/ensure-deps.sh ] || scripts/ensure-deps.sh wrk gcc libev-dev
	@for v in $(BENCH_PYTHONS); do \
	  d=.venv-bench-$$v; \
	  if [ ! -x $$d/bin/python ]; then \
	    root=$$(pyenv root 2>/dev/null || echo "$$HOME/.pyenv"); \
	    py=$$(ls $$root/versions/$$v.*/bin/python$$v 2>/dev/null | sort -V | tail -n 1); \
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
	$(BENCH_CHART_PYTHON) bench/chart.py bench/results/$(bench_stamp)-full.jsonl -o $(BENCH_CHART)

bench-quick: bench-venvs
	BENCH_COMMAND='make bench-quick' $(BENCH_HOST_PYTHON) bench/run.py --quick \
	  $(bench_python_args) --out bench/results/quick.jsonl $(BENCH_ARGS)
	$(BENCH_HOST_PYTHON) bench/report.py bench/results/quick.jsonl -o bench/results/quick.md
	@cat bench/results/quick.md

# The smoke test of the whole chain, for CI: one Python, every benchmark and
# implementation once in its quick mode; nothing in the tree changes.
bench-smoke: BENCH_PYTHONS = 3.11
bench-smoke: bench-venvs
	@rm -rf $(BENCH_SMOKE_DIR) && mkdir -p $(BENCH_SMOKE_DIR)
	BENCH_COMMAND='make bench-smoke' $(BENCH_HOST_PYTHON) bench/run.py --quick --reps 1 \
	  $(bench_python_args) --out $(BENCH_SMOKE_DIR)/smoke.jsonl $(BENCH_ARGS)
	$(BENCH_HOST_PYTHON) bench/report.py $(BENCH_SMOKE_DIR)/smoke.jsonl -o $(BENCH_SMOKE_DIR)/smoke.md
	$(BENCH_CHART_PYTHON) bench/chart.py $(BENCH_SMOKE_DIR)/smoke.jsonl -o $(BENCH_SMOKE_DIR)/smoke.png
	@echo "bench-smoke: ok ($(BENCH_SMOKE_DIR)/smoke.{jsonl,md,png}; timings not checked)"

bench-report:
	@[ -x $(BENCH_CHART_PYTHON) ] || { echo "bench: no $(BENCH_CHART_PYTHON) to draw the chart: make bench-venvs" >&2; exit 1; }
	$(BENCH_HOST_PYTHON) bench/report.py -o BENCHMARKS.md
	$(BENCH_CHART_PYTHON) bench/chart.py -o $(BENCH_CHART)

.DEFAULT_GOAL := $(bench_saved_default_goal)
