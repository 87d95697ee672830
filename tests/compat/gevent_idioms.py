"""Common gevent idioms, written once against gevent's module names.

Each idiom is a function taking ``g``, a namespace of modules: ``g.gevent``,
``g.event``, ``g.lock``, ``g.queue``, ``g.pool``, ``g.local``, ``g.socket``,
``g.subprocess``, ``g.threadpool``, ``g.hub``, ``g.os``, ``g.fileobject``.
:data:`COROLIB` maps those to corolib's modules, :data:`GEVENT` to gevent's;
the same code runs on both, which is the point: a gevent program moves over
by changing its imports.  An idiom passes if it returns without raising.

Run as a script to count the idioms that pass::

    python gevent_idioms.py            # against corolib
    python gevent_idioms.py --gevent   # against gevent (where installed)

``tests/compat/test_idioms.py`` runs them on corolib.
"""

from __future__ import annotations

import copy
import importlib
import os
import socket as stdsocket
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable
from typing import Any

COROLIB = {
    "gevent": "corolib",
    "event": "corolib.sync",
    "lock": "corolib.sync",
    "queue": "corolib.queue",
    "pool": "corolib.pool",
    "local": "corolib.local",
    "socket": "corolib.socket",
    "subprocess": "corolib.subprocess",
    "threadpool": "corolib.threadpool",
    "hub": "corolib.hub",
    "os": "corolib.os",
    "fileobject": "corolib.fileobject",
}
GEVENT = {name: "gevent" if name == "gevent" else f"gevent.{name}" for name in COROLIB}

IDIOMS: list[Callable[[Any], None]] = []


