"""What has been patched, and the originals it replaced.

Patching is in place: an attribute of the stdlib module object (or of a
class in it) is replaced, and the value it had is saved here the first
time (a second patch never overwrites the saved original).  Everything
that patches goes through :func:`patch_item` and :func:`remove_item`.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

__all__ = [
    "patch_item",
    "remove_item",
    "saved",
    "patched_modules",
    "get_original",
    "is_object_patched",
    "is_module_patched",
    "MISSING",
]


class _Missing:
    """Stands for "the attribute did not exist" among the saved originals."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()

#: module name -> attribute name (``"Class.attr"`` for class attributes) -> original
saved: dict[str, dict[str, Any]] = {}
#: names of the modules patched (as given to the patch functions: "socket", "thread"...)
patched_modules: set[str] = set()


def _owner_and_key(target: Any, attr: str) -> tuple[str, str]:
    if isinstance(target, ModuleType):
        return target.__name__, attr
    return target.__module__, f"{target.__qualname__}.{attr}"


def patch_item(target: Any, attr: str, value: Any) -> None:
    """Set ``target.attr = value`` (a module or a class), saving the original once."""
    module, key = _owner_and_key(target, attr)
    originals = saved.setdefault(module, {})
    if key not in originals:
        originals[key] = target.__dict__.get(attr, MISSING)
    setattr(target, attr, value)


def remove_item(target: Any, attr: str) -> None:
    """Delete ``target.attr`` if present, saving the original once."""
    module, key = _owner_and_key(target, attr)
    originals = saved.setdefault(module, {})
    if key not in originals:
        originals[key] = target.__dict__.get(attr, MISSING)
    if attr in target.__dict__:
        delattr(target, attr)


def _original(module_name: str, name: str) -> Any:
    value = saved.get(module_name, {}).get(name, MISSING)
    if value is not MISSING:
        return value
    if name in saved.get(module_name, {}):
        raise AttributeError(f"module {module_name!r} had no attribute {name!r} before patching")
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    obj: Any = module
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def get_original(module_name: str, names: str | list[str] | tuple[str, ...]) -> Any:
    """The value(s) ``module_name.names`` had before patching (the live one if never patched)."""
    if isinstance(names, str):
        return _original(module_name, names)
    return [_original(module_name, name) for name in names]


def is_object_patched(module_name: str, name: str) -> bool:
    """Tell whether ``module_name.name`` was replaced (or removed) by patching."""
    return name in saved.get(module_name, {})


def is_module_patched(name: str) -> bool:
    """Tell whether a module was patched.

    ``name`` is what a ``patch_<name>`` function is called for (``"thread"``,
    ``"dns"``) or the name of a stdlib module with patched attributes
    (``"threading"``, ``"_thread"``, ``"socket"``).
    """
    return name in patched_modules or name in saved
