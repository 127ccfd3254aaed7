"""``async def`` tasks: enqueued like any other, run concurrently by ``Worker(concurrency=N)``.

In-process, on locmem; ``tests/test_asyncio_backends.py`` runs the delivery
scenarios on every backend, with worker processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from alligator import Gator, Status, Task, Worker
from alligator.cli import main
from alligator.exceptions import ConfigurationError, InvalidTaskError, NotImportableError
from alligator.retry import Backoff
from tests import flow_tasks, tasks
from tests.servers import wait_until


@pytest.fixture
def gator(locmem_dsn: str) -> Iterator[Gator]:
    made = Gator(locmem_dsn, queue_name="q", backoff=Backoff(base=0, jitter=0), results=True)
    yield made
    made.close()


def drain(gator: Gator, **options: Any) -> Worker:
    """Run a concurrent worker until the queue is empty and nothing runs."""
    options.setdefault("concurrency", 10)
    worker = Worker(gator, poll_timeout=0.05, **options)
    stopper = threading.Thread(target=_stop_when_idle, args=(gator, worker), daemon=True)
    stopper.start()
    worker.run_forever()
    stopper.join()
    return worker


def _stop_when_idle(gator: Gator, worker: Worker) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stats = gator.broker.stats("q")
        if stats.ready == stats.delayed == stats.reserved == 0 and worker.deliveries:
            break
        time.sleep(0.02)
    worker.interrupt()


# -- enqueueing ----------------------------------------------------------------


def test_an_async_def_task_is_enqueued_and_its_result_waited_on(gator: Gator) -> None:
    # Given an async def task on the queue
    task = gator.task(tasks.fetch_page, "https://example.com")
    assert gator.len() == 1
    # When a concurrent worker runs it
    worker = drain(gator)
    # Then the coroutine was awaited: wait() gives its value, not a coroutine
    assert worker.tasks_complete == 1
    assert task.wait(5) == b"https://example.com"


def test_a_coroutine_object_is_refused_with_the_fix(gator: Gator) -> None:
    with pytest.raises(NotImportableError, match=r"coroutine object, fetch_page\(\.\.\.\)"):
        gator.task(tasks.fetch_page("x"))  # type: ignore[call-overload]
    assert gator.len() == 0


def test_eager_mode_runs_a_coroutine_task_to_its_result(gator: Gator) -> None:
    task = gator.push(Task(is_async=False), tasks.fetch_page, "eager")
    assert task.result == b"eager"
    with gator.options(is_async=False, retries=2) as opts:
        assert opts.task(tasks.afail_times, "eager-retry", 2).result == "eager-retry"


def test_eager_mode_from_inside_a_running_loop_is_refused_clearly(gator: Gator) -> None:
    async def in_a_loop() -> None:
        gator.push(Task(is_async=False), tasks.fetch_page, "x")

    with pytest.raises(InvalidTaskError, match="inside a running event loop"):
        asyncio.run(in_a_loop())


def test_an_async_hook_of_an_eager_task_in_a_running_loop_is_refused(gator: Gator) -> None:
    async def in_a_loop() -> None:
        gator.push(Task(is_async=False, on_success=tasks.aon_success), tasks.add, 1, 2)

    with pytest.raises(InvalidTaskError, match="'async def' function or hook"):
        asyncio.run(in_a_loop())


# -- running -------------------------------------------------------------------


def test_coroutine_tasks_run_at_once_up_to_the_concurrency(gator: Gator) -> None:
    # Given 40 tasks that each wait 0.3 s
    with gator.batch() as batch:
        for _ in range(40):
            batch.task(tasks.anap, 0.3)
    # When a worker runs up to 40 at once
    worker = Worker(gator, concurrency=40, max_tasks=40, poll_timeout=0.05)
    worker.run_forever()
    # Then all 40 ran at the same time, and were acked
    assert worker.tasks_complete == 40
    assert tasks.CALLS["peak"] == 40
    assert gator.broker.stats("q").reserved == 0


def test_a_mixed_queue_runs_plain_tasks_in_threads_and_coroutines_on_the_loop(
    gator: Gator,
) -> None:
    plain = [gator.task(tasks.add, n, n) for n in range(5)]
    coroutines = [gator.task(tasks.fetch_page, f"u{n}") for n in range(5)]
    worker = drain(gator, threads=2)
    assert worker.tasks_complete == 10
    assert [t.wait(5) for t in plain] == [0, 2, 4, 6, 8]
    assert [t.wait(5) for t in coroutines] == [f"u{n}".encode() for n in range(5)]


def test_async_hooks_are_awaited_sync_hooks_called(gator: Gator) -> None:
    with gator.options(on_start=tasks.aon_start, on_success=tasks.aon_success) as opts:
        a = opts.task(tasks.fetch_page, "a")
    with gator.options(on_success=tasks.on_success) as opts:
        b = opts.task(tasks.fetch_page, "b")
    with gator.options(on_success=tasks.aon_success) as opts:
        c = opts.task(tasks.add, 1, 2)  # a plain task with an async hook
    drain(gator)
    assert ("astart", a.task_id) in tasks.EVENTS
    assert ("asuccess", a.task_id, b"a") in tasks.EVENTS
    assert ("success", b.task_id, b"b") in tasks.EVENTS
    assert ("asuccess", c.task_id, 3) in tasks.EVENTS


def test_a_failing_coroutine_is_retried_then_buried_with_its_error(gator: Gator) -> None:
    with gator.options(retries=2, on_error=tasks.aon_error) as opts:
        recovers = opts.task(tasks.afail_times, "recovers", 2)
    with gator.options(retries=1) as opts:
        opts.task(tasks.afail_times, "never", 99)
    worker = drain(gator)
    assert recovers.wait(5) == "recovers"
    assert tasks.CALLS["recovers"] == 3
    assert tasks.CALLS["never"] == 2
    assert ("aerror", recovers.task_id, "recovers: failure 1") in tasks.EVENTS
    [buried] = gator.broker.buried("q")
    assert "ConnectionError: never: failure 2" in buried.reason
    assert worker.deliveries == 5


def test_a_coroutine_past_its_timeout_is_cancelled_and_fails(gator: Gator) -> None:
    with gator.options(timeout=0.2, retries=1, on_error=tasks.aon_error) as opts:
        slow = opts.task(tasks.anap, 30)
    drain(gator)
    [buried] = gator.broker.buried("q")
    assert f"task {slow.task_id} timed out after 0.2 s" in buried.reason
    assert ("aerror", slow.task_id, f"task {slow.task_id} timed out after 0.2 s") in tasks.EVENTS
    assert ("anap", 30) not in tasks.EVENTS


def test_a_plain_task_past_its_timeout_in_a_thread_fails_at_once(gator: Gator) -> None:
    # Given a plain task blocked in a thread past its time limit
    tasks.GATES["stuck"] = threading.Event()
    with gator.options(timeout=0.2) as opts:
        stuck = opts.task(tasks.block_on_event, "stuck")
    after = gator.task(tasks.fetch_page, "after")

    # When a concurrent worker runs it (the thread is let go once the task is
    # buried: the worker's stop waits for the threads it started)
    def let_go_once_buried() -> None:
        wait_until(lambda: gator.broker.stats("q").buried == 1, 30, 0.01, message="the burial")
        tasks.GATES["stuck"].set()

    releaser = threading.Thread(target=let_go_once_buried)
    releaser.start()
    drain(gator, threads=2)
    releaser.join(30)
    # Then it failed with its time limit, and the worker went on
    [buried] = gator.broker.buried("q")
    assert f"task {stuck.task_id} timed out after 0.2 s" in buried.reason
    assert after.wait(5) == b"after"


def test_the_workers_timeout_bounds_coroutines_without_their_own(gator: Gator) -> None:
    gator.task(tasks.anap, 30)
    drain(gator, timeout=0.2)
    [buried] = gator.broker.buried("q")
    assert "timed out after 0.2 s" in buried.reason


def test_a_coroutine_calling_sys_exit_fails_without_stopping_the_worker(gator: Gator) -> None:
    gator.task(tasks.aexit)
    after = gator.task(tasks.fetch_page, "after")
    drain(gator)
    [buried] = gator.broker.buried("q")
    assert "TaskExitError: the task raised SystemExit(3,)" in buried.reason
    assert after.wait(5) == b"after"


def test_a_coroutine_blocking_the_loop_is_named_in_a_warning(
    gator: Gator, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = gator.task(tasks.ablock, 0.6)
    with caplog.at_level(logging.WARNING, logger="alligator.worker"):
        drain(gator, lag_warning=0.2)
    [warning] = [r for r in caplog.records if "event loop has been blocked" in r.getMessage()]
    assert blocker.task_id in warning.getMessage()
    assert "tests.tasks.ablock" in warning.getMessage()


def test_max_tasks_bounds_a_concurrent_worker(gator: Gator) -> None:
    with gator.batch() as batch:
        for _ in range(10):
            batch.task(tasks.anap, 0.01)
    worker = Worker(gator, concurrency=4, max_tasks=3, poll_timeout=0.05)
    assert worker.run_forever() == 0
    assert worker.tasks_complete == 3
    assert gator.broker.stats("q").ready == 7
    assert gator.broker.stats("q").reserved == 0


def test_a_one_at_a_time_worker_runs_coroutine_tasks_too(gator: Gator) -> None:
    done = gator.task(tasks.fetch_page, "plain worker")
    with gator.options(timeout=0.2) as opts:
        opts.task(tasks.anap, 30)
    worker = Worker(gator, recycle_after=2, poll_timeout=0.05)
    worker.run_forever()
    assert done.wait(5) == b"plain worker"
    [buried] = gator.broker.buried("q")
    assert "timed out after 0.2 s" in buried.reason


# -- stopping ------------------------------------------------------------------


def test_a_stop_lets_short_tasks_finish_and_releases_the_rest(gator: Gator) -> None:
    # Given two short and two long coroutine tasks running
    short = [gator.task(tasks.anap, 0.2) for _ in range(2)]
    long = [gator.task(tasks.anap, 30) for _ in range(2)]
    worker = Worker(gator, concurrency=4, poll_timeout=0.05, grace=1.0)
    # When a stop is asked for while they run
    threading.Timer(0.1, worker.interrupt).start()
    assert worker.run_forever() == 0
    # Then the short ones finished within the grace period and were acked
    assert [t.wait(1) for t in short] == [0.2, 0.2]
    # And the long ones were cancelled and released, due again, never acked
    stats = gator.broker.stats("q")
    assert (stats.ready, stats.reserved, stats.buried) == (2, 0, 0)
    assert worker.tasks_complete == 2
    assert [gator.status(t.task_id) for t in long] == [Status.RETRYING, Status.RETRYING]
    assert ("anap", 30) not in tasks.EVENTS


# -- bad configuration ---------------------------------------------------------


def test_a_concurrent_worker_refuses_a_beacon(gator: Gator, tmp_path: Any) -> None:
    from alligator._limits import Beacon

    beacon = Beacon(tmp_path / "beacon", 1)
    with pytest.raises(ConfigurationError, match="concurrent worker cannot keep one"):
        Worker(gator, concurrency=2, beacon=beacon.slot(0))
    beacon.close()


@pytest.mark.parametrize("concurrency", [0, -1, 1.5, True])
def test_a_concurrency_below_one_is_refused(gator: Gator, concurrency: Any) -> None:
    with pytest.raises(ConfigurationError, match="concurrency must be a whole number >= 1"):
        Worker(gator, concurrency=concurrency)


def test_the_cli_refuses_a_concurrency_below_one(
    locmem_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker", locmem_dsn, "--concurrency", "0"]) == 2
    assert "--concurrency must be >= 1" in capsys.readouterr().err


def test_a_second_signal_ends_the_grace_period_at_once(gator: Gator) -> None:
    # Given a worker whose coroutines would get ten minutes to finish
    running = [gator.task(tasks.anap, 60) for _ in range(2)]
    worker = Worker(gator, concurrency=2, poll_timeout=0.05, grace=600)

    def signal_twice() -> None:
        while tasks.CALLS["running"] < 2:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=signal_twice, daemon=True).start()
    # When SIGTERM comes twice / Then it stops now (the test's timeout is far below 600 s)
    assert worker.run_forever() == 0
    # And both tasks were cancelled and released for another worker
    stats = gator.broker.stats("q")
    assert (stats.ready, stats.reserved) == (2, 0)
    assert [gator.status(t.task_id) for t in running] == [Status.RETRYING, Status.RETRYING]


def test_a_concurrent_worker_keeps_a_tasks_concurrency_limit(gator: Gator) -> None:
    # Given 6 coroutine tasks limited to 1 running at once, and a worker that could run 6
    for _ in range(6):
        gator.task(flow_tasks.alone, 0.05)
    worker = Worker(gator, concurrency=6, max_tasks=6, poll_timeout=0.05)
    # When it drains them
    assert worker.run_forever() == 0
    # Then all ran, never two at once
    assert (tasks.CALLS["alone"], tasks.CALLS["alone-peak"]) == (6, 1)


def test_quick_tasks_claimed_ahead_are_released_at_a_stop(
    gator: Gator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 60 quick coroutine tasks, and a backend whose batch sizes are recorded
    with gator.batch() as batch:
        for _ in range(60):
            batch.task(tasks.anoop)
    broker: Any = gator.broker
    asked: list[int] = []
    reserve_many = broker.reserve_many

    def recording(queue_name: str, lease: float, count: int, *args: Any, **kwargs: Any) -> Any:
        asked.append(count)
        return reserve_many(queue_name, lease, count, *args, **kwargs)

    monkeypatch.setattr(broker, "reserve_many", recording)

    class StopAfterFour(Worker):
        def result(self, result: Any) -> None:
            if self.tasks_complete >= 4:
                self.interrupt()

    # When a worker with 4 slots runs them and is stopped after 4 (its first batch)
    worker = StopAfterFour(gator, concurrency=4, poll_timeout=0.05)
    assert worker.run_forever() == 0
    # Then once the tasks proved quick, it claimed a batch ahead of its free slots
    assert max(asked) > 4
    # And at the stop, what it had claimed but not started went back: nothing
    # is held, nothing buried, and every task either ran (once) or waits again
    stats = gator.broker.stats("q")
    assert (stats.reserved, stats.buried) == (0, 0)
    assert stats.ready + worker.tasks_complete == 60
    assert worker.tasks_complete >= 4
