"""The csrc/loop/ C API from plain C (no Python), as csrc/hub/ will use it.

Compiles tests/loop/c/capi_test.c with csrc/loop/*.c against the system
libuv, once plainly with the project's warning flags and once under
AddressSanitizer + UndefinedBehaviorSanitizer (leak checking included).
"""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or shutil.which("pkg-config") is None or not CSRC.is_dir(),
    reason="needs gcc, pkg-config and the source tree",
)


def _build_and_run(tmp_path, extra):
    uv_flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "libuv"], check=True, capture_output=True, text=True
    ).stdout.split()
    exe = tmp_path / "capi_test"
    cmd = [
        "gcc",
        "-std=gnu11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-fvisibility=hidden",
        "-g",
        *extra,
        f"-I{CSRC}",
        str(ROOT / "tests/loop/c/capi_test.c"),
        *sorted(str(p) for p in (CSRC / "loop").glob("*.c")),
        *uv_flags,
        "-lpthread",
        "-o",
        str(exe),
    ]
    subprocess.run(cmd, check=True)
    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "ok\n"


def test_capi_plain(tmp_path):
    _build_and_run(tmp_path, ["-O2"])


def test_capi_sanitized(tmp_path):
    probe = subprocess.run(
        ["gcc", "-fsanitize=address,undefined", "-x", "c", "-", "-o", str(tmp_path / "p")],
        input="int main(void){return 0;}",
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip("gcc cannot build with -fsanitize=address,undefined here")
    _build_and_run(tmp_path, ["-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"])
