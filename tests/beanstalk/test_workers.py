"""Real worker processes on beanstalkd: TTR recovery after kill -9, touch while busy."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator
from tests.beanstalk import tasks
from tests.beanstalk.conftest import QUEUE
from tests.servers import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


class Workers:
    """Starts ``python -m alligator worker`` processes and reaps them."""

    def __init__(self, dsn: str, tmp_path: Path) -> None:
        self.dsn = dsn
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, lease: float) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "alligator", "worker", self.dsn, "--queue", QUEUE,
             "--lease", str(lease), "--import", "tests.beanstalk.tasks"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture
def workers(dsn: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(dsn, tmp_path)
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
    wait_until(lambda: tasks.ledger_lines(ledger) == ["start"], 20, message="first run")
    # When its worker is killed with SIGKILL mid-task
    first.kill()
    first.wait(10)
    # Then beanstalkd hands the job to another worker, where it succeeds
    workers.start(lease=1)
    wait_until(lambda: "done" in tasks.ledger_lines(ledger), 20, message="second run")
    assert tasks.ledger_lines(ledger) == ["start", "start", "done"]
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
    wait_until(lambda: "done" in tasks.ledger_lines(ledger), 30, message="task to finish")
    wait_until(lambda: gator.broker.stats(QUEUE).reserved == 0, message="ack")
    # Then it ran once, on one worker: the renewals kept it from the other
    assert tasks.ledger_lines(ledger) == ["start", "done"]
    assert gator.len() == 0
