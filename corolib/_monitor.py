"""The monitor thread: one real OS thread per hub that reports blocking.

A greenlet that runs without yielding keeps its hub -- and every other
greenlet of that thread -- from running.  The monitor notices it without
any cost on the switch path: the hub counts the greenlets it resumes
(``hub.switches``, kept in C anyway) and flags when it is blocked polling
for events.  The monitor samples both a few times per
``max_blocking_time`` *without taking the GIL* (``_core.HubWatch``, in C),
so a busy hub never has to hand the GIL over to it.  When the count has
not moved for ``max_blocking_time`` while the hub was not polling, the
monitor takes the GIL once, and if a greenlet other than the hub runs and
someone waits, that greenlet is blocking: the monitor sends
:class:`corolib.events.EventLoopBlocked` and prints one report (the
greenlet, its function, its current stack, how long so far).  One report
per blocking stretch, however long it lasts.

Sampling every quarter of the threshold means a stretch is reported
between 1x and 1.25x the threshold after it began (plus the interpreter's
switch interval, 5 ms, to get the GIL), and the time it reports is exact
to a quarter of the threshold.  Code that blocks in C *holding* the GIL
is reported only once it returns.

The thread is started with the real ``_thread`` functions captured at
import, so monkey patching never turns it into a greenlet, and it never
touches the hub's state other than to read it.  It optionally watches the
process's resident memory too (``config.max_memory_usage``).  It stops
when its hub goes away, when :meth:`PeriodicMonitoringThread.kill` is
called, and at interpreter exit; after ``fork`` the child's hub gets a new
one.
"""

from __future__ import annotations

import _thread
import atexit
import os
import sys
import time
import traceback
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any

from corolib import _core
from corolib.config import config
from corolib.events import (
    EventLoopBlocked,
    MemoryUsageThresholdExceeded,
    MemoryUsageUnderThreshold,
    notify_quietly,
)

__all__ = ["PeriodicMonitoringThread", "function_name", "rss_bytes"]

# The real primitives, whatever is patched later.
_start_new_thread = _thread.start_new_thread
_allocate_lock = _thread.allocate_lock
_get_ident = _thread.get_ident
_monotonic = time.monotonic

_all_monitors: weakref.WeakSet[PeriodicMonitoringThread] = weakref.WeakSet()


