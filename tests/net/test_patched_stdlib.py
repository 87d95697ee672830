"""The stdlib modules with corolib's objects patched in (by hand: corolib.monkey
is another task), in a fresh interpreter each.

What this checks is what monkey patching will rely on: replacing the
stdlib's names by corolib's neither recurses (corolib keeps the originals it
builds on) nor breaks stdlib code that uses them (http.client, asyncio), and
that code then waits cooperatively.
"""

from __future__ import annotations

PATCH = """
import select, selectors, socket
import corolib
import corolib.select as co_select
import corolib.selectors as co_selectors
import corolib.socket as co_socket

for name in ("socket", "SocketType", "create_connection", "create_server", "socketpair",
             "fromfd", "close", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
             "gethostbyaddr", "getnameinfo", "getfqdn"):
    setattr(socket, name, getattr(co_socket, name))
for name in ("select", "poll", "epoll"):
    setattr(select, name, getattr(co_select, name))
for name in ("DefaultSelector", "SelectSelector", "PollSelector", "EpollSelector"):
    setattr(selectors, name, getattr(co_selectors, name))
"""


def test_patched_names_build_corolib_objects(run_python) -> None:
    run_python(
        PATCH
        + """
s = socket.socket()
assert type(s) is co_socket.socket and isinstance(s, socket.socket), type(s)
s.close()
a, b = socket.socketpair()
assert type(a) is co_socket.socket and type(b) is co_socket.socket
a.close(); b.close()
srv = socket.create_server(("127.0.0.1", 0))
assert type(srv) is co_socket.socket
c = socket.create_connection(srv.getsockname())
conn, _ = srv.accept()
assert type(c) is type(conn) is co_socket.socket
d = conn.dup()
assert type(d) is co_socket.socket
for x in (srv, c, conn, d):
    x.close()
with selectors.DefaultSelector() as sel:
    assert type(sel) is co_selectors.HubSelector
print("ok")
"""
    ).expect(stdout="ok\n")


def test_http_client_against_a_greenlet_server(run_python) -> None:
    run_python(
        PATCH
        + """
import http.client

srv = socket.create_server(("127.0.0.1", 0))
ticks = []

def serve():
    conn, _ = srv.accept()
    with conn, conn.makefile("rb") as f:
        while f.readline() not in (b"\\r\\n", b""):
            pass
        corolib.sleep(0.05)  # the client waits meanwhile, cooperatively
        conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\n"
                     b"Connection: close\\r\\n\\r\\nhello")

def tick():
    while True:
        ticks.append(1)
        corolib.sleep(0.005)

g = corolib.spawn(serve)
t = corolib.spawn(tick)
client = http.client.HTTPConnection("localhost", srv.getsockname()[1], timeout=5)
client.request("GET", "/")
response = client.getresponse()
assert response.status == 200 and response.read() == b"hello"
client.close()
g.get()
t.kill()
srv.close()
assert len(ticks) >= 2, ticks
print("ok")
"""
    ).expect(stdout="ok\n")


def test_asyncio_runs_on_the_hub(run_python) -> None:
    run_python(
        PATCH
        + """
import asyncio

ticks = []

def tick():
    while True:
        ticks.append(1)
        corolib.sleep(0.005)

async def main():
    reader, writer = await asyncio.open_connection(*srv.getsockname())
    writer.write(b"ping\\n")
    await writer.drain()
    line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.05)  # the selector parks: greenlets run meanwhile
    return line

srv = socket.create_server(("127.0.0.1", 0))

def serve():
    conn, _ = srv.accept()
    with conn:
        conn.sendall(conn.recv(100).upper())

g = corolib.spawn(serve)
t = corolib.spawn(tick)
assert asyncio.run(main()) == b"PING\\n"
g.get()
t.kill()
srv.close()
assert len(ticks) >= 2, ticks
print("ok")
"""
    ).expect(stdout="ok\n")
