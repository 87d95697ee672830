"""User-space instructions per echoed message on each asyncio loop, under callgrind.

    python bench/callgrind_asyncio.py --python .venv-bench-3.11/bin/python

Not part of the suite (needs valgrind; ~1 minute): runs a raw ``asyncio.Protocol``
echo server on corolib.asyncio, the default loop and uvloop under ``valgrind
--tool=callgrind``, once with no load and once with ``bench/loadgen.c`` (20
connections, 64-byte messages) for a few seconds, and prints (instructions with
load - instructions without) / messages echoed (``--case streams``: bm_asyncio's
streams echo instead of the raw protocol).  Deterministic where bm_asyncio's
CPU times are not, but user space only: the syscalls' kernel time, the same for
every loop, is not in it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent


def serve(impl: str, seconds: float, case: str = "protocol") -> None:
    """The server (run under valgrind): echo until the load generator is done."""
    sys.path.insert(0, str(BENCH_DIR))
    import bm_net

    async def echo(reader: Any, writer: Any) -> None:
        read, write, drain = reader.read, writer.write, writer.drain
        try:
            while data := await read(65536):
                write(data)
                await drain()
        except OSError:
            pass  # the load generator resets its connections when it is done
        writer.close()

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        if case == "streams":
            server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=1024)
        else:
            server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        messages = 0
        if seconds > 0:
            cmd = [bm_net.loadgen_binary(), "127.0.0.1", str(port), "20", str(seconds), "64"]
            proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            messages = json.loads(out)["requests"]
        print(f"MESSAGES {messages}", flush=True)
        server.close()
        await server.wait_closed()

    if impl == "corolib":
        import corolib.asyncio

        corolib.asyncio.run(main())
    elif impl == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def instructions(
    python: str, impl: str, seconds: float, case: str = "protocol", out: str = "/dev/null"
) -> tuple[int, int]:
    """(instructions executed, messages echoed) of one server run under callgrind."""
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", python]
    cmd += [__file__, "--serve", impl, str(seconds), case]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    refs = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    messages = re.search(r"MESSAGES (\d+)", out.stdout)
    if refs is None or messages is None:
        raise RuntimeError(f"{impl}: unexpected output:\n{out.stdout}\n{out.stderr[-2000:]}")
    return int(refs.group(1).replace(",", "")), int(messages.group(1))


def main() -> None:
    if "--serve" in sys.argv:
        serve(sys.argv[2], float(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--case",
        choices=("protocol", "streams"),
        default="protocol",
        help="a raw asyncio.Protocol echo (default) or bm_asyncio's streams echo",
    )
    parser.add_argument("--impl", action="append", help="only these loops (repeatable)")
    parser.add_argument("--out", default="/dev/null", help="callgrind output of the loaded runs")
    args = parser.parse_args()
    for impl in args.impl or ("corolib", "asyncio", "uvloop"):
        idle, _ = instructions(args.python, impl, 0, args.case)
        busy, messages = instructions(args.python, impl, args.seconds, args.case, args.out)
        each = (busy - idle) / messages
        print(f"{impl:<8} {messages:>7} messages  {each:>8,.0f} instructions each")


if __name__ == "__main__":
    main()
