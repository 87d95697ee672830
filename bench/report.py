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
import math
import shlex
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
SUBJECT = "corolib"
Record = dict[str, object]


OPS = {"<=": "≤", "<": "<", "==": "=", ">=": "≥", ">": ">"}


@dataclass(frozen=True)
class Target:
    """A goal for corolib in one case: a ratio to a peer, or (peer None) a value.

    Checked against the median over repetitions, or against the worst one
    (stat "max") for goals such as "never early".
    """

    peer: str | None
    op: str
    limit: float
    stat: str = "median"

    @classmethod
    def parse(cls, spec: object) -> Target:
        """From a module's TARGETS entry: (peer, limit), (peer, op, limit[, stat])."""
        if isinstance(spec, Target):
            return spec
        if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3, 4):
            raise ValueError(f"bad target {spec!r}")
        if len(spec) == 2:
            return cls(spec[0], "<=", float(spec[1]))
        target = cls(spec[0], spec[1], float(spec[2]), *spec[3:])
        if target.op not in OPS or target.stat not in ("median", "max"):
            raise ValueError(f"bad target {spec!r}")
        return target

    def met(self, value: float) -> bool:
        return {
            "<=": value <= self.limit,
            "<": value < self.limit,
            "==": value == self.limit,
            ">=": value >= self.limit,
            ">": value > self.limit,
        }[self.op]


def parse_targets(targets: dict[str, Any]) -> dict[str, list[Target]]:
    """A module's TARGETS: {case: one target spec, or a list of them}."""
    parsed = {}
    for case, spec in targets.items():
        specs = spec if isinstance(spec, list) else [spec]
        parsed[case] = [Target.parse(s) for s in specs]
    return parsed


@dataclass
class Meta:
    """What a benchmark module says about itself (bench/bm_<name>.py)."""

    description: str = ""
    cases: list[str] = field(default_factory=list)
    impls: list[str] = field(default_factory=list)
    targets: dict[str, list[Target]] = field(default_factory=dict)
    absolute: set[str] = field(default_factory=set)  # cases shown without ratios
    size: str = ""  # e.g. "{count:,} tasks per process", filled from a record's params

    def __post_init__(self) -> None:
        self.targets = parse_targets(dict(self.targets))


@dataclass
class Summary:
    """Values of one cell: one implementation, case and Python over all repetitions.

    `cut` measurements were cut off ("more than `above`"); they are not in the median.
    """

    n: int
    failed: int
    median: float | None = None
    lo: float | None = None
    hi: float | None = None
    cut: int = 0
    above: float | None = None


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
        meta[name] = Meta(
            mod.DESCRIPTION,
            list(mod.CASES),
            list(mod.IMPLS),
            dict(mod.TARGETS),
            set(getattr(mod, "ABSOLUTE", ())),
            getattr(mod, "SIZE", ""),
        )
    return meta


def summarize(values: list[float | None], cut: list[float] | None = None) -> Summary:
    """Median and min-max of the values that exist; None marks a failed measurement.

    `cut`: the bounds of measurements that were cut off (each "more than" its bound);
    they count in n but not as failures, nor in the median.
    """
    ok = [v for v in values if v is not None]
    cut = cut or []
    n = len(values) + len(cut)
    above = min(cut) if cut else None
    if not ok:
        return Summary(n, len(values), cut=len(cut), above=above)
    return Summary(
        n, len(values) - len(ok), statistics.median(ok), min(ok), max(ok), len(cut), above
    )


def summarize_records(records: list[Record]) -> Summary:
    """summarize() of one cell's records, telling cut-off ones from failed ones."""
    values = [r["value"] for r in records if not r.get("censored")]
    cut = [float(censored_bound(r)) for r in records if r.get("censored")]
    return summarize(values, cut)  # type: ignore[arg-type]


def censored_bound(record: Record) -> float:
    """The "more than" bound of a cut-off measurement."""
    censored = record["censored"]
    assert isinstance(censored, dict)
    return float(censored["above"])


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
    words = {
        "ns": ("faster", "slower"),
        "s": ("faster", "slower"),
        "bytes": ("smaller", "larger"),
    }.get(unit)
    return (words or ("better", "worse"))[0 if good else 1]


