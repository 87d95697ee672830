"""Regenerate BENCHMARKS.md from raw results (bench/results/*.jsonl).

    python bench/report.py [RESULTS.jsonl ...] [-o BENCHMARKS.md]

With no file given, reads the newest bench/results/*-full.jsonl.  One table per
benchmark: per case and Python, each implementation's median over repetitions with its
min-max, and corolib's ratio to each peer (the median of ratios paired by repetition,
with their min-max).  Needs only the standard library.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SUBJECT = "corolib"
Record = dict[str, object]


@dataclass
class Meta:
    """What a benchmark module says about itself (bench/bm_<name>.py)."""

    description: str = ""
    cases: list[str] = field(default_factory=list)
    impls: list[str] = field(default_factory=list)
    targets: dict[str, tuple[str, float]] = field(default_factory=dict)


@dataclass
class Summary:
    """Values of one cell: one implementation, case and Python over all repetitions."""

    n: int
    failed: int
    median: float | None = None
    lo: float | None = None
    hi: float | None = None


def load_records(paths: Iterable[Path]) -> list[Record]:
    """All measurements in the given JSON-lines files; a malformed line is an error."""
    records = []
    for path in paths:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not JSON: {exc}") from None
                missing = {"benchmark", "case", "impl", "python", "value"} - set(record)
                if missing:
                    raise ValueError(f"{path}:{lineno}: missing {sorted(missing)}")
                records.append(record)
    return records


def newest_full(results_dir: Path) -> Path:
    """The newest full-mode results file (names start with a UTC timestamp)."""
    files = sorted(results_dir.glob("*-full.jsonl"))
    if not files:
        raise SystemExit(f"no *-full.jsonl in {results_dir}: run `make bench` first")
    return files[-1]


def load_meta(names: Iterable[str]) -> dict[str, Meta]:
    """Descriptions, case order and targets from the benchmark modules that exist."""
    sys.path.insert(0, str(BENCH_DIR))
    meta = {}
    for name in names:
        try:
            mod = importlib.import_module(f"bm_{name}")
        except ImportError:
            continue
        meta[name] = Meta(mod.DESCRIPTION, list(mod.CASES), list(mod.IMPLS), dict(mod.TARGETS))
    return meta


def summarize(values: list[float | None]) -> Summary:
    """Median and min-max of the values that exist; None marks a failed measurement."""
    ok = [v for v in values if v is not None]
    if not ok:
        return Summary(len(values), len(values))
    return Summary(len(values), len(values) - len(ok), statistics.median(ok), min(ok), max(ok))


def paired_ratios(subject: list[Record], peer: list[Record]) -> list[float]:
    """subject/peer for each repetition both measured (paired by run and repetition)."""

    def key(r: Record) -> tuple[object, object]:
        return r.get("run_id"), r.get("repetition")

    peer_by_key = {key(r): r["value"] for r in peer if r["value"]}
    return [
        r["value"] / peer_by_key[key(r)]
        for r in subject
        if r["value"] is not None and key(r) in peer_by_key
    ]


def verdict(ratios: Summary, better: str, unit: str) -> str:
    """Plain words for a ratio: which is better, or that the spread straddles 1."""
    assert ratios.lo is not None and ratios.hi is not None
    if ratios.lo <= 1.0 <= ratios.hi:
        return "no clear difference"
    good = (ratios.hi < 1.0) == (better == "lower")
    words = {"ns": ("faster", "slower"), "bytes": ("smaller", "larger")}.get(unit)
    return (words or ("better", "worse"))[0 if good else 1]


def target_status(ratio: float, limit: float, better: str) -> str:
    """'<= 0.80x: met' (or '>= ...' for higher-is-better), from the median ratio."""
    met = ratio <= limit if better == "lower" else ratio >= limit
    sign = "≤" if better == "lower" else "≥"
    return f"{sign} {limit:.2f}x: " + ("met" if met else "**not met**")


def fmt(value: float | None, unit: str) -> str:
    """A value for a table cell: three significant figures or whole units."""
    if value is None:
        return "–"
    short = {"bytes": "B"}.get(unit, unit)
    number = f"{value:.1f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{number} {short}"


def cell(s: Summary, unit: str) -> str:
    """'141 ns (138–153)', with failures counted."""
    if s.median is None:
        return f"failed ({s.failed}/{s.n})"
    text = f"{fmt(s.median, unit)} ({fmt(s.lo, '').strip()}–{fmt(s.hi, '').strip()})"
    return text + (f", {s.failed}/{s.n} failed" if s.failed else "")


def version_key(version: str) -> tuple[int, ...]:
    """'3.11.7' -> (3, 11, 7), for sorting."""
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def ordered(found: Iterable[str], preferred: list[str]) -> list[str]:
    """`found` in the order of `preferred`, unknown ones after it, alphabetically."""
    found = set(found)
    first = [x for x in dict.fromkeys(preferred) if x in found]
    return first + sorted(found - set(first))


@dataclass
class Row:
    """One table row: a case under one Python, every implementation and ratio."""

    case: str
    python: str
    values: dict[str, Summary]
    ratios: dict[str, Summary]


@dataclass
class Table:
    """One benchmark's results, ready to print."""

    name: str
    unit: str
    better: str
    impls: list[str]
    peers: list[str]
    rows: list[Row]


