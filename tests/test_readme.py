"""The Python examples in README.md run as pasted and print what their comments say.

Each ```python block runs as a script in a fresh interpreter (``run_python``
from tests/conftest.py, so on the installed corolib), from a temporary directory.
Fragments that need something of the reader's (a port to serve forever on, an
application to import) are fenced ```py instead and are not run here; what they
show is tested where it is built (tests/server, tests/wsgi).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.M | re.S)

# What each block prints, in README order.
EXPECTED = [
    "1\n3\ndone\n",
    "[0, 1, 4, 9, 16]\ntimed out\n",
    "100 requests, {200}\n",
]


def test_every_block_has_an_expectation() -> None:
    assert len(BLOCKS) == len(EXPECTED), "README.md's python blocks changed: update EXPECTED"


@pytest.mark.parametrize("index", range(len(EXPECTED)))
def test_readme_example_runs(run_python, index: int) -> None:
    run_python(BLOCKS[index], timeout=60).expect(stdout=EXPECTED[index])
