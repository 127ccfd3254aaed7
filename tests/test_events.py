"""Worker events: one structured DEBUG line per task, lifecycle at INFO, a typed metrics hook."""

from __future__ import annotations

import logging

import pytest

from alligator import Gator, Worker
from alligator.events import TaskDone, WorkerEvents, WorkerStarted, WorkerStopped
from tests import tasks


class Recorder:
    """A metrics hook that keeps what it is given."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    def on_worker_start(self, event: WorkerStarted) -> None:
        self.seen.append(event)

    def on_task_done(self, event: TaskDone) -> None:
        self.seen.append(event)

    def on_worker_stop(self, event: WorkerStopped) -> None:
        self.seen.append(event)


class Exploding(Recorder):
    def on_task_done(self, event: TaskDone) -> None:
        raise RuntimeError("metrics backend down")


def test_the_hook_sees_start_each_task_and_stop(locmem_gator: Gator) -> None:
    # Given a success, a failure with a retry left, and a failure for good
    ok = locmem_gator.task(tasks.add, 1, 2)
    with locmem_gator.options(retries=1) as opts:
        retried = opts.task(tasks.fail, "again")
    lost = locmem_gator.task(tasks.fail, "boom")
    recorder = Recorder()
    hook: WorkerEvents = recorder  # the protocol is what the Worker accepts
    # When a worker runs those three
    worker = Worker(locmem_gator, recycle_after=3, poll_timeout=0.05, events=hook)
    worker.run_forever()
    # Then the hook saw the start, one event per task with its outcome, and the stop
    start, *done, stop = recorder.seen
    assert isinstance(start, WorkerStarted) and start.queues == ("q",)
    assert [(e.task_id, e.queue, e.action, e.attempt) for e in done if isinstance(e, TaskDone)] == [
        (ok.task_id, "q", "ack", 1),
        (retried.task_id, "q", "retry", 1),
        (lost.task_id, "q", "bury", 1),
    ]
    assert [e.error for e in done if isinstance(e, TaskDone)] == [
        None,
        "ValueError: again",
        "ValueError: boom",
    ]
    assert all(isinstance(e, TaskDone) and e.duration >= 0 and e.settled for e in done)
    assert stop == WorkerStopped(worker.ident(), tasks_complete=1, deliveries=3)


def test_a_failing_hook_is_logged_and_the_worker_goes_on(
    locmem_gator: Gator, caplog: pytest.LogCaptureFixture
) -> None:
    locmem_gator.task(tasks.add, 1, 2)
    locmem_gator.task(tasks.add, 3, 4)
    with caplog.at_level(logging.ERROR, logger="alligator.worker"):
        worker = Worker(locmem_gator, max_tasks=2, poll_timeout=0.05, events=Exploding())
        worker.run_forever()
    assert worker.tasks_complete == 2
    assert locmem_gator.broker.stats("q") == type(locmem_gator.broker.stats("q"))()
    assert sum("metrics hook on_task_done failed" in r.getMessage() for r in caplog.records) == 2


def test_one_debug_line_per_task_with_structured_fields_and_lifecycle_at_info(
    locmem_gator: Gator, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two tasks
    first = locmem_gator.task(tasks.add, 1, 2)
    second = locmem_gator.task(tasks.add, 3, 4)
    # When a worker runs them with DEBUG logging on
    with caplog.at_level(logging.DEBUG, logger="alligator.worker"):
        Worker(locmem_gator, max_tasks=2, poll_timeout=0.05).run_forever()
    # Then each task has one DEBUG record carrying task_id, queue, duration and attempt
    per_task = [r for r in caplog.records if hasattr(r, "task_id")]
    assert [r.levelno for r in per_task] == [logging.DEBUG, logging.DEBUG]
    assert [(r.task_id, r.queue, r.attempt, r.action) for r in per_task] == [  # type: ignore[attr-defined]
        (first.task_id, "q", 1, "ack"),
        (second.task_id, "q", 1, "ack"),
    ]
    assert all(isinstance(r.duration, float) for r in per_task)  # type: ignore[attr-defined]
    # And the start and the stop are logged at INFO, with the queues as fields
    lifecycle = [r for r in caplog.records if r.levelno == logging.INFO]
    assert ["starting" in r.getMessage() for r in lifecycle] == [True, False]
    assert all(r.queues == ["q"] for r in lifecycle)  # type: ignore[attr-defined]
