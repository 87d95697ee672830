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

The client reads your terminal (or any stdin) cooperatively: it waits for
stdin to become readable through the hub, so the greenlet printing what the
server sends keeps running meanwhile.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Callable
from queue import Empty, Full
from typing import Any

import corolib
from corolib import socket
from corolib.queue import Queue
from corolib.server import StreamServer

LOBBY = "lobby"
NAME = re.compile(r"^[A-Za-z0-9_\-]{1,24}$")
MAX_LINE = 2048
HELP = (
    "*** commands: /nick NAME, /join ROOM, /who, /rooms, /msg NICK text, /help, /quit; "
    "anything else is said to your room"
)


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
        self.server = StreamServer((host, port), self.handle, backlog=backlog)
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
        self._guests += 1
        nick = f"guest{self._guests}"
        while nick in self.users:
            self._guests += 1
            nick = f"guest{self._guests}"
        user = User(self, sock, address, nick)
        self.users[nick] = user
        user.writer = corolib.spawn(user.write_loop)
        user.send(f"*** welcome, {nick}! /help lists the commands")
        self.enter(user, LOBBY)
        self.log(f"{nick} connected from {address[0]}:{address[1]}")
        rfile = sock.makefile("rb")
        quitting = False
        lines = 0
        try:
            while not quitting:
                raw = rfile.readline(MAX_LINE)
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").strip()
                if line:
                    quitting = self.dispatch(user, line)
                lines += 1
                if lines % 50 == 0:
                    # readline switches only when its buffer is empty: a user
                    # pasting a flood would otherwise keep everyone else waiting.
                    corolib.sleep(0)
        except OSError:
            pass  # reset by the peer, or shut down by the writer
        finally:
            rfile.close()
            self.leave(user)
            del self.users[user.nick]
            self.log(f"{user.nick} left")
            if quitting and not user.writer.ready():
                try:  # let the writer flush what is queued, then stop
                    user.queue.put(None, timeout=5)
                    user.writer.join(timeout=5)
                except Full:
                    pass
            user.writer.kill()

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
        self.broadcast(user.room, f"[#{user.room}] {user.nick}: {line}", skip=user)
        return False

    # -- rooms ------------------------------------------------------------------------

    def broadcast(self, room: str, line: str, skip: User | None = None) -> None:
        for member in self.rooms.get(room, ()):
            if member is not skip:
                member.send(line)

    def announce(self, room: str, line: str, skip: User | None = None) -> None:
        """Broadcast a notice (join, leave, nick), unless the room is too big for them."""
        if len(self.rooms.get(room, ())) <= self.notice_limit:
            self.broadcast(room, line, skip)

    def enter(self, user: User, room: str) -> None:
        members = self.rooms.setdefault(room, {})
        self.announce(room, f"*** {user.nick} joined #{room}")
        members[user] = None
        user.room = room
        user.send(f"*** you are in #{room} ({len(members)} here)")

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
        else:
            old = user.nick
            del self.users[old]
            self.users[arg] = user
            user.nick = arg
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
        nicks = sorted(member.nick for member in self.rooms.get(user.room, ()))
        shown = ", ".join(nicks[:100]) + (
            f" and {len(nicks) - 100} more" if len(nicks) > 100 else ""
        )
        user.send(f"*** in #{user.room} ({len(nicks)}): {shown}")
        return False

    def cmd_rooms(self, user: User, arg: str) -> bool:
        rooms = sorted(self.rooms.items(), key=lambda item: (-len(item[1]), item[0]))
        user.send("*** rooms: " + ", ".join(f"#{name} ({len(m)})" for name, m in rooms))
        return False

    def cmd_msg(self, user: User, arg: str) -> bool:
        nick, _, text = arg.partition(" ")
        target = self.users.get(nick)
        if not nick or not text.strip():
            user.send("*** usage: /msg NICK text")
        elif target is None:
            user.send(f"*** no such user: {nick}")
        else:
            target.send(f"[pm] {user.nick}: {text.strip()}")
            user.send(f"*** sent to {nick}")
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

    def serve_forever(self) -> None:
        self.server.serve_forever()


# ---- the client ------------------------------------------------------------------------


def run_client(host: str, port: int, stdin_fd: int = 0, out: Any = None) -> int:
    """Connect, print what the server sends, send what stdin gives; 0 on a clean end."""
    out = out or sys.stdout
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)

    def receive() -> None:
        with sock.makefile("rb") as rfile:
            for raw in rfile:
                out.write(raw.decode("utf-8", "replace").rstrip("\r\n") + "\n")
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
    srv = sub.add_parser("server", help="run the chat server")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=6000, help="0 picks a free port")
    srv.add_argument("--queue", type=int, default=1000, help="outgoing lines kept per user")
    srv.add_argument("--write-timeout", type=float, default=30.0)
    srv.add_argument("--sndbuf", type=int, default=None, help="SO_SNDBUF per connection")
    srv.add_argument("--notice-limit", type=int, default=100, help="announce joins up to this")
    srv.add_argument("--quiet", action="store_true", help="do not log joins and leaves")
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
    chat = ChatServer(
        args.host,
        args.port,
        queue_size=args.queue,
        write_timeout=args.write_timeout,
        sndbuf=args.sndbuf,
        notice_limit=args.notice_limit,
        verbose=not args.quiet,
    )
    chat.start()
    host, port = chat.address
    print(f"chat server on {host}:{port} -- try: nc {host} {port}", flush=True)
    # Ctrl-C or SIGTERM: stop in a greenlet of its own (no KeyboardInterrupt
    # landing in whichever greenlet happens to run); serve_forever returns.
    for signum in (signal.SIGINT, signal.SIGTERM):
        corolib.signal_handler(signum, chat.stop)
    chat.serve_forever()
    print(
        f"stopped: {chat.messages} messages said, {chat.dropped} lines dropped for slow readers",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
