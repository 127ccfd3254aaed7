"""The physical limit: raw redis-py commands and ``redis-benchmark``.

Every queue figure is also shown as a ratio to these, measured on the same
server in the same run, with a payload the size of an Alligator task.
"""

from __future__ import annotations

import re
import subprocess

import redis

from benchmarks.rows import Row, per_second, timed
from benchmarks.servers import find_binary

__all__ = ["measure_raw", "measure_redis_benchmark"]

RAW = "raw redis-py"
KEY = "bench:raw"


def measure_raw(
    url: str, n: int, repeats: int, batch_size: int, payload: bytes, *, drain_batch: int
) -> list[Row]:
    """LPUSH and RPOP one per round trip, and both pipelined.

    LPUSH is pipelined ``batch_size`` at a time (as ``gator.batch()`` sends
    its tasks); RPOP ``drain_batch`` at a time, the most tasks a prefetching
    worker leases per round trip: the fair baseline for a worker's drain.
    """
    client = redis.Redis.from_url(url)
    push = Row(RAW, "raw", "enqueue", n=n, note=f"LPUSH, {len(payload)} B payload")
    piped = Row(RAW, "raw", "batch", n=n, note=f"LPUSH pipelined by {batch_size}")
    pop = Row(RAW, "raw", "drain", n=n, note="RPOP")
    piped_pop = Row(RAW, "raw", "drain_batch", n=n, note=f"RPOP pipelined by {drain_batch}")

    def lpush() -> None:
        for _ in range(n):
            client.lpush(KEY, payload)

    def lpush_pipelined() -> None:
        for start in range(0, n, batch_size):
            pipe = client.pipeline(transaction=False)
            for _ in range(min(batch_size, n - start)):
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
            push.values.append(per_second(n, timed(lpush)))
            pop.values.append(per_second(n, timed(rpop)))
            piped.values.append(per_second(n, timed(lpush_pipelined)))
            piped_pop.values.append(per_second(n, timed(rpop_pipelined)))
            assert client.llen(KEY) == 0, "the pipelined drain left tasks behind"
            client.delete(KEY)
    finally:
        client.close()
    return [push, piped, pop, piped_pop]


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
