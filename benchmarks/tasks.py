"""The benchmark's tasks: a no-op ``add`` and a wake-up ``stamp``.

They live in an importable module so a worker in another process can run them.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["FIRST_STAMP", "LATENCIES", "aadd", "add", "asleep", "now", "stamp"]

#: Enqueue-to-start delays seen by :func:`stamp` in this process, in seconds.
LATENCIES: list[float] = []
#: The perf_counter when the first stamp ran: the end of the idle wait.
FIRST_STAMP: list[float] = []


def add(a: int, b: int) -> int:
    """The no-op task every system runs, so only the queue's own cost is measured."""
    return a + b


def stamp(enqueued_at: float) -> None:
    """Record how long after ``enqueued_at`` this task started."""
    LATENCIES.append(time.time() - enqueued_at)
    if not FIRST_STAMP:
        FIRST_STAMP.append(time.perf_counter())


def now() -> float:
    """The wall clock when it ran: when a result was made, or when a dependent started."""
    return time.time()


async def aadd(a: int, b: int) -> int:
    """The no-op task as a coroutine: the asyncio worker's own cost per task."""
    return a + b


async def asleep(seconds: float) -> None:
    """An I/O-bound coroutine task: waits without holding the loop."""
    await asyncio.sleep(seconds)
