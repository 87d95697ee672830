"""fork() while a corolib asyncio loop runs: the child starts afresh, the parent goes on.

Each case is a real process that forks (os.fork, multiprocessing's fork
context, subprocess with a preexec_fn) from a coroutine or from a greenlet
while ``corolib.asyncio`` runs.  The child must see no running loop and no
policy loop (asyncio's rule since 3.12, on every version here), be able to
run ``corolib.asyncio.run()``, ``await_`` and greenlets anew, and must not
take the parent's events: connections the parent accepts, wake-ups of its
self-pipe, registrations in its epoll.  Every wait is bounded.
"""

from __future__ import annotations

from typing import Any

PRELUDE = """
import asyncio, os, signal, sys, threading, time, traceback
signal.alarm(90)  # the bound (faulthandler's timer would be a thread: fork warns on 3.12+)
import corolib, corolib.asyncio as ca

def child_main(fn):
    # run fn in the child, report, and leave without running the parent's exit code
    try:
        fn()
        code = 0
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

async def reap(pid, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            raise AssertionError("the child did not finish")
        await asyncio.sleep(0.01)

def fresh_start():
    # what a child must be able to do: asyncio.run afresh, await_, greenlets
    assert asyncio._get_running_loop() is None, asyncio._get_running_loop()
    async def roundtrip():
        async def handle(reader, writer):
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"child %d\\n" % os.getpid())
        line = await reader.readline()
        writer.close()
        server.close()
        await server.wait_closed()
        g = corolib.spawn(lambda: 6 * 7)
        return line, await ca.to_greenlet(g.get)
    line, value = ca.run(roundtrip())
    assert line == b"child %d\\n" % os.getpid() and value == 42, (line, value)
    assert ca.await_(asyncio.sleep(0.001, "awaited")) == "awaited"
    assert asyncio._get_running_loop() is None
"""


def _run(run_python: Any, body: str) -> str:
    result = run_python(PRELUDE + body, timeout=120)
    result.expect()
    return str(result.stdout)


def test_fork_from_a_coroutine(run_python: Any) -> None:
    # The child closes the parent's server and its loop's objects; the
    # parent's loop (same fds, its own epoll) still accepts afterwards.
    out = _run(
        run_python,
        """
async def handle(reader, writer):
    writer.write(b"%d\\n" % os.getpid())
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    parent_loop = asyncio.get_running_loop()
    pid = os.fork()
    if pid == 0:
        def child():
            server.close()                      # removes its reader: in the child only
            parent_loop.remove_reader(parent_loop._ssock.fileno())
            fresh_start()
            print("child ok", flush=True)
        child_main(child)
    assert await reap(pid) == 0
    for _ in range(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        served_by = int(await asyncio.wait_for(reader.readline(), 10))
        writer.close()
        assert served_by == os.getpid(), served_by
    # a wake-up from another thread still reaches this loop's self-pipe
    done = asyncio.Event()
    threading.Thread(target=parent_loop.call_soon_threadsafe, args=(done.set,)).start()
    await asyncio.wait_for(done.wait(), 10)
    server.close()
    print("parent ok")

ca.run(main())
""",
    )
    assert out == "child ok\nparent ok\n", out


def test_the_child_cannot_change_the_parents_transports(run_python: Any) -> None:
    # The stream transports live in an epoll of their own (C): in the child,
    # pausing and aborting the parent's transports (both ends of a
    # connection) must leave the parent's registrations alone.
    out = _run(
        run_python,
        """
from corolib.asyncio._transport import SocketTransport

async def handle(reader, writer):
    while line := await reader.readline():
        writer.write(line)
        await writer.drain()
    writer.close()
    handled.set()

async def main():
    global handled
    handled = asyncio.Event()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"before\\n")
    assert await asyncio.wait_for(reader.readline(), 10) == b"before\\n"
    loop = asyncio.get_running_loop()
    reactor = loop._selector.reactor
    assert isinstance(writer.transport, SocketTransport), type(writer.transport)
    assert len(reactor) == 2, len(reactor)  # the client's and the handler's
    pid = os.fork()
    if pid == 0:
        def child():
            writer.transport.pause_reading()
            writer.transport.abort()
            print("child ok", flush=True)
        child_main(child)
    assert await reap(pid) == 0
    for i in range(5):
        writer.write(b"after %d\\n" % i)
        assert await asyncio.wait_for(reader.readline(), 10) == b"after %d\\n" % i
    writer.close()
    await asyncio.wait_for(handled.wait(), 10)  # the handler saw the end
    server.close()
    print("parent ok")

ca.run(main())
""",
    )
    assert out == "child ok\nparent ok\n", out


