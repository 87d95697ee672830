"""How many of gevent's public names corolib has: a measuring tool, not a test.

Step 1, with gevent installed (e.g. a bench venv, ``.venv-bench-3.11``)::

    .venv-bench-3.11/bin/python tests/compat/gevent_names.py collect names.json

writes each gevent module's public names (``__all__``, or every name not
starting with ``_``, plus ``__extensions__``) and ``Greenlet``'s members.
Step 2, with corolib installed::

    .venv/bin/python tests/compat/gevent_names.py check names.json [--missing]

prints how many exist on the corolib counterpart (the module map below).
"""

from __future__ import annotations

import importlib
import json
import sys

MODULES = {
    "gevent": "corolib",
    "gevent.event": "corolib.sync",
    "gevent.lock": "corolib.sync",
    "gevent.queue": "corolib.queue",
    "gevent.pool": "corolib.pool",
    "gevent.local": "corolib.local",
    "gevent.socket": "corolib.socket",
    "gevent.ssl": "corolib.ssl",
    "gevent.select": "corolib.select",
    "gevent.selectors": "corolib.selectors",
    "gevent.subprocess": "corolib.subprocess",
    "gevent.os": "corolib.os",
    "gevent.signal": "corolib.signal",
    "gevent.threadpool": "corolib.threadpool",
    "gevent.hub": "corolib.hub",
    "gevent.fileobject": "corolib.fileobject",
    "gevent.monkey": "corolib.monkey",
    "gevent.server": "corolib.server",
    "gevent.baseserver": "corolib.server",
    "gevent.thread": "corolib.thread",
    "gevent.threading": "corolib.threading",
    "gevent.time": "corolib.time",
}
GREENLET = "Greenlet."


def collect(path: str) -> None:
    names: dict[str, list[str]] = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        public = getattr(module, "__all__", None) or [n for n in dir(module) if n[0] != "_"]
        names[module_name] = sorted(set(public) | set(getattr(module, "__extensions__", ())))
    greenlet = importlib.import_module("gevent").Greenlet
    names[GREENLET] = sorted(n for n in dir(greenlet) if n[0] != "_")
    with open(path, "w") as f:
        json.dump(names, f, indent=1)


def check(path: str, show_missing: bool) -> None:
    with open(path) as f:
        names = json.load(f)
    have = total = 0
    missing = []
    for module_name, wanted in names.items():
        if module_name == GREENLET:
            target: object = importlib.import_module("corolib").Greenlet
        else:
            try:
                target = importlib.import_module(MODULES[module_name])
            except ImportError:
                target = None  # the whole module is missing
        for name in wanted:
            total += 1
            if hasattr(target, name):
                have += 1
            else:
                missing.append(f"{module_name}:{name}")
    print(f"{have}/{total} = {100 * have / total:.1f}% of gevent's public names exist in corolib")
    if show_missing:
        print("\n".join(missing))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "collect":
        collect(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "check":
        check(sys.argv[2], "--missing" in sys.argv)
    else:
        sys.exit(__doc__)
