"""Sphinx configuration for corolib's documentation site (``make docs``).

The API pages are generated from the docstrings of the *installed* package
(``make docs`` installs it first).  The build is strict: nitpicky references,
warnings are errors, and a fresh environment each time.
"""

from __future__ import annotations

import glob
import importlib
import inspect
import pathlib
import re
import sys
import types
from typing import Any

import corolib

HERE = pathlib.Path(__file__).parent

# The module pages of the API reference, in the order of the reference's
# table of contents: ONE LINE PER MODULE.
API_MODULES = [
    "corolib",
    "corolib.greenlet",
    "corolib.hub",
    "corolib.sync",
    "corolib.queue",
    "corolib.pool",
    "corolib.local",
    "corolib.threadpool",
    "corolib.socket",
    "corolib.dns",
    "corolib.ssl",
    "corolib.select",
    "corolib.selectors",
    "corolib.subprocess",
    "corolib.server",
    "corolib.monkey",
    "corolib.uv",
    "corolib.os",
    "corolib.signal",
    "corolib.thread",
    "corolib.threading",
    "corolib.time",
    "corolib.monkey.events",
    "corolib.pywsgi",
    "corolib.gunicorn",
    "corolib.util",
    "corolib.backdoor",
    "corolib.config",
    "corolib.events",
    "corolib.asyncio",
    "corolib.fileobject",
    "corolib.psycopg",
]

# The guides, in the order of the site's table of contents: docs/<name>.md
# (or .rst).  Pages still arriving from other branches are listed too and
# appear once their file exists.
GUIDES = [
    "getting-started",
    "porting-from-gevent",
    "configuration",
    "design",
    "loop",
    "benchmarks",
]

project = "corolib"
author = "The corolib authors"
copyright = "2026, The corolib authors"
release = corolib.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "README.md"]

# Single backticks are references, and every reference must resolve.
default_role = "py:obj"
nitpicky = True
# Names in docstrings that are code, not pages: parameters, members of
# private bases, the standard library's own docstrings.  Keep this short.
nitpick_ignore = [
    ("py:obj", "seconds"),
    ("py:meth", "ready"),
    ("py:meth", "get"),
    ("py:meth", "is_set"),
    ("py:meth", "SimpleQueue.get"),
    ("py:meth", "SimpleQueue.put"),
    ("py:class", "PipeIO"),
    ("py:class", "SSLObject"),
    ("py:class", "socket"),
    ("py:data", "local"),
    ("py:data", "Lock"),
    ("py:data", "RLock"),
    ("py:func", "get_ident"),
    ("py:meth", "socket._wait"),
    ("py:meth", "socket._retry"),
    # Undocumented helpers that docstrings of corolib.server, .dns, .pywsgi
    # and .fileobject name.
    ("py:attr", "BaseServer.stop_timeout"),
    ("py:attr", "BaseServer.kill_timeout"),
    ("py:data", "IDLE_SECONDS"),
    ("py:class", "DnsPythonResolver"),
    ("py:meth", "run_application"),
    ("py:meth", "log_request"),
    ("py:meth", "format_request"),
    ("py:data", "FileObject"),
    ("py:class", "corolib.fileobject.FileObjectBase"),
    ("py:class", "corolib.subprocess.PipeIO"),
]
nitpick_ignore_regex = [
    # Private names (helper bases, the standard library's own private modules).
    (r"py:.*", r"([\w.]*\.)?_\w.*"),
    # Type variables in signatures (T, A, B, P, ~P, T_co).
    (r"py:.*", r"([\w.]*\.)?~?[A-Z][A-Z0-9]?(_co|_contra)?"),
    # Third-party bases with no inventory here.
    (r"py:.*", r"gunicorn\..*"),
    # In the standard library, but not in Python 3.11's inventory.
    (r"py:class", r"types\.FrameType"),
]

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autoclass_content = "class"
autodoc_preserve_defaults = True
# Signatures come from the code (and __text_signature__ for C functions), not
# from a first docstring line: docstrings copied from the standard library
# start with "recv_into(buffer, [nbytes[, flags]]) -> nbytes_read".
autodoc_docstring_signature = False

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
suppress_warnings = ["myst.header"]

# The Python inventory comes from Debian's python3-doc package, read from disk
# (no network at build time); the links still point at docs.python.org.
_python_inv = sorted(glob.glob("/usr/share/doc/python3.*/html/objects.inv"))
if not _python_inv:
    sys.exit("docs: no local Python inventory; apt-get install python3-doc (make docs does)")
intersphinx_mapping = {"python": ("https://docs.python.org/3", _python_inv[-1])}

html_theme = "furo"
html_title = f"corolib {release}"
html_static_path: list[str] = []


# -- The API pages: generated into docs/_api/ at each build ------------------


def _is_stdlib_reexport(modname: str, name: str, obj: Any) -> bool:
    """``obj`` is the standard library's own object (``corolib.socket.AF_INET``)."""
    origin = getattr(obj, "__module__", None)
    if isinstance(origin, str) and (inspect.isclass(obj) or callable(obj)):
        return not origin.startswith("corolib")
    try:
        std = importlib.import_module(modname.rsplit(".", 1)[-1])
    except ImportError:
        return False
    return std is not None and hasattr(std, name) and getattr(std, name) is obj