def test_fork_from_a_greenlet_while_the_loop_is_parked(run_python: Any) -> None:
    # The parent's loop, parked in the hub at fork, must not run in the
    # child: connections the parent accepts are all served by the parent,
    # while the child runs greenlets and then its own loop.
    out = _run(
        run_python,
        """
async def handle(reader, writer):
    await reader.readline()
    writer.write(b"%d\\n" % os.getpid())
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    go_r, go_w = os.pipe()
    os.set_blocking(go_r, False)

    def forker():
        pid = os.fork()
        if pid == 0:
            def child():
                # green work until the parent has served its clients
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if os.read(go_r, 1):
                            break
                    except BlockingIOError:
                        pass
                    assert time.monotonic() < deadline, "the parent never finished"
                    corolib.sleep(0.005)
                fresh_start()
                print("child ok", flush=True)
            child_main(child)
        return pid

    pid = await ca.to_greenlet(forker)
    served = set()
    for _ in range(30):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello\\n")
        served.add(int(await asyncio.wait_for(reader.readline(), 10)))
        writer.close()
        await asyncio.sleep(0.002)
    os.write(go_w, b"x")
    assert await reap(pid) == 0
    assert served == {os.getpid()}, (served, os.getpid(), pid)
    server.close()
    print("parent ok")

ca.run(main())
""",
    )
    assert out == "child ok\nparent ok\n", out


def test_the_child_cannot_take_the_parents_wakeups(run_python: Any) -> None:
    # The child reads its copy of the loop's self-pipe as fast as it can
    # while the parent's loop, parked with no timer, is woken 50 times by
    # call_soon_threadsafe from an OS thread: every wake-up must reach it.
    out = _run(
        run_python,
        """
async def main():
    loop = asyncio.get_running_loop()
    stop_r, stop_w = os.pipe()
    os.set_blocking(stop_r, False)
    ready_r, ready_w = os.pipe()

    def forker():
        pid = os.fork()
        if pid == 0:
            def child():
                ssock = loop._ssock
                os.write(ready_w, b"r")
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    try:
                        if os.read(stop_r, 1):
                            return
                    except BlockingIOError:
                        pass
                    try:
                        ssock.recv(4096)
                    except (BlockingIOError, InterruptedError):
                        pass
                raise AssertionError("never told to stop")
            child_main(child)
        return pid

    pid = await ca.to_greenlet(forker)
    await ca.to_greenlet(os.read, ready_r, 1)  # blocks the thread briefly: fine here
    woken = asyncio.Event()
    ran = threading.Event()

    def poker():
        for _ in range(50):
            ran.clear()
            loop.call_soon_threadsafe(woken.set)
            if not ran.wait(15):
                return

    thread = threading.Thread(target=poker)
    thread.start()
    for i in range(50):
        await woken.wait()  # no timer: only the self-pipe can wake the loop
        woken.clear()
        ran.set()
    thread.join(15)
    os.write(stop_w, b"s")
    assert await reap(pid) == 0
    print("woken 50 times")

ca.run(main())
""",
    )
    assert out == "woken 50 times\n", out


def test_multiprocessing_and_subprocess_preexec_from_a_running_loop(run_python: Any) -> None:
    out = _run(
        run_python,
        """
import multiprocessing, subprocess

def target(conn):
    # in the child: the parent's loop is not running; start afresh
    fresh_start()
    conn.send(("ok", os.getpid()))
    conn.close()

async def main():
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe()

    def from_greenlet():
        p = ctx.Process(target=target, args=(child_end,))
        p.start()
        return p

    p = await ca.to_greenlet(from_greenlet)
    assert await ca.to_greenlet(parent_end.poll, 30)
    status, child_pid = parent_end.recv()
    p.join(30)
    assert (status, p.exitcode, child_pid) == ("ok", 0, p.pid), (status, p.exitcode)

    # subprocess with a preexec_fn (the at-fork hooks run in that child)
    done = subprocess.run([sys.executable, "-c", "print('exec ok')"], preexec_fn=os.getpid,
                          capture_output=True, text=True, timeout=30)
    assert done.stdout == "exec ok\\n", done
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "print('async exec ok')", preexec_fn=os.getpid,
        stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert out == b"async exec ok\\n", out
    # the loop itself still works
    assert await ca.to_greenlet(lambda: corolib.sleep(0.01) or "green") == "green"
    print("parent ok")

ca.run(main())
""",
    )
    assert out == "parent ok\n", out


def test_the_childs_policy_loop_is_new(run_python: Any) -> None:
    out = _run(
        run_python,
        """
import warnings
ca.install()
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
assert asyncio.get_event_loop() is loop
corolib.sleep(0)  # the hub exists before the fork
pid = os.fork()
if pid == 0:
    def child():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            inherited = asyncio.get_event_loop_policy().get_event_loop()
        assert inherited is not loop, "the parent's loop is still the policy's"
        assert isinstance(inherited, ca.EventLoop)
        inherited.close()
        asyncio.set_event_loop(None)
        fresh_start()
        print("child ok", flush=True)
    child_main(child)
while not os.waitpid(pid, os.WNOHANG)[0]:
    corolib.sleep(0.01)
loop.close()
print("parent ok")
""",
    )
    assert out == "child ok\nparent ok\n", out