def rss_bytes() -> int:
    """Resident memory of this process in bytes (Linux: /proc/self/statm; else peak RSS)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource  # noqa: PLC0415 - only where /proc is missing

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def function_name(g: object, frame: FrameType | None = None) -> str:
    """The name of what greenlet ``g`` runs: a task's function, else its outermost frame's."""
    fn = getattr(g, "_function", None)
    if fn is None and isinstance(g, _core.Task):
        fn = getattr(g, "_run", None)
    if fn is not None:
        module = getattr(fn, "__module__", None)
        name = getattr(fn, "__qualname__", None) or repr(fn)
        return f"{module}.{name}" if module else name
    while frame is not None and frame.f_back is not None:
        frame = frame.f_back
    if frame is not None:
        code = frame.f_code
        name = getattr(code, "co_qualname", code.co_name)
        return f"{frame.f_globals.get('__name__', '?')}.{name}"
    return "?"


class PeriodicMonitoringThread:
    """The monitor of one hub (see the module's documentation).

    Started by the hub (``Hub.start_periodic_monitoring_thread()``, which
    hubs call themselves when ``config.monitor_thread`` is on).  Extra
    periodic checks: :meth:`add_monitoring_function`.
    """

    def __init__(self, hub: Any) -> None:
        ident = hub.thread_ident
        if ident is None:
            raise RuntimeError(f"{hub!r} has no thread")
        self._hub_ref = weakref.ref(hub)
        self.hub_thread_ident: int = ident
        self.max_blocking_time: float = config.max_blocking_time
        self.print_reports: bool = config.monitor_print_blocking_reports
        self._tick = min(max(self.max_blocking_time / 4, 0.001), 0.25)
        self._watch = _core.HubWatch()
        #: how many blocking stretches were reported
        self.reports = 0
        self._ignored: weakref.WeakSet[Any] = weakref.WeakSet()
        # Memory.
        self.max_memory_usage: int | None = config.max_memory_usage
        self._memory_exceeded = False
        self._memory_peak = 0
        self._functions: list[list[Any]] = []
        if self.max_memory_usage is not None and _owns_memory_check(ident):
            self._functions.append([self.monitor_memory_usage, config.memory_monitor_period, 0.0])
        # The thread holds _done while it runs.
        self._done = _allocate_lock()
        self._done.acquire()
        self.pid = os.getpid()
        self.monitor_thread_ident: int = _start_new_thread(self._run, ())
        _all_monitors.add(self)

    def __repr__(self) -> str:
        return (
            f"<PeriodicMonitoringThread of thread {self.hub_thread_ident:#x} "
            f"max_blocking_time={self.max_blocking_time}>"
        )

    @property
    def hub(self) -> Any:
        """The monitored hub, or None once it is gone."""
        return self._hub_ref()

    def add_monitoring_function(
        self, function: Callable[[Any], object], period: float | None
    ) -> None:
        """Call ``function(hub)`` every ``period`` seconds, in the monitor thread.

        ``period`` None removes it.  It must not call hub functions.
        """
        self._functions = [f for f in self._functions if f[0] != function]
        if period is not None:
            if not period > 0:
                raise ValueError("period must be > 0")
            self._functions = [*self._functions, [function, float(period), _monotonic()]]

    def ignore_current_greenlet_blocking(self) -> None:
        """Never report the calling greenlet (call it in the hub's thread)."""
        self._ignored.add(_core.getcurrent())

    def monitor_current_greenlet_blocking(self) -> None:
        """Undo :meth:`ignore_current_greenlet_blocking`."""
        self._ignored.discard(_core.getcurrent())

    def kill(self) -> None:
        """Stop the thread (returns at once; it exits right away)."""
        self._watch.stop()

    def join(self, timeout: float = 5.0) -> bool:
        """Wait until the thread has exited; True if it has."""
        if os.getpid() != self.pid:
            return True
        if self._done.acquire(timeout=timeout):
            self._done.release()
            return True
        return False

    # -- the thread ---------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._watch.stopped:
                hub = self._hub_ref()
                if hub is None or _core._hub_monitor_state(hub) is None:
                    break
                # Without the GIL until a suspect or the next periodic function.
                now = _monotonic()
                budget = 1.0
                for _, period, last in self._functions:
                    budget = min(budget, max(last + period - now, 0.001))
                suspect = self._watch.wait(hub, self._tick, self.max_blocking_time, budget)
                if suspect is not None:
                    self._guarded(self.monitor_blocking, hub, *suspect)
                now = _monotonic()
                for entry in self._functions:
                    function, period, last = entry
                    if now - last >= period:
                        entry[2] = now
                        self._guarded(function, hub)
                del hub
        finally:
            self._done.release()

    def _guarded(self, function: Callable[..., object], *args: Any) -> None:
        try:
            function(*args)
        except Exception:  # noqa: BLE001 - the monitor must keep going
            _print_exc(f"corolib monitor: {function!r} failed")

    def monitor_blocking(self, hub: Any, resumes: int, blocked: float) -> bool:
        """Report the running greenlet if it is still blocking; True if reported.

        Called when the hub has resumed nothing for ``blocked`` seconds (its
        count stayed at ``resumes``) while not polling.
        """
        state = _core._hub_monitor_state(hub)
        if state is None:
            return False
        now_resumes, current, waiting = state
        if now_resumes != resumes or current is hub or waiting == 0:
            return False  # over, or the hub itself, or nobody is kept waiting
        if current in self._ignored:
            return False
        self.reports += 1
        self.report_blocking(hub, current, blocked)
        return True

    def report_blocking(self, hub: Any, g: Any, blocked: float) -> None:
        """Send :class:`EventLoopBlocked`, then print the report."""
        frame = sys._current_frames().get(self.hub_thread_ident)
        stack = traceback.format_stack(frame) if frame is not None else []
        function = function_name(g, frame)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        info = [
            "=" * 78 + "\n",
            f"{when} corolib: greenlet {_safe_repr(g)} blocked the hub\n",
            f"  it has run {blocked:.3f} s without yielding "
            f"(max_blocking_time {self.max_blocking_time} s)\n",
            f"  function: {function}\n",
            f"  hub: {_safe_repr(hub)} (thread {self.hub_thread_ident:#x})\n",
            "Blocked stack (most recent call last):\n",
            *stack,
            "=" * 78 + "\n",
        ]
        event = EventLoopBlocked(g, blocked, info, hub, function, stack)
        notify_quietly(event)
        if self.print_reports:
            try:
                sys.stderr.write("".join(event.info))
                sys.stderr.flush()
            except Exception:  # noqa: BLE001, S110 - reporting must never raise
                pass

    def monitor_memory_usage(self, hub: Any) -> bool:
        """One memory check; send the threshold events when it crosses."""
        limit = self.max_memory_usage
        if limit is None:
            return True
        rss = rss_bytes()
        self._memory_peak = max(self._memory_peak, rss)
        info = {"rss": rss}
        if rss > limit and not self._memory_exceeded:
            self._memory_exceeded = True
            notify_quietly(MemoryUsageThresholdExceeded(rss, limit, info))
        elif rss <= limit and self._memory_exceeded:
            self._memory_exceeded = False
            notify_quietly(MemoryUsageUnderThreshold(rss, limit, self._memory_peak, info))
            self._memory_peak = 0
        return True


def _owns_memory_check(ident: int) -> bool:
    # Memory is process-wide: one monitor checks it (the first one started).
    return not any(m.max_memory_usage is not None for m in _all_monitors)


def _safe_repr(obj: object) -> str:
    try:
        return repr(obj)
    except Exception as exc:  # noqa: BLE001
        return f"<{type(obj).__name__} (repr failed: {exc!r})>"


def _print_exc(what: str) -> None:
    try:
        sys.stderr.write(what + "\n")
        traceback.print_exc(file=sys.stderr)
    except Exception:  # noqa: BLE001, S110 - reporting must never raise
        pass


def _stop_all() -> None:
    monitors = [m for m in _all_monitors if m.pid == os.getpid()]
    for m in monitors:
        m.kill()
    for m in monitors:
        m.join(1.0)


atexit.register(_stop_all)