def number(value: float, unit: str) -> str:
    """Three significant figures below 100, else whole units; counts are whole."""
    if unit == "count" or value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}"


def fmt(value: float | None, unit: str) -> str:
    """A value for a table cell, with its unit: '49.2 ns', '5,308 B', '0.165 s', '3'."""
    if value is None:
        return "–"
    short = {"bytes": "B", "count": ""}.get(unit, unit)
    return f"{number(value, unit)} {short}".strip()


def cell(s: Summary, unit: str) -> str:
    """'141 ns (138–153)', with failures and cut-off measurements counted."""
    if s.median is None:
        if s.cut:
            text = f"> {fmt(s.above, unit)}"
            return text + (f" ({s.cut}/{s.n} cut off)" if s.n > 1 else " (cut off)")
        return f"failed ({s.failed}/{s.n})"
    assert s.lo is not None and s.hi is not None
    text = f"{fmt(s.median, unit)} ({number(s.lo, unit)}–{number(s.hi, unit)})"
    if s.cut:
        text += f", {s.cut}/{s.n} cut off at > {fmt(s.above, unit)}"
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
    unit: str = ""
    better: str = "lower"


@dataclass
class Table:
    """One benchmark's results, ready to print."""

    name: str
    impls: list[str]
    peers: list[str]
    rows: list[Row]


def build_table(name: str, records: list[Record], meta: Meta) -> Table:
    """Summaries and paired ratios per case, Python and implementation.

    Each case has its own unit and direction (from its records); cases listed in the
    module's ABSOLUTE get no ratios.
    """
    impls = ordered({str(r["impl"]) for r in records}, [SUBJECT, *meta.impls])
    peers = [i for i in impls if i != SUBJECT] if SUBJECT in impls else []
    cases = ordered({str(r["case"]) for r in records}, meta.cases)
    pythons = sorted({str(r["python"]) for r in records}, key=version_key)
    cells: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in records:
        cells[str(r["case"]), str(r["python"]), str(r["impl"])].append(r)
    rows = []
    for case in cases:
        of_case = [r for r in records if r["case"] == case]
        unit = str(next((r["unit"] for r in of_case if r.get("unit")), ""))
        better = str(next((r["better"] for r in of_case if r.get("better")), "lower"))
        for py in pythons:
            ratios = {
                p: summarize(paired_ratios(cells[case, py, SUBJECT], cells[case, py, p]))
                for p in peers
                if case not in meta.absolute
            }
            values = {i: summarize_records(cells[case, py, i]) for i in impls}
            rows.append(Row(case, py, values, ratios, unit, better))
    return Table(name, impls, peers, rows)


def ratio_text(ratios: Summary, row: Row) -> str:
    """'0.28x (0.26–0.30), faster'."""
    if ratios.median is None:
        return "–"
    spread = f"{ratios.median:.2f}x ({ratios.lo:.2f}–{ratios.hi:.2f})"
    return f"{spread}, {verdict(ratios, row.better, row.unit)}"


def benchmark_section(table: Table, records: list[Record], meta: Meta) -> list[str]:
    """The markdown section of one benchmark: description, table, notes."""
    header = ["case", "Python", *table.impls, *(f"{SUBJECT} / {p}" for p in table.peers)]
    if meta.targets:
        header.append("target")
    lines = [f"## {table.name}", ""] + ([meta.description, ""] if meta.description else [])
    lines += repetition_note(records, meta.size)
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.rows:
        cols = [row.case, row.python]
        cols += [cell(row.values[i], row.unit) for i in table.impls]
        cols += [ratio_text(row.ratios[p], row) if p in row.ratios else "–" for p in table.peers]
        if meta.targets:
            cols.append(target_text(row, meta))
        lines.append("| " + " | ".join(cols) + " |")
    return lines + cut_notes(records) + exit_notes(records)


def check_target(row: Row, target: Target) -> tuple[str, str]:
    """(what was compared, e.g. 'corolib / gevent = 0.12x (...)', 'met' or '**not met**')."""
    if target.peer is None:
        s = row.values.get(SUBJECT, Summary(0, 0))
        value = s.hi if target.stat == "max" else s.median
        if value is None:
            return f"{SUBJECT}: not measured", "not measured"
        shown = f"{SUBJECT} = {cell(s, row.unit)}"
        return shown, "met" if target.met(value) else "**not met**"
    ratios = row.ratios.get(target.peer, Summary(0, 0))
    if ratios.median is None:
        return f"{SUBJECT} / {target.peer}: not measured", "not measured"
    assert ratios.lo is not None and ratios.hi is not None
    ratio = ratios.hi if target.stat == "max" else ratios.median
    shown = f"{SUBJECT} / {target.peer} = {ratio_text(ratios, row)}"
    return shown, "met" if target.met(ratio) else "**not met**"


