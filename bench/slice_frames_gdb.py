"""gdb script: the C frames in a parked task's saved stack slice, and their bytes.

    cd /tmp && gdb -q -batch -x <repo>/bench/slice_frames_gdb.py \
        --args <repo>/.venv/bin/python <repo>/bench/slice_frames_gdb.py [idle]

Run by gdb, it lists, at each stack save of a task parking in the hub, each C frame
between the switch and the greenlet's stack start (`stack.stop`, the end of
`bootstrap`'s frame, which the unwind tables mark as the outermost) with the bytes it
occupies, and prints the last task's (its Python code has been run often enough to be
specialised, as in the benchmarks).  Run by Python (as gdb's inferior), it parks
TASKS tasks on a WaitQueue, with `event` on a corolib.sync.Event, or with `idle` in
`recv(4096)` on corolib sockets.
"""

try:
    import gdb  # type: ignore[import-not-found]
except ImportError:
    gdb = None

if gdb is None:
    import sys

    import corolib
    import corolib.socket
    import corolib.sync
    from corolib._core import WaitQueue

    TASKS = 20
    mode = sys.argv[1] if len(sys.argv) > 1 else "queue"
    queue = WaitQueue()
    event = corolib.sync.Event()
    pairs = [corolib.socket.socketpair() for _ in range(TASKS if mode == "idle" else 0)]

    def task(i: int) -> None:
        """Park one Python frame deep, as in bm_blocked.py, or in recv (`idle`)."""
        if mode == "idle":
            pairs[i][0].recv(4096)
        elif mode == "event":
            event.wait()
        else:
            queue.wait()

    tasks = [corolib.spawn(task, i) for i in range(TASKS)]
    corolib.sleep(0)
    print("saved", [t._stack_saved for t in tasks])
    queue.wake_all()
    event.set()
    for _a, b in pairs:
        b.send(b"x")
    corolib.joinall(tasks)
else:

    class SliceBreak(gdb.Breakpoint):
        """At cl__stack_save: list the frames of the slice being saved."""

        last: list[str] = []

        def stop(self) -> bool:
            stop = int(gdb.parse_and_eval("cl__stack_from")["stop"])
            if stop == (1 << 64) - 1:  # a main greenlet's slice
                return False
            sp = int(gdb.parse_and_eval("$sp"))
            lines = [f"slice: {stop - sp} bytes from the switch to stack.stop"]
            frame = gdb.newest_frame()
            while frame is not None:
                fsp = int(frame.read_register("sp"))
                if fsp > stop:
                    break
                older = frame.older()
                top = min(int(older.read_register("sp")) if older else stop, stop)
                lines.append(f"  {frame.name() or '?':<40} {top - fsp:>5} bytes")
                frame = older
            if any("cl__switch_bare" in line or "cl__hub_park" in line for line in lines):
                SliceBreak.last = lines
            return False

    gdb.execute("set breakpoint pending on")
    SliceBreak("cl__stack_save")
    gdb.execute("run")
    print("\n".join(SliceBreak.last))