def build_table(name: str, records: list[Record], meta: Meta) -> Table:
    """Summaries and paired ratios per case, Python and implementation."""
    unit = str(next((r["unit"] for r in records if r.get("unit")), ""))
    better = str(next((r["better"] for r in records if r.get("better")), "lower"))
    impls = ordered({str(r["impl"]) for r in records}, [SUBJECT, *meta.impls])
    peers = [i for i in impls if i != SUBJECT] if SUBJECT in impls else []
    cases = ordered({str(r["case"]) for r in records}, meta.cases)
    pythons = sorted({str(r["python"]) for r in records}, key=version_key)
    cells: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in records:
        cells[str(r["case"]), str(r["python"]), str(r["impl"])].append(r)
    rows = [
        Row(
            case,
            py,
            {i: summarize([r["value"] for r in cells[case, py, i]]) for i in impls},
            {
                p: summarize(paired_ratios(cells[case, py, SUBJECT], cells[case, py, p]))
                for p in peers
            },
        )
        for case in cases
        for py in pythons
    ]
    return Table(name, unit, better, impls, peers, rows)


def ratio_text(ratios: Summary, table: Table) -> str:
    """'0.28x (0.26–0.30), faster'."""
    if ratios.median is None:
        return "–"
    spread = f"{ratios.median:.2f}x ({ratios.lo:.2f}–{ratios.hi:.2f})"
    return f"{spread}, {verdict(ratios, table.better, table.unit)}"


def benchmark_section(table: Table, records: list[Record], meta: Meta) -> list[str]:
    """The markdown section of one benchmark: description, table, exit notes."""
    header = ["case", "Python", *table.impls, *(f"{SUBJECT} / {p}" for p in table.peers)]
    if meta.targets:
        header.append("target")
    lines = [f"## {table.name}", ""] + ([meta.description, ""] if meta.description else [])
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.rows:
        cols = [row.case, row.python]
        cols += [cell(row.values[i], table.unit) for i in table.impls]
        cols += [ratio_text(row.ratios[p], table) for p in table.peers]
        if meta.targets:
            cols.append(target_text(row, meta, table))
        lines.append("| " + " | ".join(cols) + " |")
    return lines + exit_notes(records)


def target_text(row: Row, meta: Meta, table: Table) -> str:
    """The target of the row's case against its peer, and whether it is met."""
    if row.case not in meta.targets:
        return ""
    peer, limit = meta.targets[row.case]
    ratio = row.ratios.get(peer, Summary(0, 0)).median
    if ratio is None:
        return f"{limit:.2f}x {peer}: not measured"
    return target_status(ratio, limit, table.better)


def targets_section(tables: list[Table], meta: dict[str, Meta]) -> list[str]:
    """All targets in one place, so that a missed one cannot hide in a long table."""
    rows = []
    for t in tables:
        m = meta.get(t.name, Meta())
        for row in t.rows:
            if row.case in m.targets:
                peer = m.targets[row.case][0]
                ratio = ratio_text(row.ratios.get(peer, Summary(0, 0)), t)
                rows.append(
                    f"| {t.name} | {row.case} | {row.python} | {SUBJECT} / {peer} = {ratio} "
                    f"| {target_text(row, m, t)} |"
                )
    if not rows:
        return []
    header = [
        "## Targets",
        "",
        "| benchmark | case | Python | ratio | target |",
        "|---|---|---|---|---|",
    ]
    return [*header, *rows, ""]


def exit_notes(records: list[Record]) -> list[str]:
    """Sentences about processes that did not exit cleanly, per implementation and Python."""
    processes: dict[tuple[str, str, str], set[object]] = defaultdict(set)
    for r in records:
        key = (str(r["impl"]), str(r["python"]), str(r.get("exit_status", "ok")))
        processes[key].add((r.get("run_id"), r.get("repetition")))
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for (impl, py, _), reps in processes.items():
        totals[impl, py] += len(reps)
    notes = [
        f"- {impl} on {py}: {len(reps)} of {totals[impl, py]} processes ended with {status}"
        + (" after printing their measurements" if all_printed(records, impl, py, reps) else "")
        + "."
        for (impl, py, status), reps in sorted(processes.items())
        if status != "ok"
    ]
    return ["", "Processes that did not exit cleanly:", "", *notes] if notes else []


