"""Schedules the real-process tests run with ``alligator scheduler`` and ``latergator``.

The Gator here only names the queue and makes the options; the command
line's DSN says where the ticks go.
"""

from __future__ import annotations

from alligator import Gator
from alligator.schedules import Schedule
from tests import tasks

gator = Gator("locmem://schedule-app", queue_name="ticks")

#: One entry every second, catching up whatever it missed.
every_second = Schedule(gator)
every_second.options(name="second", misfire="all").every(1, tasks.add, 1, 2)

#: The three misfire policies side by side, every second.
policies = Schedule(gator, grace=0.5)
for policy in ("skip", "once", "all"):
    policies.options(name=policy, misfire=policy).every(1, tasks.add, 1, 2)

#: A cron entry in a time zone, and a daily one, for --list.
listed = Schedule(gator)
listed.options(name="report", tz="Europe/Berlin").cron("30 2 * * *", tasks.add, 1, 2)
listed.options(name="cleanup", misfire="all", queue="maintenance").every(3600, tasks.add, 3, b=4)
