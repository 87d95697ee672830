"""A multi-user TCP chat on corolib: the server, and a client for it.

Server::

    python examples/chat.py server [--host 127.0.0.1] [--port 6000]

then talk to it with ``nc 127.0.0.1 6000``, ``telnet 127.0.0.1 6000`` or
this file's own client::

    python examples/chat.py client 127.0.0.1 6000

Every line you type goes to everyone else in your room.  Commands:

    /nick NAME        change your nickname
    /join ROOM        leave your room and enter ROOM (created on first use)
    /who              who is in your room
    /rooms            the rooms and how many are in each
    /msg NICK text    a private message
    /help             this list
    /quit             leave

How it is built: one :class:`corolib.server.StreamServer`; per connection
one greenlet reading lines (the handler) and one writing them.  Everything
sent to a user goes through that user's *bounded* outgoing queue, which
only the writer waits on: broadcasting to a room never waits for anybody.
When a user reads too slowly and the queue fills up, further messages for
that user are dropped and counted, and the user gets a notice saying how
many were lost; if one write to a user stays stuck for ``--write-timeout``
seconds, that user is disconnected.  So one slow reader never stalls a room.
Joins, leaves and nick changes are announced in rooms of at most
``--notice-limit`` users (100); bigger rooms only carry what people say.

Hostile input: a line longer than ``MAX_LINE`` bytes is refused with a
notice to its sender (and one over a mebibyte ends the connection); terminal
control characters (ESC sequences, bare CR, NUL, BEL, bidirectional
overrides) are shown as ``^[``, ``^M``, ``<U+202E>``... so nobody can
repaint another user's screen or forge a ``***`` notice; an unterminated
last line is not said.  A client that half-closes (``nc -N``) gets every
reply to what it sent before the server closes.  Ctrl-C or SIGTERM stops
the server gracefully: users are told, lines already received are
handled, replies are flushed (for at most ``--grace`` seconds).

Many servers, one chat: with ``--redis redis://HOST:PORT`` every chat
server on that Redis serves the same rooms (see :class:`Federation`):
what is said goes through Redis pub/sub to the members on the other
servers, ``/who``, ``/rooms``, ``/msg`` and nick checks see every server,
and a server that dies takes only its own users with it (their presence
expires).  redis-py is used as it is, under ``corolib.monkey.patch_all()``.

The client reads your terminal (or any stdin) cooperatively: it waits for
stdin to become readable through the hub, so the greenlet printing what the
server sends keeps running meanwhile.  It shows control characters the
same escaped way, whatever the server sends.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable
from queue import Empty, Full
from typing import Any

from graceful import serve_until_signalled

import corolib
from corolib import socket
from corolib.pool import Group
from corolib.queue import Queue
from corolib.server import StreamServer

LOBBY = "lobby"
NAME = re.compile(r"^[A-Za-z0-9_\-]{1,24}$")
MAX_LINE = 2048  # bytes of one line (without its end)
MAX_SKIP = 1 << 20  # a line longer than this ends the connection
HELP = (
    "*** commands: /nick NAME, /join ROOM, /who, /rooms, /msg NICK text, /help, /quit; "
    "anything else is said to your room"
)

# C0 and C1 controls (but TAB, made a space), DEL, and the invisible marks
# and overrides that reorder text on screen.
CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return "^" + chr(code + 64)  # ESC -> ^[, CR -> ^M, NUL -> ^@
    if code == 0x7F:
        return "^?"
    return f"<U+{code:04X}>"


def escape_controls(text: str) -> str:
    """``text`` with every terminal control character shown as harmless visible text."""
    return CONTROLS.sub(_visible, text.replace("\t", " "))


def linger(sock: socket.socket, timeout: float = 2.0) -> None:
    """Close politely: end our side, then read (and drop) until the peer ends its own.

    Closing a TCP socket with unread input makes the kernel send a reset,
    which can throw away replies still on their way; after ``shutdown``
    and a read to the end (for at most ``timeout`` s) it sends a plain FIN.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
        with corolib.Timeout(timeout):
            while sock.recv(65536):
                pass
    except (OSError, corolib.Timeout):
        pass


