"""Parsing, scheduling and report generation of bench/ (no timing, no implementations)."""

import json
import sys
import textwrap

import pytest
import report
import run


def rec(impl, value, rep=0, python="3.11.7", case="shallow", benchmark="switch", **extra):
    r = {
        "benchmark": benchmark,
        "case": case,
        "impl": impl,
        "impl_version": {"corolib": "0.1.0", "greenlet": "3.5.6"}.get(impl, "1.0"),
        "python": python,
        "value": value,
        "unit": "ns",
        "better": "lower",
        "run_id": "20260101T000000Z-full",
        "repetition": rep,
        "exit_status": "ok",
        "command": "make bench",
        "runner": "python bench/run.py --python py --out x.jsonl",
        "timestamp": f"2026-01-01T00:00:0{rep}+00:00",
        "loadavg_1m": 1.0 + rep,
        "machine": {"cpu": "Test CPU", "cpus": 2, "mem_gib": 24.0, "os": "Linux 6", "arch": "x"},
        "source": "abc123",
    }
    r.update(extra)
    return r


META = {
    "switch": report.Meta(
        "ns per switch.",
        ["shallow", "deep"],
        ["corolib", "greenlet"],
        {"shallow": ("greenlet", 0.8)},
    )
}


# --- run.py: the child protocol and the schedule -------------------------------------


def test_parse_output_reads_one_measurement_per_line_and_skips_blanks():
    out = '{"case": "a", "value": 1.5}\n\n{"case": "b", "value": 2}\n'
    assert run.parse_output(out) == [{"case": "a", "value": 1.5}, {"case": "b", "value": 2}]


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("{oops\n", "line 1 is not JSON"),
        ('{"case": "a", "value": 1}\n[1]\n', "line 2 is not a"),
        ('{"value": 1}\n', "line 1 is not a measurement"),
    ],
)
def test_parse_output_rejects_what_is_not_a_measurement(out, message):
    with pytest.raises(ValueError, match=message):
        run.parse_output(out)


def test_schedule_interleaves_every_impl_once_per_repetition():
    jobs = run.schedule(
        3, ["py311", "py313"], {"switch": ["corolib", "greenlet"], "mem": ["corolib"]}, 7
    )
    assert len(jobs) == 3 * 2 * 3
    assert [j.repetition for j in jobs] == sorted(j.repetition for j in jobs)  # reps outermost
    for rep in range(3):
        for py in ("py311", "py313"):
            group = [
                j for j in jobs if (j.repetition, j.python, j.benchmark) == (rep, py, "switch")
            ]
            assert sorted(j.impl for j in group) == ["corolib", "greenlet"]
            assert [j.order for j in group] == [0, 1]
    assert jobs == run.schedule(
        3, ["py311", "py313"], {"switch": ["corolib", "greenlet"], "mem": ["corolib"]}, 7
    )


def test_schedule_varies_the_order_between_repetitions():
    jobs = run.schedule(20, ["py"], {"b": ["corolib", "greenlet"]}, 1)
    firsts = {j.impl for j in jobs if j.order == 0}
    assert firsts == {"corolib", "greenlet"}


def test_describe_exit():
    assert run.describe_exit(-11) == "signal SIGSEGV"
    assert run.describe_exit(3) == "exit 3"


def test_every_benchmark_declares_what_the_runner_and_report_need():
    modules = run.discover()
    hub = {"spawn", "sleep0", "timers", "blocked", "blocked_1m"}
    assert {"switch", "create", "memory", "getcurrent"} | hub <= set(modules)
    for name, mod in modules.items():
        assert list(mod.IMPLS)[0] == "corolib", name
        assert mod.CASES and isinstance(mod.DESCRIPTION, str), name
        for case, targets in report.parse_targets(mod.TARGETS).items():
            assert case in mod.CASES, name
            for t in targets:
                assert t.peer is None or t.peer in mod.IMPLS, name
        assert set(getattr(mod, "ABSOLUTE", ())) <= set(mod.CASES), name
        assert set(getattr(mod, "REPS", {})) <= set(run.MODES), name
        assert set(getattr(mod, "MAX_REPS", {})) <= set(mod.IMPLS), name
    for name in hub - {"blocked_1m"}:
        assert list(modules[name].IMPLS) == ["corolib", "gevent", "eventlet", "asyncio", "uvloop"]
    assert list(modules["blocked_1m"].IMPLS) == ["corolib", "gevent", "uvloop"]


