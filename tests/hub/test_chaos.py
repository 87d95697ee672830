"""A randomized mix of every hub operation, in a child; the hub must end clean.

Workers sleep (0 and short), wait on wait queues and pipes with timeouts,
wake each other, nest Timeouts, kill and spawn each other, link, queue
callbacks and deadlines.  At the end everything is killed and the hub must
have no parked greenlet, nothing ready, no deadline, and only the fds still
open.  A watchdog thread turns a hang into a report (statistics and
stacks) instead of a stuck test run.
"""

import pytest
from hubutil import SCALE, run_py

CHAOS = r"""
import faulthandler, os, random, sys, threading, time
from corolib import (GreenletExit, Timeout, cancel_wait, getcurrent, killall, sleep,
                     spawn, wait_readable)
from corolib.hub import WaitQueue, get_hub

seed, duration, ticker_on = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1"
hub = get_hub()
stop = []


def watchdog():
    time.sleep(duration + 20)
    print("WATCHDOG", hub.statistics(), flush=True)
    faulthandler.dump_traceback(all_threads=True)
    os._exit(3)


threading.Thread(target=watchdog, daemon=True).start()

if ticker_on:
    # An fd that fires every millisecond, from another thread: uv_run keeps
    # being woken by I/O while everything else goes on (it used to hide the
    # "due deadline never fires while an fd poll is active" hang).
    tick_r, tick_w = os.pipe()
    os.set_blocking(tick_r, False)

    # It runs until the very end (the process exits under it): the cleanup
    # below parks on short deadlines too.
    def ticker():
        while True:
            os.write(tick_w, b"t")
            time.sleep(0.001)

    threading.Thread(target=ticker, daemon=True).start()

    def tick_reader():
        while True:
            wait_readable(tick_r, timeout=0.1)
            try:
                os.read(tick_r, 4096)
            except BlockingIOError:
                pass

queues = [WaitQueue() for _ in range(5)]
pipes = [os.pipe() for _ in range(5)]
for rd, _ in pipes:
    os.set_blocking(rd, False)
alive = []
counts = {}


def note(k):
    counts[k] = counts.get(k, 0) + 1


def worker(i):
    r = random.Random(seed * 1000003 + i)
    while not stop:
        op = r.randrange(12)
        try:
            if op == 0:
                sleep(0)
            elif op == 1:
                sleep(r.random() * 0.003)
            elif op == 2:
                queues[r.randrange(5)].wait(timeout=r.random() * 0.003)
            elif op == 3:
                queues[r.randrange(5)].wake(r.randrange(3), i)
            elif op == 4:
                with Timeout(r.random() * 0.002, False):
                    sleep(r.random() * 0.004)
            elif op == 5 and alive:
                victim = r.choice(alive)
                if victim is not getcurrent():
                    victim.kill(block=r.random() < 0.5, timeout=0.01)
            elif op == 6 and len(alive) < 60:
                alive.append(spawn(worker, r.randrange(10**6)))
            elif op == 7:
                rd, wr = pipes[r.randrange(5)]
                if r.random() < 0.5:
                    if wait_readable(rd, timeout=r.random() * 0.003):
                        try:
                            os.read(rd, 100)
                        except BlockingIOError:
                            pass
                else:
                    os.write(wr, b"x")
            elif op == 8:
                hub.run_callback(note, "cb")
            elif op == 9:
                try:
                    with Timeout(0.001):
                        with Timeout(0.002):
                            sleep(0.01)
                except Timeout:
                    pass
            elif op == 10:
                g = spawn(lambda: sleep(r.random() * 0.002) or 1)
                g.link(lambda s: note("link"))
                g.rawlink(lambda s: note("rawlink"))
                if r.random() < 0.3:
                    g.kill()
                else:
                    g.join(timeout=0.001)
            elif op == 11:
                hub.call_later(r.random() * 0.002, note, "call_later")
            note(op)
        except Timeout:
            note("stray timeout")


if ticker_on:
    tr = spawn(tick_reader)
alive.extend(spawn(worker, i) for i in range(30))
t0 = time.monotonic()
while time.monotonic() - t0 < duration:
    sleep(0.05)
stop.append(1)
killall(list(alive))
sleep(0.01)  # call_later deadlines (at most 2 ms) run out
for rd, wr in pipes:
    for fd in (rd, wr):
        cancel_wait(fd)
        os.close(fd)
if ticker_on:
    tr.kill()
    cancel_wait(tick_r)
for _ in range(3):
    sleep(0)
st = hub.statistics()
left = {k: st[k] for k in ("parked", "ready", "timers", "fds") if st[k]}
ops = sum(v for k, v in counts.items() if isinstance(k, int))
assert ops > 100, counts
assert counts.get("stray timeout", 0) == 0, counts
assert not left, (left, hub.describe_parked())
print("ok", ops)
"""


@pytest.mark.parametrize("ticker", ["1", "0"], ids=["with-ticker", "quiet"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chaos_leaves_the_hub_clean(seed, ticker, timing):
    duration = max(0.5, 2.0 * SCALE)
    proc = run_py(CHAOS, str(seed), str(duration), ticker, timeout=120)
    assert proc.stdout.startswith("ok"), proc
    timing.report(f"chaos seed {seed}: {proc.stdout.split()[1]} operations in {duration} s")
