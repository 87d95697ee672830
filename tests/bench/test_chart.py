"""bench/chart.py's data extraction (no matplotlib needed)."""

import chart
import pytest
import report


def rec(impl, value, rep=0, case="shallow", benchmark="switch", better="lower", **extra):
    r = {
        "benchmark": benchmark,
        "case": case,
        "impl": impl,
        "python": "3.11.7",
        "value": value,
        "unit": "ns" if better == "lower" else "req/s",
        "better": better,
        "run_id": "r",
        "repetition": rep,
    }
    r.update(extra)
    return r


def test_advantage_is_peer_over_corolib_when_lower_is_better():
    records = [rec("corolib", 50, 0), rec("greenlet", 100, 0), rec("corolib", 50, 1)]
    records += [rec("greenlet", 200, 1)]
    (a,) = chart.advantages(records, {})
    assert (a.benchmark, a.case, a.peer, a.python) == ("switch", "shallow", "greenlet", "3.11.7")
    # ratios corolib/peer 0.5 and 0.25 (the report's median: 0.375): advantages 2 and 4
    assert a.median == pytest.approx(1 / 0.375)
    assert (a.lo, a.hi) == (pytest.approx(2.0), pytest.approx(4.0))
    assert a.label == "switch shallow"


def test_advantage_is_corolib_over_peer_when_higher_is_better():
    records = [
        rec("corolib", 300, 0, case="rps", benchmark="net", better="higher"),
        rec("gevent", 100, 0, case="rps", benchmark="net", better="higher"),
        rec("corolib", 50, 1, case="rps", benchmark="net", better="higher"),
        rec("gevent", 100, 1, case="rps", benchmark="net", better="higher"),
    ]
    (a,) = chart.advantages(records, {})
    assert a.peer == "gevent" and a.better == "higher"
    assert (a.lo, a.median, a.hi) == (0.5, pytest.approx(1.75), 3.0)


def test_advantages_skip_absolute_cases_failures_and_zero_values():
    meta = {"timers": report.Meta("", ["late", "early"], ["corolib", "gevent"], {}, {"early"})}
    records = [
        rec("corolib", 2, case="late", benchmark="timers"),
        rec("gevent", 4, case="late", benchmark="timers"),
        rec("corolib", 0, case="early", benchmark="timers"),
        rec("gevent", 3, case="early", benchmark="timers"),
        rec("corolib", 0, case="zero", benchmark="timers"),
        rec("gevent", 3, case="zero", benchmark="timers"),
        rec("corolib", 1, case="failed", benchmark="timers"),
        rec("gevent", None, case="failed", benchmark="timers"),
    ]
    found = chart.advantages(records, meta)
    assert [(a.case, a.peer, a.median) for a in found] == [("late", "gevent", 2.0)]


def test_advantages_keep_report_order_and_every_python():
    records = []
    for py in ("3.13.0", "3.11.7"):
        for case in ("b", "a"):
            for impl, v in (("corolib", 1), ("uvloop", 2), ("gevent", 4)):
                records.append(rec(impl, v, case=case, benchmark="hub", python=py))
    meta = {"hub": report.Meta("", ["b", "a"], ["corolib", "gevent", "uvloop"], {})}
    found = chart.advantages(records, meta)
    assert [(a.case, a.python, a.peer) for a in found][:4] == [
        ("b", "3.11.7", "gevent"),
        ("b", "3.11.7", "uvloop"),
        ("b", "3.13.0", "gevent"),
        ("b", "3.13.0", "uvloop"),
    ]
    assert chart.pick_python(found, None) == "3.11.7"
    assert chart.pick_python(found, "3.13") == "3.13.0"
    with pytest.raises(ValueError, match="no results for Python 3.12"):
        chart.pick_python(found, "3.12")
    with pytest.raises(ValueError):
        chart.pick_python([], None)


def test_layout_groups_bars_by_case():
    items = [
        chart.Advantage("x", "a", "3.11", "gevent", 2, 1, 3, "lower"),
        chart.Advantage("x", "a", "3.11", "uvloop", 2, 1, 3, "lower"),
        chart.Advantage("x", "b", "3.11", "gevent", 2, 1, 3, "lower"),
    ]
    ys, ticks = chart.layout(items)
    assert ys == [0, 1, 2.6]
    assert ticks == [(0.5, "x a"), (2.6, "x b")]
