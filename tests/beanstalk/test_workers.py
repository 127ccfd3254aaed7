"""Real worker processes on beanstalkd: TTR recovery after kill -9, touch while busy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator
from tests import process_tasks as tasks
from tests.beanstalk.conftest import QUEUE
from tests.process_tasks import Workers
from tests.servers import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def workers(dsn: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(dsn, QUEUE, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def gator(dsn: str) -> Iterator[Gator]:
    """A producer whose jobs get a 1 s TTR, so a lost worker is noticed fast."""
    made = Gator(f"{dsn}?ttr=1", queue_name=QUEUE)
    try:
        yield made
    finally:
        made.broker.close()


def test_worker_killed_mid_task_job_runs_again_to_success(
    gator: Gator, tmp_path: Path, workers: Workers
) -> None:
    # Given a task that hangs on its first run, pushed with a 1 s TTR
    ledger = tmp_path / "ledger"
    gator.task(tasks.hang_first_time, str(ledger))
    first = workers.start(lease=1)
    wait_until(lambda: tasks.lines(ledger) == ["start"], 20, message="first run")
    # When its worker is killed with SIGKILL mid-task
    first.kill()
    first.wait(10)
    # Then beanstalkd hands the job to another worker, where it succeeds
    workers.start(lease=1)
    wait_until(lambda: "done" in tasks.lines(ledger), 20, message="second run")
    assert tasks.lines(ledger) == ["start", "start", "done"]
    wait_until(lambda: gator.broker.stats(QUEUE).reserved == 0, message="ack")
    assert gator.len() == 0
    assert gator.broker.stats(QUEUE).buried == 0


def test_long_task_with_touch_is_not_handed_to_a_second_worker(
    gator: Gator, tmp_path: Path, workers: Workers
) -> None:
    # Given two workers and a task running three times its 1 s TTR
    ledger = tmp_path / "ledger"
    workers.start(lease=1)
    workers.start(lease=1)
    gator.task(tasks.take_a_while, str(ledger), 3.0)
    # When it runs to the end
    wait_until(lambda: "done" in tasks.lines(ledger), 30, message="task to finish")
    wait_until(lambda: gator.broker.stats(QUEUE).reserved == 0, message="ack")
    # Then it ran once, on one worker: the renewals kept it from the other
    assert tasks.lines(ledger) == ["start", "done"]
    assert gator.len() == 0
