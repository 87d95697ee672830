"""The synchronisation tests run under tests/_support/plugin.py.

Every test must leave the hub as it found it: nothing parked, queued or
timed (``hub_clean``; ``hub_left_clean``, its old name here, still works
and gives the hub).  Tests marked ``slow`` (million-cycle leak runs, about a
minute and a half) only run with ``-m slow``, so that the default run of
this directory stays within about 20 seconds.  ``scaled`` comes from the
plugin too.
"""