def test_discovering_benchmarks_imports_no_peer():
    run.discover()  # the test venv has none of the peers: importing one would fail
    assert not {"gevent", "eventlet", "uvloop", "impl_gevent"} & set(sys.modules)


def test_schedule_caps_repetitions_per_benchmark_and_impl():
    limits = {"heavy": {"*": 2, "gevent": 1}}
    jobs = run.schedule(
        3, ["py"], {"light": ["corolib", "gevent"], "heavy": ["corolib", "gevent"]}, 5, limits
    )
    count = {}
    for j in jobs:
        count[j.benchmark, j.impl] = count.get((j.benchmark, j.impl), 0) + 1
    assert count == {
        ("light", "corolib"): 3,
        ("light", "gevent"): 3,
        ("heavy", "corolib"): 2,
        ("heavy", "gevent"): 1,
    }
    heavy_rep1 = [j for j in jobs if j.benchmark == "heavy" and j.repetition == 1]
    assert [(j.impl, j.order) for j in heavy_rep1] == [("corolib", 0)]


def test_rep_limits_from_the_modules_reps_and_max_reps():
    class Plain:
        pass

    class Hub:
        REPS = {"quick": 1, "full": 3}
        MAX_REPS = {"gevent": 1, "uvloop": 5}

    modules = {"plain": Plain, "hub": Hub}
    assert run.rep_limits(modules, "full") == (
        7,
        {"plain": {"*": 7}, "hub": {"*": 3, "gevent": 1, "uvloop": 3}},
    )
    assert run.rep_limits(modules, "quick") == (
        3,
        {"plain": {"*": 3}, "hub": {"*": 1, "gevent": 1, "uvloop": 1}},
    )
    assert run.rep_limits({"hub": Hub}, "full") == (3, {"hub": {"*": 3, "gevent": 1, "uvloop": 3}})
    # --reps replaces REPS, never MAX_REPS
    assert run.rep_limits(modules, "full", 2) == (
        2,
        {"plain": {"*": 2}, "hub": {"*": 2, "gevent": 1, "uvloop": 2}},
    )


def test_a_censored_measurement_is_not_missing(capsys):
    import _common

    _common.emit_censored(
        "blocked", "wake", "gevent", "json", 20.0, "s", "5 of 9 finished", count=9
    )
    (record,) = run.parse_output(capsys.readouterr().out)
    assert record["value"] is None and record["censored"] == {
        "above": 20.0,
        "note": "5 of 9 finished",
    }
    assert not run.is_missing(record)
    assert run.is_missing({"case": "wake", "value": None, "error": "exit 1"})
    assert not run.is_missing({"case": "wake", "value": 0})


def test_run_job_records_measurements_crashes_and_missing_cases(tmp_path, monkeypatch):
    script = tmp_path / "bm_fake.py"
    script.write_text(
        textwrap.dedent("""
        import json, sys
        print(json.dumps({"benchmark": "fake", "case": "a", "impl": "x", "value": 1.0}))
        sys.stderr.write("boom\\n")
        sys.exit(3)
    """)
    )
    monkeypatch.setattr(run, "BENCH_DIR", tmp_path)

    class Fake:
        CASES = ("a", "b")

    job = run.Job(0, 0, sys.executable, "fake", "x")
    records, status = run.run_job(job, Fake, quick=True)
    assert status == "exit 3"
    by_case = {r["case"]: r for r in records}
    assert by_case["a"]["value"] == 1.0 and by_case["a"]["exit_status"] == "exit 3"
    assert by_case["b"]["value"] is None and "boom" in by_case["b"]["error"]


