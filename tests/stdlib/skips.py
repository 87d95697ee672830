"""CPython tests that are not run under ``corolib.monkey.patch_all()``, each with its reason.

Two kinds of entries:

- ``GREEN``: the test cannot pass under any green-thread implementation
  (it needs real OS-level concurrency, counts OS threads, inspects C-level
  objects that patching replaces, or relies on blocking in the kernel);
- ``BUG``: the test fails because of a corolib bug (reported, with the
  reason); these must go away as the bugs are fixed.

An entry names ``test_module.Class`` or ``test_module.Class.method``; it
may be limited to some Python versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

GREEN = "green"
BUG = "bug"

_Version = tuple[int, ...]


def _always(_: _Version) -> bool:
    return True


@dataclass(frozen=True)
class Skip:
    """One disabled test (or class)."""

    test_id: str
    reason: str
    kind: str = GREEN
    when: Callable[[_Version], bool] = _always


def since(*version: int) -> Callable[[_Version], bool]:
    """Only on ``version`` and later."""
    return lambda v: tuple(v[: len(version)]) >= version


def before(*version: int) -> Callable[[_Version], bool]:
    """Only before ``version``."""
    return lambda v: tuple(v[: len(version)]) < version


SKIPS: list[Skip] = []


def for_module(module: str, version: _Version) -> Iterator[Skip]:
    """The entries for ``module`` that apply to ``version``."""
    prefix = module + "."
    for entry in SKIPS:
        if entry.test_id.startswith(prefix) and entry.when(tuple(version)):
            yield entry
