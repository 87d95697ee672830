"""The hub and everything that waits on it: tasks, sleeping, timeouts, fds.

Every blocking call in corolib parks the calling greenlet and switches to
the thread's hub, which resumes it when its event happens.  The only code
that switches to the hub is ``corolib._core``'s park (csrc/hub/hub.c); this
package is its Python face.

Switch points: ``sleep``, ``wait_readable``/``wait_writable``,
``Greenlet.join``/``get``/``kill(block=True)``, ``joinall``, ``killall``,
``wait``, ``iwait``, ``idle`` and ``Hub.join`` always switch (``sleep(0)``
included).  ``spawn``, ``start``, ``kill(block=False)``, ``run_callback``
and ``Timeout.start`` never do.
"""

from corolib._core import (
    BlockingSwitchOutError as BlockingSwitchOutError,
    GreenletExit as GreenletExit,
    InvalidSwitchError as InvalidSwitchError,
    LoopExit as LoopExit,
    WaitQueue as WaitQueue,
    cancel_wait as cancel_wait,
    get_hub_if_exists as get_hub_if_exists,
    getcurrent as getcurrent,
    sleep as sleep,
    wait_readable as wait_readable,
    wait_writable as wait_writable,
)
from corolib.hub._greenlet import (
    Greenlet as Greenlet,
    kill as kill,
    spawn as spawn,
    spawn_later as spawn_later,
    spawn_raw as spawn_raw,
)
from corolib.hub._hub import Hub as Hub, get_hub as get_hub
from corolib.hub._loop import Waiter as Waiter
from corolib.hub._signal import reinit as reinit, signal_handler as signal_handler
from corolib.hub._timeout import Timeout as Timeout, with_timeout as with_timeout
from corolib.hub._wait import (
    idle as idle,
    iwait as iwait,
    joinall as joinall,
    killall as killall,
    wait as wait,
)

#: gevent.hub's name for signal_handler
signal = signal_handler
