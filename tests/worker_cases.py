"""Worker-process cases every server backend runs: its test module imports them.

Each backend's module provides the ``gator`` (a Gator on ``QUEUE``) and
``workers`` (:class:`~tests.process_tasks.Workers` on the same DSN) fixtures
and imports these functions, so pytest collects them once per backend; what
only one backend can do (restarting its server) stays in its own module.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from alligator import Gator
from alligator.records import QueueStats
from tests import process_tasks as tasks
from tests.process_tasks import Workers
from tests.servers import wait_until

__all__ = [
    "QUEUE",
    "test_four_workers_run_10000_tasks_exactly_once",
    "test_long_task_is_not_handed_to_a_second_worker",
    "test_worker_killed_mid_task_task_runs_again_after_the_lease",
]

QUEUE = "jobs"


def test_four_workers_run_10000_tasks_exactly_once(
    gator: Gator, workers: Workers, tmp_path: Path
) -> None:
    # Given 10,000 tasks enqueued in one batch
    ledger = tmp_path / "ledger"
    with gator.batch() as batch:
        for i in range(10_000):
            batch.task(tasks.record, str(ledger), str(i))
    assert gator.len() == 10_000
    # When four worker processes drain the queue
    for _ in range(4):
        workers.start(lease=30)
    wait_until(lambda: len(tasks.lines(ledger)) >= 10_000, 120, 0.1, "10,000 executions")
    wait_until(lambda: gator.broker.stats(QUEUE) == QueueStats(), 30, message="acks")
    assert workers.stop_all() == [0, 0, 0, 0]
    # Then each task ran exactly once, spread over the workers, none left
    runs = Counter(tasks.lines(ledger))
    assert len(runs) == 10_000 and set(runs.values()) == {1}
    pids = {line.split()[1] for line in ledger.read_text().splitlines()}
    assert len(pids) > 1


def test_worker_killed_mid_task_task_runs_again_after_the_lease(
    gator: Gator, workers: Workers, tmp_path: Path
) -> None:
    # Given a task that hangs on its first run, and a worker with a 1 s lease
    ledger = tmp_path / "ledger"
    gator.task(tasks.hang_first_time, str(ledger))
    first = workers.start(lease=1)
    wait_until(lambda: tasks.lines(ledger) == ["start"], 20, message="first run")
    # When that worker is killed with SIGKILL mid-task
    first.kill()
    first.wait(10)
    # Then, once the lease expires, another worker runs it to success
    workers.start(lease=1)
    wait_until(lambda: "done" in tasks.lines(ledger), 20, message="second run")
    assert tasks.lines(ledger) == ["start", "start", "done"]
    wait_until(lambda: gator.broker.stats(QUEUE) == QueueStats(), message="ack")


def test_long_task_is_not_handed_to_a_second_worker(
    gator: Gator, workers: Workers, tmp_path: Path
) -> None:
    # Given two workers with 1 s leases and a task running three lease periods
    ledger = tmp_path / "ledger"
    workers.start(lease=1)
    workers.start(lease=1)
    gator.task(tasks.take_a_while, str(ledger), 3.0)
    # When it runs to the end
    wait_until(lambda: "done" in tasks.lines(ledger), 30, message="task to finish")
    wait_until(lambda: gator.broker.stats(QUEUE) == QueueStats(), message="ack")
    # Then it ran once: the renewals kept it from the other worker
    assert tasks.lines(ledger) == ["start", "done"]