def idiom(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    IDIOMS.append(fn)
    return fn


class _Quiet:
    """Silence the hub's error printing while an idiom fails greenlets on purpose."""

    def __enter__(self) -> None:
        self.saved = sys.stderr
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115

    def __exit__(self, *exc: object) -> None:
        sys.stderr.close()
        sys.stderr = self.saved


# ---- greenlets -----------------------------------------------------------------


@idiom
def spawn_joinall_values(g: Any) -> None:
    jobs = [g.gevent.spawn(lambda n=n: n * n) for n in range(5)]
    g.gevent.joinall(jobs, timeout=5)
    assert [j.value for j in jobs] == [0, 1, 4, 9, 16]


@idiom
def spawn_later_runs_later(g: Any) -> None:
    start = time.monotonic()
    job = g.gevent.spawn_later(0.02, time.monotonic)
    assert job.get(timeout=5) - start >= 0.02


@idiom
def greenlet_subclass_with_run(g: Any) -> None:
    class Worker(g.gevent.Greenlet):
        def __init__(self, n: int) -> None:
            g.gevent.Greenlet.__init__(self)
            self.n = n

        def _run(self) -> int:
            return self.n + 1

    w = Worker(1)
    w.start()
    assert w.get(timeout=5) == 2


@idiom
def links_all_run_when_one_fails(g: Any) -> None:
    seen: list[str] = []

    def bad(_: Any) -> None:
        raise ValueError

    job = g.gevent.spawn(lambda: 1)
    job.link(bad)
    job.link(lambda _: seen.append("after"))
    with _Quiet():
        job.join()
        g.gevent.sleep(0.01)
    assert seen == ["after"]


@idiom
def link_value_and_link_exception(g: Any) -> None:
    seen: list[str] = []
    ok = g.gevent.spawn(lambda: 1)
    ok.link_value(lambda _: seen.append("value"))
    ok.link_exception(lambda _: seen.append("wrong"))
    bad = g.gevent.spawn(lambda: 1 / 0)
    bad.link_exception(lambda _: seen.append("exception"))
    with _Quiet():
        g.gevent.joinall([ok, bad])
        g.gevent.sleep(0.01)
    assert sorted(seen) == ["exception", "value"]


@idiom
def kill_gives_greenletexit_value(g: Any) -> None:
    job = g.gevent.spawn(g.gevent.sleep, 5)
    g.gevent.sleep(0)
    job.kill()
    assert job.dead and job.successful()
    assert isinstance(job.value, g.gevent.GreenletExit)


@idiom
def kill_with_exception_class(g: Any) -> None:
    job = g.gevent.spawn(g.gevent.sleep, 5)
    g.gevent.sleep(0)
    with _Quiet():
        job.kill(KeyError)
    assert isinstance(job.exception, KeyError)


@idiom
def kill_with_non_exception_value(g: Any) -> None:
    job = g.gevent.spawn(g.gevent.sleep, 5)
    g.gevent.sleep(0)
    with _Quiet():
        job.kill(1)
    assert job.dead


@idiom
def killall_blocks(g: Any) -> None:
    jobs = [g.gevent.spawn(g.gevent.sleep, 5) for _ in range(3)]
    g.gevent.sleep(0)
    g.gevent.killall(jobs)
    assert all(j.dead for j in jobs)


@idiom
def greenlet_context_manager(g: Any) -> None:
    with g.gevent.spawn(lambda: 5) as job:
        pass
    assert job.value == 5


@idiom
def greenlet_started_after_finishing(g: Any) -> None:
    job = g.gevent.spawn(lambda: 1)
    job.join()
    assert not job.started and not job


@idiom
def greenlet_exc_info_none_on_success(g: Any) -> None:
    job = g.gevent.spawn(lambda: 1)
    job.join()
    assert not job.exc_info


@idiom
def greenlet_minimal_ident(g: Any) -> None:
    a, b = g.gevent.spawn(lambda: 1), g.gevent.spawn(lambda: 1)
    assert a.minimal_ident != b.minimal_ident
    assert max(a.minimal_ident, b.minimal_ident) < 10_000


@idiom
def get_reraises_with_stable_traceback(g: Any) -> None:
    def fail() -> None:
        raise ValueError

    job = g.gevent.spawn(fail)
    with _Quiet():
        job.join()
    lengths = []
    for _ in range(3):
        try:
            job.get()
        except ValueError as exc:
            lengths.append(len(traceback.extract_tb(exc.__traceback__)))
    assert len(set(lengths)) == 1


@idiom
def spawn_raw_runs(g: Any) -> None:
    seen: list[int] = []
    g.gevent.spawn_raw(seen.append, 1)
    g.gevent.sleep(0.01)
    assert seen == [1]


@idiom
def sleep_zero_lets_others_run(g: Any) -> None:
    seen: list[str] = []
    g.gevent.spawn(seen.append, "other")
    g.gevent.sleep(0)
    assert seen == ["other"]


@idiom
def idle_waits_for_ready_greenlets(g: Any) -> None:
    seen: list[int] = []
    for n in range(3):
        g.gevent.spawn(seen.append, n)
    g.gevent.idle()
    assert seen == [0, 1, 2]


# ---- timeouts --------------------------------------------------------------------


@idiom
def timeout_context_manager(g: Any) -> None:
    try:
        with g.gevent.Timeout(0.01):
            g.gevent.sleep(5)
    except g.gevent.Timeout:
        return
    raise AssertionError("no timeout")


@idiom
def timeout_silent(g: Any) -> None:
    with g.gevent.Timeout(0.01, False):
        g.gevent.sleep(5)


@idiom
def timeout_with_message(g: Any) -> None:
    try:
        with g.gevent.Timeout(0.01, "too slow"):
            g.gevent.sleep(5)
    except g.gevent.Timeout as t:
        assert "too slow" in str(t)
        return
    raise AssertionError("no timeout")


@idiom
def with_timeout_value(g: Any) -> None:
    assert g.gevent.with_timeout(0.01, g.gevent.sleep, 5, timeout_value="late") == "late"


@idiom
def timeout_instance_as_timeout(g: Any) -> None:
    assert g.event.Event().wait(timeout=g.gevent.Timeout(0.01)) is False


@idiom
def timeout_start_new_cancel(g: Any) -> None:
    t = g.gevent.Timeout.start_new(0.01)
    t.cancel()
    g.gevent.sleep(0.02)


# ---- events, results, locks ---------------------------------------------------------


@idiom
def event_wakes_waiters(g: Any) -> None:
    e = g.event.Event()
    jobs = [g.gevent.spawn(e.wait) for _ in range(3)]
    g.gevent.sleep(0)
    e.set()
    g.gevent.joinall(jobs, timeout=5)
    assert all(j.value is True for j in jobs)


@idiom
def event_set_clear_wakes_parked(g: Any) -> None:
    e = g.event.Event()
    jobs = [g.gevent.spawn(e.wait, 5) for _ in range(2)]
    g.gevent.sleep(0)
    e.set()
    e.clear()
    g.gevent.joinall(jobs, timeout=5)
    assert [j.value for j in jobs] == [True, True]


@idiom
def asyncresult_value_and_exception(g: Any) -> None:
    r = g.event.AsyncResult()
    g.gevent.spawn_later(0.01, r.set, 5)
    assert r.get(timeout=5) == 5
    r2 = g.event.AsyncResult()
    r2.set_exception(KeyError("k"))
    try:
        r2.get()
    except KeyError:
        return
    raise AssertionError("no exception")


@idiom
def asyncresult_as_link_target(g: Any) -> None:
    r = g.event.AsyncResult()
    g.gevent.spawn(lambda: 7).link(r)
    assert r.get(timeout=5) == 7


@idiom
def asyncresult_unlink_from_callback(g: Any) -> None:
    r = g.event.AsyncResult()
    seen: list[str] = []

    def first(_: Any) -> None:
        seen.append("first")
        r.unlink(second)

    def second(_: Any) -> None:
        seen.append("second")

    r.rawlink(first)
    r.rawlink(second)
    r.set(1)
    g.gevent.sleep(0.01)
    assert seen == ["first"]


@idiom
def semaphore_context_manager(g: Any) -> None:
    sem = g.lock.BoundedSemaphore(2)
    active: list[int] = []
    peak: list[int] = []

    def work() -> None:
        with sem:
            active.append(1)
            peak.append(len(active))
            g.gevent.sleep(0.001)
            active.pop()

    g.gevent.joinall([g.gevent.spawn(work) for _ in range(6)])
    assert max(peak) == 2


@idiom
def bounded_semaphore_over_release(g: Any) -> None:
    sem = g.lock.BoundedSemaphore(1)
    try:
        sem.release()
    except ValueError:
        return
    raise AssertionError("released too often without an error")


@idiom
def rlock_reentrant(g: Any) -> None:
    lock = g.lock.RLock()
    with lock, lock:
        assert lock._is_owned()


@idiom
def semaphore_is_waitable(g: Any) -> None:
    sem = g.lock.Semaphore(0)
    g.gevent.spawn_later(0.01, sem.release)
    assert g.gevent.wait([sem], timeout=5) == [sem]


@idiom
def semaphore_across_os_threads(g: Any) -> None:
    sem = g.lock.Semaphore(1)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(50):
                with sem:
                    pass
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors, errors


# ---- queues and pools --------------------------------------------------------------


@idiom
def queue_put_get_empty(g: Any) -> None:
    q = g.queue.Queue()
    q.put(1)
    assert q.get() == 1
    try:
        q.get(timeout=0.01)
    except g.queue.Empty:
        return
    raise AssertionError("no Empty")


@idiom
def queue_iteration_until_stopiteration(g: Any) -> None:
    q = g.queue.Queue()
    for item in (1, 2, StopIteration):
        q.put(item)
    assert list(q) == [1, 2]


@idiom
def queue_subscriptable(g: Any) -> None:
    assert g.queue.Queue[int] is not None


@idiom
def queue_dot_queue(g: Any) -> None:
    q = g.queue.Queue()
    q.put(1)
    assert list(q.queue) == [1]


@idiom
def queue_subclass_protocol(g: Any) -> None:
    class Stack(g.queue.Queue):
        def _init(self, maxsize: Any, items: Any = ()) -> None:
            self.queue = []

        def _put(self, item: Any) -> None:
            self.queue.append(item)

        def _get(self) -> Any:
            return self.queue.pop()

        def _qsize(self) -> int:
            return len(self.queue)

    s = Stack()
    s.put(1)
    s.put(2)
    assert s.get() == 2


@idiom
def joinable_queue_task_done(g: Any) -> None:
    q = g.queue.JoinableQueue()
    done: list[int] = []

    def worker() -> None:
        while True:
            item = q.get()
            done.append(item)
            q.task_done()

    w = g.gevent.spawn(worker)
    for n in range(3):
        q.put(n)
    q.join()
    w.kill()
    assert done == [0, 1, 2]


@idiom
def priority_queue_order(g: Any) -> None:
    q = g.queue.PriorityQueue()
    for n in (3, 1, 2):
        q.put(n)
    assert [q.get() for _ in range(3)] == [1, 2, 3]


@idiom
def channel_rendezvous(g: Any) -> None:
    ch = g.queue.Channel()
    job = g.gevent.spawn(ch.put, "x")
    assert ch.get(timeout=5) == "x"
    job.join()


@idiom
def pool_map_imap(g: Any) -> None:
    p = g.pool.Pool(2)
    assert p.map(abs, [-1, -2, -3]) == [1, 2, 3]
    assert list(p.imap(abs, [-1, -2])) == [1, 2]
    assert sorted(p.imap_unordered(abs, [-3, -1])) == [1, 3]


@idiom
def pool_spawn_waits_for_a_slot(g: Any) -> None:
    p = g.pool.Pool(1)
    p.spawn(g.gevent.sleep, 0.01)
    assert p.free_count() == 0
    p.spawn(lambda: None)
    p.join()
    assert p.free_count() == 1


@idiom
def group_join(g: Any) -> None:
    grp = g.pool.Group()
    for n in range(3):
        grp.spawn(g.gevent.sleep, 0.001 * n)
    grp.join(timeout=5)
    assert len(grp) == 0


# ---- local ------------------------------------------------------------------------


@idiom
def local_per_greenlet(g: Any) -> None:
    loc = g.local.local()
    loc.x = "main"

    def other() -> bool:
        return hasattr(loc, "x")

    assert g.gevent.spawn(other).get() is False and loc.x == "main"


@idiom
def local_copy(g: Any) -> None:
    loc = g.local.local()
    loc.x = 1
    dup = copy.copy(loc)
    dup.x = 2
    assert loc.x == 1


# ---- waiting ---------------------------------------------------------------------


@idiom
def wait_count_one(g: Any) -> None:
    fast = g.gevent.spawn(lambda: 1)
    slow = g.gevent.spawn(g.gevent.sleep, 0.2)
    assert g.gevent.wait([fast, slow], count=1) == [fast]
    slow.kill()


@idiom
def iwait_context_manager(g: Any) -> None:
    jobs = [g.gevent.spawn(lambda: 1)]
    with g.gevent.iwait(jobs) as it:
        assert next(it) is jobs[0]


# ---- sockets, processes, files, threads -----------------------------------------------


@idiom
def socketpair_between_greenlets(g: Any) -> None:
    a, b = g.socket.socketpair()
    with a, b:
        reader = g.gevent.spawn(b.recv, 10)
        g.gevent.sleep(0)
        a.sendall(b"hi")
        assert reader.get(timeout=5) == b"hi"


@idiom
def wait_read_timeout_is_socket_timeout(g: Any) -> None:
    a, b = stdsocket.socketpair()
    with a, b:
        try:
            g.socket.wait_read(a.fileno(), timeout=0.01)
        except TimeoutError:
            return
    raise AssertionError("no timeout")


@idiom
def two_recv_waiters_refused(g: Any) -> None:
    a, b = g.socket.socketpair()
    with a, b:
        first = g.gevent.spawn(b.recv, 10)
        second = g.gevent.spawn(b.recv, 10)
        with _Quiet():
            g.gevent.sleep(0.01)
        failed = second.exception
        first.kill()
        second.kill()
        assert failed is not None and "ConcurrentObjectUseError" in type(failed).__name__


@idiom
def subprocess_check_output(g: Any) -> None:
    out = g.subprocess.check_output([sys.executable, "-c", "print('x')"])
    assert out.strip() == b"x"


@idiom
def popen_in_wait(g: Any) -> None:
    p = g.subprocess.Popen([sys.executable, "-c", "pass"])
    assert g.gevent.wait([p], timeout=30) == [p]
    assert p.returncode == 0


@idiom
def popen_exit_while_reading(g: Any) -> None:
    with g.subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(0.1); print('x')"],
        stdout=g.subprocess.PIPE,
    ) as p:
        reader = g.gevent.spawn(p.stdout.read)
        g.gevent.sleep(0.01)
    reader.join(timeout=10)


