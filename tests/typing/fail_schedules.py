"""Typing checks that must fail: a schedule entry's call and hooks must fit its function.

Each line marked ``# E: <code>`` must get exactly that mypy error code, and no
other line may get any (tests/test_typing.py).
"""

from __future__ import annotations

from alligator import Gator, Task
from alligator.schedules import Schedule


def add(a: int, b: int) -> int:
    return a + b


def on_str(task: Task[str], result: str) -> None:
    print(result)


schedule = Schedule(Gator("locmem://typing"))
schedule.every(60, add, 1)  # E: call-arg
schedule.every(60, add, "1", 2)  # E: arg-type
schedule.cron("* * * * *", add, 1, 2, c=3)  # E: call-arg
schedule.options(retries=1).cron("* * * * *", add, 1)  # E: call-overload
schedule.options(on_success=on_str).every(60, add, 1, 2)  # E: arg-type
schedule.options(misfire="sometimes")  # E: arg-type