def test_signals_still_wake_the_hub_in_a_child(run_python: Any) -> None:
    # asyncio's own at-fork hook (3.12+) clears signal.set_wakeup_fd in the
    # child; the hub puts its own back, or a signal arriving while the
    # child's hub waits would go unseen until something else woke it.
    out = _run(
        run_python,
        """
import signal
corolib.sleep(0.001)  # the hub and its signal fd exist before the fork
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:
    def child():
        got = corolib.Event()
        corolib.signal_handler(signal.SIGUSR1, got.set)
        os.write(ready_w, b"r")
        assert got.wait(timeout=20), "SIGUSR1 did not wake the child's hub"
        print("child woken", flush=True)
    child_main(child)
os.read(ready_r, 1)
deadline = time.monotonic() + 30
while True:  # until the child sleeps in the kernel (its hub's epoll wait)
    with open(f"/proc/{pid}/stat") as f:
        if f.read().rsplit(")", 1)[1].split()[0] == "S":
            break
    assert time.monotonic() < deadline, "the child never went to sleep"
    corolib.sleep(0.005)
os.kill(pid, signal.SIGUSR1)
while not os.waitpid(pid, os.WNOHANG)[0]:
    corolib.sleep(0.01)
print("parent ok")
""",
    )
    assert out == "child woken\nparent ok\n", out


def test_a_child_whose_forking_greenlet_returns_exits(run_python: Any) -> None:
    # The loop ran in the main greenlet: frozen in the child, it has nothing
    # to wait for once the forking greenlet is done, and the child exits
    # (status 0) without running the rest of the parent's coroutine.
    out = _run(
        run_python,
        """
async def main():
    def forker():
        pid = os.fork()
        if pid == 0:
            print("child forked", flush=True)
            return "child"
        return pid
    pid = await ca.to_greenlet(forker)
    if pid == "child":
        print("the parent's coroutine ran on in the child", flush=True)
        return
    assert await reap(pid) == 0
    print("parent ok")

ca.run(main())
""",
    )
    assert out == "child forked\nparent ok\n", out


def test_loop_in_a_greenlet_main_greenlet_forks(run_python: Any) -> None:
    # The loop runs in a spawned greenlet; the main greenlet forks; the child
    # starts afresh and ends normally (interpreter exit, not os._exit).
    out = _run(
        run_python,
        """
state = {}
stop = None

async def serve():
    global stop
    async def handle(reader, writer):
        await reader.readline()
        writer.write(b"%d\\n" % os.getpid())
        await writer.drain()
        writer.close()
    stop = asyncio.Event()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state["loop"] = asyncio.get_running_loop()
    state["port"] = server.sockets[0].getsockname()[1]
    try:
        await stop.wait()
    finally:
        server.close()
        print("server closed in", "parent" if os.getpid() == state["parent"] else "child",
              flush=True)

state["parent"] = os.getpid()
g = corolib.spawn(ca.run, serve())
deadline = time.monotonic() + 30
while "port" not in state:
    assert time.monotonic() < deadline
    corolib.sleep(0.01)
pid = os.fork()
if pid == 0:
    fresh_start()
    print("child ok", flush=True)
    sys.exit(0)
from corolib import socket  # green: the loop's greenlet serves meanwhile
served = set()
for _ in range(20):
    with socket.create_connection(("127.0.0.1", state["port"]), timeout=10) as s:
        s.sendall(b"hi\\n")
        served.add(int(s.makefile("rb").readline()))
assert served == {os.getpid()}, served
deadline = time.monotonic() + 30
while not os.waitpid(pid, os.WNOHANG)[0]:
    assert time.monotonic() < deadline, "the child did not exit"
    corolib.sleep(0.01)
state["loop"].call_soon(stop.set)  # from a greenlet: wakes the parked loop
g.join(30)
assert g.dead and g.successful(), g.exception
print("parent ok")
""",
    )
    assert out == "child ok\nserver closed in parent\nparent ok\n", out


def test_fork_while_a_greenlet_waits_in_await(run_python: Any) -> None:
    # No corolib.asyncio.run(): await_ drives the thread's loop while a
    # greenlet waits in it; another greenlet forks.  The child's await_
    # gets a loop of its own; the parent's waiter finishes in the parent.
    out = _run(
        run_python,
        """
started = corolib.Event()
release = corolib.Event()

async def slow():
    started.set()
    await ca.to_greenlet(release.wait)
    return "parent's await_ done"

waiter = corolib.spawn(ca.await_, slow())
started.wait(30)
pid = os.fork()
if pid == 0:
    def child():
        fresh_start()
        assert ca.await_(asyncio.sleep(0, "child await_")) == "child await_"
        print("child ok", flush=True)
    child_main(child)
deadline = time.monotonic() + 30
while not os.waitpid(pid, os.WNOHANG)[0]:
    assert time.monotonic() < deadline, "the child did not finish"
    corolib.sleep(0.01)
release.set()
print(waiter.get(timeout=30))
""",
    )
    assert out == "child ok\nparent's await_ done\n", out
