"""The public names the documentation promises exist, and every public name is documented.

In the spirit of trio's ``test_exports``, checked against the installed package:

- every ``corolib.<module>`` that README.md or docs/design.md names in backticks
  imports, and every dotted ``corolib.<module>.<name>`` they name resolves;
- every name README.md lists for a module (``corolib.sync`` ... ``Event``) is an
  attribute of that module (see ``README_NAMES``: where each README bullet keeps its
  names);
- every public module (no leading underscore anywhere in its dotted name) imports,
  and every entry of its ``__all__`` is an attribute of it;
- every public name of ``corolib`` itself (its explicit ``X as X`` re-exports) is
  named in README.md, and every ``__all__`` entry of a public module is documented:
  named in README.md, docs/*.md or the module's docstring, or defined after a
  ``#:`` comment, or an object with a docstring, or the standard library's own
  object re-exported unchanged.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

import corolib

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DESIGN = (ROOT / "docs" / "design.md").read_text()
DOCS = README + "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))

# A backticked dotted name starting with corolib: `corolib.sync`, `corolib.monkey.patch_all()`.
DOTTED = re.compile(r"`(corolib(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?:\(\))?`")
# Any backticked identifier (no dots, no call parentheses).
IDENT = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)(?:\(\))?`")


def public_modules() -> list[str]:
    names = ["corolib"]
    for info in pkgutil.walk_packages(corolib.__path__, "corolib."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return sorted(names)


def public_names(module: ModuleType) -> list[str]:
    """``__all__``, or for a package without it, its explicit ``X as X`` re-exports."""
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return list(declared)
    tree = ast.parse(Path(module.__file__ or "").read_text())
    return sorted(
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname == alias.name
    )


def resolve(dotted: str) -> object:
    """Import the longest module prefix of ``dotted`` and get the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def readme_bullet(start: str) -> str:
    """The README feature bullet that starts with ``start`` (up to the next bullet)."""
    match = re.search(r"^- " + re.escape(start) + r".*?(?=^- |^\S|\Z)", README, re.M | re.S)
    assert match, f"README.md has no bullet starting {start!r}"
    return match.group(0)


# queue.ShutDown is new in 3.13: corolib.queue has it from there on.
NEW_IN_313 = {"ShutDown"} if sys.version_info < (3, 13) else set()

# Each README feature bullet, the modules its plain backticked names belong to (a name
# must be an attribute of one of them), and the names in it that are not such attributes
# (method names, stdlib modules, programs).
README_NAMES: dict[str, tuple[tuple[str, ...], set[str]]] = {
    "**`corolib.greenlet`**": (
        ("corolib.greenlet",),
        {"switch", "throw", "parent", "dead", "run", "gr_frame", "gr_context"},
    ),
    "**The hub**": (("corolib",), {"uv_run", "join", "get", "kill", "link"}),
    "**`corolib.uv`**": (("corolib.uv",), set()),
    "**Synchronisation**": (
        ("corolib.sync", "corolib.queue", "corolib.pool", "corolib.local", "corolib.threadpool"),
        # ShutDown: the stdlib's queue.ShutDown, new in 3.13.
        {"map", "imap", "set", "put_nowait"}
        | ({"ShutDown"} if sys.version_info < (3, 13) else set()),
    ),
    "**Networking**": (("corolib.server", "corolib.ssl"), {"socket", "isinstance"}),
    "**`corolib.monkey.patch_all()`**": (
        ("corolib.monkey",),
        {"socket", "ssl", "select", "selectors", "time", "sleep", "_thread", "threading"}
        | {"queue", "subprocess", "os", "fork", "waitpid", "read", "signal", "requests", "redis"}
        | {"asyncio"}
        | {"http", "urllib", "test_socket", "test_threading", "test_ssl", "patch_"},
    ),
}


@pytest.mark.parametrize("dotted", sorted(set(DOTTED.findall(README + DESIGN))))
def test_documented_dotted_names_exist(dotted: str) -> None:
    resolve(dotted)


@pytest.mark.parametrize("bullet", list(README_NAMES))
def test_readme_bullet_names_exist(bullet: str) -> None:
    module_names, not_api = README_NAMES[bullet]
    modules = [importlib.import_module(m) for m in module_names]
    text = DOTTED.sub("", readme_bullet(bullet))
    names = set(IDENT.findall(text)) - not_api
    assert names, f"no names found in the README bullet {bullet!r}"
    missing = sorted(n for n in names if not any(hasattr(m, n) for m in modules))
    assert not missing, f"README.md names {missing} under {bullet}; {module_names} lack them"


@pytest.mark.parametrize("module_name", public_modules())
def test_public_module_names_importable(module_name: str) -> None:
    module = importlib.import_module(module_name)
    names = public_names(module)
    assert names, f"{module_name} declares no public names"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{module_name}.__all__ lists names it lacks: {missing}"


def test_top_level_names_all_in_readme() -> None:
    names = public_names(corolib)
    assert {"spawn", "Greenlet", "Timeout", "Event", "sleep"} <= set(names)
    undocumented = [n for n in names if f"`{n}`" not in README and f"`{n}()`" not in README]
    assert not undocumented, f"corolib exports {undocumented}, README.md never names them"


STDLIB_MIRRORS = {
    "corolib.os": "os",
    "corolib.select": "select",
    "corolib.signal": "signal",
    "corolib.socket": "socket",
    "corolib.ssl": "ssl",
    "corolib.subprocess": "subprocess",
    "corolib.thread": "_thread",
    "corolib.time": "time",
}


@pytest.mark.parametrize("module_name", public_modules())
def test_public_names_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    mirror = STDLIB_MIRRORS.get(module_name)
    stdlib = importlib.import_module(mirror) if mirror else None
    docstring = module.__doc__ or ""
    source = Path(module.__file__ or "").read_text()
    undocumented = []
    for name in public_names(module):
        value = getattr(module, name)
        if stdlib is not None and getattr(stdlib, name, object()) is value:
            continue  # the stdlib's own object, re-exported unchanged
        if f"`{name}`" in DOCS or re.search(rf"\b{re.escape(name)}\b", docstring):
            continue
        if re.search(rf"^#:.*\n{re.escape(name)}\b", source, re.M):
            continue  # a documentation comment on the line before its definition
        if isinstance(value, type | ModuleType) or callable(value):
            if (getattr(value, "__doc__", None) or "").strip():
                continue
        undocumented.append(name)
    assert not undocumented, f"{module_name}: public names without documentation: {undocumented}"


def test_one_version() -> None:
    # pyproject.toml reads the version from corolib.__version__ (dynamic).
    import importlib.metadata

    assert importlib.metadata.version("corolib") == corolib.__version__
    assert 'version = { attr = "corolib.__version__" }' in (ROOT / "pyproject.toml").read_text()
