"""The physical limit: raw redis-py commands and ``redis-benchmark``.

Every queue figure is also shown as a ratio to these, measured on the same
server in the same run, with a payload the size of an Alligator task.
"""

from __future__ import annotations

import re
import subprocess

import redis

from alligator import Gator
from benchmarks import tasks
from benchmarks.alligator_bench import Backend
from benchmarks.rows import Row, alternate, per_second, timed
from benchmarks.servers import find_binary

__all__ = ["measure_enqueues", "measure_raw", "measure_redis_benchmark"]

RAW = "raw redis-py"
KEY = "bench:raw"
#: Calls per turn of :func:`measure_enqueues`' one-by-one legs.
CHUNK = 20


def measure_raw(url: str, n: int, repeats: int, payload: bytes, *, drain_batch: int) -> list[Row]:
    """RPOP one per round trip and pipelined (the enqueues: :func:`measure_enqueues`).

    RPOP is pipelined ``drain_batch`` at a time, the most tasks a prefetching
    worker leases per round trip: the fair baseline for a worker's drain.
    """
    client = redis.Redis.from_url(url)
    pop = Row(RAW, "raw", "drain", n=n, note="RPOP")
    piped_pop = Row(RAW, "raw", "drain_batch", n=n, note=f"RPOP pipelined by {drain_batch}")

    def fill() -> None:
        for start in range(0, n, 1000):
            pipe = client.pipeline(transaction=False)
            for _ in range(min(1000, n - start)):
                pipe.lpush(KEY, payload)
            pipe.execute()

    def rpop() -> None:
        for _ in range(n):
            client.rpop(KEY)

    def rpop_pipelined() -> None:
        for start in range(0, n, drain_batch):
            pipe = client.pipeline(transaction=False)
            for _ in range(min(drain_batch, n - start)):
                pipe.rpop(KEY)
            pipe.execute()

    try:
        for _ in range(repeats):
            client.delete(KEY)
            fill()
            pop.values.append(per_second(n, timed(rpop)))
            fill()
            piped_pop.values.append(per_second(n, timed(rpop_pipelined)))
            assert client.llen(KEY) == 0, "the pipelined drain left tasks behind"
    finally:
        client.delete(KEY)
        client.close()
    return [pop, piped_pop]


def measure_enqueues(
    url: str, ours: Backend, n: int, repeats: int, *, batch_size: int, payload: bytes
) -> list[Row]:
    """Raw LPUSH beside ``gator.task`` and pipelined LPUSH beside ``gator.batch()``, alternating.

    Raw and Alligator take turns in chunks (:data:`CHUNK` calls, or one
    batch of ``batch_size``), each chunk starting with the other leg than
    the last: a round trip's time drifts by half within seconds on a
    shared virtual machine, and measured in phases minutes apart, the same
    Alligator code came out at 0.76 and 0.90 x LPUSH in one run.
    """
    client = redis.Redis.from_url(url)
    rows = [
        Row(RAW, "raw", "enqueue", n=n, note=f"LPUSH, {len(payload)} B payload"),
        Row(ours.system, "alligator", "enqueue", n=n, note=f"alternating by {CHUNK} with LPUSH"),
        Row(RAW, "raw", "batch", n=n, note=f"LPUSH pipelined by {batch_size}"),
        Row(ours.system, "alligator", "batch", n=n, note=f"batches of {batch_size}"),
    ]
    add = tasks.add

    def lpush(count: int) -> None:
        for _ in range(count):
            client.lpush(KEY, payload)

    def lpush_pipelined(count: int) -> None:
        pipe = client.pipeline(transaction=False)
        for _ in range(count):
            pipe.lpush(KEY, payload)
        pipe.execute()

    try:
        for _ in range(repeats):
            client.delete(KEY)
            with Gator(ours.fresh_dsn(), codec=ours.codec) as gator:
                gator.task(add, 1, 2)  # scripts loaded, keys made

                def enqueue(count: int) -> None:
                    for _ in range(count):
                        gator.task(add, 1, 2)

                def batch(count: int) -> None:
                    with gator.batch() as each:
                        for _ in range(count):
                            each.task(add, 1, 2)

                singles = alternate([lpush, enqueue], n, CHUNK)
                batches = alternate([lpush_pipelined, batch], n, batch_size)
                gator.broker.drop_all(gator.queue_name)
            for row, seconds in zip(rows, singles + batches, strict=True):
                row.values.append(per_second(n, seconds))
    finally:
        client.delete(KEY)
        client.close()
    return rows


def measure_redis_benchmark(port: int, n: int, repeats: int, size: int) -> list[Row]:
    """``redis-benchmark -c 1``: one client, one command per round trip, in C."""
    system = "redis-benchmark -c 1"
    rows = {
        "LPUSH": Row(system, "raw", "enqueue", n=n, note=f"LPUSH -d {size}"),
        "RPOP": Row(system, "raw", "drain", n=n, note="RPOP"),
    }
    argv = [find_binary("redis-benchmark"), "-h", "127.0.0.1", "-p", str(port)]
    argv += ["-c", "1", "-n", str(n), "-d", str(size), "-t", "lpush,rpop", "-q"]
    for _ in range(repeats):
        out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300).stdout
        for name, row in rows.items():
            found = re.search(
                rf"(?m)^{name}: ([\d.]+) requests per second", out.replace("\r", "\n")
            )
            if found:
                row.values.append(float(found.group(1)))
    return [row for row in rows.values() if row.values]
