#!/usr/bin/env bash
# Build corolib and run the core tests on every CPython 3.10-3.13 that pyenv
# provides here (one venv per version: .venv-3.X).  Usage:
#   scripts/matrix.sh [version ...]      default: 3.10 3.12 3.13
# Versions that are not installed are reported and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(3.10 3.12 3.13)
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
tests=${MATRIX_TESTS:-tests/core tests/c}

status=0
for v in "${versions[@]}"; do
    py=$(ls -d "$root"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$py" ]; then
        echo "== CPython $v: not installed by pyenv here, skipped"
        continue
    fi
    venv=.venv-$v
    echo "== CPython $v ($py)"
    if [ ! -x "$venv/bin/pytest" ]; then
        "$py" -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check wheel pytest
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check 'setuptools>=77'  # pyproject.toml's build requirement
    "$venv/bin/pip" install -q --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps .
    # shellcheck disable=SC2086
    if ! "$venv/bin/pytest" -q -p no:cacheprovider $tests; then
        status=1
    fi
done
exit $status