class User:
    """One connection: its nick, its room, and its outgoing queue and writer."""

    def __init__(self, chat: ChatServer, sock: socket.socket, address: Any, nick: str) -> None:
        self.chat = chat
        self.sock = sock
        self.address = address
        self.nick = nick
        self.room = ""
        self.queue: Queue = Queue(chat.queue_size)
        self.dropped = 0
        self.writer: Any = None

    def __repr__(self) -> str:
        return f"<User {self.nick} #{self.room} {self.address}>"

    def send(self, line: str) -> None:
        """Queue a line for this user; never waits (drops it if the queue is full)."""
        try:
            self.queue.put_nowait(line)
        except Full:
            self.dropped += 1
            self.chat.dropped += 1

    def write_loop(self) -> None:
        """The writer greenlet: send queued lines, several per syscall when they pile up."""
        queue, sock = self.queue, self.sock
        timeout = self.chat.write_timeout
        while True:
            line = queue.get()
            if line is None:
                return
            lines = [line]
            while len(lines) < 512:
                try:
                    line = queue.get_nowait()
                except Empty:
                    break
                if line is None:
                    break
                lines.append(line)
            if self.dropped:
                lines.append(f"*** {self.dropped} message(s) dropped: you are reading too slowly")
                self.dropped = 0
            data = ("\r\n".join(lines) + "\r\n").encode("utf-8", "replace")
            try:
                with corolib.Timeout(timeout):
                    sock.sendall(data)
            except corolib.Timeout:
                self.chat.log(f"{self.nick} stopped reading for {timeout} s: disconnected")
                sock.shutdown(socket.SHUT_RDWR)  # ends the reading greenlet too
                return
            except OSError:
                return
            if line is None:
                return


