"""Build corolib._core from csrc/, linked with the system libuv (pkg-config)."""

import hashlib
import os
import shlex
import subprocess
import sys
import sysconfig
from glob import glob

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


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



class BuildExt(build_ext):
    """Rebuild everything when the flags or any C file change.

    setuptools only compares timestamps, so objects or a linked module left
    by a build with other flags (e.g. a sanitizer build) would otherwise be
    reused silently -- and so would a module built while a header was being
    edited, whose objects disagree about a struct's layout.  Checked when the
    command runs, not when its options are finalised: pip's metadata step
    finalises them too, in a process that builds nothing.  The tag is written
    only once the module is built, so a failed build is never taken as done.
    """

    def run(self) -> None:
        digest = hashlib.sha1(" ".join(extra_cflags + extra_ldflags).encode())
        for path in sorted(glob("csrc/**/*.[ch]", recursive=True)):
            with open(path, "rb") as f:
                digest.update(path.encode() + b"\0" + f.read())
        tag = digest.hexdigest()
        stamp = os.path.join(self.build_temp, "corolib-build-tag")
        previous = open(stamp).read() if os.path.exists(stamp) else ""
        if previous != tag:
            self.force = True
        super().run()
        os.makedirs(self.build_temp, exist_ok=True)
        with open(stamp, "w") as f:
            f.write(tag)


setup(
    cmdclass={"build_ext": BuildExt},
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
