"""Every test directory runs under one plugin: tests/_support/plugin.py.

It gives every test the ``hub_clean`` check (and its older names
``no_leaks``, ``clean_hub``, ``hub_left_clean``), the ``leakcheck``,
``run_python``, ``scaled`` and ``rss`` fixtures, and the one slow-test
switch: tests marked ``slow`` run only with ``-m slow``.  Helpers for test
modules are importable as ``_support.leaks`` and ``_support.worlds``.
"""

pytest_plugins = ["_support.plugin"]
