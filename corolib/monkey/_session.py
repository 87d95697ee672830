"""One patching call (``patch_all()`` or a ``patch_<name>()`` alone) and its one warning.

Patching replaces attributes of module objects; a module imported earlier
that did ``from socket import socket`` (or a thread already running) keeps
the blocking original, and nothing can fix that afterwards.  At the end of
a top-level patching call, the modules that captured an object this call
replaced are looked for, and everything found is reported in a single
:class:`MonkeyPatchWarning` that names them and says to patch earlier.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from corolib.monkey import _state

__all__ = ["MonkeyPatchWarning", "session", "current", "Session"]


class MonkeyPatchWarning(RuntimeWarning):
    """Patching came too late for some code, which will still block the whole thread."""


class Session:
    """What one top-level patching call did, and what it found too late to fix."""

    def __init__(self) -> None:
        self.before = {(m, k) for m, names in _state.saved.items() for k in names}
        #: extra problems found by the patch functions (e.g. threads already running)
        self.problems: list[str] = []
        #: set when a subscriber vetoed patch_all: nothing to report
        self.cancelled = False

    def new_originals(self) -> list[tuple[str, str, Any]]:
        """``(module, name, original)`` for everything this call replaced."""
        return [
            (m, k, v)
            for m, names in _state.saved.items()
            for k, v in names.items()
            if (m, k) not in self.before and v is not _state.MISSING
        ]

    def message(self) -> str | None:
        """The warning text, or None if nothing came too late."""
        lines = [f"  - {p}" for p in self.problems]
        for module, held in sorted(late_references(self.new_originals()).items()):
            lines.append(f"  - module {module!r} holds {', '.join(held)} from before patching")
        if not lines:
            return None
        return (
            "corolib.monkey: patching came too late for some code, which will keep "
            "blocking the whole thread:\n"
            + "\n".join(lines)
            + "\nPatch earlier: call corolib.monkey.patch_all() first thing in the main "
            "module, before importing anything else, or run the program with "
            "'python -m corolib.monkey'."
        )


_current: Session | None = None


def current() -> Session | None:
    """The top-level patching call in progress, if any."""
    return _current


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside corolib.monkey and contextlib."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name.startswith("corolib.monkey") or name == "contextlib"):
            return level
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


@contextmanager
def session(stacklevel: int = 2) -> Iterator[Session]:
    """Group patching into one call; the outermost emits the warning at its end."""
    global _current
    if _current is not None:
        yield _current
        return
    _current = s = Session()
    try:
        yield s
    finally:
        _current = None
    if not s.cancelled:
        text = s.message()
        if text is not None:
            warnings.warn(text, MonkeyPatchWarning, stacklevel=_caller_stacklevel())


def _is_exempt(module_name: str) -> bool:
    top = module_name.partition(".")[0]
    if top == "corolib":
        return True
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    return top in stdlib and module_name != "__main__"


def late_references(originals: list[tuple[str, str, Any]]) -> dict[str, list[str]]:
    """Modules (outside the stdlib and corolib) whose globals hold one of ``originals``."""
    wanted: dict[int, tuple[Any, list[str]]] = {}
    for module, name, obj in originals:
        if callable(obj):
            wanted.setdefault(id(obj), (obj, []))[1].append(f"{module}.{name}")
    found: dict[str, list[str]] = {}
    if not wanted:
        return found
    for module_name, loaded in list(sys.modules.items()):
        if loaded is None or _is_exempt(module_name):
            continue
        namespace = getattr(loaded, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for key, value in list(namespace.items()):
            hit = wanted.get(id(value))
            if hit is None or hit[0] is not value:
                continue
            same = [q for q in hit[1] if q.rpartition(".")[2] == key]
            label = same[0] if same else f"{key} (= {hit[1][0]})"
            found.setdefault(module_name, []).append(label)
    return found
