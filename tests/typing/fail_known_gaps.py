"""Mismatches the typed API does not catch (tests/test_typing.py xfails on them).

Only ``on_success`` pins a task's result type: ``on_start`` and ``on_error``
are typed ``Callable[[Task[Any], ...], object]``, so that a hook written for
any task (a shared logging hook, annotated ``Task[Any]``) cannot make mypy
solve the result type as ``Any`` and hide a mismatched ``on_success``. The
price: an ``on_start``/``on_error`` hook annotated for a *specific other*
result type is accepted, since neither hook receives the result.

An ``async def`` task is ``Task[R]`` through an overload for functions that
return a coroutine; a variable annotated ``Task[Coroutine[...]]`` makes mypy
pick the plain overload instead, so that (odd) annotation is accepted too.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from alligator import Gator, Task


def add(a: int, b: int) -> int:
    return a + b


def on_str_success(task: Task[str], result: str) -> None:
    print(result.upper())


def on_int_error(task: Task[int], err: Exception) -> None:
    task.retries += 1


gator = Gator("locmem://typing")

Task(on_success=on_str_success, on_error=on_int_error)  # E: misc


async def fetch_page(url: str) -> bytes:
    return url.encode()


wrong: Task[Coroutine[Any, Any, bytes]] = gator.task(fetch_page, "u")  # E: assignment
