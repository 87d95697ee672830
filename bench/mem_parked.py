"""Where the bytes of one parked task go: a breakdown, not a peer comparison.

N tasks (corolib.spawn) each wait on one WaitQueue (`tasks`) or, as in
bm_blocked.py, on one corolib.sync.Event (`event`).  Printed per task, once all are
parked:

- `task object`: sys.getsizeof of one task, rounded up to pymalloc's 16-byte classes;
- `C stack slice`: the greenlet's saved slice (`_stack_saved`), as glibc malloc
  allocates it (8 bytes of header, 16-byte granules);
- `data-stack chunk`: the root chunk(s) the greenlet's Python frames live in
  (`_data_stack`: held, and how much of it the parked frames use), as malloc
  allocates them (3.11+; 0 on 3.10, whose frames are objects);
- `park node and hub`: the rest of the malloc heap growth (mallinfo2): the park node
  and the hub's ready-ring growth;
- `pages and pymalloc`: resident-set growth not explained above: pymalloc arena and
  pool slack, partly used pages.

`mem_parked.py idle [N]` does the same for N (10,000) idle connections: a task per
accepted connection parked in `recv(4096)` on a corolib socket, the clients in another
process (bm_idle.py's); its `objects` row adds the socket object.  The `park node and
hub` rest then also holds the fd's poll handle and the hub's entry for it; the lists of
tasks and sockets (16 bytes) are in `pages and pymalloc`.

Run with the interpreter to measure, from outside the checkout:

    .venv/bin/python bench/mem_parked.py [tasks|event|idle] [N]

The C frames that make up the slice can be listed with gdb and
bench/slice_frames_gdb.py (see there).
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Callable

from _common import rss_bytes
from bm_idle import Clients

import corolib
import corolib.socket as csocket
import corolib.sync
from corolib._core import WaitQueue


class MallInfo2(ctypes.Structure):
    """glibc's struct mallinfo2."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
        ).split()
    ]


_libc = ctypes.CDLL(None)
_libc.mallinfo2.restype = MallInfo2


def heap_bytes() -> int:
    """Bytes malloc has handed out and not had back (small and mmapped blocks)."""
    info = _libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def malloc_size(n: int) -> int:
    """What glibc malloc takes for a request of n bytes (64-bit)."""
    return 0 if n == 0 else max(32, (n + 8 + 15) & ~15)


def pymalloc_size(n: int) -> int:
    """What pymalloc takes for an object of n bytes (16-byte size classes)."""
    return (n + 15) & ~15 if n <= 512 else malloc_size(n)


def park_all(
    count: int, event: bool = False
) -> tuple[list[corolib.Greenlet], Callable[[], object]]:
    """Spawn `count` tasks blocked on one wait queue (or Event, as bm_blocked's);
    return them, once all are parked, and what wakes them all."""
    queue = WaitQueue()
    ev = corolib.sync.Event()
    wait = ev.wait if event else queue.wait
    parked = [0]

    def task() -> None:
        parked[0] += 1
        wait()

    tasks = [corolib.spawn(task) for _ in range(count)]
    while parked[0] < count:
        corolib.sleep(0)
    return tasks, ev.set if event else queue.wake_all


def idle_all(count: int) -> tuple[list[corolib.Greenlet], list[object], Clients]:
    """Accept `count` connections from a client process, each handler parked in recv."""
    listener = csocket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    tasks: list[corolib.Greenlet] = []
    conns: list[object] = []
    waiting = [0]

    def handle(conn: csocket.socket) -> None:
        waiting[0] += 1
        conn.recv(4096)
        conn.close()

    clients = Clients(listener.getsockname()[1], count)
    while len(tasks) < count:
        conn, _ = listener.accept()
        conns.append(conn)
        tasks.append(corolib.spawn(handle, conn))
    while waiting[0] < count:
        corolib.sleep(0.005)
    corolib.sleep(0.05)  # the last ones reach their recv
    listener.close()
    return tasks, conns, clients


def report(title: str, count: int, rss: float, heap: float, objs: list[object]) -> None:
    """Print the table for `count` parked tasks; objs[0] is a sample task."""
    sample = objs[0]
    obj = sum(pymalloc_size(sys.getsizeof(o)) for o in objs)
    saved = sample._stack_saved  # type: ignore[attr-defined]
    held, used = sample._data_stack  # type: ignore[attr-defined]
    chunk = malloc_size(held)
    names = " + ".join(f"{type(o).__name__} {sys.getsizeof(o)}" for o in objs)
    rows = [
        ("objects", obj, f"sys.getsizeof: {names}"),
        ("C stack slice", malloc_size(saved), f"{saved} bytes saved"),
        ("data-stack chunk", chunk, f"{held} held, {used} used by the parked frames"),
        ("park node and hub", heap - malloc_size(saved) - chunk, "rest of malloc heap"),
        ("pages and pymalloc", rss - heap - obj, "rss not explained above"),
    ]
    print(f"Python {sys.version.split()[0]}, {count:,} {title}")
    print(f"{'part':<20} {'bytes':>7}  how")
    for name, value, how in rows:
        print(f"{name:<20} {value:>7.0f}  {how}")
    print(f"{'total (rss growth)':<20} {rss:>7.0f}")


def main() -> None:
    """`mem_parked.py [tasks N | event N | idle N]`: the breakdown for N (default
    100,000) tasks parked on a WaitQueue or an Event, or N (default 10,000) idle
    connections."""
    mode = sys.argv[1] if len(sys.argv) > 1 else "tasks"
    if mode in ("tasks", "event"):
        event = mode == "event"
        count = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
        warm, wake = park_all(1_000, event)  # first-use allocations, the chunk pool's sizing
        wake()
        corolib.joinall(warm)
        del warm, wake
        gc.collect()
        rss0, heap0 = rss_bytes(), heap_bytes()
        tasks, wake = park_all(count, event)
        rss = (rss_bytes() - rss0) / count
        heap = (heap_bytes() - heap0) / count
        title = "tasks parked on one " + ("Event" if event else "WaitQueue")
        report(title, count, rss, heap, [tasks[count // 2]])
        wake()
        corolib.joinall(tasks)
        return
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    warm_tasks, _, warm_clients = idle_all(200)
    warm_clients.close()
    corolib.joinall(warm_tasks)
    del warm_tasks
    gc.collect()
    rss0, heap0 = rss_bytes(), heap_bytes()
    tasks, socks, clients = idle_all(count)
    rss = (rss_bytes() - rss0) / count
    heap = (heap_bytes() - heap0) / count
    sample = count // 2
    title = "idle connections (a task parked in recv(4096))"
    report(title, count, rss, heap, [tasks[sample], socks[sample]])
    clients.close()
    corolib.joinall(tasks)


if __name__ == "__main__":
    main()