def target_goal(target: Target, row: Row) -> str:
    """'≤ 0.25x gevent', '< 20.0 ms', '= 0 (every repetition)'."""
    sign = OPS[target.op]
    if target.peer is None:
        goal = f"{sign} {fmt(target.limit, row.unit)}"
        return goal + (" (every repetition)" if target.stat == "max" else "")
    return f"{sign} {target.limit:.2f}x {target.peer}"


def target_text(row: Row, meta: Meta) -> str:
    """The targets of the row's case and whether each is met ('≤ 0.80x: met')."""
    texts = []
    for t in meta.targets.get(row.case, []):
        _, status = check_target(row, t)
        texts.append(f"{target_goal(t, row)}: {status}")
    return "; ".join(texts)


def targets_section(tables: list[Table], meta: dict[str, Meta]) -> list[str]:
    """All targets in one place, so that a missed one cannot hide in a long table."""
    rows = []
    for t in tables:
        m = meta.get(t.name, Meta())
        for row in t.rows:
            for target in m.targets.get(row.case, []):
                shown, status = check_target(row, target)
                goal = target_goal(target, row)
                rows.append(
                    f"| {t.name} | {row.case} | {row.python} | {shown} | {goal}: {status} |"
                )
    if not rows:
        return []
    header = [
        "## Targets",
        "",
        "| benchmark | case | Python | measured | target |",
        "|---|---|---|---|---|",
    ]
    return [*header, *rows, ""]


def repetition_note(records: list[Record], size: str = "") -> list[str]:
    """'Repetitions: 3 (gevent: 1) per Python; 100,000 tasks per process.'

    `size` is a format string filled from the records' params (all alike, or each
    distinct one listed), so that a quick run's smaller sizes show.
    """
    reps: dict[str, set[object]] = defaultdict(set)
    for r in records:
        reps[str(r["impl"])].add((r.get("run_id"), r.get("repetition"), r.get("python")))
    pythons = len({r["python"] for r in records}) or 1
    counts = {impl: len(keys) // pythons for impl, keys in reps.items()}
    if not counts:
        return []
    usual = max(counts.values())
    fewer = ", ".join(f"{i}: {n}" for i, n in sorted(counts.items()) if n != usual)
    text = f"Repetitions: {usual}" + (f" ({fewer})" if fewer else "") + " per Python"
    sizes = []
    for r in records:
        try:
            sizes.append(size.format(**r.get("params", {})))  # type: ignore[arg-type]
        except (KeyError, IndexError, ValueError):
            continue
    if size and sizes:
        text += "; " + ", ".join(dict.fromkeys(sizes))
    return [text + ".", ""]


def cut_notes(records: list[Record]) -> list[str]:
    """Sentences about measurements cut off for time, with how far they got."""
    notes = [
        f"- {r['impl']} on {r['python']}, `{r['case']}`, repetition {r.get('repetition', '?')}: "
        f"cut off after {fmt(censored_bound(r), str(r.get('unit', '')))}"
        + (f" ({r['censored'].get('note')})" if r["censored"].get("note") else "")  # type: ignore[union-attr]
        + "."
        for r in records
        if r.get("censored")
    ]
    return ["", "Measurements cut off (too slow for the time budget):", "", *notes] if notes else []


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
        f"Cells: median over the repetitions (min–max); {len({r for _, r in reps})} "
        "repetitions unless a table says otherwise. "
        f"Ratios: {SUBJECT}'s value / the peer's, paired by repetition: median (min–max); "
        "'no clear difference' when that range contains 1.00. "
        + (
            "Lower is better everywhere. "
            if all(r.get("better", "lower") == "lower" for r in records)
            else "Lower is better for ns and bytes. "
        )
        + "Targets are checked against the median ratio, or the median value when the "
        "target is a value.",
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
