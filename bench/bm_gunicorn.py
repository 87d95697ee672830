"""gunicorn workers: the hello world and Flask's under wrk, with 1 and 2 worker processes.

Run: ``python bench/bm_gunicorn.py --impl corolib`` (or corolib-parser, gevent);
``bench/run.py --bench gunicorn`` runs them all.

``corolib`` is ``gunicorn -k corolib.gunicorn.Worker`` (corolib.pywsgi's
llhttp parser), ``corolib-parser`` is ``-k corolib.gunicorn.GunicornParserWorker``
(gunicorn's own parser and request handling, as ``-k gevent`` has), ``gevent``
is ``-k gevent``.  No access log.  With one worker
the whole gunicorn (master and worker) is pinned to CPU 0 and wrk to CPU 1,
as in bm_wsgi; with two workers nothing is pinned (the workers share the two
cores with wrk), so the ``*_2w_*`` figures say how the workers scale on this
machine more than how fast each is.  CPU per request sums the master and its
workers.
"""

from __future__ import annotations

import os
import subprocess
import sys

from _common import load, parse_args
from bm_wsgi import APPS, BENCH_DIR, HOST, MODES, measure, report

DESCRIPTION = (
    "gunicorn with `-k corolib.gunicorn.Worker` (`corolib`, corolib.pywsgi inside), `-k "
    "corolib.gunicorn.GunicornParserWorker` (`corolib-parser`, gunicorn's parser) and "
    "`-k gevent`, under `wrk -t1 "
    "-c100`: `hello_*`/`flask_*`, `*_keepalive_*`/`*_close_*`, `*_rps` and `*_cpu` as in "
    "bm_wsgi (CPU of the master and its workers). `*_1w_*`: one worker, pinned to one "
    "core; `*_2w_*`: two workers, unpinned, sharing the 2 cores with wrk. Target (issue "
    "12): req/s at least 1.5x `gunicorn -k gevent`'s on Flask."
)
IMPLS = {"corolib": "gunicorn", "corolib-parser": "gunicorn", "gevent": "gunicorn"}
WORKER_CLASS = {
    "corolib": "corolib.gunicorn.Worker",
    "corolib-parser": "corolib.gunicorn.GunicornParserWorker",
    "gevent": "gevent",
}
WORKERS = (1, 2)
CASES = tuple(
    f"{a}_{w}w_{m}_{k}" for a in APPS for w in WORKERS for m in MODES for k in ("rps", "cpu")
)
REPS = {"quick": 1, "full": 1}
TARGETS = {
    "flask_1w_keepalive_rps": ("gevent", ">=", 1.5),
    "flask_2w_keepalive_rps": ("gevent", ">=", 1.5),
}
SIZE = "{connections} connections"


def main() -> None:
    args = parse_args(IMPLS)
    load(IMPLS, args.impl)
    if args.impl.startswith("corolib"):
        import corolib.gunicorn  # noqa: F401 - fail here if the worker is missing
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")

    for workers in WORKERS:

        def start(app: str, port: int, workers: int = workers) -> subprocess.Popen[bytes]:
            cmd = [gunicorn, "-k", WORKER_CLASS[args.impl], "-w", str(workers),
                   "-b", f"{HOST}:{port}", "--no-control-socket", "--log-level", "warning",
                   "--worker-connections", "1000", f"_wsgi_apps:{app}"]  # fmt: skip

            def pin() -> None:
                if workers == 1 and len(os.sched_getaffinity(0)) >= 2:
                    os.sched_setaffinity(0, {0})

            return subprocess.Popen(cmd, cwd=BENCH_DIR, preexec_fn=pin)

        results = measure(start, args.quick)
        renamed = {(f"{a}_{workers}w", m): v for (a, m), v in results.items()}
        report("gunicorn", args.impl, "gunicorn", renamed, workers=workers, load="wrk -t1")


if __name__ == "__main__":
    assert APPS and MODES
    main()