class ChatServer:
    """The chat: users by nick, rooms by name, and the command handlers.

    ``queue_size`` bounds each user's outgoing queue (lines);
    ``write_timeout`` is how long one write to a user may stay stuck before
    that user is disconnected; ``sndbuf`` (optional) sets the kernel's send
    buffer of each connection; joins, leaves and nick changes are announced
    only in rooms of at most ``notice_limit`` users.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6000,
        *,
        queue_size: int = 1000,
        write_timeout: float = 30.0,
        sndbuf: int | None = None,
        backlog: int = 2048,
        notice_limit: int = 100,
        verbose: bool = False,
    ) -> None:
        self.queue_size = queue_size
        self.notice_limit = notice_limit
        self.write_timeout = write_timeout
        self.sndbuf = sndbuf
        self.verbose = verbose
        self.users: dict[str, User] = {}
        self.rooms: dict[str, dict[User, None]] = {LOBBY: {}}
        self.messages = 0  # lines said in rooms
        self.dropped = 0  # lines dropped for slow readers
        self._guests = 0
        self.federation: Federation | None = None  # set by Federation(chat, url)
        self.server = StreamServer((host, port), self.handle, spawn=Group(), backlog=backlog)
        self.commands: dict[str, Callable[[User, str], bool]] = {
            "/nick": self.cmd_nick,
            "/join": self.cmd_join,
            "/who": self.cmd_who,
            "/rooms": self.cmd_rooms,
            "/msg": self.cmd_msg,
            "/help": self.cmd_help,
            "/quit": self.cmd_quit,
        }

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address  # type: ignore[no-any-return]

    def log(self, text: str) -> None:
        if self.verbose:
            print(text, file=sys.stderr, flush=True)

    # -- connections ----------------------------------------------------------------

    def handle(self, sock: socket.socket, address: Any) -> None:
        if self.sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        nick = self.guest_nick()
        user = User(self, sock, address, nick)
        self.users[nick] = user
        user.writer = corolib.spawn(user.write_loop)
        user.send(f"*** welcome, {nick}! /help lists the commands")
        self.enter(user, LOBBY)
        self.log(f"{nick} connected from {address[0]}:{address[1]}")
        rfile = sock.makefile("rb")
        quitting = reset = False
        lines = 0
        try:
            while not quitting:
                raw = rfile.readline(MAX_LINE + 2)  # + CR LF
                if not raw:
                    break
                if not raw.endswith(b"\n"):
                    if len(raw) < MAX_LINE + 2:
                        # The peer closed (or half-closed) in the middle of a line:
                        # a line counts once it ends, so this one is not said.
                        user.send("*** your last line had no end: not sent")
                        break
                    if not self.skip_line(rfile):
                        user.send(f"*** a line of over {MAX_SKIP} bytes: disconnected")
                        break
                    user.send(f"*** line too long (over {MAX_LINE} bytes): not sent")
                    continue
                line = escape_controls(raw.decode("utf-8", "replace").strip())
                if line:
                    quitting = self.dispatch(user, line)
                lines += 1
                if lines % 50 == 0:
                    # readline switches only when its buffer is empty: a user
                    # pasting a flood would otherwise keep everyone else waiting.
                    corolib.sleep(0)
        except OSError:
            reset = True  # reset by the peer, or shut down by the writer
        finally:
            rfile.close()
            self.leave(user)
            del self.users[user.nick]
            if self.federation is not None:
                self.federation.gone(user.nick)
            self.log(f"{user.nick} left")
            if not reset and not user.writer.ready():
                # Quit, end of input, half-close or server stop: the user gets
                # every reply to what it sent, then the connection closes.
                try:
                    user.queue.put(None, timeout=5)
                    user.writer.join(timeout=5)
                except Full:
                    pass
                linger(sock)
            user.writer.kill()

    @staticmethod
    def skip_line(rfile: Any) -> bool:
        """Read and drop the rest of an over-long line; False if it runs past MAX_SKIP or EOF."""
        skipped = 0
        while skipped <= MAX_SKIP:
            chunk = rfile.readline(65536)
            if not chunk:
                return False
            if chunk.endswith(b"\n"):
                return True
            skipped += len(chunk)
            corolib.sleep(0)  # reading a flood: let the others run
        return False

    def guest_nick(self) -> str:
        # With a federation, guests of different servers must not collide.
        suffix = f"-{self.federation.id}" if self.federation is not None else ""
        while True:
            self._guests += 1
            nick = f"guest{self._guests}{suffix}"
            if nick not in self.users:
                return nick

    def dispatch(self, user: User, line: str) -> bool:
        """Run one line from ``user``; True when the user is leaving."""
        if line.startswith("/"):
            command, _, rest = line.partition(" ")
            handler = self.commands.get(command.lower())
            if handler is None:
                user.send(f"*** unknown command {command}; /help lists them")
                return False
            return handler(user, rest.strip())
        self.messages += 1
        said = f"[#{user.room}] {user.nick}: {line}"
        self.broadcast(user.room, said, skip=user)
        if self.federation is not None:
            self.federation.say(user.room, said)
        return False

    # -- rooms ------------------------------------------------------------------------

    def broadcast(self, room: str, line: str, skip: User | None = None) -> None:
        for member in self.rooms.get(room, ()):
            if member is not skip:
                member.send(line)

    def announce(
        self, room: str, line: str, skip: User | None = None, remote: bool = False
    ) -> None:
        """Broadcast a notice (join, leave, nick), unless the room is too big for them.

        With a federation the room's size counts every server's members; a
        notice from another server was checked there (``remote``).
        """
        if remote:
            self.broadcast(room, line, skip)
        elif self.room_size(room) <= self.notice_limit:
            self.broadcast(room, line, skip)
            if self.federation is not None:
                self.federation.notice(room, line)

    def room_size(self, room: str) -> int:
        """Members of ``room`` here and, with a federation, on the other servers."""
        size = len(self.rooms.get(room, ()))
        if self.federation is not None:
            size += self.federation.room_size(room)
        return size

    def enter(self, user: User, room: str) -> None:
        members = self.rooms.setdefault(room, {})
        self.announce(room, f"*** {user.nick} joined #{room}")
        members[user] = None
        user.room = room
        if self.federation is not None:
            self.federation.present(user.nick, room)
        user.send(f"*** you are in #{room} ({self.room_size(room)} here)")

    def leave(self, user: User) -> None:
        room = user.room
        members = self.rooms.get(room)
        if members is None or user not in members:
            return
        del members[user]
        if not members and room != LOBBY:
            del self.rooms[room]
        self.announce(room, f"*** {user.nick} left #{room}")
        user.room = ""

    # -- commands: each returns True when the user is leaving ----------------------------

    def cmd_nick(self, user: User, arg: str) -> bool:
        if not NAME.match(arg):
            user.send("*** usage: /nick NAME (letters, digits, _ and -, at most 24)")
        elif arg in self.users:
            user.send(
                f"*** {arg} is taken" if self.users[arg] is not user else f"*** you are {arg}"
            )
        elif self.federation is not None and arg in self.federation.directory():
            user.send(f"*** {arg} is taken")
        else:
            old = user.nick
            del self.users[old]
            self.users[arg] = user
            user.nick = arg
            if self.federation is not None:
                self.federation.gone(old)
                self.federation.present(arg, user.room)
            self.announce(user.room, f"*** {old} is now known as {arg}", skip=user)
            user.send(f"*** you are now {arg}")
        return False

    def cmd_join(self, user: User, arg: str) -> bool:
        room = arg.lstrip("#")
        if not NAME.match(room):
            user.send("*** usage: /join ROOM (letters, digits, _ and -, at most 24)")
        elif room == user.room:
            user.send(f"*** you are already in #{room}")
        else:
            self.leave(user)
            self.enter(user, room)
        return False

    def cmd_who(self, user: User, arg: str) -> bool:
        nicks = [member.nick for member in self.rooms.get(user.room, ())]
        if self.federation is not None:  # and the members on the other servers
            nicks += [n for n, room in self.federation.directory().items() if room == user.room]
        nicks.sort()
        shown = ", ".join(nicks[:100]) + (
            f" and {len(nicks) - 100} more" if len(nicks) > 100 else ""
        )
        user.send(f"*** in #{user.room} ({len(nicks)}): {shown}")
        return False

    def cmd_rooms(self, user: User, arg: str) -> bool:
        counts = {name: len(members) for name, members in self.rooms.items()}
        if self.federation is not None:
            for room in self.federation.directory().values():
                counts[room] = counts.get(room, 0) + 1
        rooms = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        user.send("*** rooms: " + ", ".join(f"#{name} ({n})" for name, n in rooms))
        return False

    def cmd_msg(self, user: User, arg: str) -> bool:
        nick, _, text = arg.partition(" ")
        target = self.users.get(nick)
        if not nick or not text.strip():
            user.send("*** usage: /msg NICK text")
        elif target is not None:
            target.send(f"[pm] {user.nick}: {text.strip()}")
            user.send(f"*** sent to {nick}")
        elif self.federation is not None and nick in self.federation.directory():
            self.federation.private(nick, f"[pm] {user.nick}: {text.strip()}")
            user.send(f"*** sent to {nick}")
        else:
            user.send(f"*** no such user: {nick}")
        return False

    def cmd_help(self, user: User, arg: str) -> bool:
        user.send(HELP)
        return False

    def cmd_quit(self, user: User, arg: str) -> bool:
        user.send("*** bye")
        return True

    # -- life ---------------------------------------------------------------------------

    def start(self) -> None:
        self.server.start()

    def stop(self, timeout: float = 1.0) -> None:
        self.server.stop(timeout)
        if self.federation is not None:
            self.federation.close()

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def shutting_down(self) -> None:
        """The server is stopping: tell everyone, and end their input.

        Each handler handles the lines already received, then leaves its
        loop as at the end of input: its writer flushes every reply and
        notice queued, then the connection closes.
        """
        for user in list(self.users.values()):
            user.send("*** the server is shutting down")
            try:
                # The handler reads what the kernel already has, then sees
                # an end of input.
                user.sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass


# ---- many servers: the federation ------------------------------------------------------


class Federation:
    """Rooms shared by every chat server on one Redis (redis-py, under ``patch_all``).

    - What is said, room notices and private messages are published on one
      pub/sub channel, ``PREFIX:events``; every server delivers them to its
      own members (and skips what it published itself).  One publishing
      greenlet sends them in batches (one pipeline per batch), in order.
    - Presence: each server keeps a hash ``PREFIX:members:ID`` (nick -> room)
      of its own users and a key ``PREFIX:alive:ID``, both expiring after
      ``ttl`` seconds unless its heartbeat renews them, and its ID in the set
      ``PREFIX:servers``.  ``/who``, ``/rooms``, ``/msg`` and ``/nick`` read
      every live server's hash: a server that dies (``kill -9``, a lost
      machine) drops out of them by itself after at most ``ttl`` seconds,
      with its users, and only its users.
    - Nicks: guests get the server's ID as a suffix; a ``/nick`` checks every
      server, which leaves a small race between two servers (the same name
      picked on both within one round trip), acceptable for a chat.

    Every server sees every room's traffic: fine for a handful of servers;
    per-room channels would be the next step past that.
    """

    def __init__(self, chat: ChatServer, url: str, prefix: str = "corochat", ttl: float = 10.0):
        import redis  # imported here: the program patched the stdlib first (see main)

        self.redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.chat = chat
        self.id = secrets.token_hex(3)
        self.ttl = ttl
        self.ttl_s = max(1, math.ceil(ttl))  # what Redis takes: whole seconds
        self.prefix = prefix
        self.channel = f"{prefix}:events"
        self.members_key = f"{prefix}:members:{self.id}"
        self.alive_key = f"{prefix}:alive:{self.id}"
        self.servers_key = f"{prefix}:servers"
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=16, timeout=10, socket_timeout=10, socket_connect_timeout=10
        )
        self.redis = redis.Redis(connection_pool=pool)
        self.outbox: Queue = Queue(100_000)
        self.lost = 0  # events dropped: Redis too slow or away
        self._directory: dict[str, str] = {}
        self._directory_at = -1.0
        self._retry_at = -1.0
        self._sizes: Counter[str] = Counter()
        self.received = 0
        self.heartbeat()  # fails here, at start-up, if Redis is not there
        # Subscribed before the first user can say anything.
        self.pubsub = self.redis.pubsub()
        self.pubsub.subscribe(self.channel)
        message = self.pubsub.get_message(timeout=10)
        if message is None or message["type"] != "subscribe":
            raise ConnectionError(f"no subscription to {self.channel} (got {message!r})")
        chat.federation = self
        self.workers = [
            corolib.spawn(self.publish_loop),
            corolib.spawn(self.listen_loop),
            corolib.spawn(self.heartbeat_loop),
        ]

    # -- what this server tells the others ----------------------------------------------

    def _queue(self, op: tuple[Any, ...]) -> None:
        try:
            self.outbox.put_nowait(op)
        except Full:
            self.lost += 1

    def _publish(self, **event: Any) -> None:
        event["from"] = self.id
        self._queue(("publish", self.channel, json.dumps(event)))

    def say(self, room: str, line: str) -> None:
        """A line said in ``room`` on this server: to the members elsewhere."""
        self._publish(kind="say", room=room, line=line)

    def notice(self, room: str, line: str) -> None:
        self._publish(kind="notice", room=room, line=line)

    def private(self, nick: str, line: str) -> None:
        self._publish(kind="pm", to=nick, line=line)

    def present(self, nick: str, room: str) -> None:
        """``nick`` is on this server, in ``room``."""
        self._queue(("hset", self.members_key, nick, room))

    def gone(self, nick: str) -> None:
        self._queue(("hdel", self.members_key, nick))

    def publish_loop(self) -> None:
        while True:
            ops = [self.outbox.get()]
            while len(ops) < 1000:
                try:
                    ops.append(self.outbox.get_nowait())
                except Empty:
                    break
            pipe = self.redis.pipeline(transaction=False)
            for op, *args in ops:
                getattr(pipe, op)(*args)
            pipe.expire(self.members_key, self.ttl_s)
            try:
                pipe.execute()
            except self.redis_errors as exc:
                self.lost += len(ops)
                self.chat.log(f"redis: {exc!r}; {len(ops)} event(s) lost")
                corolib.sleep(1)

    # -- what the others tell this server --------------------------------------------------

    def listen_loop(self) -> None:
        while True:
            try:
                message = self.pubsub.get_message(timeout=30)
            except self.redis_errors as exc:
                self.chat.log(f"redis subscription: {exc!r}; subscribing again")
                corolib.sleep(1)
                try:
                    self.pubsub.close()
                    self.pubsub = self.redis.pubsub()
                    self.pubsub.subscribe(self.channel)
                except self.redis_errors:
                    pass
                continue
            if message is not None and message["type"] == "message":
                self.deliver(message["data"])

    def deliver(self, data: bytes) -> None:
        try:
            event = json.loads(data)
            origin, kind, line = event["from"], event["kind"], escape_controls(event["line"])
        except (ValueError, KeyError, TypeError):
            return  # not ours
        if origin == self.id:
            return
        self.received += 1
        chat = self.chat
        if kind == "say":
            chat.broadcast(event["room"], line)
        elif kind == "notice":
            chat.announce(event["room"], line, remote=True)
        elif kind == "pm" and (target := chat.users.get(event["to"])) is not None:
            target.send(line)

    # -- presence ------------------------------------------------------------------------

    def heartbeat(self) -> None:
        ttl = self.ttl_s
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.alive_key, 1, ex=ttl)
        pipe.sadd(self.servers_key, self.id)
        pipe.expire(self.members_key, ttl)
        pipe.execute()

    def heartbeat_loop(self) -> None:
        while True:
            corolib.sleep(self.ttl / 3)
            try:
                self.heartbeat()
            except self.redis_errors as exc:
                self.chat.log(f"redis heartbeat: {exc!r}")

    def directory(self) -> dict[str, str]:
        """Nick -> room of the users on every *other* live server (two Redis round trips).

        Kept for a quarter of a second: a thousand users joining at once
        cost a few lookups, not two thousand.
        """
        now = time.monotonic()
        if now - self._directory_at < 0.25 or now < self._retry_at:
            return self._directory
        found = self._lookup()
        self._directory, self._directory_at = found, time.monotonic()
        self._sizes = Counter(found.values())
        return found

    def room_size(self, room: str) -> int:
        """Members of ``room`` on the other servers (from :meth:`directory`)."""
        self.directory()
        return self._sizes[room]

    def _lookup(self) -> dict[str, str]:
        try:
            ids = [i.decode() for i in self.redis.smembers(self.servers_key)]
            ids = [i for i in ids if i != self.id]
            if not ids:
                return {}
            pipe = self.redis.pipeline(transaction=False)
            for sid in ids:
                pipe.hgetall(f"{self.prefix}:members:{sid}")
                pipe.exists(f"{self.prefix}:alive:{sid}")
            replies = pipe.execute()
        except self.redis_errors as exc:
            # Redis away: the last directory known for a while, rather than
            # every command waiting for the connect timeout.
            self.chat.log(f"redis directory: {exc!r}")
            self._retry_at = time.monotonic() + 5.0
            return self._directory
        found: dict[str, str] = {}
        for sid, members, alive in zip(ids, replies[::2], replies[1::2], strict=True):
            if not alive:  # expired: a server that died
                self._queue(("srem", self.servers_key, sid))
                continue
            found.update((n.decode(), r.decode()) for n, r in members.items())
        return found

    def close(self) -> None:
        """Leave the federation: this server's users go from every directory at once."""
        for worker in self.workers:
            worker.kill()
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.delete(self.members_key, self.alive_key)
            pipe.srem(self.servers_key, self.id)
            pipe.execute()
        except self.redis_errors:
            pass
        self.pubsub.close()
        self.redis.close()
        self.redis.connection_pool.disconnect()


