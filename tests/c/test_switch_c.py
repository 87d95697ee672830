"""Build and run the pure-C stack-switch test (tests/c/test_switch.c).

It exercises csrc/switch and csrc/core/stack.c without Python: a million
ping-pongs, deep recursion on both sides, 1,000 interleaved coroutines and
per-coroutine floating-point control state.  Natively always; for AArch64
when a cross compiler and qemu-aarch64 are installed (make test installs
them when it runs as root).
"""

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SOURCES = [
    HERE / "test_switch.c",
    ROOT / "csrc" / "core" / "stack.c",
    ROOT / "csrc" / "switch" / "switch.c",
]
CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror"]


def build_and_run(cc: list[str], out: Path, run: list[str], extra: list[str] = ()) -> None:
    subprocess.run([*cc, *CFLAGS, *extra, "-o", str(out), *map(str, SOURCES), "-lm"], check=True)
    proc = subprocess.run([*run, str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "test_switch: ok" in proc.stdout


@pytest.mark.parametrize("cc", ["gcc", "clang"])
@pytest.mark.parametrize("opt", ["-O0", "-O3"])
def test_native(tmp_path, cc, opt):
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} not installed")
    build_and_run([cc], tmp_path / "t", [], [opt])


def test_aarch64_under_qemu(tmp_path):
    cc = shutil.which("aarch64-linux-gnu-gcc")
    qemu = shutil.which("qemu-aarch64")
    if cc is None:
        pytest.skip("aarch64-linux-gnu-gcc not installed (apt-get install gcc-aarch64-linux-gnu)")
    if qemu is None:
        # At least prove the AArch64 routine assembles and links.
        subprocess.run(
            [cc, *CFLAGS, "-static", "-o", str(tmp_path / "t"), *map(str, SOURCES), "-lm"],
            check=True,
        )
        pytest.skip("qemu-aarch64 not installed: compiled only")
    build_and_run([cc], tmp_path / "t", [qemu], ["-static"])


def test_asan(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    subprocess.run(
        [
            "gcc",
            "-O1",
            "-g",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=undefined",
            "-o",
            str(tmp_path / "t"),
            *map(str, SOURCES),
            "-lm",
        ],
        check=True,
    )
    proc = subprocess.run(
        [str(tmp_path / "t")],
        capture_output=True,
        text=True,
        timeout=300,
        env={"ASAN_OPTIONS": "detect_stack_use_after_return=0"},
    )
    assert proc.returncode == 0, proc.stderr
