"""Periodic tasks that fire exactly once per tick, however many schedulers run.

Define the entries on a :class:`Schedule`; run them with ``alligator
scheduler DSN --schedule module:attribute`` (or inside a worker:
``latergator DSN --schedule module:attribute``, or :class:`Scheduler` in
Python)::

    schedule = Schedule(gator)
    schedule.every(30, refresh_feeds)
    schedule.options(tz="Europe/Berlin", misfire="all").cron("0 3 * * *", nightly_report)

Each tick's task has an id made of the entry's name and the tick
(``nightly_report@2025-03-30T01:00:00Z``), and schedulers enqueue it with
the backend's atomic push-if-absent, so any number of them may run for
high availability. See the "Periodic tasks" page of the documentation.
"""

from alligator.schedules.schedule import (
    DEFAULT_CATCH_UP,
    DEFAULT_GRACE,
    Entry,
    EntryOptions,
    Misfire,
    Schedule,
)
from alligator.schedules.scheduler import Fired, Scheduler
from alligator.schedules.ticks import Cron, Every

__all__ = [
    "DEFAULT_CATCH_UP",
    "DEFAULT_GRACE",
    "Cron",
    "Entry",
    "EntryOptions",
    "Every",
    "Fired",
    "Misfire",
    "Schedule",
    "Scheduler",
]