def _plan() -> dict[str, list[str]]:
    """Which public names each module page documents.

    A name is documented on the first page (in API_MODULES order) whose
    module exports it and either defines it (itself or in a private
    submodule or the C core) -- so ``spawn`` is ``corolib.hub.spawn``, and
    the package's own re-exports are listed on its page with links.
    """
    plan: dict[str, list[str]] = {}
    owner: dict[int, str] = {}
    for modname in API_MODULES:
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [n for n in vars(mod) if not n.startswith("_")]
        keep = []
        # An alias (socket.SocketType) after its object's own name (socket.socket).
        names = sorted(names, key=lambda n: getattr(getattr(mod, n), "__name__", n) != n)
        for name in names:
            obj = getattr(mod, name)
            if inspect.ismodule(obj) or _is_stdlib_reexport(modname, name, obj):
                continue
            if modname != "corolib" and id(obj) not in owner:
                owner[id(obj)] = f"{modname}.{name}"
                keep.append(name)
        plan[modname] = keep
    top = importlib.import_module("corolib")
    reexports[:] = [
        (n, owner[id(getattr(top, n))])
        for n in vars(top)
        if not n.startswith("_") and id(getattr(top, n)) in owner
    ]
    return plan


reexports: list[tuple[str, str]] = []


def _write_api_pages(app: Any) -> None:
    out = HERE / "_api"
    out.mkdir(exist_ok=True)
    for stale in out.glob("*.rst"):
        stale.unlink()
    for modname, members in _plan().items():
        mod = importlib.import_module(modname)
        lines = [
            modname,
            "=" * len(modname),
            "",
            f".. automodule:: {modname}",
            "   :no-members:",
            "",
        ]
        for name in members:
            obj = getattr(mod, name)
            if inspect.isclass(obj):
                kind = "exception" if issubclass(obj, BaseException) else "class"
            elif callable(obj):
                kind = "function"
            else:
                kind = "data"
            lines += [f".. auto{kind}:: {modname}.{name}", ""]
        if modname == "corolib":
            lines += ["The package re-exports the most used names:", ""]
            lines += [f"- ``corolib.{n}``: `{target}`" for n, target in reexports]
            lines.append("")
        (out / f"{modname}.rst").write_text("\n".join(lines), encoding="utf-8")
    _copy_benchmarks()


_MD_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s#]+)\)")


def _copy_benchmarks() -> None:
    """BENCHMARKS.md for the benchmarks page, its links to repository files as paths.

    The site holds docs/ only, so a link from BENCHMARKS.md to, say, a result
    file under bench/ becomes ``text (bench/results/x.md)``; a link to a file
    that does not exist is kept, and fails the build.
    """
    root = HERE.parent

    def local(m: re.Match[str]) -> str:
        text, target = m.group(1), m.group(2)
        if "://" in target or not (root / target).exists():
            return m.group(0)
        return f"{text} (``{target}``)"

    text = (root / "BENCHMARKS.md").read_text(encoding="utf-8")
    (HERE / "_api" / "BENCHMARKS.md.txt").write_text(_MD_LINK.sub(local, text), encoding="utf-8")


def _fill_tocs(app: Any, docname: str, source: list[str]) -> None:
    """Expand the placeholders of index.md and api.rst into their toctrees."""
    if docname == "index":
        guides = [g for g in GUIDES if list(HERE.glob(g + ".*"))]
        source[0] = source[0].replace("GUIDES", "\n".join(guides))
    elif docname == "api":
        source[0] = source[0].replace("API_MODULES", "\n".join(f"   _api/{m}" for m in API_MODULES))


# Standard-library names as annotations spell them -> as the inventory does.
STDLIB_ALIASES = {
    "ModuleType": "types.ModuleType",
    "FrameType": "types.FrameType",
    "asyncio.events.TimerHandle": "asyncio.TimerHandle",
    "asyncio.events.Handle": "asyncio.Handle",
}


def _resolve_fallback(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve what the Python domain could not, in three narrow cases.

    ``corolib.Timeout`` resolves to where it is documented (corolib.hub.Timeout);
    a standard-library name spelled as an annotation does (STDLIB_ALIASES); and
    an unqualified name (``AsyncResult`` in corolib.threadpool) resolves if it
    names exactly one documented object.  Anything else stays an error.
    """
    if node.get("refdomain") != "py":
        return None
    py = env.get_domain("py")
    target = node["reftarget"]
    if target.startswith("corolib.") and target[8:] in dict(reexports):
        found = py.resolve_any_xref(
            env, node["refdoc"], app.builder, dict(reexports)[target[8:]], node, contnode
        )
        return found[0][1] if found else None
    if target in STDLIB_ALIASES:
        from sphinx.ext import intersphinx

        node["reftarget"] = STDLIB_ALIASES[target]
        return intersphinx.missing_reference(app, env, node, contnode)
    if "." not in target.lstrip("~"):
        matches = py.find_obj(
            env, None, None, target.lstrip("~"), node.get("reftype"), searchmode=1
        )
        if len(matches) == 1:
            from sphinx.util.nodes import make_refnode

            name, entry = matches[0]
            return make_refnode(
                app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name
            )
    return None


def _c_method_signature(
    app: Any, what: str, name: str, obj: Any, options: Any, signature: str | None, ret: str | None
) -> tuple[str, str | None] | None:
    """Keep the first parameter of a C method whose text signature has no ``$self``.

    autodoc assumes a method's first parameter is ``self`` and drops it, so
    ``WaitQueue.wake(n=1, value=True)`` would read ``wake(value=True)``.
    """
    text = getattr(obj, "__text_signature__", None)
    c_method = (types.MethodDescriptorType, types.ClassMethodDescriptorType)
    if what in ("method", "classmethod") and isinstance(obj, c_method) and text:
        if not text.startswith("($"):
            try:
                return str(inspect.signature(obj)), ret
            except ValueError:  # a text signature inspect cannot parse
                return None
    return None


def setup(app: Any) -> None:
    """Generate the API pages before Sphinx looks for sources."""
    app.connect("builder-inited", _write_api_pages)
    app.connect("missing-reference", _resolve_fallback)
    app.connect("autodoc-process-signature", _c_method_signature)
    app.connect("source-read", _fill_tocs)
