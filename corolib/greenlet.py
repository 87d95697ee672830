"""Greenlets with the public API of the ``greenlet`` package.

``import corolib.greenlet as greenlet`` lets code written for the greenlet
package run unchanged on corolib's own stack-switching core.
"""

from corolib._core import (
    GREENLET_USE_CONTEXT_VARS as GREENLET_USE_CONTEXT_VARS,
)
from corolib._core import (
    GREENLET_USE_GC as GREENLET_USE_GC,
)
from corolib._core import (
    GREENLET_USE_TRACING as GREENLET_USE_TRACING,
)
from corolib._core import (
    GreenletExit as GreenletExit,
)
from corolib._core import (
    error as error,
)
from corolib._core import (
    get_pending_cleanup_count as get_pending_cleanup_count,
)
from corolib._core import (
    get_total_main_greenlets as get_total_main_greenlets,
)
from corolib._core import (
    getcurrent as getcurrent,
)
from corolib._core import (
    gettrace as gettrace,
)
from corolib._core import (
    greenlet as greenlet,
)
from corolib._core import (
    settrace as settrace,
)

__all__ = ["greenlet", "getcurrent", "GreenletExit", "error", "settrace", "gettrace"]
__version__ = "3.0.0"