def all_printed(records: list[Record], impl: str, py: str, reps: set[object]) -> bool:
    """Whether those processes printed every measurement (the failure came afterwards)."""
    return all(
        r["value"] is not None
        for r in records
        if r["impl"] == impl
        and r["python"] == py
        and (r.get("run_id"), r.get("repetition")) in reps
    )


def setup_section(records: list[Record], regenerate: str) -> list[str]:
    """Where the figures come from: commands, run, machine, versions, method."""
    runs = sorted({str(r.get("run_id", "?")) for r in records})
    first = records[0]
    stamps = sorted(str(r["timestamp"]) for r in records if "timestamp" in r)
    loads = [float(r["loadavg_1m"]) for r in records if "loadavg_1m" in r]
    machine = first.get("machine") or {}
    assert isinstance(machine, dict)
    reps = {(r.get("run_id"), r.get("repetition")) for r in records}
    runners = sorted({str(r.get("runner", "?")) for r in records})
    commands = sorted({str(r["command"]) for r in records if r.get("command")})
    how = ", ".join(f"`{r}`" for r in runners)
    if commands:
        how = ", ".join(f"`{c}`" for c in commands) + f", which ran {how}"
    when = time_span(stamps[0], stamps[-1]) if stamps else "at an unrecorded time"
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/report.py; do not edit by hand. -->",
        "",
        f"Measured with {how} (run {', '.join(runs)}, {when}).",
        f"Tables regenerated with `{regenerate}`.",
        "",
        f"Machine: {machine.get('cpu', '?')}, {machine.get('cpus', '?')} CPUs, "
        f"{machine.get('mem_gib', '?')} GiB, {machine.get('os', '?')} {machine.get('arch', '')}"
        + (
            f"; shared with other work, 1-minute load average {min(loads):.1f}–{max(loads):.1f} "
            "during the run."
            if loads
            else "."
        ),
        "",
    ]
    lines += versions_table(records, str(first.get("source", "")))
    lines += [
        "",
        "Method: each (benchmark, implementation, repetition) ran in a fresh process; "
        "within a repetition the implementations ran back to back in shuffled order. "
        "A process warms up, takes several samples and reports their median. "
        f"Cells: median over the {len({r for _, r in reps})} repetitions (min–max). "
        f"Ratios: {SUBJECT}'s value / the peer's, paired by repetition: median (min–max); "
        "'no clear difference' when that range contains 1.00. "
        "Lower is better for ns and bytes. Targets are checked against the median ratio.",
        "",
    ]
    return lines


def time_span(first: str, last: str) -> str:
    """'2026-11-27 01:27–01:30 UTC' from two ISO timestamps (UTC)."""
    day, _, start = first.partition("T")
    end_day, _, end = last.partition("T")
    end = end[:5] if end_day == day else f"{end_day} {end[:5]}"
    return f"{day} {start[:5]}–{end} UTC"


def display_path(path: Path) -> str:
    """A results path relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(BENCH_DIR.parent))
    except ValueError:
        return str(path)


def versions_table(records: list[Record], source: str) -> list[str]:
    """One row per Python: the version of each implementation measured under it."""
    pythons = sorted({str(r["python"]) for r in records}, key=version_key)
    impls = ordered({str(r["impl"]) for r in records}, [SUBJECT])
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in records:
        if r.get("impl_version"):
            found[str(r["python"]), str(r["impl"])].add(str(r["impl_version"]))
    lines = ["| Python | " + " | ".join(impls) + " |", "|" + "---|" * (len(impls) + 1)]
    for py in pythons:
        row = [", ".join(sorted(found[py, i])) or "?" for i in impls]
        if source and SUBJECT in impls:
            row[impls.index(SUBJECT)] += f" (git {source})"
        lines.append(f"| {py} | " + " | ".join(row) + " |")
    return lines


def render(records: list[Record], meta: dict[str, Meta], regenerate: str) -> str:
    """The whole BENCHMARKS.md text."""
    if not records:
        raise ValueError("no measurements to report")
    by_bench: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_bench[str(r["benchmark"])].append(r)
    tables = [build_table(n, by_bench[n], meta.get(n, Meta())) for n in sorted(by_bench)]
    lines = setup_section(records, regenerate) + targets_section(tables, meta)
    for table in tables:
        lines += benchmark_section(table, by_bench[table.name], meta.get(table.name, Meta()))
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="*", type=Path, help="JSON-lines files")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    sources = args.results or [newest_full(BENCH_DIR / "results")]
    records = load_records(sources)
    regenerate = ["python", "bench/report.py", *map(display_path, sources)]
    if args.output:
        regenerate += ["-o", display_path(args.output)]
    meta = load_meta({str(r["benchmark"]) for r in records})
    text = render(records, meta, shlex.join(regenerate))
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
