"""Make a repaired wheel carry the license of the libuv it bundles.

auditwheel grafts the system's libuv.so into ``corolib.libs/`` but leaves the
metadata saying only corolib's own license.  This adds the distribution's
copyright file for libuv under ``<name>.dist-info/licenses/libuv/``, names it
in a ``License-File`` field, widens ``License-Expression`` to the licenses of
libuv's library sources, and re-packs the wheel (``wheel pack`` rewrites
RECORD).  Usage::

    python scripts/wheel_licenses.py WHEEL OUTDIR [--copyright FILE]

Fails if the wheel does not contain a grafted libuv.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile

# Debian's copyright file for libuv 1.44 lists, for the files compiled into
# the library (src/, include/): Expat (MIT) for most, ISC for src/inet.c,
# src/heap-inl.h and src/unix/atomic-ops.h, BSD-2-Clause for include/uv/tree.h,
# BSD-3-Clause for src/unix/pthread-fixes.c.  Check it again for another libuv.
LIBUV_LICENSES = ["MIT", "ISC", "BSD-2-Clause", "BSD-3-Clause"]


def main() -> int:
    """Rewrite one wheel into OUTDIR; 0 on success."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheel", type=pathlib.Path)
    ap.add_argument("outdir", type=pathlib.Path)
    ap.add_argument(
        "--copyright", type=pathlib.Path, default=pathlib.Path("/usr/share/doc/libuv1/copyright")
    )
    args = ap.parse_args()
    if not args.copyright.is_file():
        sys.exit(f"wheel_licenses: libuv's copyright file {args.copyright} is missing")
    wheel = [sys.executable, "-m", "wheel"]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [*wheel, "unpack", "-d", tmp, str(args.wheel)], check=True, stdout=subprocess.DEVNULL
        )
        (tree,) = pathlib.Path(tmp).iterdir()
        if not list(tree.glob("*.libs/libuv*.so*")):
            sys.exit(f"wheel_licenses: {args.wheel.name} carries no libuv (not repaired?)")
        (info,) = tree.glob("*.dist-info")
        dest = info / "licenses" / "libuv"
        dest.mkdir(parents=True)
        (dest / "copyright").write_bytes(args.copyright.read_bytes())
        meta = info / "METADATA"
        head, sep, body = meta.read_text(encoding="utf-8").partition("\n\n")
        lines = head.split("\n")
        out = []
        for line in lines:
            if line.startswith("License-Expression:"):
                own = line.split(":", 1)[1].strip()
                terms = [own] + [t for t in LIBUV_LICENSES if t != own]
                line = "License-Expression: " + " AND ".join(terms)
            out.append(line)
        last = max(i for i, line in enumerate(out) if line.startswith("License-File:"))
        out.insert(last + 1, "License-File: libuv/copyright")
        meta.write_text("\n".join(out) + sep + body, encoding="utf-8")
        args.outdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [*wheel, "pack", "-d", str(args.outdir), str(tree)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