# --- report.py: loading -----------------------------------------------------------------


def test_load_records_reads_jsonl_and_names_the_bad_line(tmp_path):
    good = tmp_path / "a.jsonl"
    good.write_text(
        json.dumps(rec("corolib", 1.0)) + "\n\n" + json.dumps(rec("greenlet", 2.0)) + "\n"
    )
    assert [r["impl"] for r in report.load_records([good])] == ["corolib", "greenlet"]

    bad = tmp_path / "b.jsonl"
    bad.write_text(json.dumps(rec("corolib", 1.0)) + "\nnot json\n")
    with pytest.raises(ValueError, match=r"b\.jsonl:2: not JSON"):
        report.load_records([bad])

    incomplete = tmp_path / "c.jsonl"
    incomplete.write_text('{"benchmark": "x", "case": "y"}\n')
    with pytest.raises(ValueError, match=r"c\.jsonl:1: missing \['impl', 'python', 'value'\]"):
        report.load_records([incomplete])


def test_newest_full_ignores_quick_runs(tmp_path):
    for name in ("20260101T000000Z-full.jsonl", "20260301T000000Z-full.jsonl", "quick.jsonl"):
        (tmp_path / name).write_text("")
    assert report.newest_full(tmp_path).name == "20260301T000000Z-full.jsonl"
    with pytest.raises(SystemExit):
        report.newest_full(tmp_path / "nothing")


# --- report.py: statistics and words ----------------------------------------------------


def test_summarize_counts_failures_and_takes_median_and_range():
    s = report.summarize([3.0, None, 1.0, 2.0, 10.0])
    assert (s.n, s.failed, s.median, s.lo, s.hi) == (5, 1, 2.5, 1.0, 10.0)
    assert report.summarize([None, None]) == report.Summary(2, 2)


def test_paired_ratios_pair_by_run_and_repetition_and_skip_failures():
    subject = [
        rec("corolib", 1.0, 0),
        rec("corolib", 3.0, 1),
        rec("corolib", None, 2),
        rec("corolib", 5.0, 3),
    ]
    peer = [rec("greenlet", 2.0, 1), rec("greenlet", 4.0, 0), rec("greenlet", 1.0, 2)]
    assert report.paired_ratios(subject, peer) == [0.25, 1.5]


@pytest.mark.parametrize(
    ("lo", "hi", "better", "unit", "words"),
    [
        (0.2, 0.3, "lower", "ns", "faster"),
        (1.1, 1.3, "lower", "ns", "slower"),
        (0.9, 1.1, "lower", "ns", "no clear difference"),
        (1.2, 1.4, "lower", "bytes", "larger"),
        (1.2, 1.4, "higher", "req/s", "better"),
        (0.5, 0.6, "higher", "req/s", "worse"),
    ],
)
def test_verdict(lo, hi, better, unit, words):
    assert report.verdict(report.Summary(3, 0, (lo + hi) / 2, lo, hi), better, unit) == words


def test_target_parse_and_met():
    assert report.Target.parse(("greenlet", 0.8)) == report.Target("greenlet", "<=", 0.8)
    t = report.Target.parse(("uvloop", "<", 1))
    assert (t.peer, t.op, t.limit, t.stat) == ("uvloop", "<", 1.0, "median")
    assert t.met(0.99) and not t.met(1.0)
    never_early = report.Target.parse((None, "==", 0, "max"))
    assert never_early.met(0) and not never_early.met(3)
    assert report.Target(None, ">=", 2.0).met(2.0)
    for bad in [("x",), ("x", "~", 1.0), (None, "<", 1.0, "mean"), "x"]:
        with pytest.raises(ValueError, match="bad target"):
            report.Target.parse(bad)


def test_parse_targets_takes_one_spec_or_a_list():
    parsed = report.parse_targets(
        {"a": ("greenlet", 0.8), "b": [("gevent", "<=", 0.25), (None, "<", 20.0)]}
    )
    assert parsed == {
        "a": [report.Target("greenlet", "<=", 0.8)],
        "b": [report.Target("gevent", "<=", 0.25), report.Target(None, "<", 20.0)],
    }
    assert report.parse_targets(parsed) == parsed  # already parsed: unchanged


