"""Tasks that kill their worker, exit, hang or outlive a stall: bounded, buried, reported.

A task that takes its worker down (``os._exit``, a segfault, the OOM killer)
is buried after ``max_deliveries`` deaths instead of killing worker after
worker; ``sys.exit``/``KeyboardInterrupt`` in task code are the task's
failure, not a stop; a task past its ``timeout`` fails with "timed out"; a
pool kills a child whose task ignores the alarm; a prefetching worker that
stalled does not start tasks whose leases ran out.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from alligator import Gator, Worker
from alligator._limits import Beacon, time_limit
from alligator.exceptions import TaskTimeoutError
from alligator.pool import Pool
from alligator.records import QueueStats
from tests import tasks
from tests.conftest import ROOT, spawn_worker
from tests.servers import wait_until

pytestmark = pytest.mark.slow


def test_a_task_that_kills_its_worker_is_buried_after_max_deliveries(
    sqlite_dsn: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given a task that kills the process running it, and a good one behind it
    gator = Gator(sqlite_dsn, queue_name="q")
    killer = gator.task(tasks.die_hard, 3)
    gator.task(tasks.record, str(tmp_path / "ledger"), "after")
    # When a pool of one runs them with short leases and a cap of 2 deaths
    log = tmp_path / "pool.log"
    procs.append(
        spawn_worker(sqlite_dsn, log, "--processes", "1", "--lease", "1", "--max-deliveries", "2")
    )
    wait_until(lambda: gator.broker.stats("q").buried == 1, 60, 0.1, message="the burial")
    wait_until(lambda: tasks.read_ledger(tmp_path / "ledger") == ["after"], 30, 0.1)
    # Then it was buried, after two deaths, with the reason
    [buried] = gator.broker.buried("q")
    assert buried.task_id == killer.task_id
    assert "died (or lost the lease) 2 times" in buried.reason
    # And the pool said which task each dead child was running
    procs[0].send_signal(signal.SIGTERM)
    assert procs[0].wait(timeout=30) == 0
    text = log.read_text()
    assert text.count(f"while running task {killer.task_id}") == 2
    assert "finished its tasks" not in text


@pytest.mark.parametrize(
    ("func", "args", "raised"),
    [(tasks.exit_with, (0,), "SystemExit"), (tasks.exit_with, (3,), "SystemExit"),
     (tasks.interrupt_self, (), "KeyboardInterrupt")],
)  # fmt: skip
def test_exit_and_interrupt_raised_by_task_code_are_its_failure(
    locmem_gator: Gator, func: object, args: tuple[object, ...], raised: str
) -> None:
    # Given a task whose code raises a BaseException, with one retry, and a good task
    with locmem_gator.options(retries=1) as opts:
        bad = opts.task(func, *args)  # type: ignore[call-overload]
    locmem_gator.task(tasks.add, 1, 2)
    # When a worker runs through them (the retry included)
    worker = Worker(locmem_gator, recycle_after=3, poll_timeout=0.05)
    assert worker.run_forever() == 0
    # Then the worker lived on: the task was tried twice, then buried with the reason
    assert (worker.deliveries, worker.tasks_complete) == (3, 1)
    [buried] = locmem_gator.broker.buried("q")
    assert buried.task_id == bad.task_id
    assert f"TaskExitError: the task raised {raised}" in buried.reason


def test_a_task_past_its_timeout_fails_as_timed_out(locmem_gator: Gator) -> None:
    # Given a task with a 0.3 s limit that would run for 30 s, and a quick one
    with locmem_gator.options(timeout=0.3) as opts:
        slow = opts.task(tasks.nap, 30.0)
    locmem_gator.task(tasks.add, 2, 2)
    # When a worker in the main thread runs them
    started = time.monotonic()
    worker = Worker(locmem_gator, recycle_after=2, poll_timeout=0.05)
    worker.run_forever()
    # Then the slow one was stopped and buried as timed out, and the next one ran
    assert time.monotonic() - started < 20
    [buried] = locmem_gator.broker.buried("q")
    assert buried.task_id == slow.task_id
    assert "TaskTimeoutError" in buried.reason and "timed out after 0.3 s" in buried.reason
    assert worker.tasks_complete == 1


def test_the_worker_timeout_applies_to_tasks_without_their_own(locmem_gator: Gator) -> None:
    locmem_gator.task(tasks.nap, 30.0)
    Worker(locmem_gator, recycle_after=1, poll_timeout=0.05, timeout=0.2).run_forever()
    [buried] = locmem_gator.broker.buried("q")
    assert "timed out after 0.2 s" in buried.reason


def test_a_time_limit_puts_back_the_alarm_it_found() -> None:
    # Given someone else's alarm (a test runner's timeout) 60 s away
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    signal.setitimer(signal.ITIMER_REAL, 60)
    try:
        # When a task runs under a limit of its own, and one runs past it
        with time_limit(5, "quick"):
            pass
        with pytest.raises(TaskTimeoutError), time_limit(0.05, "slow"):
            tasks.nap(5)
        # Then the other alarm is still set, a little less than 60 s away
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 50 < remaining <= 60
        assert fired == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_bad_timeouts_are_refused(locmem_gator: Gator) -> None:
    with pytest.raises(ValueError, match="timeout"):
        locmem_gator.options(timeout=0)
    with pytest.raises(ValueError, match="timeout"):
        Worker(locmem_gator, timeout=-1)


def test_a_pool_kills_a_child_whose_task_ignores_the_alarm(
    sqlite_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a task that blocks SIGALRM (as C code holding the GIL would) for 60 s
    gator = Gator(sqlite_dsn, queue_name="q")
    with gator.options(timeout=0.2) as opts:
        stuck = opts.task(tasks.nap_deaf, 60.0)
    # When a pool of one runs it with a short grace
    command = [
        sys.executable, "-m", "alligator", "worker", sqlite_dsn,
        "--queue", "q", "--import", "tests.tasks", "--lease", "30", "--processes", "0",
    ]  # fmt: skip
    pool = Pool(command, 1, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                kill_grace=0.5)  # fmt: skip
    runner = threading.Thread(target=pool.run, daemon=True)
    with caplog.at_level("ERROR", logger="alligator.pool"):
        runner.start()
        try:
            # Then the pool kills the child well before the task would end, naming it
            wait_until(
                lambda: any("past its time limit" in r.getMessage() for r in caplog.records),
                30,
                0.05,
                message="the pool's kill",
            )
        finally:
            pool.kill()
            runner.join(timeout=30)
    [record] = [r for r in caplog.records if "past its time limit" in r.getMessage()]
    assert stuck.task_id in record.getMessage()


def test_a_beacon_reports_what_each_worker_thread_runs(tmp_path: Path) -> None:
    parent = Beacon(tmp_path / "b", slots=2)
    child = Beacon(tmp_path / "b", slots=2)  # the child process opens the same file
    child.slot(1).running("task-1", 5.0)
    assert [(task_id, deadline is not None) for task_id, deadline in parent.running()] == [
        ("task-1", True)
    ]
    child.slot(1).idle()
    child.slot(0).running("x" * 300, None)
    assert parent.running() == [("x" * 246, None)]
    parent.clear()
    assert child.running() == []


def stop_outside_a_write(worker: subprocess.Popen[bytes], database: Path) -> None:
    """SIGSTOP ``worker`` at a moment it holds no SQLite write lock.

    A process frozen inside a write transaction keeps the database locked (SQLite
    cannot take a lock from a live process), so no other worker could make
    progress and the test would measure the lock, not the prefetch buffer.
    """
    for _ in range(100):
        worker.send_signal(signal.SIGSTOP)
        probe = sqlite3.connect(database, timeout=0.2)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return
        except sqlite3.OperationalError:
            worker.send_signal(signal.SIGCONT)  # it was mid-write: let it finish, try again
        finally:
            probe.close()
    raise AssertionError("the worker held the write lock at each of 100 attempts")


def test_a_stalled_prefetching_worker_does_not_start_tasks_whose_leases_ran_out(
    sqlite_dsn: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given quick tasks (so the worker learns to lease in batches), then 30 that
    # wait for a flag, and a prefetching worker with a 1 s lease
    gator = Gator(sqlite_dsn, queue_name="q")
    ledger = tmp_path / "ledger"
    with gator.batch() as batch:
        for i in range(20):
            batch.task(tasks.add, i, i)
        for i in range(30):
            batch.task(
                tasks.wait_for_flag, str(ledger), f"t{i}", str(tmp_path / "started"),
                str(tmp_path / "go"),
            )  # fmt: skip
    log = tmp_path / "worker.log"
    procs.append(spawn_worker(sqlite_dsn, log, "--lease", "1"))
    worker = procs[0]
    # When it is stopped (SIGSTOP) while it holds a batch, for 2.5 leases
    wait_until(lambda: gator.broker.stats("q").reserved > 1, 30, 0.01, message="a batch")
    stop_outside_a_write(worker, tmp_path / "queue.db")
    time.sleep(2.5)  # the stall itself is what is tested: no condition to wait on
    # And another worker takes what the stalled one held
    (tmp_path / "go").touch()
    procs.append(spawn_worker(sqlite_dsn, tmp_path / "other.log", "--lease", "1"))
    wait_until(lambda: len(tasks.read_ledger(ledger)) >= 30, 30, 0.05, message="the others")
    worker.send_signal(signal.SIGCONT)
    # Then, resumed, it finishes its running task and then either drops its
    # buffer (the fix) or runs it again (the bug: more than one repeat)
    wait_until(
        lambda: "left to the backend" in log.read_text() or len(tasks.read_ledger(ledger)) > 31,
        30,
        0.05,
        message="the stalled worker to resume",
    )
    wait_until(lambda: gator.broker.stats("q") == QueueStats(), 30, 0.05, message="the drain")
    runs = tasks.read_ledger(ledger)
    assert len(runs) - len(set(runs)) <= 1
    assert "left to the backend" in log.read_text()
