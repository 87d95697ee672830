"""1,000 simulated users on the chat server (examples/chat.py): what `make demo` runs.

    python examples/chat_demo.py [--users 1000] [--rooms 20] [--messages 10]

The chat server runs in a child process (``chat.py server``), as it would
for real users.  This process plays every user: one greenlet per user, each
with its own TCP connection, plus one reading greenlet per connection.

1. Every user connects, picks a nickname and joins one of the rooms.
2. Once all of them are in their rooms, each says ``--messages`` lines,
   pausing a random moment between them.  Each line carries who said it,
   its number and when it was said.
3. Every user checks that it received exactly the lines said by every
   other member of its room -- each once, none missing, none from another
   room -- and records how long each took to arrive.
4. Meanwhile a few *lurkers* sit in a room of their own, #busy, never
   reading, while one chatterbox floods it: their outgoing queues on the
   server fill up and the server drops lines for them (and tells them, once
   they read again) without the other rooms noticing.

It prints messages per second and latency percentiles, and exits 0 only if
every message reached every member of its room.

Part two, many servers (``--federated-users``, 1,000 by default; 0 skips
it): a real ``redis-server`` on 127.0.0.1 and a free port, started and
stopped here, and two chat servers sharing their rooms through it
(``chat.py server --redis``).  The users are split between the two
servers, every room has members on both, and the same check runs: every
line said on either server must reach every member of its room on both.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import corolib
from corolib import socket
from corolib.sync import Event

HERE = os.path.dirname(os.path.abspath(__file__))
monotonic_ns = time.monotonic_ns


class Barrier:
    """Wake everybody once ``parties`` greenlets have arrived (or one failed)."""

    def __init__(self, parties: int) -> None:
        self.left = parties
        self.event = Event()

    def arrive(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.event.set()

    def wait(self, timeout: float) -> None:
        if not self.event.wait(timeout):
            raise TimeoutError(f"{self.left} users never got there")


class Stats:
    def __init__(self) -> None:
        self.latencies_ns: list[int] = []
        self.delivered = 0
        self.said = 0


class SimUser:
    """One simulated user: connects, joins ``room``, talks, checks what it heard."""

    def __init__(self, index: int, room: str, address: tuple[str, int], stats: Stats) -> None:
        self.index = index
        self.nick = f"u{index}"
        self.room = room
        self.address = address
        self.stats = stats
        self.joined = Event()
        self.complete = Event()
        self.expected = 0
        self.heard: dict[int, set[int]] = {}  # sender -> sequence numbers heard
        self.unexpected: list[str] = []
        self.sock: Any = None

    def connect(self) -> None:
        self.sock = socket.create_connection(self.address, timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = corolib.spawn(self.read_loop)
        self.sock.sendall(f"/nick {self.nick}\r\n/join {self.room}\r\n".encode())

    def read_loop(self) -> None:
        prefix = f"[#{self.room}] ".encode()
        joined = f"*** you are in #{self.room} ".encode()
        latencies = self.stats.latencies_ns
        heard = self.heard
        recv = self.sock.recv
        count = 0
        pending = b""
        while True:
            data = recv(65536)
            if not data:
                break
            lines = (pending + data).split(b"\r\n")
            pending = lines.pop()  # an incomplete last line, or b""
            for line in lines:
                if line.startswith(b"[#"):
                    if not line.startswith(prefix):
                        self.unexpected.append(line.decode())
                        continue
                    # b"[#room] u12: m 12 3 123456789"
                    _, sender, seq, sent_ns = line.rsplit(b" ", 3)
                    heard.setdefault(int(sender), set()).add(int(seq))
                    latencies.append(monotonic_ns() - int(sent_ns))
                    count += 1
                    if count == self.expected:
                        self.complete.set()
                elif line.startswith(joined):
                    self.joined.set()
        self.stats.delivered += count

    def talk(self, messages: int, spread: float) -> None:
        for seq in range(messages):
            corolib.sleep(random.uniform(0, spread))
            self.sock.sendall(f"m {self.index} {seq} {monotonic_ns()}\r\n".encode())
            self.stats.said += 1

    def quit(self) -> None:
        try:
            self.sock.sendall(b"/quit\r\n")
            self.reader.join(timeout=10)
        finally:
            self.reader.kill()
            self.sock.close()


def run_user(
    user: SimUser, joined: Barrier, go: Event, done: Barrier, args: argparse.Namespace
) -> None:
    user.connect()
    if not user.joined.wait(60):
        raise TimeoutError(f"{user.nick} never got into #{user.room}")
    joined.arrive()
    go.wait()
    user.talk(args.messages, args.spread)
    if user.expected and not user.complete.wait(60):
        raise TimeoutError(f"{user.nick} heard only part of #{user.room}")
    done.arrive()
    done.wait(120)
    user.quit()


def flood_and_lurk(address: tuple[str, int], lurkers: int, lines: int) -> tuple[int, int]:
    """#busy: lurkers that never read, one chatterbox; (lurkers told of drops, lines sent)."""
    socks = []
    for i in range(lurkers):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
        sock.connect(address)
        sock.sendall(f"/nick lurker{i}\r\n/join busy\r\n".encode())
        socks.append(sock)
    corolib.sleep(0.2)
    with socket.create_connection(address) as chatterbox:
        chatterbox.sendall(b"/nick chatterbox\r\n/join busy\r\n")
        line = b"flooding #busy with a line long enough to fill buffers quickly .......\r\n"
        for start in range(0, lines, 100):
            chatterbox.sendall(line * min(100, lines - start))
        chatterbox.sendall(b"/quit\r\n")
        chatterbox.settimeout(30)
        while chatterbox.recv(65536):
            pass  # until the server has read it all and said bye
    told = 0
    for sock in socks:  # now read: each should hear that it lost lines
        sock.settimeout(10)
        sock.sendall(b"/quit\r\n")
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            pass
        told += b"dropped: you are reading too slowly" in data
        sock.close()
    return told, lines


