"""Redis at scale: one queue holding 1,000,000 ready tasks.

Two figures a 20,000-task run cannot show:

* the latency of finding a *ready* task by id (``get``, ``cancel``, a push
  that replaces it) in a queue that long, each call timed on its own with
  ids spread over the whole queue (the target is at most 1 ms);
* Redis bytes per ready task at that size, where the index buckets hold
  about a thousand ids each and Redis no longer stores them compactly.

The queue is filled with ``gator.batch()`` (the same envelope as the other
rows) on a flushed server, and emptied by ``FLUSHDB`` afterwards.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from alligator import Gator
from benchmarks import tasks
from benchmarks.rows import Row

__all__ = ["SYSTEM", "measure_scale"]

SYSTEM = "alligator redis msgpack"


def _fill(gator: Gator, n: int, chunk: int = 1000) -> list[str]:
    ids: list[str] = []
    add = tasks.add
    for start in range(0, n, chunk):
        with gator.batch() as batch:
            ids += [batch.task(add, 1, 2).task_id for _ in range(min(chunk, n - start))]
    return ids


def _timed_ms(action: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    action(*args)
    return (time.perf_counter() - started) * 1000


def measure_scale(
    fresh_dsn: Callable[[], str],
    memory: Callable[[], int],
    n: int,
    samples: int,
    scripts: Callable[[], tuple[int, int]] | None = None,
) -> list[Row]:
    """Fill one queue with ``n`` ready tasks; time ``samples`` gets, cancels and replaces.

    ``scripts`` reads the server's count of script calls and the microseconds
    they took (``INFO commandstats``): the server's own time per call of the
    lookups, which a shared machine's scheduling noise does not reach.
    """
    label = f"{n:,} ready tasks"
    rows = {
        "bytes_scale": Row(SYSTEM, "alligator", "bytes_scale", n=n, note=label),
        "get_ms": Row(SYSTEM, "alligator", "get_ms", n=n, note=f"{label}, one call each"),
        "cancel_ms": Row(SYSTEM, "alligator", "cancel_ms", n=n, note=f"{label}, one call each"),
        "replace_ms": Row(
            SYSTEM, "alligator", "replace_ms", n=n, note=f"{label}, push of a ready task's id"
        ),
        "script_us": Row(
            SYSTEM, "alligator", "script_us", n=n, note=f"{label}, server time per script call"
        ),
    }
    dsn = fresh_dsn()
    rng = random.Random(13)
    with Gator(dsn, codec="msgpack") as gator:
        gator.task(tasks.add, 1, 2)  # scripts loaded, keys made, before counting
        gator.broker.drop_all(gator.queue_name)
        before = memory()
        ids = _fill(gator, n)
        rows["bytes_scale"].values.append((memory() - before) / n)
        client, queue = gator.broker, gator.queue_name
        # Ids spread over the whole queue, each used once.
        picked = rng.sample(ids, min(len(ids), 3 * samples))
        template = gator.task_class()
        template.to_call(tasks.add, 1, 2)
        payload = gator.serialize(template)
        before_calls, before_usec = scripts() if scripts else (0, 0)
        for i in range(0, len(picked) - 2, 3):
            get_id, cancel_id, replace_id = picked[i : i + 3]
            rows["get_ms"].values.append(_timed_ms(client.get, queue, get_id))
            rows["cancel_ms"].values.append(_timed_ms(gator.cancel, cancel_id))
            rows["replace_ms"].values.append(_timed_ms(client.push, queue, replace_id, payload))
        if scripts:
            calls, usec = scripts()
            rows["script_us"].values.append((usec - before_usec) / max(calls - before_calls, 1))
        assert client.len(queue) == n - 2 * (len(picked) // 3), "get or cancel missed a task"
    fresh_dsn()  # flushes
    return [row for row in rows.values() if row.values]
