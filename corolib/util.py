"""What the greenlets are doing: run info, the spawn tree, and test helpers.

:func:`format_run_info` / :func:`print_run_info` describe the whole
process for a human: every thread with its stack and its hub, then, per
hub, every greenlet it knows of as a tree keyed on who spawned whom
(:class:`GreenletTree`), each with its state, what it is parked on (an
fd, a sleep, a join, a wait queue...), its stack, and its spawn-tree
locals.  The format is for people and may change.

Dumping it on a signal, the one line to add to a program::

    signal.signal(signal.SIGUSR1, lambda *_: corolib.util.print_run_info())

(then ``kill -USR1 <pid>``; Python runs the handler between two bytecodes
of whatever runs in the main thread, or as soon as the hub wakes up, and
it never switches.)

Which greenlets are found: each hub's main greenlet, the hub, the greenlet
running, every parked greenlet (the hub lists them, with what they wait
for), tasks not started yet or finished that something still references,
and the spawners of all of these.  A greenlet suspended by a plain
``switch()`` to another greenlet -- not through the hub -- and referenced
only from such greenlets is not seen.

Also here: :class:`wrap_errors` (return exceptions instead of raising
them) and :class:`assert_switches` (fail a test block that runs too long
without yielding).
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, TextIO

from corolib import _core
from corolib._core import getcurrent, greenlet, settrace
from corolib.hub import get_hub
from corolib.hub._hub import Hub, _all_hubs

__all__ = [
    "format_run_info",
    "print_run_info",
    "dump_stacks",
    "GreenletTree",
    "wrap_errors",
    "assert_switches",
    "FailedToSwitch",
]


# ---- run info ------------------------------------------------------------------


def format_run_info(
    thread_stacks: bool = True,
    greenlet_stacks: bool = True,
    limit: int | None = None,
    current_thread_ident: int | None = None,
) -> list[str]:
    """Lines (each ending with a newline) describing every thread and greenlet.

    ``thread_stacks`` / ``greenlet_stacks``: include stacks; ``limit``: at
    most that many frames per stack; ``current_thread_ident``: the thread
    to mark as current (default: the calling one).
    """
    lines: list[str] = []
    current = threading.get_ident() if current_thread_ident is None else current_thread_ident
    _format_threads(lines, current, thread_stacks, limit)
    lines.append("\n")
    lines.append("*" * 78 + "\n* Greenlets\n" + "*" * 78 + "\n")
    forest = GreenletTree.forest(current_thread_ident=current)
    for i, tree in enumerate(forest):
        if i:
            lines.append("---- Thread boundary\n")
        lines.extend(tree.format_lines(details=True, stacks=greenlet_stacks, limit=limit))
    if not forest:
        lines.append("(no hub in this process)\n")
    return lines


def print_run_info(
    thread_stacks: bool = True,
    greenlet_stacks: bool = True,
    limit: int | None = None,
    file: TextIO | None = None,
) -> None:
    """Print :func:`format_run_info` to ``file`` (default ``sys.stderr``)."""
    out = sys.stderr if file is None else file
    out.write("".join(format_run_info(thread_stacks, greenlet_stacks, limit)))
    out.flush()


dump_stacks = format_run_info


def _format_threads(lines: list[str], current: int, stacks: bool, limit: int | None) -> None:
    names = {t.ident: t.name for t in threading.enumerate()}
    hubs = {h.thread_ident: h for h in list(_all_hubs)}
    for h in hubs.values():
        monitor = h.periodic_monitoring_thread
        if monitor is not None and h.thread_ident is not None:
            names[monitor.monitor_thread_ident] = f"corolib monitor of thread {h.thread_ident:#x}"
    lines.append("*" * 78 + "\n* Threads\n" + "*" * 78 + "\n")
    for ident, frame in sorted(sys._current_frames().items()):
        name = names.get(ident, "(not started by threading)")
        mark = " (CURRENT)" if ident == current else ""
        lines.append(f"Thread {ident:#x} {name}{mark}\n")
        hub = hubs.get(ident)
        if hub is not None:
            lines.append(f"  hub: {_safe_repr(hub)}\n")
            monitor = hub.periodic_monitoring_thread
            if monitor is not None:
                lines.append(f"  monitored by thread {monitor.monitor_thread_ident:#x}\n")
        if stacks:
            lines.extend(traceback.format_stack(frame, limit=_neg(limit)))
        lines.append("\n")


def _neg(limit: int | None) -> int | None:
    # traceback's positive limit keeps the outermost frames; we want the innermost.
    return None if limit is None else -abs(limit)


# ---- the spawn tree ------------------------------------------------------------


class GreenletTree:
    """A greenlet and the greenlets it spawned, recursively, for display.

    The tree follows ``spawning_greenlet`` (who created a task), not
    ``parent`` (usually the hub); greenlets without a known spawner hang
    under their parent.  :meth:`forest` builds one tree per hub, rooted at
    its thread's main greenlet; :meth:`current_tree` the calling thread's.
    """

    def __init__(self, greenlet: greenlet) -> None:
        self.greenlet = greenlet
        self.children: list[GreenletTree] = []
        #: what it is parked on, e.g. "waits for fd 5" (None: not parked)
        self.parked: str | None = None
        #: whether the greenlet is the one running in its thread
        self.running = False
        #: that thread's current frame, for the running greenlet
        self.frame: FrameType | None = None

    def add_child(self, tree: GreenletTree) -> None:
        """Add ``tree`` under this node."""
        self.children.append(tree)

    @property
    def root(self) -> bool:
        """True for a thread's main greenlet."""
        return self.greenlet.parent is None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.greenlet, name)

    # -- building -------------------------------------------------------------

    @classmethod
    def forest(cls, current_thread_ident: int | None = None) -> list[GreenletTree]:
        """One tree per live hub, each rooted at its thread's main greenlet."""
        frames = sys._current_frames()
        hubs = sorted(_all_hubs, key=lambda h: h.thread_ident or 0)
        tracked = [g for g in gc.get_objects() if isinstance(g, greenlet)]
        trees = []
        for hub in hubs:
            tree = cls._for_hub(hub, tracked, frames)
            if tree is not None:
                trees.append(tree)
        return trees

    @classmethod
    def current_tree(cls) -> GreenletTree:
        """The tree of the calling thread's hub (created if needed)."""
        hub = get_hub()
        tracked = [g for g in gc.get_objects() if isinstance(g, greenlet)]
        tree = cls._for_hub(hub, tracked, sys._current_frames())
        assert tree is not None  # the calling thread is alive
        return tree

    @classmethod
    def _for_hub(
        cls, hub: Hub, tracked: list[greenlet], frames: dict[int, FrameType]
    ) -> GreenletTree | None:
        state = _core._hub_monitor_state(hub)
        main = hub.parent
        if state is None or main is None:
            return None
        _, running, _ = state
        nodes: dict[int, GreenletTree] = {}

        def node(g: greenlet) -> GreenletTree:
            t = nodes.get(id(g))
            if t is None:
                t = nodes[id(g)] = cls(g)
            return t

        node(main)
        node(hub)
        run = node(running)
        run.running = True
        run.frame = frames.get(hub.thread_ident or 0)
        for g, what, detail, ready in _core._hub_parked(hub):
            t = node(g)
            t.parked = _describe_wait(what, detail, ready)
        for g in tracked:
            if id(g) not in nodes and _belongs_to(g, hub, main):
                node(g)
        # Spawners of everything found, as far back as they are alive.
        pending = list(nodes.values())
        while pending:
            g = pending.pop().greenlet
            spawner = _spawner(g)
            if spawner is not None and id(spawner) not in nodes and _belongs_to(spawner, hub, main):
                pending.append(node(spawner))
        for t in nodes.values():
            if t.greenlet is main:
                continue
            up = _spawner(t.greenlet)
            if up is None or id(up) not in nodes:
                up = t.greenlet.parent
            parent_tree = nodes.get(id(up)) if up is not None else None
            (parent_tree or nodes[id(main)]).add_child(t)
        return nodes[id(main)]

    # -- formatting -----------------------------------------------------------

    def format_lines(
        self, details: bool = True, stacks: bool = True, limit: int | None = None
    ) -> list[str]:
        """The tree as lines of text (each ending with a newline)."""
        out: list[str] = []
        self._render(out, "", "", details, stacks, limit)
        return out

    def format(self, details: bool = True, stacks: bool = True, limit: int | None = None) -> str:
        """The tree as text."""
        return "".join(self.format_lines(details, stacks, limit))

    def __str__(self) -> str:
        return self.format(details=False, stacks=False)

    def _label(self) -> str:
        g = self.greenlet
        label = _safe_repr(g)
        if isinstance(g, Hub):
            label += "; the hub"
        if self.running:
            return label + "; running"
        if self.parked is not None:
            return f"{label}; {self.parked}"
        if isinstance(g, _core.Task):
            if g.ready():
                if g.exception is not None:
                    return f"{label}; finished with exception {g.exception!r}"
                return f"{label}; finished with value {_short_repr(g.value)}"
            if not g:
                return label + ("; not started" if not g.dead else "; killed before it started")
        if g.dead:
            return label + "; dead"
        if not g:
            return label + "; not started"
        return label + "; suspended"

    def _render(
        self,
        out: list[str],
        first: str,
        rest: str,
        details: bool,
        stacks: bool,
        limit: int | None,
    ) -> None:
        out.append(first + self._label() + "\n")
        pad = rest + ("|   " if self.children else "    ")
        if details:
            g = self.greenlet
            if g.parent is not None:
                out.append(f"{pad}: Parent: {_safe_repr(g.parent)}\n")
            locals_ = getattr(g, "__dict__", {}).get("_spawn_tree_locals")
            if locals_:
                out.append(f"{pad}: Spawn tree locals: {_short_repr(locals_)}\n")
            if stacks:
                frame = self.frame if self.running else _suspended_frame(g)
                if frame is not None:
                    out.append(f"{pad}: {'Running' if self.running else 'Stack'}:\n")
                    for entry in traceback.format_stack(frame, limit=_neg(limit)):
                        for line in entry.rstrip("\n").split("\n"):
                            out.append(f"{pad}:   {line}\n")
        for i, child in enumerate(self.children):
            last = i == len(self.children) - 1
            child._render(
                out,
                rest + "+--- ",
                rest + ("     " if last else "|    "),
                details,
                stacks,
                limit,
            )


