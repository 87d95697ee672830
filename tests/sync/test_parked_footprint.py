"""What a task blocked on an Event keeps (issue 19): sizes, not timings.

A task parked in ``Event.wait`` keeps its object, the saved slice of its C stack
(``_stack_saved``) and its data-stack chunk (``_data_stack``, 3.11+).  Each is
deterministic for a given build; the bounds below are what this build measured
(docs/design.md, "What a parked task costs") with a little room for another
compiler.  A Python frame for ``Event.wait``, the method-call glue of CPython or a
fat C frame on the park path would each break them.
"""

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

#: Sanitizer builds (make sanitize) have frames of other sizes.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")

#: (task object, C stack slice) upper bounds in bytes per minor version: measured
#: (x86-64, gcc 12; 3.10: 296 and 640, 3.11: 320 and 544, 3.12: 376 and 544, 3.13: 368
#: and 592) plus 8 and 32.
BOUNDS = {
    10: (304, 672),
    11: (328, 576),
    12: (384, 576),
    13: (376, 624),
}

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import corolib, corolib.sync
    from corolib._core import WaitQueue

    event, queue = corolib.sync.Event(), WaitQueue()
    wait = event.wait

    def on_event():
        wait()

    def on_event_method():
        event.wait()

    def on_queue():
        queue.wait()

    # 50 of each: CPython specialises a call site after a few runs (3.11+).
    tasks = {f.__name__: [corolib.spawn(f) for _ in range(50)]
             for f in (on_event, on_event_method, on_queue)}
    corolib.sleep(0)
    out = {}
    for name, group in tasks.items():
        t = group[-1]
        out[name] = {
            "saved": t._stack_saved,
            "data_stack": list(t._data_stack) if sys.version_info >= (3, 11) else None,
            "size": sys.getsizeof(t),
        }
    event.set()
    queue.wake_all()
    corolib.joinall([t for group in tasks.values() for t in group])
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def parked(tmp_path_factory):
    # A fresh interpreter (the root chunk size is per thread and only grows),
    # outside the checkout (the installed package, not the sources).
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path_factory.mktemp("parked"),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(UNDER_ASAN, reason="sanitizer builds have other frames")
def test_event_wait_keeps_no_more_than_waitqueue_wait(parked):
    queue = parked["on_queue"]
    for name in ("on_event", "on_event_method"):
        event = parked[name]
        # Compiled: no Python frame of its own (same data stack), no C frame more.
        assert event["saved"] <= queue["saved"], (name, event, queue)
        assert event["data_stack"] == queue["data_stack"], (name, event, queue)


@pytest.mark.skipif(UNDER_ASAN, reason="sanitizer builds have other frames")
@pytest.mark.skipif(sys.version_info[:2] not in {(3, v) for v in BOUNDS}, reason="no bounds")
@pytest.mark.skipif(platform.machine() != "x86_64", reason="bounds measured on x86-64")
def test_a_task_parked_on_an_event_stays_small(parked):
    size_bound, slice_bound = BOUNDS[sys.version_info[1]]
    for name, got in parked.items():
        assert got["size"] <= size_bound, (name, got)
        assert got["saved"] <= slice_bound, (name, got)
        if got["data_stack"] is not None:
            held, used = got["data_stack"]
            assert held <= 248 and used <= held, (name, got)  # the 256-byte root chunk
