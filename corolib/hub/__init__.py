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
)
from corolib._core import (
    GreenletExit as GreenletExit,
)
from corolib._core import (
    InvalidSwitchError as InvalidSwitchError,
)
from corolib._core import (
    LoopExit as LoopExit,
)
from corolib._core import (
    WaitQueue as WaitQueue,
)
from corolib._core import (
    cancel_wait as cancel_wait,
)
from corolib._core import (
    get_hub_if_exists as get_hub_if_exists,
)
from corolib._core import (
    getcurrent as getcurrent,
)
from corolib._core import (
    sleep as sleep,
)
from corolib._core import (
    wait_readable as wait_readable,
)
from corolib._core import (
    wait_writable as wait_writable,
)
from corolib.hub._greenlet import Greenlet as Greenlet
from corolib.hub._greenlet import kill as kill
from corolib.hub._greenlet import spawn as spawn
from corolib.hub._greenlet import spawn_later as spawn_later
from corolib.hub._greenlet import spawn_raw as spawn_raw
from corolib.hub._hub import Hub as Hub
from corolib.hub._hub import get_hub as get_hub
from corolib.hub._loop import Waiter as Waiter
from corolib.hub._signal import reinit as reinit
from corolib.hub._signal import signal_handler as signal_handler
from corolib.hub._timeout import Timeout as Timeout
from corolib.hub._timeout import with_timeout as with_timeout
from corolib.hub._wait import idle as idle
from corolib.hub._wait import iwait as iwait
from corolib.hub._wait import joinall as joinall
from corolib.hub._wait import killall as killall
from corolib.hub._wait import wait as wait

#: gevent.hub's name for signal_handler
signal = signal_handler