def _suspended_frame(g: greenlet) -> FrameType | None:
    if g.dead or not g or getcurrent() is g:
        return None
    try:
        frame: FrameType | None = g.gr_frame
    except Exception:  # noqa: BLE001 - a greenlet of another thread, say
        return None
    return frame


def _spawner(g: greenlet) -> greenlet | None:
    ref = getattr(g, "spawning_greenlet", None) if isinstance(g, _core.Task) else None
    if ref is None:
        return None
    spawner: greenlet | None = ref()
    return spawner


def _belongs_to(g: greenlet, hub: Hub, main: greenlet) -> bool:
    # Follow parents up to a main greenlet; a task's parent is its hub.
    seen = 0
    p: greenlet | None = g
    while p is not None and seen < 1000:
        if p is hub or p is main:
            return True
        p = p.parent
        seen += 1
    return False


def _describe_wait(what: str, detail: int, ready: bool) -> str:
    if ready:
        return f"woken, waiting for its turn (was waiting for {what})"
    if what == "fd":
        return f"parked: waits for fd {detail}"
    if what == "select()":
        return f"parked: waits in select() on {detail} fds"
    return f"parked: waits for {what}"


def _safe_repr(obj: object) -> str:
    try:
        return repr(obj)
    except Exception as exc:  # noqa: BLE001
        return f"<{type(obj).__name__} (repr failed: {exc!r})>"


