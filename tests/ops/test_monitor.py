"""The monitor thread: blocking reports, events, -X dev, memory, fork."""

from __future__ import annotations

import os
import threading
import time

import pytest

import corolib
from corolib import _core, events
from corolib.config import config

HOG = """
import time, corolib
from corolib import events

hog_started = []
seen = []

def on_event(event):
    # Only the hog's: on a loaded machine, the OS not running this process
    # for a while also looks like a block, of whoever runs then.
    if isinstance(event, events.EventLoopBlocked) and event.function.endswith("hog_the_cpu"):
        seen.append((time.monotonic() - hog_started[0], event))

events.subscribers.append(on_event)

def hog_the_cpu(seconds):
    hog_started.append(time.monotonic())
    end = hog_started[0] + seconds
    while time.monotonic() < end:
        pass

def polite():
    corolib.sleep(30)   # someone waits while the hog runs

waiter = corolib.spawn(polite)
corolib.sleep(0)
corolib.spawn(hog_the_cpu, {seconds}).join()
waiter.kill()
assert len(seen) == 1, seen
delay, event = seen[0]
print(f"{{delay:.4f}} {{event.blocking_time:.4f}} {{event.function}}")
"""


def test_cpu_hog_reported_within_twice_the_threshold(run_python):
    threshold = 0.5
    result = run_python(
        HOG.format(seconds=2.0),
        env={"COROLIB_MONITOR_THREAD": "1", "COROLIB_MAX_BLOCKING_TIME": str(threshold)},
    )
    result.expect(0, stderr_contains=("hog_the_cpu", "blocked the hub"))
    delay, blocked, function = result.stdout.split()
    # Reported once, between 1x and 2x the threshold after the hog started.
    assert threshold <= float(delay) <= 2 * threshold, result.describe()
    assert threshold <= float(blocked) <= float(delay), result.describe()
    assert function == "__main__.hog_the_cpu"
    assert result.stderr.count("function: __main__.hog_the_cpu") == 1, result.stderr
    # The report carries the hog's stack: the line it is spinning on.
    assert "while time.monotonic() < end" in result.stderr


def test_no_report_for_greenlets_that_yield_or_an_idle_hub(run_python):
    # A generous threshold: on a loaded machine the OS may not run this
    # process for a while, and to the monitor that looks like a block.
    result = run_python(
        """
        import time, corolib

        def busy_but_polite():
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                corolib.sleep(0)

        corolib.joinall([corolib.spawn(busy_but_polite) for _ in range(3)])
        corolib.sleep(1.0)                       # idle hub: nothing to report
        alone = time.monotonic() + 1.0
        while time.monotonic() < alone:
            pass                                 # main computes, nobody waits
        hub = corolib.get_hub()
        print(hub.periodic_monitoring_thread.reports)
        """,
        env={"COROLIB_MONITOR_THREAD": "1", "COROLIB_MAX_BLOCKING_TIME": "0.5"},
    )
    result.expect(0, stdout="0\n")


def test_events_reach_subscribers_and_printing_can_be_off(capfd):
    config.max_blocking_time = 0.05
    config.monitor_print_blocking_reports = False
    got = []

    def broken(event):
        raise RuntimeError("a subscriber that fails")

    events.subscribers.extend([broken, got.append])

    def spin_a_while():
        end = time.monotonic() + 10
        while time.monotonic() < end and not got:
            pass

    waiter = corolib.spawn(corolib.sleep, 10)
    monitor = corolib.get_hub().start_periodic_monitoring_thread()
    hog = corolib.spawn(spin_a_while)
    hog.join()
    waiter.kill()
    blocked = [e for e in got if isinstance(e, events.EventLoopBlocked)]
    assert blocked, got
    event = blocked[0]
    assert event.greenlet is hog
    assert event.hub is corolib.get_hub()
    assert event.blocking_time >= 0.05
    assert event.function.endswith("spin_a_while")
    assert any("spin_a_while" in line for line in event.stack)
    assert "spin_a_while" in "".join(event.info)
    assert monitor.reports == len(blocked)
    err = capfd.readouterr().err
    # The failing subscriber is reported; the report itself is not printed.
    assert "a subscriber that fails" in err
    assert "blocked the hub" not in err


def test_ignore_current_greenlet_blocking():
    config.max_blocking_time = 0.05
    config.monitor_print_blocking_reports = False
    got = []
    events.subscribers.append(got.append)
    monitor = corolib.get_hub().start_periodic_monitoring_thread()

    def quiet_hog():
        monitor.ignore_current_greenlet_blocking()
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            pass

    waiter = corolib.spawn(corolib.sleep, 10)
    corolib.spawn(quiet_hog).join()
    waiter.kill()
    assert not [e for e in got if getattr(e, "function", "").endswith("quiet_hog")]


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "True"), ({"COROLIB_MONITOR_THREAD": "0"}, "False")],
)
def test_dev_mode_turns_the_monitor_on(run_python, env, expected):
    result = run_python(
        """
        import sys, corolib
        from corolib.config import config
        hub = corolib.get_hub()
        print(sys.flags.dev_mode, config.monitor_thread, hub.periodic_monitoring_thread is not None)
        """,
        args=("-X", "dev"),
        env=env,
    )
    result.expect(0, stdout=f"True {expected} {expected}\n")


