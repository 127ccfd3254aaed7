"""How a task's run is driven: the steps :meth:`Task._steps` yields, called or awaited.

A run (``on_start``, the function, ``on_success`` or ``on_error``) is
written once, as a generator of steps, in :mod:`alligator.tasks`; this
module holds the two drivers' pieces, so the synchronous :meth:`Task.run`
and the awaiting :meth:`Task.run_async` cannot drift apart on the order of
hooks or on what an exception means. Only the function's own call
(:class:`Call`) is bounded by a task's timeout.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from alligator.exceptions import InvalidTaskError, TaskTimeoutError

__all__ = [
    "Call",
    "Made",
    "Steps",
    "awaited_step",
    "made",
    "refuse_inside_a_loop",
]


class Call:
    """The step of a run that calls the task's function (the one a timeout bounds)."""

    __slots__ = ("args", "func", "kwargs")

    def __init__(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.func = func
        self.args = args
        self.kwargs = kwargs

    def __call__(self) -> Any:
        return self.func(*self.args, **self.kwargs)


#: A step's value, or the exception it raised.
Made = tuple[Any, Exception | None]
Steps = Generator[Callable[[], Any], Any, None]


def made(step: Callable[[], Any]) -> Made:
    try:
        return step(), None
    except Exception as exc:
        return None, exc


async def awaited_step(step: Callable[[], Any], timeout: float | None, task_id: str) -> Made:
    try:
        value = step()
        if inspect.isawaitable(value):
            limit = timeout if isinstance(step, Call) else None
            value = await _awaited(value, limit, task_id)
    except Exception as exc:
        return None, exc
    return value, None


async def _awaited(value: Awaitable[Any], timeout: float | None, task_id: str) -> Any:
    """``await value``, cancelled after ``timeout`` seconds as a :class:`TaskTimeoutError`."""
    if timeout is None:
        return await value
    try:
        async with asyncio.timeout(timeout) as limit:
            return await value
    except TimeoutError as exc:
        if not limit.expired():
            raise  # the task's own TimeoutError, not its time limit
        raise TaskTimeoutError(f"task {task_id} timed out after {timeout:g} s") from exc


def refuse_inside_a_loop(task_id: str) -> None:
    """Refuse to start a loop of our own inside a running one, which asyncio cannot do."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise InvalidTaskError(
        f"task {task_id} has an 'async def' function or hook and is run from inside a "
        "running event loop, which cannot run it to the end here: await task.run_async() "
        "instead, or enqueue it with an AsyncGator (is_async=False tasks are then run "
        "off the loop)"
    )
