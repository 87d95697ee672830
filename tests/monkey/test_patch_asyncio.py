"""asyncio under patch_all(): plain asyncio code on corolib's loop, next to green threads.

Each case is a fresh interpreter that patches first (``patched``) or
chooses its arguments (``run_python``).
"""

from __future__ import annotations


def test_asyncio_run_is_corolibs_loop_and_green_threads_wake_it(patched):
    patched(
        """
        import asyncio, socket, threading, time
        import corolib.asyncio
        from corolib import monkey
        assert monkey.is_module_patched("asyncio")
        assert asyncio.DefaultEventLoopPolicy is corolib.asyncio.EventLoopPolicy
        std = monkey.get_original("asyncio", "DefaultEventLoopPolicy")
        assert std is not asyncio.DefaultEventLoopPolicy and std.__module__ == "asyncio.unix_events"

        async def main():
            loop = asyncio.get_running_loop()
            assert isinstance(loop, corolib.asyncio.EventLoop), loop

            # a green thread resolves a future, as code in the loop's own
            # thread may: the loop, with no other reason to wake for 30 s
            # (the stdlib's would sleep on), wakes at once
            fut = loop.create_future()
            def resolve():
                time.sleep(0.05)
                fut.set_result("from a green thread")
            threading.Thread(target=resolve).start()
            start = time.monotonic()
            assert await asyncio.wait_for(fut, 30) == "from a green thread"
            woke_after = time.monotonic() - start
            fut = loop.create_future()
            threading.Thread(target=loop.call_soon_threadsafe, args=(fut.set_result, 1)).start()
            assert await asyncio.wait_for(fut, 30) == 1

            # blocking-style socket code in a green thread against an asyncio server
            async def handle(reader, writer):
                writer.write((await reader.readline()).upper())
                await writer.drain()
                writer.close()
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            replies = []
            def client(i):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"hello %d\\n" % i)
                    replies.append(s.makefile("rb").readline())
            threads = [threading.Thread(target=client, args=(i,)) for i in range(10)]
            for t in threads:
                t.start()
            await loop.run_in_executor(None, lambda: [t.join(10) for t in threads])
            server.close()
            await server.wait_closed()
            return woke_after, sorted(replies)

        woke_after, replies = asyncio.run(main())
        assert woke_after < 10, woke_after
        assert replies == sorted(b"HELLO %d\\n" % i for i in range(10)), replies
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_new_event_loop_get_event_loop_runner_and_subprocesses(patched):
    patched(
        """
        import asyncio, sys, warnings
        import corolib.asyncio
        loop = asyncio.new_event_loop()
        assert isinstance(loop, corolib.asyncio.EventLoop), loop
        asyncio.set_event_loop(loop)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert asyncio.get_event_loop() is loop

        async def child():
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "print('child')", stdout=asyncio.subprocess.PIPE)
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            return out, proc.returncode

        assert loop.run_until_complete(child()) == (b"child\\n", 0)
        asyncio.set_event_loop(None)
        loop.close()
        if sys.version_info >= (3, 11):
            with asyncio.Runner() as runner:
                assert isinstance(runner.get_loop(), corolib.asyncio.EventLoop)
                assert runner.run(child()) == (b"child\\n", 0)
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_asyncio_false_leaves_the_stdlib_loop(run_python):
    run_python(
        """
        from corolib import monkey
        monkey.patch_all(asyncio=False)
        import asyncio, corolib.asyncio
        assert not monkey.is_module_patched("asyncio")
        async def main():
            return type(asyncio.get_running_loop())
        cls = asyncio.run(main())
        assert not issubclass(cls, corolib.asyncio.EventLoop), cls
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_command_line_no_asyncio(run_python, tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(
        "import asyncio, corolib.asyncio\n"
        "async def main():\n"
        "    return isinstance(asyncio.get_running_loop(), corolib.asyncio.EventLoop)\n"
        "print(asyncio.run(main()))\n"
    )
    for flag, expected in (([], "True\n"), (["--no-asyncio"], "False\n")):
        args = ", ".join(repr(a) for a in [*flag, str(script)])
        run_python(
            f"""
            import sys
            from corolib.monkey import main
            sys.exit(main([{args}]))
            """
        ).expect(stdout=expected)


def test_a_policy_made_before_patching(run_python):
    # One made from the stdlib's default class is replaced; any other is kept.
    run_python(
        """
        import asyncio
        asyncio.get_event_loop_policy()
        from corolib import monkey
        monkey.patch_all()
        import corolib.asyncio
        assert type(asyncio.get_event_loop_policy()) is corolib.asyncio.EventLoopPolicy
        print("replaced")
        """
    ).expect(stdout="replaced\n", stderr_clean=False)
    run_python(
        """
        import asyncio
        class Mine(asyncio.DefaultEventLoopPolicy):
            pass
        asyncio.set_event_loop_policy(Mine())
        from corolib import monkey
        monkey.patch_all()
        assert type(asyncio.get_event_loop_policy()) is Mine
        print("kept")
        """
    ).expect(stdout="kept\n", stderr_clean=False)


def test_patch_asyncio_alone(run_python):
    run_python(
        """
        from corolib import monkey
        assert monkey.patch_asyncio() is True
        assert monkey.patch_asyncio() is True  # idempotent
        import asyncio, corolib, corolib.asyncio
        ticks = []
        def ticker():
            while True:
                corolib.sleep(0.01)
                ticks.append(1)
        g = corolib.spawn(ticker)
        async def main():
            assert isinstance(asyncio.get_running_loop(), corolib.asyncio.EventLoop)
            await asyncio.sleep(0.3)
        asyncio.run(main())
        g.kill()
        assert len(ticks) >= 3, len(ticks)  # the greenlet ran while the loop waited
        assert monkey.is_module_patched("asyncio") and not monkey.is_module_patched("socket")
        print("ok")
        """
    ).expect(stdout="ok\n")
