"""The thread's hub, as the Python layer sees it: error reporting policy.

The loop itself runs in C (``corolib._core.Hub``).  This subclass decides
what happens to an exception that reaches the hub: it is printed once, with
the greenlet it came from, and ``KeyboardInterrupt``/``SystemExit`` are
raised in the thread's main greenlet instead.

It also starts the hub's monitor thread (corolib/_monitor.py) when
``corolib.config.config.monitor_thread`` is on (``COROLIB_MONITOR_THREAD=1``,
or ``python -X dev``), and keeps a registry of live hubs for run info.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
import weakref
from types import TracebackType
from typing import Any, TextIO

from corolib import _core
from corolib._core import GreenletExit, getcurrent
from corolib._monitor import PeriodicMonitoringThread
from corolib.config import config
from corolib.hub._loop import Loop, Waiter

#: Every live hub, for run info (corolib.util).
_all_hubs: weakref.WeakSet[Hub] = weakref.WeakSet()

__all__ = ["Hub", "get_hub"]


class Hub(_core.Hub):
    """One per OS thread: a greenlet that runs a libuv loop from C.

    Every blocking call parks the calling greenlet and switches here; the
    hub resumes it when its event (I/O, timer, wake-up) happens.  Create it
    with :func:`get_hub`, never directly.
    """

    #: Exceptions that are the end of a greenlet, not an error: not printed.
    #: (KeyboardInterrupt is not printed either: it goes on to the main
    #: greenlet, which shows it if nothing handles it there.)
    NOT_ERROR: tuple[type[BaseException], ...] = (GreenletExit, SystemExit, KeyboardInterrupt)
    #: Exceptions that go to the main greenlet, wherever they were raised.
    SYSTEM_ERROR: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit, SystemError)

    #: The monitor thread watching this hub, or None.
    periodic_monitoring_thread: PeriodicMonitoringThread | None = None

    def __init__(self) -> None:
        super().__init__()
        _all_hubs.add(self)
        if config.monitor_thread:
            try:
                self.start_periodic_monitoring_thread()
            except Exception as exc:  # noqa: BLE001 - the hub works without it
                self.exception_stream.write(f"corolib: no monitor thread for {self!r}: {exc}\n")

    def start_periodic_monitoring_thread(self) -> PeriodicMonitoringThread:
        """Start (or return) this hub's monitor thread, whatever the configuration."""
        monitor = self.periodic_monitoring_thread
        if monitor is None or monitor.pid != os.getpid():
            monitor = self.periodic_monitoring_thread = PeriodicMonitoringThread(self)
        return monitor

    def destroy(self, destroy_loop: bool | None = None) -> None:
        """Stop the monitor thread, if any, then destroy the hub (see the C base)."""
        monitor = self.periodic_monitoring_thread
        if monitor is not None:
            self.periodic_monitoring_thread = None
            monitor.kill()
        super().destroy(destroy_loop)

    @property
    def loop(self) -> Loop:
        """gevent-style loop calls: ``run_callback``, ``timer``, ``io``, ``async_``, ``now``."""
        loop = _loops.get(self)
        if loop is None:
            loop = _loops[self] = Loop(self)
        return loop

    @property
    def threadpool(self) -> Any:
        """The hub's :class:`corolib.threadpool.ThreadPool` (made on first use)."""
        # Imported here: the thread pool sits in a layer above the hub.
        return importlib.import_module("corolib.threadpool").get_threadpool()

    def wait(self, watcher: Any) -> Any:
        """Wait in the calling greenlet until ``watcher`` (from :attr:`loop`) fires."""
        waiter = Waiter()
        watcher.start(waiter.switch, None)
        try:
            return waiter.get()
        finally:
            watcher.stop()

    @property
    def exception_stream(self) -> TextIO:
        """Where errors are printed (``sys.stderr`` at the time of printing)."""
        return sys.stderr

    def handle_error(
        self,
        context: object,
        type: type[BaseException],
        value: BaseException,
        tb: TracebackType | None,
    ) -> None:
        """Report an exception that reached the hub; never raises.

        ``context`` is the greenlet (or callback) it came from, or None.
        """
        if not issubclass(type, self.NOT_ERROR):
            self.print_exception(context, type, value, tb)
        if issubclass(type, self.SYSTEM_ERROR):
            self.handle_system_error(value)

    def handle_system_error(self, value: BaseException) -> None:
        """Raise ``value`` (Ctrl-C, SystemExit) in the thread's main greenlet."""
        main = self.parent
        if main is None or getcurrent() is main:
            raise value
        if not self.interrupt(main, value):
            self.run_callback(main.throw, value)

    def print_exception(
        self,
        context: object,
        type: type[BaseException],
        value: BaseException,
        tb: TracebackType | None,
    ) -> None:
        """Print the traceback, then one line naming what failed."""
        stream = self.exception_stream
        try:
            traceback.print_exception(type, value, tb, file=stream)
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            what = "the hub" if context is None else _safe_repr(context)
            stream.write(f"{when} {what} failed with {type.__name__}\n\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - reporting must never raise
            pass


def _safe_repr(obj: object) -> str:
    try:
        return repr(obj)
    except Exception as exc:  # noqa: BLE001
        return f"<{type(obj).__name__} (repr failed: {exc!r})>"


_loops: weakref.WeakKeyDictionary[Hub, Loop] = weakref.WeakKeyDictionary()

_core.set_hub_class(Hub)


def _restart_monitor_after_fork() -> None:
    # Only the forking thread survives in the child, with its hub.
    hub = _core.get_hub_if_exists()
    if isinstance(hub, Hub) and hub.periodic_monitoring_thread is not None:
        hub.periodic_monitoring_thread = None
        hub.start_periodic_monitoring_thread()


os.register_at_fork(after_in_child=_restart_monitor_after_fork)


def get_hub() -> Hub:
    """The current thread's hub, created on first use."""
    hub: Any = _core.get_hub()
    return hub  # type: ignore[no-any-return]
