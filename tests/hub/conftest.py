"""Shared fixtures for the hub tests.

Every test leaves the hub clean: ``hub_clean`` (tests/_support/plugin.py,
for every directory; ``clean_hub`` is its old name here) runs ``sleep(0)`` a
few times after each test and asserts that the thread's hub has no parked
greenlet, nothing ready, no pending deadline and no fd watcher left.

- ``refs``: ``refs.obj()`` / ``refs.callback()`` make fresh objects owned
  by the fixture; after the test (its frame gone) their reference counts
  must be back to what they were when made: whatever the test passed them
  to let go of them.
- ``hang_guard`` (autouse): a test still running after ``HANG_SECONDS`` gets
  ``HubHang`` raised in it (SIGALRM wakes the hub through its signal fd),
  so a hang in the hub fails that test instead of stalling the run.
- ``timing``: ``timing.report(name, text)`` adds a line to the "hub timing"
  section printed at the end of the run (lateness of timers, promptness of
  signals): measured and shown, asserted only loosely by the tests.

Plain helpers (``refs_back`` for reference counts, ``run_py``/``popen_py``
for fresh interpreters, ``settle``, ``close_fd``, ``SCALE``) are in
``hubutil.py``.
"""

from __future__ import annotations

import gc
import signal
import sys

import pytest
from _support.plugin import settle, test_failed

from corolib.hub import get_hub_if_exists

HANG_SECONDS = 100


class HubHang(BaseException):
    """A test ran for HANG_SECONDS: most likely stuck in the hub."""


@pytest.fixture(autouse=True)
def hang_guard():
    def on_alarm(signum, frame):
        raise HubHang(f"still running after {HANG_SECONDS} s: stuck in the hub?")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---- reference counts of objects handed to the hub ------------------------------


class _Tracked:
    """A plain object handed to the hub by a test."""


def _make_callback(result):
    def tracked_callback(*args, **kwargs):
        return result

    return tracked_callback


class _Refs:
    # Every count is taken the same way (the list slot and getrefcount's
    # argument, no other local), so before and after compare exactly.
    def __init__(self) -> None:
        self._made: list[list] = []

    def _keep(self) -> object:
        gc.collect()
        entry = self._made[-1]
        entry[1] = sys.getrefcount(entry[0])
        return entry[0]

    def obj(self):
        """A fresh object to pass as an argument or value."""
        self._made.append([_Tracked(), 0])
        return self._keep()

    def callback(self, result=None):
        """A fresh callable (accepting anything) returning ``result``."""
        self._made.append([_make_callback(result), 0])
        return self._keep()

    def check(self) -> None:
        settle()
        gc.collect()
        bad = []
        for entry in self._made:
            now = sys.getrefcount(entry[0])
            if now != entry[1]:
                bad.append(f"{entry[0]!r}: {entry[1]} -> {now}")
        assert not bad, "reference counts not back: " + "; ".join(bad)


@pytest.fixture
def refs(request):
    tracker = _Refs()
    yield tracker
    if not test_failed(request) and get_hub_if_exists() is not None:
        tracker.check()


# ---- timing report ------------------------------------------------------------

_TIMING: list[str] = []


class _Timing:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid

    def report(self, text: str) -> None:
        line = f"{self.nodeid}: {text}"
        _TIMING.append(line)
        print(line)


@pytest.fixture
def timing(request):
    return _Timing(request.node.nodeid)


def pytest_terminal_summary(terminalreporter):
    if _TIMING:
        terminalreporter.section("hub timing (measured, asserted loosely)")
        for line in _TIMING:
            terminalreporter.write_line(line)
