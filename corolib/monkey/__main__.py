"""``python -m corolib.monkey [-m] PROGRAM ARGS...``: run PROGRAM with everything patched."""

import sys

from corolib.monkey import main

if __name__ == "__main__":
    sys.exit(main())
