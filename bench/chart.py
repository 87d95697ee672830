"""Draw corolib's ratio to each peer, per benchmark case, as a PNG (docs/bench-ratios.png).

    .venv-bench-3.11/bin/python bench/chart.py [RESULTS.jsonl ...] [-o docs/bench-ratios.png]

Reads the same JSON lines as bench/report.py (with no file given, the newest
bench/results/*-full.jsonl) and computes the same paired ratios with report.py's own
code.  Each bar is corolib's *advantage* over one peer in one case under one Python:
the peer's value / corolib's where lower is better (times, bytes, latencies), corolib's
/ the peer's where higher is better (rates), so that a bar reaching right of 1.0 always
means corolib did better and one reaching left means it did worse.  The x axis is
logarithmic (2x better and 2x worse are the same length); a thin line on each bar spans
the min-max of the paired ratios.

The data extraction (`advantages`) is plain Python; only `draw` needs matplotlib, which
is installed in the bench venvs (bench/requirements.txt), never in the project's venv.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import report

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH_DIR.parent / "docs" / "bench-ratios.png"
# One colour per peer, stable across runs (colour-blind-safe palette, Okabe-Ito).
COLOURS = {
    "greenlet": "#0072B2",
    "gevent": "#D55E00",
    "eventlet": "#009E73",
    "asyncio": "#CC79A7",
    "uvloop": "#E69F00",
    "threads": "#56B4E9",
}


@dataclass(frozen=True)
class Advantage:
    """corolib's advantage over one peer in one case: > 1 means corolib did better."""

    benchmark: str
    case: str
    python: str
    peer: str
    median: float
    lo: float
    hi: float
    better: str  # the case's own direction: "lower" or "higher"

    @property
    def label(self) -> str:
        return f"{self.benchmark} {self.case}"


def advantages(records: list[report.Record], meta: dict[str, report.Meta]) -> list[Advantage]:
    """Every (benchmark, case, Python, peer) with a paired ratio, normalised to 'higher =
    corolib better', in report order (benchmarks by name, cases and peers as declared).

    Cases without ratios (a module's ABSOLUTE, or a peer that failed or was cut off in
    every repetition) are left out.
    """
    by_bench: dict[str, list[report.Record]] = {}
    for r in records:
        by_bench.setdefault(str(r["benchmark"]), []).append(r)
    found = []
    for name in sorted(by_bench):
        table = report.build_table(name, by_bench[name], meta.get(name, report.Meta()))
        for row in table.rows:
            for peer in table.peers:
                s = row.ratios.get(peer)
                if s is None or s.median is None or s.lo is None or s.hi is None:
                    continue
                if min(s.median, s.lo, s.hi) <= 0:
                    continue  # a zero value (e.g. a count) has no place on a log axis
                if row.better == "higher":
                    med, lo, hi = s.median, s.lo, s.hi
                else:
                    med, lo, hi = 1 / s.median, 1 / s.hi, 1 / s.lo
                found.append(Advantage(name, row.case, row.python, peer, med, lo, hi, row.better))
    return found


def pick_python(items: list[Advantage], wanted: str | None) -> str:
    """The Python to chart: `wanted` (a prefix such as '3.11'), else the oldest measured."""
    pythons = sorted({a.python for a in items}, key=report.version_key)
    if not pythons:
        raise ValueError("no ratios to draw")
    if wanted is None:
        return pythons[0]
    matches = [p for p in pythons if p == wanted or p.startswith(wanted + ".")]
    if not matches:
        raise ValueError(f"no results for Python {wanted}; have {', '.join(pythons)}")
    return matches[-1]


def layout(items: list[Advantage]) -> tuple[list[float], list[tuple[float, str]]]:
    """Bar positions (top to bottom) and the case labels' positions: each case's bars
    (only the peers it has) one under another, a gap between cases."""
    ys: list[float] = []
    ticks: list[tuple[float, str]] = []
    y = 0.0
    for label in dict.fromkeys(a.label for a in items):
        n = sum(a.label == label for a in items)
        ys += [y + i for i in range(n)]
        ticks.append((y + (n - 1) / 2, label))
        y += n + 0.6
    return ys, ticks


def draw(items: list[Advantage], python: str, out: Path, title: str) -> None:
    """Horizontal bars from 1.0, grouped by case, one bar per peer, log x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [a for a in items if a.python == python]
    peer_order = [*COLOURS, *sorted({a.peer for a in items} - set(COLOURS))]
    labels = list(dict.fromkeys(a.label for a in items))
    items.sort(key=lambda a: (labels.index(a.label), peer_order.index(a.peer)))
    ys, ticks = layout(items)
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.16 * len(items) + 0.1 * len(labels) + 1.4)))
    for peer in peer_order:
        mine = [(y, a) for y, a in zip(ys, items, strict=True) if a.peer == peer]
        if not mine:
            continue
        ax.barh(
            [y for y, _ in mine],
            [a.median - 1 for _, a in mine],
            left=1,
            height=0.85,
            color=COLOURS.get(peer, "#999999"),
            label=f"vs {peer}",
        )
        ax.hlines(
            [y for y, _ in mine],
            [a.lo for _, a in mine],
            [a.hi for _, a in mine],
            color="black",
            lw=0.6,
        )
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xscale("log")
    ax.set_yticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=8)
    ax.set_ylim(max(ys) + 0.8, -0.8)
    lo = min(min(a.lo for a in items), 0.5)
    hi = max(max(a.hi for a in items), 2.0)
    ax.set_xlim(lo / 1.3, hi * 1.3)
    ax.set_xlabel(
        "corolib's advantage over the peer (log scale): right of 1 = corolib better, "
        "left = corolib worse\n(peer / corolib for times, bytes and latencies; "
        "corolib / peer for rates); thin line = min–max over repetitions",
        fontsize=8,
    )
    ax.set_title(f"{title} (Python {python})", fontsize=10, pad=22)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=6, fontsize=8, frameon=False)
    ax.grid(axis="x", which="both", color="#eeeeee", lw=0.5)
    ax.set_axisbelow(True)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="*", type=Path, help="JSON-lines files")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT, help="PNG to write")
    parser.add_argument("--python", help="which Python's results (default: the oldest)")
    args = parser.parse_args(argv)
    sources = args.results or [report.newest_full(BENCH_DIR / "results")]
    records = report.load_records(sources)
    meta = report.load_meta({str(r["benchmark"]) for r in records})
    items = advantages(records, meta)
    python = pick_python(items, args.python)
    runs = ", ".join(sorted({str(r.get("run_id", "?")) for r in records}))
    draw(items, python, args.output, f"corolib vs its peers, run {runs}")
    print(f"wrote {args.output} ({sum(a.python == python for a in items)} bars)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
