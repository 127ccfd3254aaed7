"""Real ``python -m alligator worker`` processes on a private PostgreSQL.

Exactly-once draining by four processes, recovery after ``kill -9`` and lease
renewal for a long task (the cases of :mod:`tests.worker_cases`), and a
crash-restart of the server (``pg_ctl restart -m immediate``) under running
workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator
from alligator.records import QueueStats
from tests import process_tasks as tasks
from tests.fixtures import postgres_cluster
from tests.postgresql.cluster import PostgresCluster
from tests.process_tasks import Workers
from tests.servers import wait_until
from tests.worker_cases import (  # noqa: F401 (collected here, for PostgreSQL)
    QUEUE,
    test_four_workers_run_10000_tasks_exactly_once,
    test_long_task_is_not_handed_to_a_second_worker,
    test_worker_killed_mid_task_task_runs_again_after_the_lease,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def workers(pg_dsn: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(pg_dsn, QUEUE, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def gator(pg_dsn: str) -> Iterator[Gator]:
    with Gator(pg_dsn, queue_name=QUEUE, codec="msgpack") as made:
        yield made


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A server of this test's own, since the test crashes it.

    In a temp directory of its own: the ``postgres`` user cannot enter
    pytest's (mode 0700, owned by root).
    """
    cluster = postgres_cluster()
    try:
        yield cluster
    finally:
        cluster.destroy()


def test_server_crash_restart_mid_run_loses_no_task(
    own_cluster: PostgresCluster, tmp_path: Path
) -> None:
    # Given two workers draining 2,000 tasks, the second half held back by a
    # gate so the crash is sure to land mid-run
    dsn = own_cluster.dsn
    ledger = tmp_path / "ledger"
    gate = tmp_path / "gate"
    workers = Workers(dsn, QUEUE, tmp_path)
    with Gator(dsn, queue_name=QUEUE, codec="msgpack") as gator:
        try:
            with gator.batch() as batch:
                for i in range(1_000):
                    batch.task(tasks.record, str(ledger), str(i))
                for i in range(1_000, 2_000):
                    batch.task(tasks.record_when_open, str(ledger), str(i), str(gate))
            workers.start(lease=2)
            workers.start(lease=2)
            workers.wait_started()
            wait_until(lambda: len(tasks.lines(ledger)) >= 200, 60, message="workers under way")
            # When the server crashes (immediate stop: no shutdown checkpoint) and restarts
            own_cluster.restart("immediate")
            # Then it happened mid-run: no gated task had run, and every one is
            # still in the table after crash recovery (ready, or leased)
            ran_before_gate = set(tasks.lines(ledger))
            assert ran_before_gate <= {str(i) for i in range(1_000)}
            after = _stats_after_reconnect(gator)
            assert after.ready + after.reserved >= 1_000, after
            gate.touch()
            # And the workers reconnect, every task runs (at least once), none left
            wait_until(lambda: set(tasks.lines(ledger)) >= {str(i) for i in range(2_000)}, 90,
                       0.1, "every task to run")  # fmt: skip
            wait_until(lambda: gator.broker.stats(QUEUE) == QueueStats(), 30, message="acks")
            assert all(proc.poll() is None for proc in workers.procs)
        finally:
            workers.stop_all()


def _stats_after_reconnect(gator: Gator) -> QueueStats:
    """The queue's counts, once the producer's connection has been re-opened."""
    found: list[QueueStats] = []

    def read() -> bool:
        try:
            found.append(gator.broker.stats(QUEUE))
        except ConnectionError:
            return False
        return True

    wait_until(read, 30, 0.05, "the server to answer again")
    return found[-1]
