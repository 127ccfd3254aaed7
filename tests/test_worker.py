"""Worker: the 1.0 loop, its hooks, logging, threads and the lease heartbeat."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from alligator import Gator, Worker
from alligator.records import QueueStats
from tests import tasks
from tests.conftest import FakeClock
from tests.fixtures import Backend
from tests.renewals import RenewalSpy, hold_through
from tests.servers import wait_until


class RecordingWorker(Worker):
    """Keeps every result it is handed."""

    def __init__(self, gator: Gator, **kwargs: Any) -> None:
        super().__init__(gator, **kwargs)
        self.results: list[Any] = []

    def result(self, result: Any) -> None:
        self.results.append(result)


class LoggingWorker(Worker):
    """The seed's worker: overrides the hooks without calling super()."""

    calls: list[str]

    def starting(self) -> None:
        self.calls = ["starting"]

    def stopping(self) -> None:
        self.calls.append("stopping")

    def result(self, result: Any) -> None:
        self.calls.append(f"result {result}")


def test_max_tasks_stops_the_worker(locmem_gator: Gator) -> None:
    # Given five queued tasks
    for i in range(5):
        locmem_gator.task(tasks.add, i, 1)
    # When a worker limited to three runs
    worker = Worker(locmem_gator, max_tasks=3, poll_timeout=0.05)
    worker.run_forever()
    # Then it ran three, in order, and left two
    assert worker.tasks_complete == 3
    assert tasks.EVENTS == [("add", 0, 1), ("add", 1, 1), ("add", 2, 1)]
    assert locmem_gator.len() == 2
    assert worker.keep_running is False


def test_result_is_called_with_each_success(locmem_gator: Gator) -> None:
    locmem_gator.task(tasks.add, 1, 2)
    locmem_gator.task(tasks.fail, "no result")
    locmem_gator.task(tasks.add, 3, 4)
    # max_tasks counts successes, as in 1.0: the failure does not use one up
    worker = RecordingWorker(locmem_gator, max_tasks=2, poll_timeout=0.05)
    assert worker.run_forever() == 0
    assert worker.results == [3, 7]
    assert (worker.tasks_complete, worker.deliveries) == (2, 3)


def test_max_tasks_1_still_gives_the_seed_hook_its_extra_try(locmem_gator: Gator) -> None:
    # Given the original documentation's on_error hook granting one more try
    with locmem_gator.options(on_error=tasks.grant_one_more) as opts:
        task = opts.task(tasks.fail_times, "granted", 1)
    # When a one-task worker runs
    worker = Worker(locmem_gator, max_tasks=1, poll_timeout=0.05)
    assert worker.run_forever() == 0
    # Then the failed try was retried inside its life and succeeded
    assert (worker.deliveries, worker.tasks_complete) == (2, 1)
    assert locmem_gator.broker.stats("q") == type(locmem_gator.broker.stats("q"))()
    assert task.task_id not in {b.task_id for b in locmem_gator.broker.buried("q")}


def test_recycle_after_counts_deliveries_whatever_their_outcome(locmem_gator: Gator) -> None:
    for message in ("a", "b", "c"):
        locmem_gator.task(tasks.fail, message)
    worker = Worker(locmem_gator, recycle_after=2, poll_timeout=0.05)
    assert worker.run_forever() == 0
    assert (worker.deliveries, worker.tasks_complete) == (2, 0)
    assert locmem_gator.broker.stats("q").ready == 1


def test_a_worker_interrupted_before_its_loop_does_not_start(locmem_gator: Gator) -> None:
    # A stop asked for during set-up (a signal before run_forever) holds
    locmem_gator.task(tasks.add, 1, 2)
    worker = Worker(locmem_gator, poll_timeout=0.05)
    worker.interrupt()
    assert worker.run_forever() == 0
    assert worker.deliveries == 0 and locmem_gator.len() == 1
    # And the next run_forever runs again
    worker.max_tasks = 1
    assert worker.run_forever() == 0 and worker.tasks_complete == 1


def test_subclass_without_super_still_runs_and_stops(locmem_gator: Gator) -> None:
    # Given the seed's LoggingWorker, which never calls super()
    locmem_gator.task(tasks.add, 1, 1)
    locmem_gator.task(tasks.add, 2, 2)
    worker = LoggingWorker(locmem_gator, max_tasks=2, poll_timeout=0.05)
    # When it runs
    worker.run_forever()
    # Then its hooks were called and the loop ended on its own
    assert worker.calls == ["starting", "result 2", "result 4", "stopping"]
    assert locmem_gator.len() == 0


