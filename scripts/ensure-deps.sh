#!/usr/bin/env bash
# Make sure the system packages corolib builds against are present:
# libuv's headers (libuv1-dev) and pkg-config.  Installs them with apt-get
# when running as root; otherwise prints the exact command and fails.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if ! pkg-config --exists 'libuv >= 1.44' 2>/dev/null; then
    missing+=(libuv1-dev)
fi
for pkg in "$@"; do                       # extra packages a target needs
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "corolib: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
    exit 0
fi
echo "corolib: missing system packages: ${missing[*]}" >&2
echo "run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
exit 1
