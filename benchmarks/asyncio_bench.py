"""Issue 16's asyncio figures: a concurrent worker's drains, and AsyncGator's enqueue.

* ``sleep_drain_s``: 1,000 tasks that each ``await asyncio.sleep(0.1)``,
  drained by one worker with ``concurrency=200`` (Redis and SQLite); seconds
  from the worker's start to its 1,000th task (target <= 1.5 s; the floor is
  5 waves of 0.1 s).
* ``drain`` of a no-op: the same ``add(1, 2)`` as a coroutine (``aadd``) by
  a concurrent worker (``concurrency=200``), against the plain function by a
  one-at-a-time worker, on the same backend (target: async >= 0.8 x sync);
  each repeat times them sync, async, async, sync.
* ``enqueue``: ``await ag.task(aadd, 1, 2)`` one call per task on Redis,
  against raw ``redis.asyncio`` ``LPUSH`` of the same payload, one awaited
  call per task (target >= 0.9 x), and the same LPUSH sent as a one-line
  script, the three in alternating chunks.

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
#: Enqueues per chunk of :func:`measure_enqueue`: ~10 ms, shorter than the
#: machine's swings in speed (chunks of 100 gave ratios from 0.80 to 1.20).
_CHUNK = 20
#: The third leg of :func:`measure_enqueue`: LPUSH, atomic by being a script.
_SCRIPTED_LPUSH = "return redis.call('LPUSH', KEYS[1], ARGV[1])"


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
    drains = [(plain, tasks.add, None), (coro, tasks.aadd, CONCURRENCY)]
    for _ in range(repeats):
        with Gator(fresh_dsn(), codec="msgpack") as gator:
            _filled(gator, SLEEP_TASKS, tasks.asleep, SLEEP)
            sleep.values.append(_drain(gator, SLEEP_TASKS, CONCURRENCY))
            # Sync, async, async, sync: each drain is timed first and last
            # once per repeat. A drain can run faster second, on a database
            # file already grown (SQLite's sync drain: 11.8-12.8k/s first,
            # 15.8-16.1k/s second, in one run), and the machine's speed
            # drifts over seconds; one pair a repeat, its order swapped each
            # time, measured 0.74-1.09 for the same code over three repeats.
            for row, func, concurrency in drains + drains[::-1]:
                _filled(gator, n, func, 1, 2)
                row.values.append(per_second(n, _drain(gator, n, concurrency)))
    return [sleep, plain, coro]


def measure_enqueue(redis_url: str, n: int, repeats: int, payload: bytes) -> list[Row]:
    """AsyncGator's enqueue against raw redis.asyncio LPUSH, one awaited call per task.

    They run on one event loop in alternating chunks of :data:`_CHUNK`: a
    round trip's time drifts by half on a shared virtual machine within
    seconds, and two phases one after the other measured ratios from 0.75 to
    1.28 for the same code; alternating lets the drift hit all legs alike. A
    third leg sends the same LPUSH through a one-line script
    (:data:`_SCRIPTED_LPUSH`): the floor of any enqueue made atomic by a
    script, as Alligator's is.
    """
    note = f"one awaited call per task, in chunks of {_CHUNK} alternating with the others"
    ours = Row(enqueue_system("alligator redis"), "asyncio", "enqueue", n=n)
    ours.note = f"await ag.task(aadd, 1, 2), msgpack; {note}"
    raw = Row("raw redis.asyncio LPUSH", "asyncio", "enqueue", n=n)
    raw.note = f"await r.lpush(key, payload); {note}"
    scripted = Row("raw redis.asyncio EVALSHA", "asyncio", "enqueue", n=n)
    scripted.note = f"await r.evalsha(<LPUSH in Lua>, 1, key, payload); {note}"

    async def alternate() -> list[float]:
        client = aioredis.Redis.from_url(redis_url)
        sha = await client.script_load(_SCRIPTED_LPUSH)
        async with AsyncGator(redis_url, codec="msgpack") as ag:

            async def alligator() -> None:
                await ag.task(tasks.aadd, 1, 2)

            async def lpush() -> None:
                await client.lpush("bench:raw", payload)

            async def evalsha() -> None:
                await client.evalsha(sha, 1, "bench:scripted", payload)

            legs = [alligator, lpush, evalsha]
            for leg in legs:
                await leg()  # scripts loaded, keys and connections made
            await asyncio.to_thread(ag.gator.broker.drop_all, ag.queue_name)
            loop = asyncio.get_running_loop()
            spent = [0.0] * len(legs)
            for chunk, start in enumerate(range(0, n, _CHUNK)):
                count = min(_CHUNK, n - start)
                # Each chunk starts with the next leg, so no leg always runs
                # first after a switch: a fixed order measured 0.81-0.85 one
                # way round and 0.89-1.07 the other.
                for turn in range(len(legs)):
                    which = (chunk + turn) % len(legs)
                    leg = legs[which]
                    began = loop.time()
                    for _ in range(count):
                        await leg()
                    spent[which] += loop.time() - began
            await asyncio.to_thread(ag.gator.broker.drop_all, ag.queue_name)
        await client.delete("bench:raw", "bench:scripted")
        await client.aclose()
        return spent

    for _ in range(repeats):
        for row, seconds in zip((ours, raw, scripted), asyncio.run(alternate()), strict=True):
            row.values.append(per_second(n, seconds))
    return [ours, raw, scripted]


def measure_all(redis_url: str, workdir: Path, n: int, repeats: int, payload: bytes) -> list[Row]:
    """Every asyncio figure, on Redis (flushed per repeat by the caller's DSN) and SQLite."""
    counter = itertools.count()

    def sqlite() -> str:
        return f"sqlite:///{workdir / f'asyncio-{next(counter)}.db'}"

    rows = measure_drains("redis", lambda: redis_url, n, repeats)
    rows += measure_drains("sqlite", sqlite, n, repeats)
    rows += measure_enqueue(redis_url, n, repeats, payload)
    return rows
