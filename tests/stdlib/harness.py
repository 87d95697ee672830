"""Run one of CPython's own test modules under ``corolib.monkey.patch_all()``.

    python harness.py test_socket [--verbose]
    python harness.py --asyncio test_events [--verbose]

With ``--asyncio`` the module is ``test.test_asyncio.<name>``, nothing is
patched, and asyncio makes corolib's ``EventLoop`` wherever it would make
its own (the default policy's loop factory, and every test class's
``create_event_loop``); the skip list is ``skips_asyncio.py``.

Run by ``runner.py`` in a fresh interpreter per module (patching is
process-wide and cannot be undone).  In order:

1. ``patch_all()``, before anything else is imported;
2. ``test.support`` is set up as regrtest would: no resource that needs the
   outside world (``network``, ``urlfetch``...), and ``import_fresh_module``
   returns the already imported (patched) module -- a fresh import would
   bring back the unpatched originals (as gevent's runner does);
3. the module ``test.<name>`` is imported from the interpreter's own
   ``test`` package, unchanged;
4. the tests on the skip list (``skips.py``) are replaced by skipped
   tests, in place on the loaded classes (no source rewriting: line numbers
   and inheritance stay the module's own; a method disabled on one class
   stays enabled on its other subclasses);
   (``COROLIB_STDLIB_IGNORE=bug,detail`` leaves entries of those kinds
   out, to see whether they still fail);
5. the tests run with unittest; at the end a single line
   ``##corolib-stdlib## {json}`` gives the counts and the ids of the tests
   that failed, for the runner.
"""

from __future__ import annotations

import sys

from corolib import monkey

ASYNCIO = "--asyncio" in sys.argv
if not ASYNCIO:
    monkey.patch_all()

import faulthandler  # noqa: E402 - after patching, on purpose
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if ASYNCIO:
    import skips_asyncio as skips  # noqa: E402
else:
    import skips  # noqa: E402

MARKER = "##corolib-stdlib##"
#: resources regrtest would enable here: nothing that needs the outside world
RESOURCES = ["subprocess", "network"]


def _setup_support() -> None:
    from test import support
    from test.support import import_helper

    support.use_resources = list(RESOURCES)
    if ASYNCIO:
        return  # nothing patched: fresh imports are the real thing

    def import_fresh_module(
        name: str, fresh: object = (), blocked: object = (), **_: object
    ) -> object:
        try:
            return importlib.import_module(name)
        except ImportError:
            return None

    import_helper.import_fresh_module = import_fresh_module
    if hasattr(support, "import_fresh_module"):
        support.import_fresh_module = import_fresh_module


def _apply_skips(module: object, name: str) -> int:
    """Replace the listed tests by skipped ones; return how many entries applied."""
    applied = 0
    # COROLIB_STDLIB_IGNORE=bug,detail runs those entries anyway (to see if they still fail).
    ignored = set(filter(None, os.environ.get("COROLIB_STDLIB_IGNORE", "").split(",")))
    for entry in skips.for_module(name, sys.version_info):
        if entry.kind in ignored:
            continue
        parts = entry.test_id.split(".")[1:]
        owner: object = module
        for part in parts[:-1]:
            owner = getattr(owner, part, None)
            if owner is None:
                break
        target = getattr(owner, parts[-1], None) if owner is not None else None
        if target is None:
            print(f"corolib-stdlib: skip list entry not found: {entry.test_id}", file=sys.stderr)
            continue
        reason = f"corolib: {entry.reason}"
        if isinstance(target, type):
            target.__unittest_skip__ = True
            target.__unittest_skip_why__ = reason
        else:
            setattr(owner, parts[-1], unittest.skip(reason)(target))
        applied += 1
    return applied


class _Result(unittest.TextTestResult):
    """Counts and remembers, per test, how it ended."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.passed = 0
        self.corolib_skips = 0

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802 - unittest API
        super().addSuccess(test)
        self.passed += 1

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:  # noqa: N802
        super().addSkip(test, reason)
        if reason.startswith("corolib:"):
            self.corolib_skips += 1


_corolib_loops = 0


def _setup_asyncio() -> None:
    """Make every loop asyncio creates a corolib ``EventLoop``."""
    import asyncio

    import corolib.asyncio

    # Count the corolib loops made, so that the summary shows they were used.
    original_init = corolib.asyncio.EventLoop.__init__

    def counting_init(self: object) -> None:
        global _corolib_loops
        _corolib_loops += 1
        original_init(self)

    corolib.asyncio.EventLoop.__init__ = counting_init  # type: ignore[method-assign]
    policy_class = type(asyncio.get_event_loop_policy())
    policy_class._loop_factory = corolib.asyncio.EventLoop  # type: ignore[attr-defined]
    asyncio.set_event_loop_policy(None)

    class SelectorEventLoop(corolib.asyncio.EventLoop):  # type: ignore[misc]
        """What ``asyncio.SelectorEventLoop(selector)`` makes here: corolib's loop."""

        def __init__(self, selector: object = None) -> None:
            if selector is not None:
                selector.close()  # type: ignore[attr-defined]
            super().__init__()

    import asyncio.unix_events

    asyncio.SelectorEventLoop = SelectorEventLoop  # type: ignore[misc]
    asyncio.unix_events.SelectorEventLoop = SelectorEventLoop  # type: ignore[misc]
    if hasattr(asyncio.unix_events, "EventLoop"):  # 3.13+: asyncio.EventLoop
        asyncio.EventLoop = SelectorEventLoop  # type: ignore[misc]
        asyncio.unix_events.EventLoop = SelectorEventLoop


def _use_corolib_loops(module: object) -> None:
    """Test classes that build their loop themselves build corolib's."""
    import corolib.asyncio

    def create_event_loop(self: object) -> object:
        return corolib.asyncio.EventLoop()

    for value in list(vars(module).values()):
        if isinstance(value, type) and "create_event_loop" in dir(value):
            value.create_event_loop = create_event_loop  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    argv = [a for a in argv if a != "--asyncio"]
    name = argv[0]
    verbose = "--verbose" in argv
    timeout = float(os.environ.get("COROLIB_STDLIB_DUMP_AFTER", "0"))
    if timeout > 0:
        # A hanging test: dump the tracebacks before the runner kills us.
        faulthandler.dump_traceback_later(timeout, exit=False)
    _setup_support()
    if ASYNCIO:
        _setup_asyncio()
        module = importlib.import_module(f"test.test_asyncio.{name}")
        _use_corolib_loops(module)
    else:
        module = importlib.import_module(f"test.{name}")
    applied = _apply_skips(module, name)
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    runner = unittest.TextTestRunner(
        stream=sys.stdout, verbosity=2 if verbose else 1, resultclass=_Result
    )
    started = time.monotonic()
    result = runner.run(suite)
    elapsed = time.monotonic() - started
    assert isinstance(result, _Result)
    failed = [t.id() for t, _ in result.failures + result.errors]
    failed += [t.id() for t in result.unexpectedSuccesses]
    summary = {
        "module": name,
        "run": result.testsRun,
        "passed": result.passed,
        "skipped": len(result.skipped),
        "corolib_skips": result.corolib_skips,
        "skip_entries": applied,
        "expected_failures": len(result.expectedFailures),
        "failed": len(failed),
        "failed_ids": failed,
        "seconds": round(elapsed, 1),
    }
    if ASYNCIO:
        summary["corolib_loops"] = _corolib_loops
    sys.stdout.flush()
    print(f"\n{MARKER} {json.dumps(summary)}", flush=True)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
