"""One worker, several queues, strict priority: the first is drained before the next."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from alligator import Gator, Worker
from alligator.exceptions import ConfigurationError
from tests import tasks
from tests.conftest import ROOT, stop_process
from tests.servers import wait_until
from tests.test_pool import backend_dsn, single_server

__all__ = ["backend_dsn", "single_server"]


def test_a_worker_drains_the_first_queue_before_the_second(locmem_dsn: str) -> None:
    # Given tasks on a low-priority queue pushed before those on a high one
    low = Gator(locmem_dsn, queue_name="low")
    high = Gator(locmem_dsn, queue_name="high")
    for i in range(3):
        low.task(tasks.add, 100, i)
    for i in range(3):
        high.task(tasks.add, 0, i)
    # When one worker consumes high then low
    worker = Worker(low, max_tasks=6, to_consume=["high", "low"], poll_timeout=0.05)
    worker.run_forever()
    # Then every high task ran before any low one, each queue in FIFO order
    expected = [("add", 0, i) for i in range(3)] + [("add", 100, i) for i in range(3)]
    ran = list(tasks.EVENTS)
    assert ran == expected
    assert (high.len(), low.len()) == (0, 0)
    assert worker.to_consume == ("high", "low")


def test_a_high_task_pushed_while_low_ones_wait_is_taken_next(locmem_dsn: str) -> None:
    # Given a worker that has started on a backlog of low-priority tasks
    low = Gator(locmem_dsn, queue_name="low")
    high = Gator(locmem_dsn, queue_name="high")
    for i in range(3):
        low.task(tasks.add, 100, i)
    worker = Worker(low, to_consume=("high", "low"), poll_timeout=0.05)
    assert worker.check_and_run_task()
    # When a high-priority task arrives
    high.task(tasks.add, 0, 0)
    while worker.check_and_run_task():
        pass
    # Then it runs before the remaining low ones
    assert tasks.EVENTS == [("add", 100, 0), ("add", 0, 0), ("add", 100, 1), ("add", 100, 2)]


def test_a_single_queue_worker_keeps_the_1_0_to_consume(locmem_gator: Gator) -> None:
    assert Worker(locmem_gator).to_consume == "q"
    assert Worker(locmem_gator, to_consume="other").to_consume == "other"
    assert Worker(locmem_gator, to_consume=["only"]).to_consume == "only"


@pytest.mark.parametrize("bad", [[], ["a", "a"], [""]])
def test_bad_queue_lists_are_refused(locmem_gator: Gator, bad: list[str]) -> None:
    with pytest.raises(ConfigurationError):
        Worker(locmem_gator, to_consume=bad)


@pytest.mark.slow
def test_worker_process_with_two_queue_options_keeps_the_priority(
    backend_dsn: str, ledger: Path, tmp_path: Path
) -> None:
    # Given 50 tasks on "images" pushed before 50 on "notifications"
    images = Gator(backend_dsn, queue_name="images")
    notifications = Gator(backend_dsn, queue_name="notifications")
    with images.batch() as batch:
        for i in range(50):
            batch.task(tasks.record, str(ledger), f"image-{i}")
    with notifications.batch() as batch:
        for i in range(50):
            batch.task(tasks.record, str(ledger), f"note-{i}")
    # When one worker process consumes --queue notifications --queue images
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "alligator", "worker", backend_dsn,
             "--queue", "notifications", "--queue", "images", "--import", "tests.tasks"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: len(tasks.read_ledger(ledger)) >= 100, timeout=30, interval=0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        stop_process(proc)
    # Then every notification ran before any image, each queue in order
    expected = [f"note-{i}" for i in range(50)] + [f"image-{i}" for i in range(50)]
    assert tasks.read_ledger(ledger) == expected
    assert (images.len(), notifications.len()) == (0, 0)
