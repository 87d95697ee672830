"""Tasks: ``Greenlet``, ``spawn`` and friends, with gevent's semantics.

A ``Greenlet`` is a greenlet whose parent is the hub: it is started by the
hub (in FIFO order with everything else the hub has queued), runs its
function, keeps the result or the exception, and tells whoever is joined
or linked to it when it is done.  Its hot paths (construction, start,
run, join, get, kill) are compiled (``corolib._core.Task``); links, names
and repr are here.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from corolib import _core
from corolib._core import GreenletExit, greenlet
from corolib.hub._hub import get_hub
from corolib.hub._timeout import Timeout

__all__ = ["Greenlet", "spawn", "spawn_later", "spawn_raw", "kill"]

_core._set_timeout_class(Timeout)

# link kinds
_ALWAYS, _ON_VALUE, _ON_EXCEPTION = 0, 1, 2


T = TypeVar("T")
P = ParamSpec("P")

_task_started: Callable[[Any], bool] = _core.Task.started.__get__


class Greenlet(_core.Task, Generic[T]):
    """A task: runs ``run(*args, **kwargs)`` in its own greenlet, started by the hub.

    ``Greenlet(run=None, *args, **kwargs)``; subclasses may define ``_run``
    instead of passing ``run``.  After ``start()`` (or ``spawn``), the
    result is in ``value`` (or the exception in ``exception``) once
    ``ready()``.  Killing a greenlet that never started means it never runs.
    """

    __slots__ = ()

    if TYPE_CHECKING:  # the compiled base's members, typed by the result type

        def __init__(
            self, run: Callable[..., T] | None = None, *args: Any, **kwargs: Any
        ) -> None: ...

        @property
        def value(self) -> T:
            """What run returned (None until then)."""

        def get(self, block: bool = True, timeout: float | None = None) -> T:
            """Its value, or raise its exception (waiting for it to finish)."""

    @classmethod
    def spawn(cls, *args: Any, **kwargs: Any) -> Greenlet[Any]:
        """Create a greenlet and start it: ``cls(*args, **kwargs).start()``."""
        g = cls(*args, **kwargs)
        g.start()
        return g

    @classmethod
    def spawn_later(cls, seconds: float, *args: Any, **kwargs: Any) -> Greenlet[Any]:
        """Create a greenlet and start it after ``seconds``."""
        g = cls(*args, **kwargs)
        g.start_later(seconds)
        return g

    @property
    def name(self) -> str:
        """A name for reports: given, or ``Greenlet-<id>``."""
        name = self.__dict__.get("_name")
        return name if name is not None else f"Greenlet-{id(self):#x}"

    @name.setter
    def name(self, value: str) -> None:
        self.__dict__["_name"] = value

    @property
    def spawn_tree_locals(self) -> dict[str, Any]:
        """A dict shared by the tree of greenlets spawned from one another.

        Greenlets spawned (directly or not) by the same greenlet share one
        dict; those spawned by a thread's main greenlet each start a tree of
        their own.  Made on first use: a greenlet asking after its spawner
        is gone gets a new dict.
        """
        d: dict[str, Any] | None = self.__dict__.get("_spawn_tree_locals")
        if d is None:
            ref = self.spawning_greenlet
            spawner = ref() if ref is not None else None
            if spawner is None or spawner.parent is None:
                d = {}
            elif isinstance(spawner, Greenlet):
                d = spawner.spawn_tree_locals
            else:
                d = spawner.__dict__.setdefault("_spawn_tree_locals", {})
            self.__dict__["_spawn_tree_locals"] = d
        return d

    @spawn_tree_locals.setter
    def spawn_tree_locals(self, value: dict[str, Any]) -> None:
        self.__dict__["_spawn_tree_locals"] = value

    @property
    def exc_info(self) -> tuple[type[BaseException], BaseException, TracebackType | None] | None:
        """``(type, value, traceback)`` of the failure, or None (as gevent).

        The traceback is the one it was raised with in the greenlet.
        """
        e = self.exception
        if e is None:
            return None
        return (type(e), e, self._exc_tb)

    @property
    def started(self) -> bool:
        """True from ``start()`` until it finishes (gevent: the same as ``bool(self)``)."""
        return _task_started(self) and not self.ready() and not self.dead

    def __bool__(self) -> bool:
        """True from ``start()`` until it finishes (or its thread exits under it)."""
        return _task_started(self) and not self.ready() and not self.dead

    @classmethod
    def add_spawn_callback(cls, callback: Callable[[Greenlet[Any]], object]) -> None:
        """Call ``callback(greenlet)`` as each greenlet is started (gevent's hook for tracers).

        Adding a callback twice has no effect; the order is unspecified.
        An exception from a callback propagates from ``start()``/``spawn()``.
        """
        _spawn_callbacks[callback] = None
        _core._set_spawn_hook(_call_spawn_callbacks)

    @classmethod
    def remove_spawn_callback(cls, callback: Callable[[Greenlet[Any]], object]) -> None:
        """Forget a callback given to :meth:`add_spawn_callback` (no error if unknown)."""
        _spawn_callbacks.pop(callback, None)
        if not _spawn_callbacks:
            _core._set_spawn_hook(None)  # nothing to call: no cost per start

    @property
    def loop(self) -> Any:
        """The loop facade of the hub it runs in (gevent's ``Greenlet.loop``)."""
        return self.parent.loop  # type: ignore[union-attr]

    @property
    def minimal_ident(self) -> int:
        """A small integer unique among this hub's live greenlets, reused after they die."""
        return _minimal_ident(self)

    def kill(
        self,
        exception: Any = GreenletExit,
        block: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Raise ``exception`` in it (see ``corolib._core.Task.kill``).

        As in gevent, ``exception`` may also be an ``(type, value, tb)``
        triple (what ``sys.exc_info()`` gives), or any other value, which is
        raised wrapped in a ``BaseException``.
        """
        _core.Task.kill(self, _as_exception(exception), block, timeout)

    def __enter__(self) -> Greenlet[Any]:
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leaving the block joins it; leaving with an exception kills it with that exception."""
        if typ is None:
            try:
                self.join()
            finally:
                self.kill()
        else:
            self.kill((typ, value, tb))

    def __repr__(self) -> str:
        fn = self._function
        if fn is None:
            fn = getattr(self, "_run", None)
        fname = getattr(fn, "__qualname__", None) or repr(fn)
        args = ", ".join(
            [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        )
        return f"<{type(self).__name__} {self.name!r} at {id(self):#x}: {fname}({args})>"

    # -- links ----------------------------------------------------------------

    def _add_link(self, callback: Callable[[Any], object], raw: bool, when: int) -> None:
        if not callable(callback):
            raise TypeError(f"Expected callable: {callback!r}")
        links = self._links
        if links is None:
            links = self._links = []
        links.append((callback, raw, when))
        if self.ready() and len(links) == 1:
            get_hub().run_callback(self._notify_links)

    def _notify_links(self) -> None:
        # In the order they were added, whatever their kind; a link() callback
        # gets a new greenlet that runs at once (until it blocks), as in
        # gevent.  Links may unlink others that have not run yet.
        ok = self.exception is None
        hub = get_hub()
        while self._links:
            callback, raw, when = self._links.pop(0)
            if when == _ON_VALUE and not ok or when == _ON_EXCEPTION and ok:
                continue
            # An error in one callback is reported and the others still run
            # (a link()'s greenlet raises into its parent, the hub: here).
            try:
                if raw:
                    callback(self)
                else:
                    greenlet(callback, hub).switch(self)
            except BaseException as exc:  # noqa: BLE001 - reported, never lost
                hub.handle_error((callback, self), type(exc), exc, exc.__traceback__)
        self._links = None

    def link(self, callback: Callable[[Greenlet[Any]], object]) -> None:
        """Call ``callback(self)`` in a new greenlet once this one is done."""
        self._add_link(callback, False, _ALWAYS)

    def link_value(self, callback: Callable[[Greenlet[Any]], object]) -> None:
        """Like :meth:`link`, only if it finishes successfully."""
        self._add_link(callback, False, _ON_VALUE)

    def link_exception(self, callback: Callable[[Greenlet[Any]], object]) -> None:
        """Like :meth:`link`, only if it fails."""
        self._add_link(callback, False, _ON_EXCEPTION)

    def rawlink(self, callback: Callable[[Greenlet[Any]], object]) -> None:
        """Call ``callback(self)`` in the hub itself once done (it must not block)."""
        self._add_link(callback, True, _ALWAYS)

    def unlink(self, callback: Callable[[Greenlet[Any]], object]) -> None:
        """Remove every link to ``callback``."""
        if self._links:
            self._links = [lk for lk in self._links if lk[0] != callback]

    def unlink_all(self) -> None:
        """Remove every link."""
        self._links = None

    def has_links(self) -> bool:
        """True if something is linked."""
        return bool(self._links)


_spawn_callbacks: dict[Callable[[Any], object], None] = {}


def _call_spawn_callbacks(g: Greenlet[Any]) -> None:
    for callback in list(_spawn_callbacks):
        callback(g)


def _as_exception(exception: Any) -> Any:
    """What ``kill(exception)`` raises, for gevent's forms of ``exception``."""
    if isinstance(exception, BaseException):
        return exception
    if isinstance(exception, type) and issubclass(exception, BaseException):
        return exception
    if isinstance(exception, tuple) and len(exception) == 3:
        typ, value, tb = exception
        if isinstance(value, BaseException):
            return value.with_traceback(tb) if tb is not None else value
        if isinstance(typ, type) and issubclass(typ, BaseException):
            return typ() if value is None else typ(value)
    return BaseException(exception)


class _IdentRegistry:
    """Small integers for live objects: the lowest free one, reused after death."""

    __slots__ = ("_idents", "_free", "_next")

    def __init__(self) -> None:
        self._idents: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._free: list[int] = []
        self._next = 0

    def get(self, obj: Any) -> int:
        ident = self._idents.get(obj)
        if ident is None:
            if self._free:
                ident = heapq.heappop(self._free)
            else:
                ident = self._next
                self._next += 1
            self._idents[obj] = ident
            weakref.finalize(obj, heapq.heappush, self._free, ident)
        return ident


_registries: weakref.WeakKeyDictionary[Any, _IdentRegistry] = weakref.WeakKeyDictionary()


def _minimal_ident(g: Greenlet[Any]) -> int:
    hub = g.parent
    registry = _registries.get(hub)
    if registry is None:
        registry = _registries[hub] = _IdentRegistry()
    return registry.get(g)


_core._set_greenlet_class(Greenlet)
if TYPE_CHECKING:

    def spawn(function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Greenlet[T]:
        """Create a :class:`Greenlet` running ``function(*args, **kwargs)`` and start it."""

else:
    spawn = _core.spawn


def spawn_later(
    seconds: float, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> Greenlet[T]:
    """Like :func:`spawn`, starting after ``seconds``."""
    g: Greenlet[T] = Greenlet(function, *args, **kwargs)
    g.start_later(seconds)
    return g


def spawn_raw(function: Callable[..., Any], *args: Any, **kwargs: Any) -> greenlet:
    """Start ``function(*args, **kwargs)`` in a bare greenlet: the cheapest task.

    No result, no links, no join; its parent is the hub.
    """
    if not callable(function):
        raise TypeError(f"spawn_raw() needs a callable, not {function!r}")
    hub = get_hub()
    g = greenlet(function, hub)
    hub.start_greenlet(g, *args, **kwargs)
    return g


def kill(g: greenlet, exception: type[BaseException] | BaseException = GreenletExit) -> None:
    """Kill any greenlet (a :class:`Greenlet` or a raw one) without waiting."""
    if isinstance(g, _core.Task):
        g.kill(exception, block=False)
        return
    exc = exception() if isinstance(exception, type) else exception
    if g.dead:
        return
    hub = get_hub()
    if not g:
        hub.cancel_start(g)
        return
    if not hub.interrupt(g, exc):
        hub.run_callback(g.throw, exc)
