"""Raw entries fuzzed into every backend's storage: good tasks run once, bad ones are buried.

Between batches of good tasks, random entries are written straight into the
backend's storage (see :mod:`tests.chaos.raw`), then real workers drain the
queue: ``python -m alligator worker`` processes for SQLite, Redis, Redis
Cluster and beanstalkd, worker threads for locmem (its store lives in one
process). Every good task must run exactly once, every bad entry must end up
buried with a reason (by the backend, or by the worker that could not decode
it), and no worker may die.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from alligator import Gator, Worker
from alligator.backends.redis_backend import Client as RedisClient
from tests import tasks
from tests.chaos import raw
from tests.chaos import tasks as chaos_tasks
from tests.chaos.harness import REPORTS, Report, Workers
from tests.fixtures import beanstalkd_server, cluster_dsn
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.slow

GOOD_PER_ROUND = 60
BAD_PER_ROUND = 12
ROUNDS = 5
BACKENDS = ("locmem", "sqlite", "redis", "redis-cluster", "beanstalk")


class Fuzzed:
    """One backend under test: its DSN, and how to write raw entries into it."""

    def __init__(self, name: str, dsn: str, port: int = 0) -> None:
        self.name, self.dsn, self.port = name, dsn, port

    def write(
        self, gator: Gator, rng: random.Random, count: int, workdir: Path, good: list[str]
    ) -> int:
        queue = gator.queue_name
        if self.name == "locmem":
            return raw.write_locmem(self.dsn.removeprefix("locmem://"), queue, rng, count)
        if self.name == "sqlite":
            return raw.write_sqlite(workdir / "fuzz.db", queue, rng, count)
        if self.name == "beanstalk":
            return raw.write_beanstalk(self.port, queue, rng, count)
        client = gator.broker
        assert isinstance(client, RedisClient)
        conn: redis.Redis | redis.RedisCluster
        if self.name == "redis":
            conn = redis.Redis(port=self.port)
        else:
            conn = redis.RedisCluster(host="127.0.0.1", port=self.port)
        with conn:
            written = raw.write_redis(conn, client, queue, rng, count, good=good)
            conn.set(client.keys(queue)[6], b"the sequence, overwritten")  # repaired, not buried
        return written


@pytest.fixture
def fuzzed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fuzzed]:
    name: str = request.param
    if name == "locmem":
        yield Fuzzed(name, f"locmem://fuzz-{tmp_path.name}")
    elif name == "sqlite":
        yield Fuzzed(name, f"sqlite:///{tmp_path / 'fuzz.db'}")
    elif name == "redis":
        server: ServerProcess = request.getfixturevalue("shared_redis")
        namespace = f"fuzz{random.getrandbits(32):x}"
        yield Fuzzed(name, f"redis://127.0.0.1:{server.port}/0?namespace={namespace}", server.port)
    elif name == "redis-cluster":
        nodes: list[ServerProcess] = request.getfixturevalue("shared_cluster")
        namespace = f"fuzz{random.getrandbits(32):x}"
        yield Fuzzed(name, cluster_dsn(nodes) + f"/?namespace={namespace}", nodes[0].port)
    else:
        beanstalkd = beanstalkd_server(tmp_path, binlog=False)
        beanstalkd.start()
        try:
            yield Fuzzed(name, f"beanstalk://127.0.0.1:{beanstalkd.port}?ttr=5", beanstalkd.port)
        finally:
            beanstalkd.stop()


def _settled(gator: Gator) -> bool:
    stats = gator.broker.stats(gator.queue_name)
    return bool(stats.ready + stats.delayed + stats.reserved == 0)


def _run_threads(gator: Gator, ledger: Path, keys: list[str], count: int) -> list[bool]:
    """Drain with in-process worker threads (locmem); whether each thread was alive at the end."""
    workers = [Worker(gator, poll_timeout=0.1) for _ in range(count)]
    threads = [threading.Thread(target=w.run_forever, daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(set(tasks.read_ledger(ledger))) >= len(keys), 60, 0.05,
                   message="the good tasks to run")  # fmt: skip
        wait_until(lambda: _settled(gator), 30, 0.05, message="the queue to settle")
        return [thread.is_alive() for thread in threads]
    finally:
        for worker in workers:
            worker.interrupt()
        for thread in threads:
            thread.join(10)


def _run_processes(fuzzed: Fuzzed, gator: Gator, ledger: Path, keys: list[str],
                   workdir: Path) -> list[bool]:  # fmt: skip
    """Drain with ``python -m alligator worker`` processes; whether each was alive at the end."""
    pool = Workers(fuzzed.dsn, gator.queue_name, 2.0, workdir)
    try:
        for _ in range(3):
            pool.start()
        wait_until(lambda: len(set(tasks.read_ledger(ledger))) >= len(keys), 90, 0.1,
                   message="the good tasks to run")  # fmt: skip
        wait_until(lambda: _settled(gator), 60, 0.1, message="the queue to settle")
        return [proc.poll() is None for proc in pool.live]
    finally:
        pool.stop()


@pytest.mark.parametrize("fuzzed", BACKENDS, indirect=True)
def test_raw_entries_are_buried_and_good_tasks_run_once(
    fuzzed: Fuzzed, queue_name: str, tmp_path: Path
) -> None:
    rng = random.Random(13)
    ledger = tmp_path / "ledger"
    report = Report(f"{fuzzed.name} (raw entries)", GOOD_PER_ROUND * ROUNDS)
    keys: list[str] = []
    started = time.monotonic()
    with Gator(fuzzed.dsn, queue_name=queue_name, codec="msgpack") as gator:
        # Given good tasks with random raw entries written between them
        for round_ in range(ROUNDS):
            with gator.batch() as batch:
                made = []
                for i in range(GOOD_PER_ROUND):
                    key = f"{round_}-{i}"
                    keys.append(key)
                    made.append(batch.task(chaos_tasks.record, str(ledger), key, 0.0))
            good = [task.task_id for task in made]
            report.fuzzed += fuzzed.write(gator, rng, BAD_PER_ROUND, tmp_path, good)
        # When real workers drain the queue
        if fuzzed.name == "locmem":
            alive = _run_threads(gator, ledger, keys, 3)
        else:
            alive = _run_processes(fuzzed, gator, ledger, keys, tmp_path)
        # Then every good task ran exactly once
        runs = Counter(tasks.read_ledger(ledger))
        report.lost = sum(1 for key in keys if runs[key] == 0)
        report.duplicates = sum(runs.values()) - len(runs)
        buried = gator.broker.buried(queue_name)
        report.buried = len(buried)
    report.wall = time.monotonic() - started
    REPORTS.append(report)
    assert (report.lost, report.duplicates) == (0, 0), report.line()
    assert set(runs) == set(keys)
    # And every raw entry is buried, each with a reason
    assert report.buried == report.fuzzed, [b.reason for b in buried]
    assert all(b.reason for b in buried)
    # And no worker died
    assert all(alive), f"{alive.count(False)} of {len(alive)} workers died"
