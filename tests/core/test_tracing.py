"""greenlet.settrace events, and sys.settrace / sys.setprofile across switches."""

import sys
import threading

import pytest

import corolib.greenlet as greenlet
from corolib.greenlet import getcurrent


@pytest.fixture
def events():
    log = []

    def trace(event, args):
        log.append((event, args))

    old = greenlet.settrace(trace)
    try:
        yield log
    finally:
        greenlet.settrace(old)
        log.clear()  # it holds greenlets; pytest keeps fixture values a while


def test_settrace_returns_previous_and_gettrace():
    def a(*_):
        pass

    def b(*_):
        pass

    assert greenlet.gettrace() is None
    assert greenlet.settrace(a) is None
    assert greenlet.gettrace() is a
    assert greenlet.settrace(b) is a
    assert greenlet.settrace(None) is b
    assert greenlet.gettrace() is None


def test_settrace_refuses_non_callable():
    with pytest.raises(TypeError):
        greenlet.settrace(42)
    assert greenlet.gettrace() is None


def test_switch_events(events):
    main = getcurrent()
    g = greenlet.greenlet(lambda: main.switch("x"))
    g.switch()
    g.switch()
    assert events == [
        ("switch", (main, g)),
        ("switch", (g, main)),
        ("switch", (main, g)),
        ("switch", (g, main)),
    ]


def test_throw_events(events):
    main = getcurrent()

    def run():
        try:
            main.switch()
        except ValueError:
            main.switch()

    g = greenlet.greenlet(run)
    g.switch()
    g.throw(ValueError)
    g.throw()
    assert events == [
        ("switch", (main, g)),
        ("switch", (g, main)),
        ("throw", (main, g)),
        ("switch", (g, main)),
        ("throw", (main, g)),
        ("switch", (g, main)),
    ]


def test_throw_into_unstarted_event(events):
    main = getcurrent()
    g = greenlet.greenlet(lambda: None)
    g.throw()
    assert events == [("throw", (main, g)), ("switch", (g, main))]


def test_exception_out_of_run_event_is_throw(events):
    main = getcurrent()

    def run():
        raise KeyError

    g = greenlet.greenlet(run)
    with pytest.raises(KeyError):
        g.switch()
    assert events == [("switch", (main, g)), ("throw", (g, main))]


def test_no_event_for_switch_to_self(events):
    getcurrent().switch()
    assert events == []


def test_trace_function_raising_is_removed_and_error_delivered():
    main = getcurrent()
    calls = []

    def bad_trace(event, args):
        calls.append(event)
        raise RuntimeError("trace failed")

    reached = []

    def run():
        reached.append(1)

    g = greenlet.greenlet(run)
    greenlet.settrace(bad_trace)
    try:
        with pytest.raises(RuntimeError, match="trace failed"):
            g.switch()
    finally:
        assert greenlet.gettrace() is None
        greenlet.settrace(None)
    # the error was delivered into g: run never ran, g is dead
    assert calls == ["switch"]
    assert reached == []
    assert g.dead
    assert getcurrent() is main


def test_trace_function_raising_on_resume_delivers_into_target():
    main = getcurrent()
    log = []

    def run():
        try:
            main.switch()
        except RuntimeError as e:
            log.append(str(e))
        return "handled"

    g = greenlet.greenlet(run)
    g.switch()

    def bad_trace(event, args):
        raise RuntimeError("boom in trace")

    greenlet.settrace(bad_trace)
    try:
        assert g.switch() == "handled"
    finally:
        greenlet.settrace(None)
    assert log == ["boom in trace"]


def test_trace_function_switching_is_safe():
    # A trace function may itself switch greenlets; nothing must corrupt.
    main = getcurrent()
    helper = greenlet.greenlet(lambda *a: None)
    seen = []

    def trace(event, args):
        seen.append(event)
        if helper and not helper.dead:
            pass

    old = greenlet.settrace(trace)
    try:
        g = greenlet.greenlet(lambda: main.switch(1))
        assert g.switch() == 1
        g.switch()
    finally:
        greenlet.settrace(old)
    assert seen == ["switch"] * 4


def test_trace_is_per_thread(events):
    other = []

    def body():
        other.append(greenlet.gettrace())
        greenlet.greenlet(lambda: None).switch()

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert other == [None]
    assert events == []


# ---- sys.settrace / sys.setprofile -----------------------------------------


def child_function():
    getcurrent().parent.switch()
    return "child done"