def test_time_span():
    assert report.time_span("2026-11-27T01:27:27+00:00", "2026-11-27T01:30:29+00:00") == (
        "2026-11-27 01:27–01:30 UTC"
    )
    assert report.time_span("2026-11-27T23:59:00+00:00", "2026-11-28T00:01:00+00:00") == (
        "2026-11-27 23:59–2026-11-28 00:01 UTC"
    )


def test_fmt_and_cell():
    assert report.fmt(49.214, "ns") == "49.2 ns"
    assert report.fmt(11326.9, "ns") == "11,327 ns"
    assert report.fmt(5308.3, "bytes") == "5,308 B"
    assert report.fmt(0.16476, "s") == "0.165 s"
    assert report.fmt(5.805, "ms") == "5.80 ms"  # three significant figures
    assert report.fmt(0, "count") == "0"
    assert report.fmt(3128, "count") == "3,128"
    assert report.fmt(None, "ns") == "–"
    assert (
        report.cell(report.Summary(3, 1, 150.0, 140.0, 160.0), "ns")
        == "150 ns (140–160), 1/3 failed"
    )
    assert report.cell(report.Summary(2, 2), "ns") == "failed (2/2)"


# --- report.py: the whole document ------------------------------------------------------


def sample_records():
    records = []
    for rep in range(3):
        records += [rec("corolib", 100.0 + rep, rep), rec("greenlet", 400.0, rep)]
        records += [
            rec("corolib", 900.0, rep, case="deep"),
            rec("greenlet", 600.0 + rep, rep, case="deep"),
        ]
        records += [
            rec("corolib", 150.0, rep, python="3.13.0", exit_status="signal SIGSEGV"),
            rec("greenlet", 150.0, rep, python="3.13.0"),
        ]
        records += [
            rec(
                "corolib",
                None,
                rep,
                python="3.13.0",
                case="deep",
                exit_status="signal SIGSEGV",
                error="signal SIGSEGV: ",
            ),
            rec("greenlet", 700.0, rep, python="3.13.0", case="deep"),
        ]
    return records


def test_render_one_table_per_benchmark_with_ratios_and_targets():
    text = report.render(sample_records(), META, "python bench/report.py r.jsonl -o BENCHMARKS.md")
    lines = text.splitlines()
    assert lines[0] == "# Benchmarks"
    assert (
        "Measured with `make bench`, which ran `python bench/run.py --python py --out x.jsonl`"
        in text
    )
    assert "Tables regenerated with `python bench/report.py r.jsonl -o BENCHMARKS.md`." in text
    assert "(run 20260101T000000Z-full, 2026-01-01 00:00–00:00 UTC)" in text
    assert "Test CPU, 2 CPUs, 24.0 GiB" in text
    assert "| 3.11.7 | 0.1.0 (git abc123) | 3.5.6 |" in lines
    assert "| case | Python | corolib | greenlet | corolib / greenlet | target |" in lines
    assert (
        "| shallow | 3.11.7 | 101 ns (100–102) | 400 ns (400–400) "
        "| 0.25x (0.25–0.26), faster | ≤ 0.80x greenlet: met |"
    ) in lines


def test_render_says_where_corolib_is_slower_or_failed():
    text = report.render(sample_records(), META, "r")
    lines = text.splitlines()
    assert (
        "| deep | 3.11.7 | 900 ns (900–900) | 601 ns (600–602) | 1.50x (1.50–1.50), slower |  |"
        in lines
    )
    assert (
        "| shallow | 3.13.0 | 150 ns (150–150) | 150 ns (150–150) "
        "| 1.00x (1.00–1.00), no clear difference | ≤ 0.80x greenlet: **not met** |"
    ) in lines
    assert "| deep | 3.13.0 | failed (3/3) | 700 ns (700–700) | – |  |" in lines
    # one process per repetition measured both cases; "deep" never got printed
    assert "- corolib on 3.13.0: 3 of 3 processes ended with signal SIGSEGV." in lines


