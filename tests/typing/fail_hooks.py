"""Typing checks that must fail: hooks must fit the task's function and result.

Each line marked ``# E: <code>`` must get exactly that mypy error code, and no
other line may get any (tests/test_typing.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from alligator import Gator, Task


def add(a: int, b: int) -> int:
    return a + b


def on_str_success(task: Task[str], result: str) -> None:
    print(result.upper())


def on_int_success(task: Task[int], result: int) -> None:
    print(result + 1)


def on_int_error(task: Task[int], err: Exception) -> None:
    task.retries += 1


def error_with_str(task: Task[int], err: str) -> None:
    print(err)


def error_without_err(task: Task[int]) -> None:
    print(task)


def start_with_two(task: Task[int], extra: int) -> None:
    print(task, extra)


def log_any_start(task: Task[Any]) -> None:
    print(task.task_id)


def log_any_error(task: Task[Any], err: Exception) -> None:
    print(task.task_id, err)


gator = Gator("locmem://typing")

# A hook whose result type differs from the function's return type. Through
# push, mypy reports it as R having no solution ([misc]) rather than [arg-type].
gator.push(Task(on_success=on_str_success), add, 1, 2)  # E: call-overload
str_task = Task(on_success=on_str_success)
gator.push(str_task, add, 1, 2)  # E: call-overload
with gator.options(on_success=on_str_success) as opts:
    opts.task(add, 1, 2)  # E: call-overload
with gator.batch() as batch:
    batch.push(Task(on_success=on_str_success), add, 1, 2)  # E: call-overload
Task(on_success=on_str_success).to_call(add, 1, 2)  # E: call-overload
Task[int](on_success=on_str_success)  # E: arg-type

# A hook typed for any task (a shared logging hook) does not hide a
# mismatched on_success: only on_success pins the result type.
with gator.options(on_start=log_any_start, on_success=on_str_success) as logged:
    logged.task(add, 1, 2)  # E: call-overload
gator.push(Task(on_error=log_any_error, on_success=on_str_success), add, 1, 2)  # E: call-overload

# Hooks of the wrong shape.
gator.options(on_start=on_int_error, on_success=on_int_success)  # E: arg-type

# Wrong hook signatures.
Task(on_error=error_with_str)  # E: arg-type
Task(on_error=error_without_err)  # E: arg-type
gator.options(on_error=error_with_str)  # E: arg-type
Task(on_start=start_with_two)  # E: arg-type
Task(on_success=error_without_err)  # E: arg-type

# Wrong delay types.
Task(delay_by="5")  # E: arg-type
Task(delay_until="tomorrow")  # E: arg-type
gator.options(delay_by=dt.timedelta(seconds=5))  # E: arg-type
gator.options(delay_until=dt.date(2030, 1, 1))  # E: arg-type