# ---- the client ------------------------------------------------------------------------


def run_client(host: str, port: int, stdin_fd: int = 0, out: Any = None) -> int:
    """Connect, print what the server sends, send what stdin gives; 0 on a clean end."""
    out = out or sys.stdout
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)

    def receive() -> None:
        with sock.makefile("rb") as rfile:
            for raw in rfile:
                # Never trust a server with our terminal: controls are shown, not obeyed.
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                out.write(escape_controls(line) + "\n")
                out.flush()

    def type_lines() -> None:
        while True:
            corolib.wait_readable(stdin_fd)  # cooperative: the receiver runs meanwhile
            data = os.read(stdin_fd, 4096)
            if not data:  # end of input: leave politely
                sock.sendall(b"/quit\r\n")
                return
            sock.sendall(data)

    receiver = corolib.spawn(receive)
    typist = corolib.spawn(type_lines)
    try:
        # Whichever ends first: the server closed, or stdin ended (then the
        # server answers /quit by closing, which ends the receiver).
        corolib.joinall([receiver, typist], count=1)
        if typist.ready() and typist.successful():
            receiver.join(timeout=10)
    finally:
        typist.kill()
        receiver.kill()
        sock.close()
    if receiver.exception is not None and not isinstance(receiver.exception, OSError):
        raise receiver.exception
    return 0


