#!/usr/bin/env bash
# CPython's own test modules under corolib.monkey.patch_all(): tests/stdlib/runner.py,
# one process per module, 2 at a time, each killed after a timeout.  Usage:
#   scripts/test-stdlib.sh [version ...]     default: 3.11, in the project venv (.venv)
# Other versions use (and create if missing) the matrix venvs, .venv-3.X, with corolib
# rebuilt from this tree.  STDLIB_JOBS, STDLIB_TIMEOUT and STDLIB_ARGS (e.g. module
# names, --verbose) are passed on to the runner.  On the versions in STDLIB_ASYNCIO
# (default 3.11) test_asyncio's modules then run against corolib.asyncio (--asyncio).
set -euo pipefail
cd "$(dirname "$0")/.."

versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(3.11)
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")

status=0
for v in "${versions[@]}"; do
    if [ -x .venv/bin/python ] && [ "$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$v" ]; then
        py=.venv/bin/python          # `make` has installed this tree into it
    else
        base=$(ls -d "$root"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -V | tail -n 1 || true)
        if [ -z "$base" ]; then
            echo "== CPython $v: not installed by pyenv here, skipped"
            continue
        fi
        venv=.venv-$v
        if [ ! -x "$venv/bin/python" ]; then
            "$base" -m venv "$venv"
            "$venv/bin/pip" install -q --disable-pip-version-check wheel pytest
        fi
        "$venv/bin/pip" install -q --disable-pip-version-check 'setuptools>=77'  # pyproject.toml's build requirement
        "$venv/bin/pip" install -q --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps .
        py=$venv/bin/python
    fi
    # shellcheck disable=SC2086
    if ! "$py" tests/stdlib/runner.py --python "$py" --jobs "${STDLIB_JOBS:-2}" \
            --timeout "${STDLIB_TIMEOUT:-240}" ${STDLIB_ARGS:-}; then
        status=1
    fi
    if [[ " ${STDLIB_ASYNCIO:-3.11} " == *" $v "* ]]; then
        # shellcheck disable=SC2086
        if ! "$py" tests/stdlib/runner.py --asyncio --python "$py" --jobs "${STDLIB_JOBS:-2}" \
                --timeout "${STDLIB_TIMEOUT:-240}" ${STDLIB_ASYNCIO_ARGS:-}; then
            status=1
        fi
    fi
done
exit $status
