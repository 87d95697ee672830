"""The patching framework: patch_all, patch_<name>, originals, events, warnings, the CLI."""

from __future__ import annotations

import os
import sys
import textwrap


def test_patch_all_twice_is_harmless(run_python):
    run_python(
        """
        import warnings
        warnings.simplefilter("error")
        from corolib import monkey
        assert not monkey.is_anything_patched()
        assert monkey.patch_all() is True
        import socket, time
        first = (socket.socket, time.sleep)
        assert monkey.patch_all() is True
        assert monkey.patch_all(thread=True, socket=True) is True
        assert (socket.socket, time.sleep) == first
        import corolib.socket, corolib.time
        assert socket.socket is corolib.socket.socket
        assert time.sleep is corolib.time.sleep
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_get_original_returns_the_real_things(run_python):
    run_python(
        """
        import socket, time, select, threading, _thread, queue, subprocess, os
        real = dict(
            socket=socket.socket, sleep=time.sleep, select=select.select,
            epoll=select.epoll, lock=threading.Lock, start=_thread.start_new_thread,
            sq=queue.SimpleQueue, popen=subprocess.Popen, waitpid=os.waitpid,
            gai=socket.getaddrinfo,
        )
        from corolib import monkey
        monkey.patch_all()
        get = monkey.get_original
        assert get("socket", "socket") is real["socket"]
        assert get("time", "sleep") is real["sleep"]
        assert get("select", "select") is real["select"]
        assert get("select", "epoll") is real["epoll"] and not hasattr(select, "epoll")
        assert get("threading", "Lock") is real["lock"]
        assert get("_thread", "start_new_thread") is real["start"]
        assert get("queue", "SimpleQueue") is real["sq"]
        assert get("subprocess", "Popen") is real["popen"]
        assert get("os", "waitpid") is real["waitpid"]
        assert get("socket", "getaddrinfo") is real["gai"]
        assert get("socket", ["socket", "getaddrinfo"]) == [real["socket"], real["gai"]]
        # never patched: the live attribute
        assert get("socket", "AF_INET") == socket.AF_INET
        # class attributes
        import selectors
        assert get("selectors", "SelectSelector._select") is real["select"]
        assert monkey.is_object_patched("socket", "socket")
        assert monkey.is_object_patched("selectors", "SelectSelector._select")
        assert not monkey.is_object_patched("socket", "AF_INET")
        for name in ("socket", "dns", "time", "select", "selectors", "thread", "threading",
                     "_thread", "os", "subprocess", "signal", "queue"):
            assert monkey.is_module_patched(name), name
        # The original is the real thing: a real sleep blocks the hub.
        import corolib
        ticks = []
        corolib.spawn(lambda: ticks.append(1))
        get("time", "sleep")(0.01)
        assert ticks == []
        time.sleep(0)
        assert ticks == [1]
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_each_patch_function_alone(run_python):
    run_python(
        """
        import socket, time, select, selectors, queue, threading
        from corolib import monkey
        assert monkey.patch_time()
        import corolib.time
        assert time.sleep is corolib.time.sleep
        assert not monkey.is_module_patched("socket")
        assert socket.socket is monkey.get_original("socket", "socket")
        assert monkey.patch_socket(dns=False)
        assert not monkey.is_module_patched("dns")
        assert socket.getaddrinfo is monkey.get_original("socket", "getaddrinfo")
        assert monkey.patch_dns()
        import corolib.dns
        assert socket.getaddrinfo is corolib.dns.getaddrinfo
        assert monkey.patch_select()
        assert monkey.is_module_patched("selectors")
        assert not hasattr(select, "epoll") and not hasattr(selectors, "EpollSelector")
        import corolib.selectors
        assert issubclass(selectors.DefaultSelector, corolib.selectors.DefaultSelector)
        # queue without thread: corolib's queues (the stdlib's would block)
        assert monkey.patch_queue()
        import corolib.queue
        assert queue.Queue is corolib.queue.Queue
        assert queue.SimpleQueue is corolib.queue.SimpleQueue
        assert not monkey.is_module_patched("thread")
        assert threading.Lock is monkey.get_original("threading", "Lock")
        # idempotent
        assert monkey.patch_select() and monkey.patch_time() and monkey.patch_queue()
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_patch_queue_after_thread_keeps_stdlib_queue_classes(patched):
    patched(
        """
        import queue, threading, corolib.queue
        # Green through green threading; subclass hooks (_put/_get) keep working.
        assert queue.Queue is monkey.get_original("queue", "Queue")
        assert queue.SimpleQueue is corolib.queue.SimpleQueue

        class Doubling(queue.Queue):
            def _put(self, item):
                super()._put(item * 2)

        q = Doubling()
        results = []
        t = threading.Thread(target=lambda: results.append(q.get(timeout=5)))
        t.start()
        q.put(21)
        t.join()
        assert results == [42], results
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_events_order_and_veto(run_python):
    run_python(
        """
        from corolib import monkey
        from corolib.monkey import events
        seen = []
        def subscriber(event):
            name = type(event).__name__
            seen.append(name if not hasattr(event, "name") or not event.name
                        else f"{name}:{event.name}")
            if isinstance(event, events.WillPatchModule) and event.name == "signal":
                raise events.DoNotPatch
        events.subscribers.append(subscriber)
        assert monkey.patch_all() is True
        assert seen[0] == "WillPatchAll" and seen[-1] == "DidPatchAll", seen
        mods = [s.split(":")[1] for s in seen if s.startswith("DidPatchModule")]
        assert mods == ["os", "thread", "time", "socket", "dns", "select", "selectors",
                        "ssl", "subprocess", "queue", "asyncio"], mods
        assert "WillPatchModule:signal" in seen
        assert not monkey.is_module_patched("signal")
        import signal, corolib.signal
        assert signal.signal is not corolib.signal.signal
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_veto_patch_all(run_python):
    run_python(
        """
        from corolib import monkey
        from corolib.monkey import events
        def veto(event):
            if isinstance(event, events.WillPatchAll):
                assert event.arguments["socket"] is True
                assert event.arguments["myplugin"] == 1
                raise events.DoNotPatch
        events.subscribers.append(veto)
        assert monkey.patch_all(myplugin=1) is False
        assert not monkey.is_anything_patched()
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_late_patching_warns_once_naming_the_modules(run_python, tmp_path):
    (tmp_path / "thirdparty_early.py").write_text(
        "from time import sleep\nfrom threading import Lock\nfrom socket import socket\n"
    )
    run_python(
        """
        import warnings
        import thirdparty_early
        from corolib import monkey
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            monkey.patch_all()
            monkey.patch_all()
        ours = [w for w in caught if issubclass(w.category, monkey.MonkeyPatchWarning)]
        assert len(ours) == 1, [str(w.message) for w in caught]
        text = str(ours[0].message)
        assert "'thirdparty_early'" in text, text
        for name in ("time.sleep", "threading.Lock", "socket.socket"):
            assert name in text, (name, text)
        assert "patch_all() first thing" in text, text
        assert ours[0].filename.endswith("script_under_test.py"), ours[0].filename
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_no_warning_when_patched_first(run_python):
    run_python(
        """
        import warnings
        warnings.simplefilter("error")
        from corolib import monkey
        monkey.patch_all()
        import requests, http.server, urllib.request, logging, concurrent.futures
        monkey.patch_all()
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_warning_names_running_os_threads(run_python):
    run_python(
        """
        import threading, time, warnings
        stop = threading.Event()
        t = threading.Thread(target=stop.wait, name="early-worker")
        t.start()
        from corolib import monkey
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            monkey.patch_all()
        text = "\\n".join(str(w.message) for w in caught)
        assert "early-worker" in text, text
        stop.set()
        t.join()
        print("ok")
        """
    ).expect(stdout="ok\n")


def _write(path, source):
    path.write_text(textwrap.dedent(source))


def test_command_line_script(tmp_path):
    import subprocess

    script = tmp_path / "prog.py"
    _write(
        script,
        """
        import sys, socket, time, threading
        from corolib import monkey
        assert monkey.is_module_patched("socket") and monkey.is_module_patched("thread")
        import corolib.socket
        assert socket.socket is corolib.socket.socket
        assert monkey.get_original("time", "sleep") is not time.sleep
        assert __name__ == "__main__"
        print(sys.argv, sys.path[0] == __import__("os").path.dirname(__file__))
        """,
    )
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    out = subprocess.run(
        [sys.executable, "-m", "corolib.monkey", str(script), "a", "--b"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"[{str(script)!r}, 'a', '--b'] True\n"


def test_command_line_module(tmp_path):
    import subprocess

    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    _write(
        pkg / "tool.py",
        """
        import sys, time
        from corolib import monkey
        assert monkey.is_module_patched("time") and __name__ == "__main__"
        print(sys.argv[1:])
        sys.exit(3)
        """,
    )
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    out = subprocess.run(
        [sys.executable, "-m", "corolib.monkey", "-m", "mypkg.tool", "x"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 3, out.stderr
    assert out.stdout == "['x']\n"


def test_command_line_usage(tmp_path):
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "corolib.monkey"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "usage:" in out.stdout


def test_library_never_imports_monkey(run_python):
    run_python(
        """
        import sys
        import corolib, corolib.socket, corolib.select, corolib.selectors, corolib.dns
        import corolib.sync, corolib.queue, corolib.pool, corolib.local, corolib.threadpool
        import corolib.time, corolib.os, corolib.signal, corolib.subprocess
        import corolib.thread, corolib.threading
        assert not [m for m in sys.modules if m.startswith("corolib.monkey")]
        print("ok")
        """
    ).expect(stdout="ok\n")
