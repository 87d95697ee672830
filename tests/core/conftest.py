"""Fixtures for the greenlet core tests.

Some core bugs kill the whole test process (a segfault when a thread that
used greenlets exits, or at interpreter exit).  Such a crash cannot be
marked xfail in-process, so each is probed once per session in a
subprocess; tests that would trigger it are reported as xfail (not run)
while the probe crashes, and run normally as soon as the core is fixed.
The same behaviour is asserted, strictly, by tests/crash/.
"""

from __future__ import annotations

import ctypes

import pytest

import corolib.greenlet as greenlet

PROBES = {
    # csrc/py/greenlet_type.c green_dealloc frees the data-stack chunks saved
    # in a *main* greenlet's state, which are the thread's own live chunks.
    "thread_exit": (
        "core bug: a thread that switched greenlets crashes when it exits "
        "(3.11+; green_dealloc frees the main greenlet's live data stack)",
        """
        import os, threading
        import corolib.greenlet as greenlet
        def body():
            greenlet.greenlet(lambda: None).switch()
        for _ in range(5):
            t = threading.Thread(target=body)
            t.start()
            t.join()
        print("ok", flush=True)
        os._exit(0)
        """,
    ),
    "process_exit": (
        "core bug: the interpreter crashes at exit once the main greenlet "
        "has switched (3.11+; same cause as thread_exit)",
        """
        import corolib.greenlet as greenlet
        greenlet.greenlet(lambda: None).switch()
        print("ok", flush=True)
        """,
    ),
}


@pytest.fixture(scope="session")
def crash_probes(session_run_python):
    """``crashes(name)``: True when probe script ``name`` does not exit cleanly."""
    results: dict[str, bool] = {}

    def crashes(name: str) -> bool:
        if name not in results:
            r = session_run_python(PROBES[name][1], timeout=60)
            results[name] = r.returncode != 0 or r.stdout.strip() != "ok"
        return results[name]

    return crashes


@pytest.fixture
def threads_can_exit(crash_probes):
    """Use in tests whose threads use greenlets and then exit."""
    if crash_probes("thread_exit"):
        pytest.xfail(PROBES["thread_exit"][0])


@pytest.fixture(scope="session", autouse=True)
def _survive_process_exit_bug(crash_probes):
    """Keep the test process itself from crashing at exit on a known bug.

    When the probe shows the crash, the main greenlet of the main thread
    gets one extra reference that is never released, so it is not freed
    during finalisation.  tests/crash/ asserts the real behaviour.
    """
    yield
    if crash_probes("process_exit"):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(greenlet.getcurrent()))
