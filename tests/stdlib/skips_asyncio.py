"""CPython's test_asyncio tests not run against ``corolib.asyncio``, each with its reason.

Same entry format and kinds as ``skips.py`` (``test_events.Class.method``,
the module named without its ``test_asyncio.`` package).
"""

from __future__ import annotations

from collections.abc import Iterator

from skips import DETAIL, Skip, _Version

__all__ = ["SKIPS", "for_module"]

_SAME_LOOP = (
    "builds the stdlib loop over another selector (select/poll/kqueue); under corolib "
    "every variant is the same corolib EventLoop, which EPollEventLoopTests already runs"
)

_SIGNALS = (
    "mocks asyncio.unix_events.signal and expects signal.set_wakeup_fd calls; corolib's "
    "loop leaves the wakeup fd to the hub and installs Python-level handlers instead "
    "(tests/aio/test_aio_loop.py checks add/remove_signal_handler with real signals)"
)

_DNS = (
    "mocks asyncio.base_events.socket's getaddrinfo/getnameinfo; corolib's loop resolves "
    "with corolib.dns instead (tests/aio/test_aio_loop.py checks its getaddrinfo/getnameinfo)"
)

SKIPS: list[Skip] = [
    *(
        Skip(f"test_base_events.BaseEventLoopWithSelectorTests.{name}", _DNS, DETAIL)
        for name in (
            "test_create_datagram_endpoint_no_addrinfo",
            "test_create_connection_bluetooth",
            "test_getnameinfo",
        )
    ),
    Skip("test_events.SelectEventLoopTests", _SAME_LOOP, DETAIL),
    Skip("test_events.PollEventLoopTests", _SAME_LOOP, DETAIL),
    *(
        Skip(f"test_unix_events.SelectorEventLoopSignalTests.{name}", _SIGNALS, DETAIL)
        for name in (
            "test_add_signal_handler_install_error",
            "test_add_signal_handler_install_error2",
            "test_add_signal_handler_install_error3",
            "test_add_signal_handler_setup_error",
            "test_close",
            "test_remove_signal_handler",
            "test_remove_signal_handler_2",
            "test_remove_signal_handler_error",
            "test_remove_signal_handler_error2",
        )
    ),
]


def for_module(module: str, version: _Version) -> Iterator[Skip]:
    """The entries for ``module`` that apply to ``version``."""
    prefix = module + "."
    for entry in SKIPS:
        if entry.test_id.startswith(prefix) and entry.when(tuple(version)):
            yield entry
