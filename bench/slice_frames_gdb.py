"""gdb script: the C frames in a parked task's saved stack slice, and their bytes.

    cd /tmp && gdb -q -batch -x <repo>/bench/slice_frames_gdb.py \
        --args <repo>/.venv/bin/python <repo>/bench/slice_frames_gdb.py [idle]

Run by gdb, it stops at the second stack save of a greenlet that is not a main one
(the first task parking; the first save starts it) and prints each C frame between
the switch and the greenlet's stack start (`stack.stop`) with the bytes it occupies.
Run by Python (as gdb's inferior), it parks three tasks on a WaitQueue, or with
`idle` in `recv(4096)` on corolib sockets.
"""

try:
    import gdb  # type: ignore[import-not-found]
except ImportError:
    gdb = None

if gdb is None:
    import sys

    import corolib
    import corolib.socket
    from corolib._core import WaitQueue

    queue = WaitQueue()
    pairs = [corolib.socket.socketpair() for _ in range(3)]

    def task(i: int) -> None:
        """Park one Python frame deep, as in bm_blocked.py, or in recv (`idle`)."""
        if sys.argv[1:] == ["idle"]:
            pairs[i][0].recv(4096)
        else:
            queue.wait()

    tasks = [corolib.spawn(task, i) for i in range(3)]
    corolib.sleep(0)
    print("saved", [t._stack_saved for t in tasks])
    queue.wake_all()
    for _a, b in pairs:
        b.send(b"x")
    corolib.joinall(tasks)
else:

    class SliceBreak(gdb.Breakpoint):
        """At cl__stack_save: list the frames of the slice being saved."""

        hits = 0

        def stop(self) -> bool:
            stop = int(gdb.parse_and_eval("cl__stack_from")["stop"])
            if stop == (1 << 64) - 1:  # a main greenlet's slice
                return False
            SliceBreak.hits += 1
            if SliceBreak.hits != 2:
                return False
            sp = int(gdb.parse_and_eval("$sp"))
            print(f"slice: {stop - sp} bytes from the switch to stack.stop")
            frame = gdb.newest_frame()
            while frame is not None:
                fsp = int(frame.read_register("sp"))
                if fsp > stop:
                    break
                older = frame.older()
                top = min(int(older.read_register("sp")) if older else stop, stop)
                print(f"  {frame.name() or '?':<40} {top - fsp:>5} bytes")
                frame = older
            return False

    gdb.execute("set breakpoint pending on")
    SliceBreak("cl__stack_save")
    gdb.execute("run")