@idiom
def threadpool_spawn(g: Any) -> None:
    assert g.gevent.get_hub().threadpool.spawn(abs, -3).get(timeout=10) == 3


@idiom
def threadpool_apply_async_callback(g: Any) -> None:
    seen: list[Any] = []
    pool = g.threadpool.ThreadPool(2)
    pool.apply_async(abs, (-2,), callback=seen.append).get(timeout=10)
    g.gevent.sleep(0.01)
    assert seen == [2]
    pool.kill()


@idiom
def threadpool_executor(g: Any) -> None:
    with g.threadpool.ThreadPoolExecutor(2) as ex:
        assert ex.submit(abs, -4).result(timeout=10) == 4


@idiom
def hub_loop_run_callback(g: Any) -> None:
    seen: list[int] = []
    g.gevent.get_hub().loop.run_callback(seen.append, 1)
    g.gevent.sleep(0.01)
    assert seen == [1]


@idiom
def hub_wait_on_timer(g: Any) -> None:
    hub = g.gevent.get_hub()
    start = time.monotonic()
    hub.wait(hub.loop.timer(0.01))
    assert time.monotonic() - start >= 0.01


@idiom
def hub_waiter(g: Any) -> None:
    w = g.hub.Waiter()
    g.gevent.get_hub().loop.run_callback(w.switch, 3)
    assert w.get() == 3