def test_worker_logs_to_its_logger_and_adds_no_handlers(
    locmem_gator: Gator, caplog: pytest.LogCaptureFixture
) -> None:
    worker_logger = logging.getLogger("alligator.worker")
    root_handlers = list(logging.getLogger().handlers)
    locmem_gator.task(tasks.add, 1, 1)
    with caplog.at_level(logging.DEBUG, logger="alligator"):
        Worker(locmem_gator, max_tasks=1, poll_timeout=0.05).run_forever()
    names = {record.name for record in caplog.records}
    assert "alligator.worker" in names
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "starting" in messages and "shutting down" in messages
    assert worker_logger.handlers == []
    assert logging.getLogger("alligator").handlers == []
    assert logging.getLogger().handlers == root_handlers


def test_run_forever_in_a_thread_stops_on_keep_running_false(locmem_gator: Gator) -> None:
    # Given a worker running in a non-main thread (no signal handlers there)
    worker = Worker(locmem_gator, poll_timeout=0.05)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    locmem_gator.task(tasks.add, 1, 2)
    wait_until(lambda: worker.tasks_complete == 1, message="the worker to run a task")
    # When keep_running is switched off
    worker.keep_running = False
    # Then the loop ends
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert locmem_gator.len() == 0


def test_interrupt_from_another_thread_stops_an_idle_worker(locmem_gator: Gator) -> None:
    worker = Worker(locmem_gator, poll_timeout=0.05)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    wait_until(lambda: worker.keep_running, message="the worker to start")
    worker.interrupt()
    thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.mark.parametrize("any_backend", ["locmem", "sqlite"], indirect=True)
def test_a_long_task_keeps_its_lease(any_backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a worker with a short lease (of the injected clock's time) running a
    # task that outlives it
    clock = FakeClock(1_000_000.0)
    lease = 0.3  # the heartbeat renews every 0.1 s of real time
    gator = any_backend.gator(clock, lease=lease)
    renewals = RenewalSpy(gator.broker, clock, monkeypatch)
    gate = tasks.GATES["long"] = threading.Event()
    gator.task(tasks.block_on_event, "long")
    worker = Worker(gator, max_tasks=1, poll_timeout=0.05)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    try:
        wait_until(lambda: ("blocked", "long") in tasks.EVENTS, message="the task to start")
        # When the clock moves four lease periods on while another consumer asks for work
        other = any_backend.gator(clock, lease=lease)
        stolen = hold_through(
            renewals, clock.advance, lambda: other.broker.reserve("q", lease), lease
        )
        # Then the renewed lease kept the task to its worker
        assert stolen == []
        assert gator.broker.stats("q").reserved == 1
    finally:
        gate.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert tasks.EVENTS == [("blocked", "long"), ("unblocked", "long")]
    assert gator.broker.stats("q") == QueueStats()


def test_an_on_success_hook_that_raises_does_not_run_the_task_again(
    locmem_gator: Gator, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a task with retries whose on_success hook raises
    with locmem_gator.options(retries=3, on_success=tasks.broken_hook) as opts:
        task = opts.task(tasks.add, 1, 2)
    # When a worker runs it
    worker = Worker(locmem_gator, recycle_after=1, poll_timeout=0.05)
    with caplog.at_level(logging.ERROR, logger="alligator.task"):
        worker.run_forever()
    # Then the function ran once, the task is done, and the hook's failure is logged and counted
    assert [e for e in tasks.EVENTS if e[0] == "add"] == [("add", 1, 2)]
    assert (worker.tasks_complete, worker.hook_errors) == (1, 1)
    assert locmem_gator.broker.stats("q") == QueueStats()
    [record] = [r for r in caplog.records if r.name == "alligator.task"]
    assert "on_success hook" in record.getMessage() and task.task_id in record.getMessage()


def test_an_on_error_hook_that_raises_keeps_the_task_error(locmem_gator: Gator) -> None:
    with locmem_gator.options(on_error=tasks.broken_hook) as opts:
        opts.task(tasks.fail, "the real error")
    Worker(locmem_gator, recycle_after=1, poll_timeout=0.05).run_forever()
    [buried] = locmem_gator.broker.buried("q")
    assert "ValueError: the real error" in buried.reason
    assert "hook itself" not in buried.reason
