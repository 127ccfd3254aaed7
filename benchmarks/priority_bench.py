"""Redis with priorities in use against the plain FIFO queue (issue 20).

A task of priority 0 (every task pushed without one) is an entry of the
queue's ready stream; any other waits in a sorted set scored by priority
(see ``alligator/backends/_redis_scripts.py``). This measures what that
costs: the same enqueue (one call per task), batch enqueue and one worker's
drain as ``alligator_bench``, once with no priority given (the FIFO path)
and once with every task given one of four non-zero priorities, so every
task takes the sorted-set path. Runs alternate between the two on a flushed
server, so drift on a shared machine hits both alike.

Targets: with priorities, enqueue and drain at least 0.8 x the FIFO figures.
The FIFO figures themselves are the ones ``alligator_bench`` reports, which
the plain path's speed is judged by (compare a run on ``main``).

Run alone: ``python -m benchmarks --skip alligator,wake,scale,peers,raw,pool,postgres``.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence

from alligator import Gator, Task
from benchmarks import tasks
from benchmarks.alligator_bench import Backend, _drain_seconds
from benchmarks.rows import Row, per_second, timed

__all__ = ["FIFO", "GOAL", "PRIORITIES", "RANKED", "measure_priorities", "ratios"]

FIFO = "alligator redis msgpack, no priority"
RANKED = "alligator redis msgpack, priorities"
#: What the tasks of the prioritised runs are given, drawn at random.
PRIORITIES = (-2, -1, 1, 2)
#: Prioritised enqueue and drain against FIFO.
GOAL = 0.8


def _enqueue(gator: Gator, n: int, ranks: list[int] | None) -> None:
    add = tasks.add
    if ranks is None:
        for _ in range(n):
            gator.push(Task(), add, 1, 2)
    else:
        for rank in ranks:
            gator.push(Task(priority=rank), add, 1, 2)


def _batch(gator: Gator, n: int, size: int, ranks: list[int] | None) -> None:
    add = tasks.add
    for start in range(0, n, size):
        with gator.batch() as batch:
            for i in range(start, min(n, start + size)):
                batch.push(Task(priority=None if ranks is None else ranks[i]), add, 1, 2)


def measure_priorities(
    fresh_dsn: Callable[[], str], n: int, repeats: int, batch_size: int
) -> list[Row]:
    """Enqueue, batch enqueue and drain on Redis, without and with priorities."""
    backend = Backend("redis msgpack", fresh_dsn)
    rows = {
        (system, metric): Row(system, "alligator", metric, n=n)
        for system in (FIFO, RANKED)
        for metric in ("enqueue", "batch", "drain")
    }
    for (system, metric), row in rows.items():
        if system == RANKED:
            row.note = f"every task one of priorities {PRIORITIES}"
        if metric == "batch":
            row.note = (row.note + ", " if row.note else "") + f"batches of {batch_size}"
    rng = random.Random(20)
    for _ in range(repeats):
        for system in (FIFO, RANKED):
            ranks = None if system == FIFO else [rng.choice(PRIORITIES) for _ in range(n)]
            dsn = fresh_dsn()
            with Gator(dsn, codec=backend.codec) as gator:
                gator.task(tasks.add, 1, 2)  # scripts loaded before timing
                gator.broker.drop_all(gator.queue_name)
                seconds = timed(functools.partial(_enqueue, gator, n, ranks))
                rows[(system, "enqueue")].values.append(per_second(n, seconds))
                drained = _drain_seconds(backend, gator, dsn, n)
                rows[(system, "drain")].values.append(per_second(n, drained))
                seconds = timed(functools.partial(_batch, gator, n, batch_size, ranks))
                rows[(system, "batch")].values.append(per_second(n, seconds))
                gator.broker.drop_all(gator.queue_name)
    return list(rows.values())


def ratios(rows: Sequence[Row]) -> list[tuple[str, float | None, bool | None]]:
    """Each metric's prioritised median over its FIFO median, and whether it meets the goal.

    Only enqueue and drain carry the target; batch enqueue is shown for
    information. Empty when the priority rows were not measured.
    """
    index = {(row.system, row.metric): row for row in rows}
    out: list[tuple[str, float | None, bool | None]] = []
    for metric in ("enqueue", "drain", "batch"):
        fifo, ranked = index.get((FIFO, metric)), index.get((RANKED, metric))
        if fifo is None or ranked is None:
            continue
        ratio = ranked.median / fifo.median
        out.append((metric, ratio, ratio >= GOAL if metric != "batch" else None))
    return out