def percentile(sorted_values: list[int], p: float) -> float:
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[i] / 1e6


def raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def start_server(*extra: str) -> tuple[subprocess.Popen[str], tuple[str, int]]:
    # A per-connection send buffer of 16 KiB (instead of the kernel's auto-tuning
    # up to megabytes) and 500 queued lines per user: a server for many users
    # caps what one slow reader can hold on to.
    cmd = [sys.executable, os.path.join(HERE, "chat.py"), "server", "--port", "0", "--quiet"]
    cmd += ["--sndbuf", "16384", "--queue", "500", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "chat server on 127.0.0.1:PORT -- ..."
    if "chat server on" not in first:
        proc.kill()
        raise SystemExit(f"the chat server did not start: {first!r}")
    host, port = first.split()[3].rsplit(":", 1)
    return proc, (host, int(port))


def stop_server(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)  # the server stops cleanly and prints its figures
    out, _ = proc.communicate(timeout=30)
    return out.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], int]:
    """A throwaway redis-server on 127.0.0.1 and a free port; (process, port) once it answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (`make demo` installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", directory],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"PING\r\n")
                if c.recv(100).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("redis-server did not start")
        corolib.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--messages", type=int, default=10, help="lines each user says")
    parser.add_argument("--spread", type=float, default=0.5, help="max pause between lines (s)")
    parser.add_argument("--lurkers", type=int, default=5, help="slow readers in #busy (0: none)")
    parser.add_argument("--flood", type=int, default=5000, help="lines sent to #busy")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--federated-users", type=int, default=1000, help="part two: users on two servers (0: skip)"
    )
    args = parser.parse_args(argv)
    random.seed(args.seed)

    limit = raise_fd_limit(args.users + args.lurkers + 100)
    if limit < args.users + args.lurkers + 50:
        print(f"only {limit} file descriptors allowed: fewer users", file=sys.stderr)
        args.users = max(2, limit - args.lurkers - 60)
    proc, address = start_server()
    print(f"chat server (examples/chat.py) on {address[0]}:{address[1]}, pid {proc.pid}")
    ok = False
    try:
        ok = simulate([address], args)
    finally:
        figures = stop_server(proc)
        print(f"server: {figures}")
    if ok and args.federated_users:
        ok = federated(args)
    return 0 if ok else 1


def federated(args: argparse.Namespace) -> bool:
    """Part two: two chat servers sharing their rooms through a real redis-server."""
    print()
    args.users, args.lurkers = args.federated_users, 0
    with tempfile.TemporaryDirectory() as tmp:
        redis_proc, redis_port = start_redis(tmp)
        url = f"redis://127.0.0.1:{redis_port}"
        servers = []
        ok = False
        try:
            servers = [start_server("--redis", url) for _ in range(2)]
            addresses = [address for _, address in servers]
            print(
                f"redis-server on 127.0.0.1:{redis_port}; two chat servers sharing rooms through "
                f"it, on ports {addresses[0][1]} and {addresses[1][1]}"
            )
            ok = simulate(addresses, args)
        finally:
            for i, (proc, _) in enumerate(servers):
                print(f"server {i + 1}: {stop_server(proc)}")
            redis_proc.terminate()
            redis_proc.wait(10)
    return ok


def simulate(addresses: list[tuple[str, int]], args: argparse.Namespace) -> bool:
    """Users on ``addresses`` (user i on server i % n), rooms across them; True if all arrived."""
    address = addresses[0]
    stats = Stats()
    rooms = [f"room{r}" for r in range(args.rooms)]
    # User i is in room i % rooms, on server (i // rooms) % servers: the
    # members of every room alternate between the servers.
    users = [
        SimUser(i, rooms[i % len(rooms)], addresses[(i // len(rooms)) % len(addresses)], stats)
        for i in range(args.users)
    ]
    members: dict[str, list[SimUser]] = {}
    for user in users:
        members.setdefault(user.room, []).append(user)
    for user in users:
        user.expected = args.messages * (len(members[user.room]) - 1)
    joined, done, go = Barrier(len(users)), Barrier(len(users)), Event()

    where = f" on {len(addresses)} servers" if len(addresses) > 1 else ""
    print(
        f"{len(users):,} users{where} in {len(rooms)} rooms, {args.messages} lines each; "
        f"{args.lurkers} lurkers in #busy"
    )
    t0 = time.monotonic()
    tasks = [corolib.spawn(run_user, u, joined, go, done, args) for u in users]
    try:
        joined.wait(60)
    except TimeoutError:
        failed = [t for t in tasks if t.exception is not None]
        if failed:
            raise failed[0].exception from None
        raise
    t_joined = time.monotonic()
    print(f"all connected and in their rooms in {t_joined - t0:.2f} s")

    lurking = (
        corolib.spawn(flood_and_lurk, address, args.lurkers, args.flood) if args.lurkers else None
    )
    go.set()
    t_go = time.monotonic()
    finished = corolib.joinall(tasks, timeout=180, raise_error=True)
    t_done = time.monotonic()
    if len(finished) != len(tasks):
        print(f"FAILED: {len(tasks) - len(finished)} users never finished")
        return False

    # Every user heard every other member of its room say every line, once.
    bad = 0
    for user in users:
        want = {other.index for other in members[user.room] if other is not user}
        heard_ok = set(user.heard) == want and all(
            user.heard[s] == set(range(args.messages)) for s in want
        )
        if not heard_ok or user.unexpected:
            bad += 1
            if bad <= 5:
                heard = f"{user.heard!r:.200}"
                print(f"  {user.nick} in #{user.room}: heard {heard}, stray {user.unexpected[:2]}")
    expected = sum(u.expected for u in users)
    talk_s = t_done - t_go
    lat = sorted(stats.latencies_ns)
    print(
        f"said {stats.said:,} lines; delivered {stats.delivered:,} of {expected:,} expected "
        f"in {talk_s:.2f} s: {stats.said / talk_s:,.0f} lines said/s, "
        f"{stats.delivered / talk_s:,.0f} deliveries/s"
    )
    if lat:
        print(
            "latency (said -> heard): "
            + ", ".join(f"p{p} {percentile(lat, p):.2f} ms" for p in (50, 90, 99))
            + f", max {lat[-1] / 1e6:.2f} ms"
        )
    ok = bad == 0 and stats.delivered == expected
    if lurking is not None:
        told, flood = lurking.get(timeout=120)
        print(
            f"#busy: a chatterbox sent {flood:,} lines to {args.lurkers} lurkers who never read; "
            f"{told} of them were told lines were dropped, and no other room waited for them"
        )
        ok = ok and told == args.lurkers
    print("every message reached every member of its room" if ok else f"FAILED: {bad} users")
    return ok


if __name__ == "__main__":
    sys.exit(main())