def test_dev_mode_reports_a_hog(run_python):
    result = run_python(HOG.format(seconds=0.6), args=("-X", "dev"), timeout=60)
    result.expect(0, stderr_contains=("hog_the_cpu", "blocked the hub"))


def test_memory_threshold_events(run_python):
    result = run_python(
        """
        import time, corolib
        from corolib import events
        from corolib.config import config

        got = []
        events.subscribers.append(got.append)

        def wait_for(kind):
            deadline = time.monotonic() + 20
            while not any(isinstance(e, kind) for e in got):
                assert time.monotonic() < deadline, got
                corolib.sleep(0.02)

        monitor = corolib.get_hub().periodic_monitoring_thread
        wait_for(events.MemoryUsageThresholdExceeded)
        monitor.max_memory_usage = 1 << 50     # back under
        wait_for(events.MemoryUsageUnderThreshold)
        exceeded = [e for e in got if isinstance(e, events.MemoryUsageThresholdExceeded)]
        under = [e for e in got if isinstance(e, events.MemoryUsageUnderThreshold)]
        assert len(exceeded) == 1 and len(under) == 1, got
        assert exceeded[0].max_allowed == 1024 and exceeded[0].mem_usage > 1024
        assert under[0].max_memory_usage >= exceeded[0].mem_usage
        print("ok")
        """,
        env={
            "COROLIB_MONITOR_THREAD": "1",
            "COROLIB_MONITOR_MEMORY_MAX": "1K",
            "COROLIB_MONITOR_MEMORY_PERIOD": "0.1",
        },
    )
    result.expect(0, stdout="ok\n")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_child_after_fork_is_monitored(run_python):
    result = run_python(
        """
        import os, time, warnings, corolib
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+

        def hog_in_child():
            end = time.monotonic() + 0.6
            while time.monotonic() < end:
                pass

        corolib.get_hub()
        pid = os.fork()
        if pid == 0:
            waiter = corolib.spawn(corolib.sleep, 10)
            corolib.spawn(hog_in_child).join()
            reports = corolib.get_hub().periodic_monitoring_thread.reports
            os._exit(0 if reports == 1 else 1)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
        """,
        env={"COROLIB_MONITOR_THREAD": "1", "COROLIB_MAX_BLOCKING_TIME": "0.1"},
    )
    result.expect(0, stdout="0\n", stderr_contains=("hog_in_child",))


def test_monitor_stops_with_its_hub_thread():
    started = []

    def worker():
        hub = corolib.get_hub()
        started.append(hub.start_periodic_monitoring_thread())
        corolib.sleep(0.01)
        hub.destroy()

    t = threading.Thread(target=worker)
    t.start()
    t.join(10)
    assert not t.is_alive()
    assert started[0].join(5.0), "the monitor of a destroyed hub kept running"


# ---- the sampler itself (corolib._core.HubWatch) ------------------------------------


def watch_in_thread(watch, *args):
    out = []
    t = threading.Thread(target=lambda: out.append(watch.wait(*args)))
    t.start()
    return t, out


def test_hubwatch_finds_a_hub_that_resumes_nothing():
    hub = corolib.get_hub()
    watch = _core.HubWatch()
    t, out = watch_in_thread(watch, hub, 0.005, 0.05, 30.0)
    deadline = time.monotonic() + 20
    while not out:  # this thread computes; the hub neither resumes nor polls
        assert time.monotonic() < deadline
    t.join(10)
    switches, blocked = out[0]
    assert switches == hub.statistics()["switches"]
    assert blocked >= 0.05


def test_hubwatch_ignores_a_polling_hub_and_stops_at_once():
    hub = corolib.get_hub()
    watch = _core.HubWatch()
    t, out = watch_in_thread(watch, hub, 0.005, 0.05, 0.3)
    while t.is_alive():
        corolib.sleep(0.01)  # the hub polls: idle is not blocked
    assert out == [None]
    t, out = watch_in_thread(watch, hub, 0.005, 60.0, 60.0)
    start = time.monotonic()
    watch.stop()
    t.join(10)
    assert out == [None] and watch.stopped
    assert time.monotonic() - start < 5
    assert watch.wait(hub, 0.005, 60.0, 60.0) is None  # stopped for good


def test_hubwatch_arguments():
    watch = _core.HubWatch()
    with pytest.raises(TypeError):
        watch.wait(object(), 0.01, 0.1, 1.0)
    with pytest.raises(ValueError, match="tick"):
        watch.wait(corolib.get_hub(), 0, 0.1, 1.0)
    with pytest.raises(ValueError, match="threshold"):
        watch.wait(corolib.get_hub(), 0.01, float("nan"), 1.0)
    with pytest.raises(TypeError):
        _core.HubWatch(1)
