"""corolib's test support, one plugin for every test directory.

tests/conftest.py registers :mod:`_support.plugin` (``pytest_plugins``); test
modules and directory conftests import helpers from here (``from _support
import ...``: pytest puts tests/ on ``sys.path`` for tests/conftest.py).

- :mod:`_support.plugin`: the fixtures every directory gets (``hub_clean``
  and its older names ``no_leaks``/``clean_hub``/``hub_left_clean``,
  ``leakcheck``, ``run_python``, ``scaled``, ``rss``) and the one slow-test
  switch (``-m slow``).
- :mod:`_support.leaks`: leak measurement (``check_leaks``, ``rss_kib``,
  ``open_fds``) and script running (``run_script``), no corolib import.
- :mod:`_support.worlds`: running the same test with corolib's greenlets and
  with the stdlib's OS threads (``World``, ``ThreadTask``, ``join``,
  ``listener``).
"""
