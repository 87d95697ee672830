"""Greenlets with the public API of the ``greenlet`` package.

``import corolib.greenlet as greenlet`` lets code written for the greenlet
package run unchanged on corolib's own stack-switching core.
"""

from corolib._core import (
    GREENLET_USE_CONTEXT_VARS as GREENLET_USE_CONTEXT_VARS,
    GREENLET_USE_GC as GREENLET_USE_GC,
    GREENLET_USE_TRACING as GREENLET_USE_TRACING,
    GreenletExit as GreenletExit,
    error as error,
    get_pending_cleanup_count as get_pending_cleanup_count,
    get_total_main_greenlets as get_total_main_greenlets,
    getcurrent as getcurrent,
    gettrace as gettrace,
    greenlet as greenlet,
    settrace as settrace,
)

__all__ = ["greenlet", "getcurrent", "GreenletExit", "error", "settrace", "gettrace"]
__version__ = "3.0.0"