def _short_repr(obj: object, size: int = 200) -> str:
    text = _safe_repr(obj)
    return text if len(text) <= size else text[: size - 3] + "..."


# ---- helpers ---------------------------------------------------------------------


class wrap_errors:  # noqa: N801 - gevent's name
    """``func`` that returns the listed exceptions instead of raising them.

    ``wrap_errors(errors, func)(*args)`` is ``func(*args)``, or the
    exception instance if it raised one of ``errors`` (an exception class
    or a tuple of them): useful as a greenlet's function when the value
    should carry the failure.
    """

    def __init__(
        self,
        errors: type[BaseException] | tuple[type[BaseException], ...],
        func: Callable[..., Any],
    ) -> None:
        self.__errors = errors
        self.__func = func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function; return a listed exception instead of raising it."""
        try:
            return self.__func(*args, **kwargs)
        except self.__errors as exc:
            return exc

    def __str__(self) -> str:
        return str(self.__func)

    def __repr__(self) -> str:
        return f"wrap_errors({self.__errors!r}, {self.__func!r})"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__func, name)


class FailedToSwitch(AssertionError):  # noqa: N818 - an assertion, named for what failed
    """Raised by :class:`assert_switches` when a block did not yield as required."""


class assert_switches:  # noqa: N801 - gevent's name
    """Fail a block that did not yield (for tests).

    ``with assert_switches():`` -- the calling greenlet must switch away at
    least once in the block (``hub_only=True``: to the hub).  With
    ``max_blocking_time``, it instead must never run longer than that
    without switching away.  Raises :class:`FailedToSwitch` on exit.
    Uses the thread's greenlet trace function while the block runs
    (chained with any installed one).
    """

    def __init__(self, max_blocking_time: float | None = None, hub_only: bool = False) -> None:
        self.max_blocking_time = max_blocking_time
        self.hub_only = hub_only
        self.switched = False
        self.longest = 0.0
        self._previous: Any = None
        self._me: greenlet | None = None
        self._hub: Hub | None = None
        self._since = 0.0

    def _trace(self, event: str, args: tuple[greenlet, greenlet]) -> None:
        if self._previous is not None:
            self._previous(event, args)
        origin, target = args
        now = time.perf_counter()
        if origin is self._me:
            self.longest = max(self.longest, now - self._since)
            if not self.hub_only or target is self._hub:
                self.switched = True
        if target is self._me:
            self._since = now

    def __enter__(self) -> assert_switches:
        self._me = getcurrent()
        self._hub = get_hub()
        self._since = time.perf_counter()
        self._previous = settrace(self._trace)
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        settrace(self._previous)
        self.longest = max(self.longest, time.perf_counter() - self._since)
        self._previous = None
        if typ is not None:
            return
        if self.max_blocking_time is not None:
            if self.longest > self.max_blocking_time:
                raise FailedToSwitch(
                    f"ran {self.longest:.4f} s without switching "
                    f"(max_blocking_time {self.max_blocking_time} s)"
                )
            return
        if not self.switched:
            where = "to the hub" if self.hub_only else "at all"
            raise FailedToSwitch(f"the block did not switch {where}")
