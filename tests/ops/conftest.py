"""Fixtures for the operational tools' tests (monitor, run info, backdoor, config).

- ``clean_monitors`` (autouse): a test that starts a monitor thread in this
  process has it stopped afterwards, and the settings it changed restored.
"""

from __future__ import annotations

import pytest

from corolib import events
from corolib.config import config
from corolib.hub import get_hub_if_exists


@pytest.fixture(autouse=True)
def clean_monitors():
    saved = config.as_dict()
    subscribers = list(events.subscribers)
    yield
    hub = get_hub_if_exists()
    monitor = getattr(hub, "periodic_monitoring_thread", None)
    if monitor is not None:
        hub.periodic_monitoring_thread = None
        monitor.kill()
        assert monitor.join(5.0), "the monitor thread did not stop"
    for name, value in saved.items():
        setattr(config, name, value)
    events.subscribers[:] = subscribers