@idiom
def signal_handler_rejects_non_callable(g: Any) -> None:
    import signal

    try:
        g.gevent.signal_handler(signal.SIGUSR2, 5)
    except TypeError:
        return
    raise AssertionError("accepted a non-callable")


@idiom
def os_nb_read_write(g: Any) -> None:
    r, w = os.pipe()
    try:
        g.os.make_nonblocking(r)
        g.os.make_nonblocking(w)
        reader = g.gevent.spawn(g.os.nb_read, r, 10)
        g.gevent.sleep(0)
        g.os.nb_write(w, b"ab")
        assert reader.get(timeout=5) == b"ab"
    finally:
        os.close(r)
        os.close(w)


@idiom
def fileobject_posix_pipe(g: Any) -> None:
    r, w = os.pipe()
    reader = g.fileobject.FileObjectPosix(r, "rb")
    writer = g.fileobject.FileObjectPosix(w, "wb")
    writer.write(b"data")
    writer.close()
    assert reader.read() == b"data"
    reader.close()


@idiom
def add_spawn_callback(g: Any) -> None:
    seen: list[Any] = []
    g.gevent.Greenlet.add_spawn_callback(seen.append)
    try:
        job = g.gevent.spawn(lambda: 1)
        job.join()
    finally:
        g.gevent.Greenlet.remove_spawn_callback(seen.append)
    assert seen == [job]


def load(mapping: dict[str, str]) -> Any:
    ns = types.SimpleNamespace()
    for attr, module in mapping.items():
        try:
            setattr(ns, attr, importlib.import_module(module))
        except ImportError:
            setattr(ns, attr, None)
    return ns


def run(mapping: dict[str, str]) -> dict[str, BaseException | None]:
    """Run every idiom; {name: None if it passed, else the exception}."""
    ns = load(mapping)
    results: dict[str, BaseException | None] = {}
    for fn in IDIOMS:
        try:
            fn(ns)
            results[fn.__name__] = None
        except Exception as exc:  # noqa: BLE001 - an idiom that does not work
            results[fn.__name__] = exc
    return results


def main() -> int:
    mapping = GEVENT if "--gevent" in sys.argv else COROLIB
    results = run(mapping)
    for name, exc in results.items():
        if exc is not None:
            print(f"FAIL {name}: {type(exc).__name__}: {exc}"[:160])
    passed = sum(exc is None for exc in results.values())
    print(f"{passed}/{len(results)} idioms pass on {mapping['gevent']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
