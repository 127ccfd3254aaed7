"""Mismatches the typed API does not catch yet (tests/test_typing.py xfails on them).

A hook typed for any task (``Task[Any]``), such as a shared logging
``on_start``, makes mypy solve ``R`` as ``Any``, which switches the result-type
check off for every other hook given with it. Typing ``on_start`` and
``on_error`` as ``Callable[[Task[Any], ...], object]`` (they do not use ``R``)
would leave ``R`` to ``on_success`` alone and make these lines errors.
"""

from __future__ import annotations

from typing import Any

from alligator import Gator, Task


def add(a: int, b: int) -> int:
    return a + b


def log_any_start(task: Task[Any]) -> None:
    print(task.task_id)


def log_any_error(task: Task[Any], err: Exception) -> None:
    print(task.task_id, err)


def on_str_success(task: Task[str], result: str) -> None:
    print(result.upper())


gator = Gator("locmem://typing")

with gator.options(on_start=log_any_start, on_success=on_str_success) as opts:
    opts.task(add, 1, 2)  # E: arg-type
gator.push(Task(on_error=log_any_error, on_success=on_str_success), add, 1, 2)  # E: misc
