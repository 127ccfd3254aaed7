"""How a concurrent worker runs one task: a coroutine on its loop, a plain function in a thread.

Each run returns its result or its failure instead of raising: a task's
failure (even ``SystemExit``) is its own, never the loop's. Each run also
happens inside ``observed``, the worker's observers' context (the
in-progress gauge of :mod:`alligator.metrics`, the ``process`` span of
:mod:`alligator.tracing`), entered where the task runs: in its coroutine or
in its pool thread. That is where OpenTelemetry's current span lives (a
context variable), so what the task traces becomes a child of its
``process`` span, as under a one-at-a-time worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import Executor
from typing import Any

from alligator.exceptions import TaskTimeoutError
from alligator.protocols import Task
from alligator.tasks import Task as BuiltinTask

__all__ = ["Ran", "awaited", "in_thread", "runner_name"]

log = logging.getLogger("alligator.worker")

#: What a run gives back: its result, or its failure.
Ran = tuple[Any, BaseException | None]
Observed = contextlib.AbstractContextManager[object]


async def awaited(task: BuiltinTask[Any], limit: float | None, observed: Observed) -> Ran:
    """Run a coroutine task on the running loop."""
    try:
        with observed:
            return (await task.run_async(limit)).result, None
    except asyncio.CancelledError:
        if _cancelling():
            raise  # the worker cancelled it (shutdown): not the task's failure
        return None, asyncio.CancelledError("the task cancelled itself")
    except BaseException as exc:
        return None, exc


async def in_thread(
    threads: Executor, task: Task[Any], limit: float | None, observed: Observed, ident: str
) -> Ran:
    """Run a plain-function task in a pool thread; past ``limit`` it fails, the thread runs on.

    A thread cannot be interrupted: a task past its time limit is failed
    (retried or buried) at once, and what its thread does afterwards is
    ignored, but the thread stays busy until the function returns (and so
    does the task's observed run: still in progress, its span still open).
    """
    running = asyncio.get_running_loop().run_in_executor(threads, _ran, task, observed)
    if limit is None:
        return await running
    try:
        return await asyncio.wait_for(asyncio.shield(running), limit)
    except TimeoutError:
        log.warning(
            "%s: task %s timed out after %gs in a thread, which cannot be stopped: it is "
            "failed now, and its thread stays busy until the function returns",
            ident,
            task.task_id,
            limit,
            extra={"task_id": task.task_id},
        )
        return None, TaskTimeoutError(f"task {task.task_id} timed out after {limit:g} s")


def runner_name(task: BuiltinTask[Any]) -> str:
    """``<task id> <module>.<qualname>``: how the lag watch names a coroutine that blocks."""
    func = task.func
    return f"{task.task_id} {getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}"


def _cancelling() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


def _ran(task: Task[Any], observed: Observed) -> Ran:
    """Run a plain-function task (in a pool thread)."""
    try:
        with observed:
            return task.run().result, None
    except BaseException as exc:
        return None, exc
