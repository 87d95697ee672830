"""The pytest plugin every test directory runs under (registered by tests/conftest.py).

Fixtures:

- ``hub_clean`` (autouse, every test): after the test, if this thread has a
  corolib hub, lets what is queued run (a few ``sleep(0)``) and fails the
  test if the hub still has a parked greenlet, a queued callback, a pending
  deadline or a watched fd; the hub is then destroyed so the next test
  starts on a fresh one.  A test that already failed is not checked again
  (its own failure says enough), its hub is destroyed.  In directories that
  turn on ``fd_leak_check`` (tests/net, tests/ssl, tests/server,
  tests/examples) it also fails the test if fds stayed open; the hub is then
  made before the test, so its own fds are not counted.  A directory that
  never imports corolib pays nothing.
- ``fd_leak_check``: False here; a directory's conftest overrides it.
- ``no_leaks``, ``clean_hub``, ``hub_left_clean``: the names the directories
  used for their own copies of this check; they still work (they request
  ``hub_clean``), and ``hub_left_clean`` gives the thread's hub.
- ``leakcheck``, ``run_python``, ``scaled``, ``rss``: see :mod:`_support.leaks`.

The slow switch: tests marked ``slow`` (long leak loops, million-greenlet
counts) are skipped unless the ``-m`` expression names them
(``pytest -m slow tests/...``).
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from _support.leaks import (
    LeakReport,
    ScriptResult,
    check_leaks,
    describe_fds,
    open_fds,
    rss_kib,
    run_script,
    scaled_count,
)

# ---- the slow switch ---------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked slow unless the ``-m`` expression names them."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# ---- test outcome, for the teardown checks -----------------------------------------


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, "rep_" + rep.when, rep)


def test_failed(request: pytest.FixtureRequest) -> bool:
    """Whether the test's call phase failed, was skipped, or never ran."""
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed or rep.skipped or hasattr(rep, "wasxfail")


test_failed.__test__ = False  # type: ignore[attr-defined]  # not a test


# ---- the hub is clean ----------------------------------------------------------------


def _existing_hub() -> Any:
    """This thread's hub if corolib is loaded and made one, else None."""
    core = sys.modules.get("corolib._core")
    return None if core is None else core.get_hub_if_exists()


def hub_dirt(stats: dict[str, Any]) -> dict[str, Any]:
    """What is left in a hub that should be empty."""
    return {k: stats[k] for k in ("parked", "watches", "ready", "timers", "fds") if stats.get(k)}


def settle(rounds: int = 3) -> None:
    """Let everything already queued in the hub run (a few ``sleep(0)``)."""
    import corolib

    for _ in range(rounds):
        corolib.sleep(0)


@pytest.fixture
def fd_leak_check() -> bool:
    """Whether ``hub_clean`` also compares the open fds (a directory overrides this)."""
    return False


@pytest.fixture(autouse=True)
def hub_clean(request: pytest.FixtureRequest, fd_leak_check: bool) -> Iterator[None]:
    """After the test: nothing parked, queued, timed or watched in the hub (and no fd leaked)."""
    before: set[str] = set()
    if fd_leak_check:
        import corolib

        corolib.get_hub()  # its own fds (epoll, eventfd, signal pair) are not the test's
        gc.collect()
        before = open_fds()
    yield
    hub = _existing_hub()
    if test_failed(request):
        # Do not pile a teardown error on a failure (or an expected one);
        # give the next test a fresh hub instead.
        if hub is not None:
            try:
                hub.destroy()
            except Exception:  # noqa: BLE001
                pass
        return
    if hub is not None:
        settle()
        gc.collect()
        dirt = hub_dirt(hub.statistics())
        if dirt:
            desc = hub.describe_parked()
            hub.destroy()
            pytest.fail(f"the test left the hub dirty: {dirt}\n{desc}", pytrace=False)
    if fd_leak_check:
        leaked = open_fds() - before
        # A thread-world test may still be tearing down a daemon thread's socket.
        deadline = time.monotonic() + 2
        while leaked and time.monotonic() < deadline:
            time.sleep(0.01)
            gc.collect()
            leaked = open_fds() - before
        assert not leaked, f"fds leaked: {describe_fds(leaked)}"


@pytest.fixture
def no_leaks(hub_clean: None) -> None:
    """The old name of ``hub_clean`` in tests/net, ssl, server and examples."""


@pytest.fixture
def clean_hub(hub_clean: None) -> None:
    """The old name of ``hub_clean`` in tests/hub."""


@pytest.fixture
def hub_left_clean(hub_clean: None) -> Any:
    """The old name of ``hub_clean`` in tests/sync; gives the thread's hub."""
    import corolib

    return corolib.get_hub()


# ---- general helpers as fixtures -----------------------------------------------------


@pytest.fixture
def scaled() -> Callable[[int], int]:
    """``scaled(n)``: a loop count scaled by COROLIB_TEST_SCALE."""
    return scaled_count


@pytest.fixture
def rss() -> Callable[[], int]:
    """``rss()``: this process's resident set size in KiB."""
    return rss_kib


@pytest.fixture
def leakcheck() -> Callable[..., LeakReport]:
    """``leakcheck(fn, calls=100, ...)``: see :func:`_support.leaks.check_leaks`."""
    return check_leaks


@pytest.fixture
def run_python(tmp_path: Any) -> Callable[..., ScriptResult]:
    """``run_python(source, timeout=60, env=None, args=())`` -> ScriptResult."""

    def run(source: str, **kwargs: Any) -> ScriptResult:
        return run_script(source, cwd=tmp_path, **kwargs)

    return run