def test_render_notes_crashes_after_complete_output():
    records = [r for r in sample_records() if r["case"] == "shallow"]
    lines = report.render(records, META, "r").splitlines()
    assert (
        "- corolib on 3.13.0: 3 of 3 processes ended with signal SIGSEGV after printing "
        "their measurements."
    ) in lines


def test_render_targets_summary_lists_every_target_row():
    text = report.render(sample_records(), META, "r")
    summary = text.split("## Targets", 1)[1].split("## switch", 1)[0]
    assert summary.count("| switch | shallow |") == 2
    assert "**not met**" in summary


def test_render_without_meta_still_reports_every_impl():
    records = [rec("corolib", 1.0), rec("greenlet", 2.0), rec("gevent", 4.0)]
    text = report.render(records, {}, "r")
    assert (
        "| case | Python | corolib | gevent | greenlet | corolib / gevent | corolib / greenlet |"
        in text
    )


def test_main_writes_the_report(tmp_path):
    results = tmp_path / "run.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in sample_records()))
    out = tmp_path / "BENCH.md"
    assert report.main([str(results), "-o", str(out)]) == 0
    assert out.read_text().startswith("# Benchmarks\n")
    assert f"`python bench/report.py {results} -o {out}`" in out.read_text()


# --- report.py: hub benchmarks (units per case, value targets, cut-off measurements) --


def hub_records():
    """Two repetitions of a timers-like and a blocked-like benchmark, gevent once cut off."""

    def timers(impl, value, rep, case, unit):
        return rec(impl, value, rep, case=case, benchmark="timers", unit=unit, params={"count": 10})

    def blocked(impl, value, rep, case, unit, **extra):
        return rec(
            impl,
            value,
            rep,
            case=case,
            benchmark="blocked",
            unit=unit,
            params={"count": 9},
            **extra,
        )

    records = []
    for rep in range(2):
        for impl, p99, early in [
            ("corolib", 30.0 + rep, 0),
            ("gevent", 8.0, 0),
            ("uvloop", 50.0, 3),
        ]:
            records += [
                timers(impl, p99, rep, "late_p99", "ms"),
                timers(impl, early, rep, "early", "count"),
            ]
    cut = {"above": 20.0, "note": "7 of 10 finished after 20 s"}
    return records + [
        blocked("corolib", 4000.0, 0, "rss", "bytes"),
        blocked("gevent", 8000.0, 0, "rss", "bytes"),
        blocked("corolib", 1.5, 0, "wake", "s"),
        blocked("gevent", None, 0, "wake", "s", censored=cut),
        blocked("corolib", 4100.0, 1, "rss", "bytes"),
        blocked("corolib", 1.7, 1, "wake", "s"),
    ]


HUB_META = {
    "timers": report.Meta(
        "timers.",
        ["late_p99", "early"],
        ["corolib", "gevent", "uvloop"],
        {"late_p99": [(None, "<", 20.0)], "early": [(None, "==", 0, "max")]},
        {"early"},
        "{count:,} tasks per process",
    ),
    "blocked": report.Meta(
        "blocked.",
        ["rss", "wake"],
        ["corolib", "gevent"],
        {"rss": ("gevent", 0.5), "wake": [(None, "<", 3.0)]},
        set(),
        "{count:,} tasks per process",
    ),
}


def test_summarize_keeps_cut_off_measurements_apart():
    s = report.summarize([1.0, None, 3.0], cut=[20.0, 25.0])
    assert (s.n, s.failed, s.median, s.cut, s.above) == (5, 1, 2.0, 2, 20.0)
    only_cut = report.summarize_records([rec("gevent", None, censored={"above": 20.0, "note": ""})])
    assert (only_cut.n, only_cut.failed, only_cut.median, only_cut.cut) == (1, 0, None, 1)
    assert report.cell(only_cut, "s") == "> 20.0 s (cut off)"
    assert report.cell(report.summarize([], cut=[20.0, 20.0]), "s") == "> 20.0 s (2/2 cut off)"
    assert (
        report.cell(report.summarize([1.5], cut=[20.0]), "s")
        == "1.50 s (1.50–1.50), 1/2 cut off at > 20.0 s"
    )


