"""corolib's settings, each readable from a ``COROLIB_*`` environment variable.

Every setting is read from its variable when this module is first
imported (which ``import corolib`` does), and validated then: a bad value
raises :class:`ConfigError` naming the variable, what it holds and what is
expected, so a misconfigured process stops at once instead of running with
a default it was not meant to have.  Code can change a setting afterwards
through :data:`config`, with the same validation::

    from corolib.config import config
    config.monitor_thread = True        # hubs created from now on are monitored
    config.max_blocking_time = 0.05

A setting changed in code affects what is created or started afterwards
(a hub's monitor thread reads the monitor settings when the hub starts it).
The table of every setting is in docs/configuration.md; :func:`describe`
prints the same from the running process.

Nothing here imports the rest of corolib.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Config", "ConfigError", "Setting", "SETTINGS", "config", "describe"]


class ConfigError(ValueError):
    """A setting (from its environment variable or from code) has a bad value."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError("expected a boolean: 1/0, true/false, yes/no or on/off")


def _parse_seconds(minimum: float) -> Callable[[object], float]:
    def parse(value: object) -> float:
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"expected a number of seconds >= {minimum}") from None
        if not seconds >= minimum or seconds == float("inf"):
            raise ValueError(f"expected a finite number of seconds >= {minimum}")
        return seconds

    return parse


def _parse_count(minimum: int, maximum: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool):
            raise ValueError(f"expected a whole number from {minimum} to {maximum}")
        try:
            n: int = int(value.strip() if isinstance(value, str) else value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise ValueError(f"expected a whole number from {minimum} to {maximum}") from None
        if not minimum <= n <= maximum:
            raise ValueError(f"expected a whole number from {minimum} to {maximum}")
        return n

    return parse


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2}
_UNITS.update({"g": 1024**3, "gb": 1024**3, "t": 1024**4, "tb": 1024**4})


def _parse_bytes_or_off(value: object) -> int | None:
    """Bytes (``500000000``, ``512MB``, ``2G``; binary units), or 0/none/off: no limit."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512MB, or 0 / off")
    if isinstance(value, int):
        n = value
    else:
        text = str(value).strip().lower()
        if text in ("", "none", "off"):
            return None
        digits = text.rstrip("bkmgt").strip()
        unit = text[len(text.rstrip("bkmgt")) :]
        if unit not in _UNITS or not digits:
            raise ValueError("expected a size such as 512MB, 2G or 100000000, or 0 / off")
        try:
            n = int(float(digits) * _UNITS[unit])
        except ValueError:
            raise ValueError("expected a size such as 512MB, 2G or 100000000, or 0 / off") from None
    if n < 0:
        raise ValueError("expected a size >= 0 (0 means no limit)")
    return n or None


def _parse_choice(*choices: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError("expected one of: " + ", ".join(choices))
        return text

    return parse


def _dev_mode() -> bool:
    return bool(sys.flags.dev_mode)


class Setting:
    """One setting: its attribute name, variable, parser, default and meaning."""

    __slots__ = ("name", "env", "parse", "default", "default_doc", "doc")

    def __init__(
        self,
        name: str,
        env: str,
        parse: Callable[[object], Any],
        default: Callable[[], Any],
        default_doc: str,
        doc: str,
    ) -> None:
        self.name = name
        self.env = env
        self.parse = parse
        self.default = default
        self.default_doc = default_doc
        self.doc = doc

    def __repr__(self) -> str:
        return f"<Setting {self.name} ({self.env})>"


#: Every setting, in the order of the docs' table.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "monitor_thread",
        "COROLIB_MONITOR_THREAD",
        _parse_bool,
        _dev_mode,
        "off; on under ``python -X dev``",
        "Start a monitor thread with each hub: it reports greenlets that run "
        "longer than max_blocking_time without yielding (corolib.events.EventLoopBlocked).",
    ),
    Setting(
        "max_blocking_time",
        "COROLIB_MAX_BLOCKING_TIME",
        _parse_seconds(0.001),
        lambda: 0.1,
        "0.1",
        "Seconds a greenlet may run without yielding before the monitor reports it.",
    ),
    Setting(
        "monitor_print_blocking_reports",
        "COROLIB_MONITOR_PRINT_BLOCKING_REPORTS",
        _parse_bool,
        lambda: True,
        "on",
        "Print each blocking report to stderr (the event is sent either way).",
    ),
    Setting(
        "max_memory_usage",
        "COROLIB_MONITOR_MEMORY_MAX",
        _parse_bytes_or_off,
        lambda: None,
        "off",
        "Resident memory (bytes, or 512MB, 2G...) above which the monitor sends "
        "MemoryUsageThresholdExceeded (then MemoryUsageUnderThreshold when back "
        "under).  Needs the monitor thread.",
    ),
    Setting(
        "memory_monitor_period",
        "COROLIB_MONITOR_MEMORY_PERIOD",
        _parse_seconds(0.1),
        lambda: 5.0,
        "5",
        "Seconds between two memory checks.",
    ),
    Setting(
        "threadpool_size",
        "COROLIB_THREADPOOL_SIZE",
        _parse_count(1, 10_000),
        lambda: 10,
        "10",
        "Threads in each hub's default thread pool (corolib.threadpool.get_threadpool).",
    ),
    Setting(
        "resolver",
        "COROLIB_RESOLVER",
        _parse_choice("thread", "dnspython"),
        lambda: "thread",
        "thread",
        "Name resolution: the system resolver on OS threads, or dnspython's, cooperative.",
    ),
    Setting(
        "resolver_threads",
        "COROLIB_RESOLVER_THREADS",
        _parse_count(1, 10_000),
        lambda: 100,
        "100",
        "Most OS threads the thread resolver runs lookups on (a slow DNS server "
        "holds one thread per lookup in flight); corolib.dns.set_max_threads().",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _read(setting: Setting, environ: Mapping[str, str]) -> Any:
    raw = environ.get(setting.env)
    if raw is None:
        return setting.default()
    try:
        return setting.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{setting.env}={raw!r}: {exc} ({setting.doc})") from None


class Config:
    """The settings of this process (one instance: :data:`config`).

    Attributes are the settings' names; assigning one validates the value
    with the same rules as its environment variable.
    """

    monitor_thread: bool
    max_blocking_time: float
    monitor_print_blocking_reports: bool
    max_memory_usage: int | None
    memory_monitor_period: float
    threadpool_size: int
    resolver: str
    resolver_threads: int

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        for setting in SETTINGS:
            object.__setattr__(self, setting.name, _read(setting, env))

    def __setattr__(self, name: str, value: object) -> None:
        setting = _BY_NAME.get(name)
        if setting is None:
            raise AttributeError(f"corolib.config has no setting {name!r}")
        try:
            parsed = setting.parse(value)
        except ValueError as exc:
            raise ConfigError(f"corolib.config.{name} = {value!r}: {exc}") from None
        object.__setattr__(self, name, parsed)

    def reload(self, environ: Mapping[str, str] | None = None) -> None:
        """Read every setting from the environment again (all or nothing)."""
        env = os.environ if environ is None else environ
        values = {s.name: _read(s, env) for s in SETTINGS}
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        """Every setting's current value, by name."""
        return {s.name: getattr(self, s.name) for s in SETTINGS}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"<corolib.config {inner}>"


def describe() -> str:
    """A table of every setting: variable, current value, default, meaning."""
    lines = []
    for s in SETTINGS:
        lines.append(f"{s.env} = {getattr(config, s.name)!r}  (default {s.default_doc})")
        lines.append(f"    {s.doc}")
    return "\n".join(lines)


#: The settings of this process.
config = Config()
