"""Raw entries written straight into each backend's storage, as no Alligator client would.

Each writer puts ``count`` random entries where a worker will meet them: for
Redis into the ready stream (random fields, ids that are empty or not UTF-8,
payloads nothing can decode), the delayed set (members naming no task) and
the lease set (expired leases of ids with no task), plus an overwritten
sequence counter; for SQLite rows whose id is not UTF-8 text or is a BLOB,
whose ``run_at`` is text or a BLOB, whose payload is random bytes or
non-UTF-8 text, and expired leases nobody holds; for locmem tasks of the
wrong shape put into the store's dict and heap; for beanstalkd random job
bodies, some starting with Alligator's header. Every one of them is a bad
entry the backend or the worker must bury with a reason.
"""

from __future__ import annotations

import heapq
import math
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import greenstalk
import redis

from alligator.backends import _locmem_driver
from alligator.backends._beanstalk_names import MAGIC
from alligator.backends._locmem_store import Task
from alligator.backends.redis_backend import Client as RedisClient

__all__ = ["write_beanstalk", "write_locmem", "write_redis", "write_sqlite"]


def junk(rng: random.Random, low: int = 0, high: int = 40) -> bytes:
    return rng.randbytes(rng.randint(low, high))


def bad_id(rng: random.Random) -> bytes:
    """An id no producer can push: empty, or not UTF-8."""
    return rng.choice([b"", b"\xff" + junk(rng, 1, 12), b"ok-then-\xc3\x28", b"\xed\xa0\x80x"])


def write_redis(raw: redis.Redis | redis.RedisCluster, client: RedisClient, queue: str,
                rng: random.Random, count: int, *, good: list[str]) -> int:  # fmt: skip
    """Write ``count`` bad entries into a Redis queue; how many a worker must bury.

    Also overwrites the attempt counter of a good task with text (it must
    still run once), and adds hash fields no structure points to (a payload,
    a meta field, an index entry with a garbage value): no worker ever meets
    those, so they are neither buried nor removed (``drop_all`` removes them,
    and ``get`` of such an id drops its index entry); they must disturb nothing.
    """
    names = ("ready", "delayed", "data", "leased", "meta")
    keys = dict(zip(names, client.keys(queue), strict=False))
    past = time.time() - 5
    raw.hset(keys["meta"], f"a:{rng.choice(good)}", b"not a count")
    orphan = "orphan-" + rng.randbytes(6).hex()
    raw.hset(keys["data"], orphan, junk(rng))
    raw.hset(keys["meta"], f"t:{orphan}", junk(rng))
    raw.hset(client._bucket(queue, orphan), orphan, b"0-not-a-stream-id")
    for _ in range(count):
        kind = rng.randrange(5)
        if kind == 0:  # a stream entry that is not one id with its payload
            pairs = {junk(rng, 0, 8) + bytes([i]): junk(rng) for i in range(rng.randint(2, 3))}
            raw.xadd(keys["ready"], pairs)  # type: ignore[arg-type]
        elif kind == 1:  # an id no producer could push
            raw.xadd(keys["ready"], {bad_id(rng): junk(rng)})
        elif kind == 2:  # a well-formed entry whose payload is noise
            raw.xadd(keys["ready"], {b"raw-" + rng.randbytes(6).hex().encode(): junk(rng, 1)})
        elif kind == 3:  # a delayed member that names no delayed task
            raw.zadd(keys["delayed"], {junk(rng, 0, 30): past})
        else:  # an expired lease of an id that has no task
            raw.zadd(keys["leased"], {b"ghost-" + rng.randbytes(6).hex().encode(): past})
    return count


def write_sqlite(path: Path, queue: str, rng: random.Random, count: int) -> int:
    """Insert ``count`` bad rows into a SQLite queue; how many a worker must bury."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for i in range(count):
            kind = rng.randrange(6)
            tid, data, run_at, state = f"raw-{i}-{rng.getrandbits(32):x}", junk(rng, 1), 0.0, 0
            if kind == 0:  # an id that is not UTF-8 text
                sql = "CAST(? AS TEXT)"
                tid = b"\xff" + junk(rng, 1, 8)  # type: ignore[assignment]
            elif kind == 1:  # an id stored as a BLOB
                sql = "?"
                tid = tid.encode()  # type: ignore[assignment]
            else:
                sql = "?"
            if kind == 2:  # a run_at that is not a number
                run_at = rng.choice(["soon", "tomorrow", b"\x00\x01"])  # type: ignore[assignment]
            if kind == 3:  # a payload stored as text that is not UTF-8
                data = b"\xc3\x28" + data
                conn.execute(
                    "INSERT INTO alligator_tasks (queue, task_id, data, run_at, state)"
                    " VALUES (?, ?, CAST(? AS TEXT), ?, ?)",
                    (queue, tid, data, run_at, state),
                )
                continue
            if kind == 4:  # an expired lease nobody holds
                state = 1
            conn.execute(
                "INSERT INTO alligator_tasks (queue, task_id, data, run_at, state, token)"
                f" VALUES (?, {sql}, ?, ?, ?, 'nobody')",
                (queue, tid, data, run_at, state),
            )
    finally:
        conn.close()
    return count


def write_locmem(store_name: str, queue: str, rng: random.Random, count: int) -> int:
    """Put ``count`` malformed tasks into a locmem store; how many must be buried."""
    target = _locmem_driver.store(store_name)
    with target.lock:
        q = target.queue(queue)
        for _ in range(count):
            kind = rng.randrange(6)
            name = f"raw-{rng.getrandbits(48):x}"
            key: object = name
            payload = junk(rng, 1)
            data: object = payload
            run_at: object = 0.0
            if kind == 0:
                data = payload.decode("latin-1")
            elif kind == 1:
                data = None
            elif kind == 2:
                key = name.encode()
            elif kind == 3:
                run_at = math.nan
            elif kind == 4:
                run_at = math.inf
            # kind 5: a well-formed task whose payload is noise
            task = Task(key, data, run_at, next(q.seq))  # type: ignore[arg-type]
            q.tasks[key] = task  # type: ignore[index]
            q.waiting += 1
            entry: Any = (run_at, task.seq, task)
            heapq.heappush(q.heap, entry)
    return count


def write_beanstalk(port: int, tube: str, rng: random.Random, count: int) -> int:
    """Put ``count`` random job bodies into a tube; how many a worker must bury."""
    with greenstalk.Client(("127.0.0.1", port), encoding=None, use=tube) as client:
        for _ in range(count):
            body = junk(rng, 1, 200)
            if rng.random() < 0.3:  # looks like Alligator's header, then noise
                body = MAGIC + rng.randbytes(4) + body
            client.put(body, ttr=5)
    return count
