"""corolib.config: every COROLIB_* variable, validated, and the docs' table."""

from __future__ import annotations

import pathlib

import pytest

from corolib import config as config_module
from corolib.config import SETTINGS, Config, ConfigError, config

BAD = [
    ("COROLIB_MONITOR_THREAD", "maybe"),
    ("COROLIB_MONITOR_THREAD", "2"),
    ("COROLIB_MAX_BLOCKING_TIME", "fast"),
    ("COROLIB_MAX_BLOCKING_TIME", "-1"),
    ("COROLIB_MAX_BLOCKING_TIME", "nan"),
    ("COROLIB_MAX_BLOCKING_TIME", "inf"),
    ("COROLIB_MONITOR_PRINT_BLOCKING_REPORTS", "loud"),
    ("COROLIB_MONITOR_MEMORY_MAX", "lots"),
    ("COROLIB_MONITOR_MEMORY_MAX", "-5"),
    ("COROLIB_MONITOR_MEMORY_MAX", "12XB"),
    ("COROLIB_MONITOR_MEMORY_PERIOD", "0"),
    ("COROLIB_MONITOR_MEMORY_PERIOD", "soon"),
    ("COROLIB_THREADPOOL_SIZE", "0"),
    ("COROLIB_THREADPOOL_SIZE", "ten"),
    ("COROLIB_THREADPOOL_SIZE", "2.5"),
    ("COROLIB_RESOLVER", "bind9"),
    ("COROLIB_RESOLVER_THREADS", "-1"),
    ("COROLIB_RESOLVER_THREADS", "many"),
]


def test_every_setting_has_a_bad_value_case():
    assert {env for env, _ in BAD} == {s.env for s in SETTINGS}


@pytest.mark.parametrize(("env", "value"), BAD)
def test_bad_value_stops_import_with_an_error_naming_the_variable(run_python, env, value):
    result = run_python("import corolib\n", env={env: value})
    result.expect(1, stderr_contains=("ConfigError", f"{env}={value!r}", "expected"))
    # One clear line, not a traceback into corolib's internals.
    assert result.stderr.strip().splitlines()[-1].startswith("corolib.config.ConfigError")


@pytest.mark.parametrize(("env", "value"), BAD)
def test_bad_value_in_code(env, value):
    (setting,) = [s for s in SETTINGS if s.env == env]
    with pytest.raises(ConfigError, match=f"corolib.config.{setting.name}"):
        setattr(Config({}), setting.name, value)


def test_good_values():
    c = Config(
        {
            "COROLIB_MONITOR_THREAD": "yes",
            "COROLIB_MAX_BLOCKING_TIME": "0.25",
            "COROLIB_MONITOR_PRINT_BLOCKING_REPORTS": "off",
            "COROLIB_MONITOR_MEMORY_MAX": "512MB",
            "COROLIB_MONITOR_MEMORY_PERIOD": "2",
            "COROLIB_THREADPOOL_SIZE": " 32 ",
            "COROLIB_RESOLVER": "DNSPython",
            "COROLIB_RESOLVER_THREADS": "200",
        }
    )
    assert c.as_dict() == {
        "monitor_thread": True,
        "max_blocking_time": 0.25,
        "monitor_print_blocking_reports": False,
        "max_memory_usage": 512 * 1024 * 1024,
        "memory_monitor_period": 2.0,
        "threadpool_size": 32,
        "resolver": "dnspython",
        "resolver_threads": 200,
    }
    assert Config({"COROLIB_MONITOR_MEMORY_MAX": "0"}).max_memory_usage is None
    assert Config({"COROLIB_MONITOR_MEMORY_MAX": "2g"}).max_memory_usage == 2 << 30


def test_defaults():
    c = Config({})
    assert c.monitor_thread is False  # these tests do not run under -X dev
    assert c.max_blocking_time == 0.1
    assert c.threadpool_size == 10
    assert c.resolver == "thread"
    assert c.resolver_threads == 100
    assert c.max_memory_usage is None


def test_unknown_setting_and_reload():
    with pytest.raises(AttributeError, match="no setting 'monitor'"):
        config.monitor = True  # type: ignore[attr-defined]
    c = Config({})
    with pytest.raises(ConfigError, match="COROLIB_THREADPOOL_SIZE"):
        c.reload({"COROLIB_MAX_BLOCKING_TIME": "0.5", "COROLIB_THREADPOOL_SIZE": "x"})
    assert c.max_blocking_time == 0.1  # all or nothing
    c.reload({"COROLIB_MAX_BLOCKING_TIME": "0.5"})
    assert c.max_blocking_time == 0.5
    assert "COROLIB_MAX_BLOCKING_TIME = 0.1" in config_module.describe()


def test_threadpool_size_comes_from_the_environment(run_python):
    result = run_python(
        """
        from corolib.threadpool import get_threadpool
        print(get_threadpool().maxsize)
        """,
        env={"COROLIB_THREADPOOL_SIZE": "3"},
    )
    result.expect(0, stdout="3\n")


def test_docs_table_lists_every_setting():
    docs = pathlib.Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    text = docs.read_text()
    for s in SETTINGS:
        assert f"`{s.env}`" in text, s.env
        assert f"`{s.name}`" in text, s.name
