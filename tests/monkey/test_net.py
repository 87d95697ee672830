"""socket, dns, select, selectors, time, queue under patch_all(), in fresh interpreters."""

from __future__ import annotations


def test_socket_and_dns_are_cooperative(patched):
    patched(
        """
        import socket, threading, time, corolib
        ticks = []
        corolib.spawn(lambda: [ticks.append(corolib.sleep(0.01)) for _ in range(100)])
        srv = socket.create_server(("127.0.0.1", 0))
        port = srv.getsockname()[1]
        assert isinstance(srv, socket.socket) and type(srv).__module__ == "corolib.socket"
        def serve():
            conn, _ = srv.accept()
            with conn:
                time.sleep(0.2)
                conn.sendall(conn.recv(100).upper())
        threading.Thread(target=serve).start()
        with socket.create_connection(("localhost", port), timeout=5) as c:
            c.sendall(b"hello")
            assert c.recv(100) == b"HELLO"
        assert len(ticks) >= 10, len(ticks)
        a, b = socket.socketpair()
        assert type(a) is socket.socket
        b.settimeout(0.05)
        try:
            b.recv(1)
        except socket.timeout:
            pass
        a.close(); b.close()
        assert socket.getaddrinfo("localhost", 80, socket.AF_INET)[0][4] == ("127.0.0.1", 80)
        assert socket.gethostbyname("localhost") == "127.0.0.1"
        # stdlib code that builds its own sockets gets cooperative ones
        import http.client, urllib.request
        assert http.client.socket.socket is socket.socket
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_select_and_selectors(patched):
    patched(
        """
        import select, selectors, socket, threading, time, socketserver
        assert not hasattr(select, "epoll") and not hasattr(selectors, "EpollSelector")
        a, b = socket.socketpair()
        threading.Timer(0.1, b.send, args=(b"x",)).start()
        ticks = []
        t = threading.Thread(target=lambda: [ticks.append(time.sleep(0.01)) for _ in range(5)])
        t.start()
        assert select.select([a], [], [], 5)[0] == [a]
        assert len(ticks) >= 5
        a.recv(1)
        p = select.poll()
        p.register(a, select.POLLIN)
        assert p.poll(50) == []
        for cls in (selectors.DefaultSelector, selectors.SelectSelector, selectors.PollSelector):
            with cls() as sel:
                sel.register(a, selectors.EVENT_READ)
                threading.Timer(0.05, b.send, args=(b"y",)).start()
                started = time.monotonic()
                ready = sel.select(5)
                assert [k.fileobj for k, _ in ready] == [a], cls
                a.recv(1)
        # a stdlib user of selectors: socketserver, serving in a green thread
        class Echo(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.sendall(self.request.recv(100))
        with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo) as server:
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
            with socket.create_connection(server.server_address) as c:
                c.sendall(b"echo")
                assert c.recv(100) == b"echo"
            server.shutdown()
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_time_sleep_and_queue(patched):
    patched(
        """
        import time, queue, threading, corolib
        started = time.monotonic()
        corolib.joinall([corolib.spawn(time.sleep, 0.2) for _ in range(100)])
        assert time.monotonic() - started < 1
        for bad, exc in ((-1, ValueError), ("x", TypeError), (float("nan"), ValueError)):
            try:
                time.sleep(bad)
            except exc:
                pass
            else:
                raise AssertionError(bad)
        q = queue.SimpleQueue()
        threading.Timer(0.1, q.put, args=(1,)).start()
        assert q.get(timeout=5) == 1
        try:
            q.get(timeout=0.01)
        except queue.Empty:
            pass
        for cls in (queue.Queue, queue.LifoQueue, queue.PriorityQueue):
            q = cls(maxsize=1)
            threading.Timer(0.05, q.put, args=(3,)).start()
            assert q.get(timeout=5) == 3
            q.task_done()
            q.join()
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_ssl_is_patched_and_cooperative(patched):
    patched(
        """
        import ssl, socket, threading, time, corolib, corolib.ssl
        assert ssl.SSLContext is corolib.ssl.SSLContext
        assert ssl.SSLSocket is corolib.ssl.SSLSocket
        assert monkey.is_module_patched("ssl")
        # A context made from the original class (as before patching) works too.
        old = monkey.get_original("ssl", "SSLContext")(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        assert old.sslsocket_class is corolib.ssl.SSLSocket
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_polling_loop_shares_the_thread(patched):
    patched(
        """
        import select, selectors, socket, threading, time
        # A loop polling a socket that is always writable must not starve others.
        a, b = socket.socketpair()
        ticks = []
        t = threading.Thread(target=lambda: [ticks.append(time.sleep(0.001)) for _ in range(3)])
        t.start()
        deadline = time.monotonic() + 0.5
        while len(ticks) < 3 and time.monotonic() < deadline:
            select.select([], [a], [], 1.0)
        assert len(ticks) == 3, ticks
        ticks.clear()
        t = threading.Thread(target=lambda: [ticks.append(time.sleep(0.001)) for _ in range(3)])
        t.start()
        with selectors.DefaultSelector() as sel:
            sel.register(a, selectors.EVENT_WRITE)
            deadline = time.monotonic() + 0.5
            while len(ticks) < 3 and time.monotonic() < deadline:
                sel.select(1.0)
        assert len(ticks) == 3, ticks
        print("ok")
        """
    ).expect(stdout="ok\n")
