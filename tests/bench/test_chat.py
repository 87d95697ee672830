"""bench/bm_chat.py's parsing of its load process's output (no server, no timing)."""

import json

import bm_chat
import pytest


def test_parse_load_output_takes_the_last_line():
    out = "WINDOW\n" + json.dumps(
        {"rates": [1000.0, 1200.5], "delivered": 2200, "said": 50, "load_busy": 0.4}
    )
    assert bm_chat.parse_load_output(out + "\n\n") == ([1000.0, 1200.5], 2200, 0.4)


def test_parse_load_output_without_the_load_share():
    out = json.dumps({"rates": [5.0], "delivered": 5})
    assert bm_chat.parse_load_output(out) == ([5.0], 5, 0.0)


@pytest.mark.parametrize(
    ("out", "error"),
    [
        ("", ValueError),
        ("WINDOW\n", json.JSONDecodeError),
        (json.dumps({"rates": [], "delivered": 0}), ValueError),
        (json.dumps({"rates": [3.0, 0.0], "delivered": 3}), ValueError),
        (json.dumps({"delivered": 3}), KeyError),
    ],
)
def test_parse_load_output_rejects_garbage_and_silence(out, error):
    with pytest.raises(error):
        bm_chat.parse_load_output(out)


def test_chat_declares_its_peers_and_cases():
    assert list(bm_chat.IMPLS) == ["corolib", "gevent", "eventlet", "asyncio", "uvloop", "threads"]
    assert bm_chat.CASES == ("msg_rate", "msg_cpu")
