#!/usr/bin/env bash
# make dist-check: a wheel from `make dist` works on its own.  Builds the wheel
# for one CPython (default 3.11) unless dist/ already has it, installs it into a
# fresh venv, checks that the installed corolib._core loads libuv from inside
# the wheel (ldd: no libuv outside site-packages/corolib.libs) and runs a quick
# subset of the tests against that installation.
#
#   scripts/dist-check.sh [version]          DIST_CHECK_TESTS overrides the tests
set -euo pipefail
cd "$(dirname "$0")/.."

v=${1:-3.11}
tag=cp${v/./}
# Quick (~15 s): the switch, tasks, fd waits and cooperative sockets.
tests=${DIST_CHECK_TESTS:-tests/core/test_switch_smoke.py tests/core/test_switch.py tests/hub/test_tasks.py tests/hub/test_io.py tests/net/test_socket_coop.py}
export PIP_ROOT_USER_ACTION=ignore

whl=$(ls dist/corolib-*-"$tag"-"$tag"-manylinux_*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$whl" ] && [ -n "$(find csrc corolib setup.py pyproject.toml -newer "$whl" -print -quit)" ]; then
    echo "dist-check: $whl is older than the sources, rebuilding"
    whl=
fi
if [ -z "$whl" ]; then
    scripts/dist.sh "$v"
    whl=$(ls dist/corolib-*-"$tag"-"$tag"-manylinux_*.whl)
fi
echo "== $whl"
.venv-dist/bin/auditwheel show "$whl"

if [ "$v" = "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ]; then
    py=$(command -v python3)
else
    root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    py=$(ls -d "$root"/versions/"$v".*/bin/python"$v" | sort -V | tail -n 1)
fi
venv=build/dist-check-$v
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "$whl" pytest

# From outside the checkout, so that nothing can come from the source tree.
core=$(cd / && "$OLDPWD/$venv/bin/python" -c 'import corolib._core as c; print(c.__file__)')
site=$(cd / && "$OLDPWD/$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
case "$core" in
    "$PWD/$venv"/*) ;;
    *) echo "dist-check: corolib._core imported from $core, not the fresh venv" >&2; exit 1 ;;
esac
echo "== ldd $core"
ldd "$core" | tee build/dist-check-ldd.txt
uv=$(grep -c 'libuv' build/dist-check-ldd.txt || true)
if [ "$uv" -eq 0 ]; then
    echo "dist-check: _core links no libuv at all?" >&2; exit 1
fi
grep 'libuv' build/dist-check-ldd.txt | sed -n 's/.*=> \(.*\) (0x.*/\1/p' | while read -r lib; do
    case "$(realpath "$lib")" in
        "$site"/corolib.libs/libuv-*) echo "dist-check: libuv from the wheel: $(realpath "$lib")" ;;
        *) echo "dist-check: the installed _core uses $lib, outside the wheel" >&2; exit 1 ;;
    esac
done
(cd / && "$OLDPWD/$venv/bin/python" -c 'import corolib.uv as uv; print("corolib.uv.UV_VERSION:", uv.UV_VERSION)')

echo "== tests against the installed wheel: $tests"
# shellcheck disable=SC2086
"$venv/bin/pytest" -q -p no:cacheprovider -m "not slow" $tests