def test_sys_settrace_keeps_working_after_switches():
    traced = []

    def tracer(frame, event, arg):
        if event == "call":
            traced.append(frame.f_code.co_name)
        return None

    def marker_before():
        pass

    def marker_after():
        pass

    g = greenlet.greenlet(child_function)
    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        marker_before()
        g.switch()
        g.switch()
        marker_after()
    finally:
        sys.settrace(old)
    assert "marker_before" in traced
    assert "child_function" in traced
    assert "marker_after" in traced


def test_sys_settrace_set_inside_greenlet_applies_to_parent_after_switch():
    traced = []

    def tracer(frame, event, arg):
        if event == "call":
            traced.append(frame.f_code.co_name)

    def marker_in_main():
        pass

    def run():
        sys.settrace(tracer)
        getcurrent().parent.switch()
        sys.settrace(None)

    g = greenlet.greenlet(run)
    try:
        g.switch()
        marker_in_main()
    finally:
        g.switch()
        sys.settrace(None)
    assert "marker_in_main" in traced


def test_sys_settrace_cleared_inside_greenlet_stops_tracing_in_parent():
    traced = []

    def tracer(frame, event, arg):
        if event == "call":
            traced.append(frame.f_code.co_name)

    def marker_in_main():
        pass

    def run():
        sys.settrace(None)
        getcurrent().parent.switch()

    g = greenlet.greenlet(run)
    sys.settrace(tracer)
    try:
        g.switch()
        marker_in_main()
    finally:
        sys.settrace(None)
    g.switch()
    assert "marker_in_main" not in traced


def test_sys_setprofile_sees_switch_and_run():
    events = []

    def profiler(frame, event, arg):
        if event in ("call", "return"):
            events.append((event, frame.f_code.co_name))
        elif event in ("c_call", "c_return"):
            events.append((event, arg.__name__))

    def run():
        getcurrent().parent.switch()

    g = greenlet.greenlet(run)
    sys.setprofile(profiler)
    try:
        g.switch()
        g.switch()
    finally:
        sys.setprofile(None)
    assert ("c_call", "switch") in events
    assert ("call", "run") in events
    assert ("return", "run") in events
    # profiling still works after the switches
    assert events[-1] in (("c_call", "setprofile"), ("c_return", "switch"))


def test_sys_setprofile_set_in_greenlet_seen_in_main():
    events = []

    def profiler(frame, event, arg):
        if event == "call":
            events.append(frame.f_code.co_name)

    def marker_in_main():
        pass

    def run():
        sys.setprofile(profiler)
        getcurrent().parent.switch()

    g = greenlet.greenlet(run)
    try:
        g.switch()
        marker_in_main()
    finally:
        sys.setprofile(None)
    g.switch()
    assert "marker_in_main" in events


def test_line_tracing_inside_greenlet_with_many_switches():
    lines = []

    def tracer(frame, event, arg):
        if frame.f_code.co_name == "traced_body":
            lines.append(event)
            return tracer
        return tracer

    def traced_body():
        for _ in range(5):
            getcurrent().parent.switch()

    g = greenlet.greenlet(traced_body)
    sys.settrace(tracer)
    try:
        while not g.dead:
            g.switch()
    finally:
        sys.settrace(None)
    assert lines.count("call") >= 1
    assert lines.count("line") >= 10
    assert lines[-1] == "return"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12+")
def test_sys_monitoring_events_across_switches():
    mon = sys.monitoring
    tool = next(i for i in range(6) if mon.get_tool(i) is None)
    seen = []
    mon.use_tool_id(tool, "corolib-test")
    try:
        mon.register_callback(
            tool, mon.events.PY_START, lambda code, off: seen.append(("start", code.co_name))
        )
        mon.register_callback(
            tool,
            mon.events.PY_RETURN,
            lambda code, off, val: seen.append(("return", code.co_name)),
        )

        def child():
            getcurrent().parent.switch()
            return 1

        def driver():
            g = greenlet.greenlet(child)
            g.switch()
            g.switch()

        mon.set_events(tool, mon.events.PY_START | mon.events.PY_RETURN)
        driver()
        mon.set_events(tool, 0)
    finally:
        mon.register_callback(tool, mon.events.PY_START, None)
        mon.register_callback(tool, mon.events.PY_RETURN, None)
        mon.free_tool_id(tool)
    relevant = [e for e in seen if e[1] in ("driver", "child")]
    assert relevant == [
        ("start", "driver"),
        ("start", "child"),
        ("return", "child"),
        ("return", "driver"),
    ]
