"""Greenlet-local storage: :class:`local` is ``threading.local`` for greenlets.

Each greenlet sees its own attributes on a ``local`` object.  A subclass's
``__init__`` runs again, with the constructor's arguments, the first time
each greenlet touches the object.  Class attributes, properties, methods
and ``__slots__`` are shared, as with ``threading.local``.

A greenlet's values are dropped when it ends: for a :class:`corolib.Greenlet`
as soon as the hub has processed its end (its links), for any greenlet at
the latest when the greenlet object is freed (the storage is keyed by the
greenlet weakly, so it never keeps one alive).  Dropping the ``local``
object drops every greenlet's values.

Switch points: none; nothing here waits.  A ``local`` may be used from any
thread: each thread's greenlets see their own values.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any
from weakref import ref

from corolib._core import getcurrent

__all__ = ["local", "statistics"]

_MISSING: Any = object()
_get_attr = object.__getattribute__
_set_attr = object.__setattr__


class _LocalImpl:
    """The shared part of a ``local``: constructor arguments and the per-greenlet dicts."""

    __slots__ = ("args", "kwargs", "dicts", "__weakref__")

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.args = args
        self.kwargs = kwargs
        #: id(greenlet) -> (weakref to the greenlet, its attribute dict)
        self.dicts: dict[int, tuple[Any, dict[str, Any]]] = {}


class _Forget:
    """Drop a greenlet's dict from a local: a weakref callback and a link."""

    __slots__ = ("impl", "key")

    def __init__(self, impl: ref[_LocalImpl], key: int) -> None:
        self.impl = impl
        self.key = key

    def __call__(self, _: object) -> None:
        impl = self.impl()
        if impl is not None:
            impl.dicts.pop(self.key, None)


def _new_dict(impl: _LocalImpl, greenlet: Any) -> dict[str, Any]:
    """Register an empty dict for ``greenlet`` (which is the current greenlet)."""
    d: dict[str, Any] = {}
    key = id(greenlet)
    forget = _Forget(ref(impl), key)
    impl.dicts[key] = (ref(greenlet, forget), d)
    rawlink = getattr(greenlet, "rawlink", None)
    if rawlink is not None:
        rawlink(forget)  # a Greenlet: drop the values as soon as it ends
    return d


def _dict_of(self: local) -> dict[str, Any]:
    """Return the current greenlet's dict, made (and ``__init__`` run) on first use."""
    impl: _LocalImpl = _get_attr(self, "_local__impl")
    greenlet = getcurrent()
    entry = impl.dicts.get(id(greenlet))
    if entry is not None:
        return entry[1]
    d = _new_dict(impl, greenlet)
    init = type(self).__init__
    if init is not object.__init__:
        try:
            init(self, *impl.args, **impl.kwargs)
        except BaseException:
            del impl.dicts[id(greenlet)]  # as threading.local: try again next time
            raise
    return d


def _type_lookup(cls: type, name: str) -> Any:
    """``name`` looked up on the class (not the metaclass), as attribute access does."""
    for base in cls.__mro__:
        attr = base.__dict__.get(name, _MISSING)
        if attr is not _MISSING:
            return attr
    return _MISSING


def _is_data_descriptor(attr: Any) -> bool:
    kind = type(attr)
    return hasattr(kind, "__set__") or hasattr(kind, "__delete__")


class local:  # noqa: N801 - threading.local's name
    """Attributes that are different in each greenlet (``threading.local`` for greenlets)."""

    __slots__ = ("_local__impl", "__weakref__")

    def __new__(cls, *args: Any, **kwargs: Any) -> local:
        """Make the object; ``__init__`` runs for each greenlet on its first use."""
        if (args or kwargs) and cls.__init__ is object.__init__:
            raise TypeError("Initialization arguments are not supported")
        self = object.__new__(cls)
        impl = _LocalImpl(args, kwargs)
        _set_attr(self, "_local__impl", impl)
        # The creator's dict; the type call runs __init__ on it next.
        _new_dict(impl, getcurrent())
        return self

    def __getattribute__(self, name: str) -> Any:
        d = _dict_of(self)
        if name == "__dict__":
            return d
        cls = type(self)
        attr = _type_lookup(cls, name)
        if attr is not _MISSING and _is_data_descriptor(attr):
            return type(attr).__get__(attr, self, cls)
        try:
            return d[name]
        except KeyError:
            pass
        if attr is not _MISSING:
            get: Callable[..., Any] | None = getattr(type(attr), "__get__", None)
            return attr if get is None else get(attr, self, cls)
        hook = _type_lookup(cls, "__getattr__")
        if hook is not _MISSING:
            return hook(self, name)
        raise AttributeError(f"{cls.__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "__dict__":
            raise AttributeError(
                f"{type(self).__name__!r} object attribute '__dict__' is read-only"
            )
        d = _dict_of(self)
        attr = _type_lookup(type(self), name)
        if attr is not _MISSING:
            setter = getattr(type(attr), "__set__", None)
            if setter is not None:
                setter(attr, self, value)
                return
        d[name] = value

    def __copy__(self) -> local:
        """A new object whose current-greenlet attributes are a copy of this one's.

        ``__init__`` runs for the copy (with the constructor's arguments), as
        for any new object; then the calling greenlet's attributes are copied
        over.  Other greenlets start afresh on the copy.
        """
        return _duplicate(self, dict(_dict_of(self)))

    def __deepcopy__(self, memo: dict[int, Any]) -> local:
        """Like :meth:`__copy__`, with the attributes deep-copied."""
        return _duplicate(self, copy.deepcopy(dict(_dict_of(self)), memo))

    def __delattr__(self, name: str) -> None:
        if name == "__dict__":
            raise AttributeError(
                f"{type(self).__name__!r} object attribute '__dict__' is read-only"
            )
        d = _dict_of(self)
        attr = _type_lookup(type(self), name)
        if attr is not _MISSING:
            deleter = getattr(type(attr), "__delete__", None)
            if deleter is not None:
                deleter(attr, self)
                return
        try:
            del d[name]
        except KeyError:
            raise AttributeError(name) from None


def _duplicate(obj: local, values: dict[str, Any]) -> local:
    """A new ``type(obj)`` whose current greenlet's attributes are ``values``."""
    impl: _LocalImpl = _get_attr(obj, "_local__impl")
    duplicate = type(obj)(*impl.args, **impl.kwargs)
    d = _dict_of(duplicate)
    d.clear()
    d.update(values)
    return duplicate


def statistics(obj: local) -> dict[str, Any]:
    """``{'greenlets': how many greenlets have values in obj}``."""
    impl: _LocalImpl = _get_attr(obj, "_local__impl")
    return {"greenlets": len(impl.dicts)}
