"""Cooperative ``time``: a drop-in for the standard :mod:`time` module.

Every public name of the stdlib module is here with the same value, except
:func:`sleep`, which parks the calling greenlet in the hub instead of
blocking the thread (``sleep(0)`` yields to the other ready greenlets once).

Switch points: :func:`sleep`, always.  Nothing else here switches.
"""

from __future__ import annotations

import math as _math
import time as _stdtime
from typing import Any

from corolib._core import sleep as _hub_sleep

__all__ = sorted(name for name in dir(_stdtime) if not name.startswith("_"))
globals().update({name: getattr(_stdtime, name) for name in __all__ if name != "sleep"})


def __getattr__(name: str) -> Any:
    """Any other public attribute of the stdlib :mod:`time` module."""
    if not name.startswith("_"):
        try:
            return getattr(_stdtime, name)
        except AttributeError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sleep(secs: float, /) -> None:
    """Suspend the calling greenlet for ``secs`` seconds; the others keep running.

    Accepts and rejects the same arguments as :func:`time.sleep`, with the
    same exceptions.
    """
    kind = type(secs)
    if kind is not float and kind is not int:
        secs = _seconds(secs)
    elif kind is float and _math.isnan(secs):
        raise ValueError("Invalid value NaN (not a number)")
    if secs < 0:
        raise ValueError("sleep length must be non-negative")
    _hub_sleep(secs)


def _seconds(value: Any) -> float:
    """Convert what ``time.sleep`` accepts besides int and float (its exact errors)."""
    if isinstance(value, float):
        if _math.isnan(value):
            raise ValueError("Invalid value NaN (not a number)")
        return float(value)
    try:
        return float(value.__index__())
    except AttributeError:
        raise TypeError(
            f"'{type(value).__name__}' object cannot be interpreted as an integer"
        ) from None
