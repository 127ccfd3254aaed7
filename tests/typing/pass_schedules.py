"""Typing checks that must pass: schedule entries are typed like ``gator.task``."""

from __future__ import annotations

import datetime as dt
from typing import assert_type

from alligator import Gator, Task
from alligator.schedules import Entry, Misfire, Schedule


def add(a: int, b: int = 0) -> int:
    return a + b


def shout(word: str) -> str:
    return word.upper()


def on_int(task: Task[int], result: int) -> None:
    print(result)


schedule = Schedule(Gator("locmem://typing"))
assert_type(schedule.every(60, add, 1, b=2), Entry[int])
assert_type(schedule.every(dt.timedelta(minutes=5), shout, "hi"), Entry[str])
assert_type(schedule.cron("0 3 * * *", shout, word="hi"), Entry[str])
opts = schedule.options(name="n", tz="Europe/Berlin", misfire=Misfire.all(5), retries=2)
assert_type(opts.cron("0 3 * * *", add, 1), Entry[int])
assert_type(opts.every(60, shout, "x"), Entry[str])
pinned = schedule.options(on_success=on_int, misfire="skip")
assert_type(pinned.every(30, add, 1), Entry[int])
