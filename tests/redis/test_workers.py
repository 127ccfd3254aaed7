"""Real ``python -m alligator worker`` processes on Redis.

Exactly-once draining by four processes, recovery after ``kill -9`` and lease
renewal for a long task (the cases of :mod:`tests.worker_cases`), and a Redis
restart under running workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator
from alligator.records import QueueStats
from tests import process_tasks as tasks
from tests.process_tasks import Workers
from tests.servers import ServerProcess, wait_until
from tests.worker_cases import (  # noqa: F401 (collected here, for Redis)
    QUEUE,
    test_four_workers_run_10000_tasks_exactly_once,
    test_long_task_is_not_handed_to_a_second_worker,
    test_worker_killed_mid_task_task_runs_again_after_the_lease,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def dsn(aof_server: ServerProcess) -> str:
    return f"redis://127.0.0.1:{aof_server.port}/0"


@pytest.fixture
def workers(dsn: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(dsn, QUEUE, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def gator(dsn: str) -> Iterator[Gator]:
    made = Gator(dsn, queue_name=QUEUE, codec="msgpack")
    try:
        yield made
    finally:
        made.broker.close()


def test_redis_restart_mid_run_loses_no_task(
    gator: Gator, workers: Workers, aof_server: ServerProcess, tmp_path: Path
) -> None:
    # Given two workers draining 2,000 tasks from an AOF server, the second
    # half held back by a gate so the restart is sure to land mid-run
    ledger = tmp_path / "ledger"
    gate = tmp_path / "gate"
    with gator.batch() as batch:
        for i in range(1_000):
            batch.task(tasks.record, str(ledger), str(i))
        for i in range(1_000, 2_000):
            batch.task(tasks.record_when_open, str(ledger), str(i), str(gate))
    workers.start(lease=2)
    workers.start(lease=2)
    workers.wait_started()
    wait_until(lambda: len(tasks.lines(ledger)) >= 200, 60, message="workers under way")
    # When Redis restarts under them
    aof_server.restart()
    # Then the restart happened mid-run: no gated task had run, and every one of
    # them is still in Redis after the restart (ready, or held by a worker)
    ran_before_gate = set(tasks.lines(ledger))
    assert ran_before_gate <= {str(i) for i in range(1_000)}
    after_restart = gator.broker.stats(QUEUE)
    assert after_restart.ready + after_restart.reserved >= 1_000, after_restart
    gate.touch()
    # And they reconnect, and every task runs (at least once), none left
    wait_until(lambda: set(tasks.lines(ledger)) >= {str(i) for i in range(2_000)}, 60, 0.1,
               "every task to run")  # fmt: skip
    wait_until(lambda: gator.broker.stats(QUEUE) == QueueStats(), 30, message="acks")
    assert all(proc.poll() is None for proc in workers.procs)
