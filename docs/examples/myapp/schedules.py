"""Periodic tasks of the example app, for `alligator scheduler DSN --schedule ...`."""

from __future__ import annotations

import datetime

from alligator import Gator
from alligator.schedules import Misfire, Schedule
from myapp.tasks import add, send_welcome_email

#: Names the queue and the options; the scheduler's DSN says where the ticks go.
gator = Gator("locmem://myapp-schedules", queue_name="periodic")

schedule = Schedule(gator)

# Every five minutes, on the clock (12:00, 12:05, ... UTC)
schedule.every(datetime.timedelta(minutes=5), add, 1, 2)

# At 03:00 in Berlin, each night; three tries; every missed night caught up (at most 7)
schedule.options(
    name="nightly-digest", tz="Europe/Berlin", misfire=Misfire.all(7), retries=2
).cron("0 3 * * *", send_welcome_email, 0, template="digest")

# Mondays at 09:30 UTC, on a queue of its own; a missed one is simply skipped
schedule.options(name="weekly-report", misfire="skip", queue="reports").cron(
    "30 9 * * MON", add, 40, 2
)