def test_render_hub_tables_units_per_case_value_targets_and_cut_offs():
    text = report.render(hub_records(), HUB_META, "r")
    lines = text.splitlines()
    # each case in its own unit; no ratios for an ABSOLUTE case
    assert (
        "| late_p99 | 3.11.7 | 30.5 ms (30.0–31.0) | 8.00 ms (8.00–8.00) | 50.0 ms (50.0–50.0) "
        "| 3.81x (3.75–3.88), worse | 0.61x (0.60–0.62), better | < 20.0 ms: **not met** |"
    ) in lines
    assert (
        "| early | 3.11.7 | 0 (0–0) | 0 (0–0) | 3 (3–3) | – | – | = 0 (every repetition): met |"
    ) in lines
    # a cut-off peer: shown as a bound, no ratio, and a note says how far it got
    assert (
        "| wake | 3.11.7 | 1.60 s (1.50–1.70) | > 20.0 s (cut off) | – | < 3.00 s: met |"
    ) in lines
    assert (
        "- gevent on 3.11.7, `wake`, repetition 0: cut off after 20.0 s "
        "(7 of 10 finished after 20 s)."
    ) in lines
    # repetitions and sizes per table
    assert "Repetitions: 2 (gevent: 1) per Python; 9 tasks per process." in lines
    assert "Repetitions: 2 per Python; 10 tasks per process." in lines
    # the summary: one row per target, values for value targets
    summary = text.split("## Targets", 1)[1].split("## blocked", 1)[0]
    assert (
        "| blocked | rss | 3.11.7 | corolib / gevent = 0.50x (0.50–0.50), smaller "
        "| ≤ 0.50x gevent: met |"
    ) in summary
    assert "| blocked | wake | 3.11.7 | corolib = 1.60 s (1.50–1.70) | < 3.00 s: met |" in summary
    assert (
        "| timers | late_p99 | 3.11.7 | corolib = 30.5 ms (30.0–31.0) | < 20.0 ms: **not met** |"
    ) in summary
    assert (
        "| timers | early | 3.11.7 | corolib = 0 (0–0) | = 0 (every repetition): met |" in summary
    )


def test_value_target_with_max_looks_at_every_repetition():
    records = [
        rec("corolib", v, rep, case="early", benchmark="timers", unit="count")
        for rep, v in enumerate([0, 0, 2])
    ]
    text = report.render(records, HUB_META, "r")
    assert (
        "| timers | early | 3.11.7 | corolib = 0 (0–2) | = 0 (every repetition): **not met** |"
        in text
    )


def test_two_targets_on_one_case_are_both_checked():
    meta = {
        "spawn": report.Meta("", ["c"], [], {"c": [("gevent", "<=", 0.25), ("uvloop", "<", 1.0)]})
    }
    records = []
    for rep in range(3):
        records += [
            rec("corolib", 10.0, rep, case="c", benchmark="spawn"),
            rec("gevent", 50.0, rep, case="c", benchmark="spawn"),
            rec("uvloop", 9.0, rep, case="c", benchmark="spawn"),
        ]
    text = report.render(records, meta, "r")
    assert "| ≤ 0.25x gevent: met; < 1.00x uvloop: **not met** |" in text
    assert text.count("| spawn | c | 3.11.7 |") == 2


def test_percentile_nearest_rank():
    import bm_timers

    values = sorted(float(i) for i in range(1, 101))
    assert bm_timers.percentile(values, 0.5) == 50.0
    assert bm_timers.percentile(values, 0.99) == 99.0
    assert bm_timers.percentile([7.0], 0.99) == 7.0
    assert bm_timers.percentile([1.0, 2.0], 0.0) == 1.0
