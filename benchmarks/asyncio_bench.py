"""Issue 16's asyncio figures: a concurrent worker's drains, and AsyncGator's enqueue.

* ``sleep_drain_s``: 1,000 tasks that each ``await asyncio.sleep(0.1)``,
  drained by one worker with ``concurrency=200`` (Redis and SQLite); seconds
  from the worker's start to its 1,000th task (target <= 1.5 s; the floor is
  5 waves of 0.1 s).
* ``drain`` of a no-op: the same ``add(1, 2)`` as a coroutine (``aadd``) by
  a concurrent worker (``concurrency=200``), against the plain function by a
  one-at-a-time worker, on the same backend (target: async >= 0.8 x sync).
* ``enqueue``: ``await ag.task(aadd, 1, 2)`` one call per task on Redis,
  against raw ``redis.asyncio`` ``LPUSH`` of the same payload, one awaited
  call per task (target >= 0.9 x).

Every worker runs in this process (one process, as ``latergator`` would).
arq, SAQ and taskiq run the same drains from the peers' venv
(:mod:`benchmarks.asyncio_peers`), on the same Redis.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis

from alligator import AsyncGator, Gator, Worker
from benchmarks import tasks
from benchmarks.rows import Row, per_second, timed

__all__ = [
    "CONCURRENCY",
    "SLEEP_TASKS",
    "enqueue_system",
    "measure_all",
    "noop_system",
    "sleep_system",
]

#: Tasks of the sleep drain, each awaiting SLEEP seconds, with CONCURRENCY at once.
SLEEP_TASKS = 1000
SLEEP = 0.1
CONCURRENCY = 200


def sleep_system(label: str) -> str:
    """The row name of a system's sleep drain (``label``: ``"alligator redis"``, ``"arq"``)."""
    return f"{label} 1,000 x sleep(0.1)"


def noop_system(label: str) -> str:
    """The row name of a system's concurrent async no-op drain."""
    return f"{label} async no-op"


def enqueue_system(label: str) -> str:
    """The row name of a system's asyncio enqueue, one awaited call per task."""
    return "alligator redis AsyncGator" if label == "alligator redis" else f"{label} enqueue"


def _filled(gator: Gator, n: int, func: Callable[..., object], *args: object) -> None:
    gator.broker.drop_all(gator.queue_name)
    with gator.batch() as batch:
        for _ in range(n):
            batch.task(func, *args)


def _drain(gator: Gator, n: int, concurrency: int | None) -> float:
    worker = Worker(gator, max_tasks=n, poll_timeout=1.0, concurrency=concurrency)
    seconds = timed(worker.run_forever)
    assert worker.tasks_complete == n, (worker.tasks_complete, n)
    return seconds


def measure_drains(label: str, fresh_dsn: Callable[[], str], n: int, repeats: int) -> list[Row]:
    """The sleep drain and the async vs sync no-op drains of one backend."""
    sleep = Row(sleep_system(f"alligator {label}"), "asyncio", "sleep_drain_s", n=SLEEP_TASKS)
    sleep.note = f"concurrency={CONCURRENCY}"
    plain = Row(f"alligator {label} sync no-op", "asyncio", "drain", n=n)
    plain.note = "one task at a time, prefetching"
    coro = Row(noop_system(f"alligator {label}"), "asyncio", "drain", n=n)
    coro.note = f"async def, concurrency={CONCURRENCY}"
    for _ in range(repeats):
        with Gator(fresh_dsn(), codec="msgpack") as gator:
            _filled(gator, SLEEP_TASKS, tasks.asleep, SLEEP)
            sleep.values.append(_drain(gator, SLEEP_TASKS, CONCURRENCY))
            _filled(gator, n, tasks.add, 1, 2)
            plain.values.append(per_second(n, _drain(gator, n, None)))
            _filled(gator, n, tasks.aadd, 1, 2)
            coro.values.append(per_second(n, _drain(gator, n, CONCURRENCY)))
    return [sleep, plain, coro]


def measure_enqueue(redis_url: str, n: int, repeats: int, payload: bytes) -> list[Row]:
    """AsyncGator's enqueue against raw redis.asyncio LPUSH, one awaited call per task."""
    ours = Row(enqueue_system("alligator redis"), "asyncio", "enqueue", n=n)
    ours.note = "await ag.task(aadd, 1, 2), msgpack"
    raw = Row("raw redis.asyncio LPUSH", "asyncio", "enqueue", n=n)
    raw.note = "await r.lpush(key, payload), one per task"

    async def enqueue() -> float:
        async with AsyncGator(redis_url, codec="msgpack") as ag:
            await ag.task(tasks.aadd, 1, 2)  # scripts loaded, keys made
            await asyncio.to_thread(ag.gator.broker.drop_all, ag.queue_name)
            loop = asyncio.get_running_loop()
            started = loop.time()
            for _ in range(n):
                await ag.task(tasks.aadd, 1, 2)
            seconds = loop.time() - started
            await asyncio.to_thread(ag.gator.broker.drop_all, ag.queue_name)
        return seconds

    async def lpush() -> float:
        client = aioredis.Redis.from_url(redis_url)
        await client.delete("bench:raw")
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(n):
            await client.lpush("bench:raw", payload)
        seconds = loop.time() - started
        await client.delete("bench:raw")
        await client.aclose()
        return seconds

    for _ in range(repeats):
        raw.values.append(per_second(n, asyncio.run(lpush())))
        ours.values.append(per_second(n, asyncio.run(enqueue())))
    return [ours, raw]


def measure_all(redis_url: str, workdir: Path, n: int, repeats: int, payload: bytes) -> list[Row]:
    """Every asyncio figure, on Redis (flushed per repeat by the caller's DSN) and SQLite."""
    counter = itertools.count()

    def sqlite() -> str:
        return f"sqlite:///{workdir / f'asyncio-{next(counter)}.db'}"

    rows = measure_drains("redis", lambda: redis_url, n, repeats)
    rows += measure_drains("sqlite", sqlite, n, repeats)
    rows += measure_enqueue(redis_url, n, repeats, payload)
    return rows