# ---- command line ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A multi-user TCP chat on corolib.")
    sub = parser.add_subparsers(dest="mode", required=True)
    srv = sub.add_parser("server", aliases=["serve"], help="run the chat server")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=6000, help="0 picks a free port")
    srv.add_argument("--queue", type=int, default=1000, help="outgoing lines kept per user")
    srv.add_argument("--write-timeout", type=float, default=30.0)
    srv.add_argument("--sndbuf", type=int, default=None, help="SO_SNDBUF per connection")
    srv.add_argument("--notice-limit", type=int, default=100, help="announce joins up to this")
    srv.add_argument("--quiet", action="store_true", help="do not log joins and leaves")
    srv.add_argument("--grace", type=float, default=5.0, help="on a stop, s to flush replies")
    srv.add_argument("--redis", metavar="URL", help="share the rooms with every server on it")
    srv.add_argument("--redis-prefix", default="corochat", help="the federation's key prefix")
    srv.add_argument(
        "--presence-ttl", type=float, default=10.0, help="s a dead server's users stay"
    )
    cli = sub.add_parser("client", help="connect to a chat server")
    cli.add_argument("host")
    cli.add_argument("port", type=int)
    args = parser.parse_args(argv)
    if args.mode == "client":
        try:
            return run_client(args.host, args.port)
        except ConnectionRefusedError:
            print(f"no chat server at {args.host}:{args.port}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0
    if args.redis:
        # redis-py does its I/O with the stdlib's socket module: make that
        # corolib's before redis is imported.
        from corolib import monkey

        monkey.patch_all()
    chat = ChatServer(
        args.host,
        args.port,
        queue_size=args.queue,
        write_timeout=args.write_timeout,
        sndbuf=args.sndbuf,
        notice_limit=args.notice_limit,
        verbose=not args.quiet,
    )
    if args.redis:
        try:
            Federation(chat, args.redis, prefix=args.redis_prefix, ttl=args.presence_ttl)
        except Exception as exc:  # noqa: BLE001 - say it in one line
            print(f"cannot join the federation at {args.redis}: {exc}", file=sys.stderr)
            return 1

    def started() -> None:
        host, port = chat.address
        shared = f" (rooms shared through {args.redis})" if args.redis else ""
        print(f"chat server on {host}:{port} -- try: nc {host} {port}{shared}", flush=True)

    # Ctrl-C or SIGTERM: no new users, everyone told, replies flushed (at
    # most --grace s), then out of the federation.
    serve_until_signalled(chat.server, args.grace, on_stop=chat.shutting_down, started=started)
    if chat.federation is not None:
        chat.federation.close()
    print(
        f"stopped: {chat.messages} messages said, {chat.dropped} lines dropped for slow readers",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
