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
    assert {"switch", "create", "memory", "getcurrent"} <= set(modules)
    for name, mod in modules.items():
        assert list(mod.IMPLS)[0] == "corolib", name
        assert mod.CASES and isinstance(mod.DESCRIPTION, str), name
        for case, (peer, limit) in mod.TARGETS.items():
            assert case in mod.CASES and peer in mod.IMPLS and limit > 0, name


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


def test_target_status():
    assert report.target_status(0.5, 0.8, "lower") == "≤ 0.80x: met"
    assert report.target_status(0.9, 0.8, "lower") == "≤ 0.80x: **not met**"
    assert report.target_status(1.5, 2.0, "higher") == "≥ 2.00x: **not met**"


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
        "| 0.25x (0.25–0.26), faster | ≤ 0.80x: met |"
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
        "| 1.00x (1.00–1.00), no clear difference | ≤ 0.80x: **not met** |"
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
