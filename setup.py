"""Build corolib._core from csrc/, linked with the system libuv (pkg-config)."""

import os
import shlex
import subprocess
import sys
import sysconfig
from glob import glob

from setuptools import Extension, setup


def pkg_config(*args: str) -> list[str]:
    try:
        out = subprocess.run(
            ["pkg-config", *args, "libuv"], check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        sys.exit(
            "corolib needs libuv's headers and pkg-config to build "
            f"({exc}).\nOn Debian/Ubuntu: apt-get install -y libuv1-dev pkg-config"
        )
    return shlex.split(out)


sources = sorted(glob("csrc/**/*.c", recursive=True))
python_include = sysconfig.get_paths()["include"]
extra_cflags = [
    "-std=gnu11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-fvisibility=hidden",
    "-fno-strict-aliasing",
    # CPython's headers are not ours to warn about (-I stays for the rest).
    "-isystem",
    python_include,
]
extra_cflags += pkg_config("--cflags")
extra_cflags += shlex.split(os.environ.get("COROLIB_CFLAGS", ""))
extra_ldflags = shlex.split(os.environ.get("COROLIB_LDFLAGS", ""))

setup(
    ext_modules=[
        Extension(
            "corolib._core",
            sources=sources,
            include_dirs=["csrc"],
            depends=sorted(glob("csrc/**/*.h", recursive=True)),
            extra_compile_args=extra_cflags,
            extra_link_args=extra_ldflags + pkg_config("--libs"),
        )
    ]
)
