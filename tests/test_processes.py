"""Several worker processes on one SQLite file: exactly-once drain and crash recovery."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from functools import partial
from pathlib import Path

import pytest

from alligator import Gator
from tests import tasks
from tests.conftest import spawn_worker
from tests.servers import wait_until

pytestmark = pytest.mark.slow

TASKS = 3000
WORKERS = 3


def _started(log: Path) -> bool:
    return "starting" in log.read_text()


def _empty(gator: Gator) -> bool:
    return gator.broker.stats("q") == type(gator.broker.stats("q"))()


def test_three_workers_drain_3000_tasks_each_exactly_once(
    sqlite_dsn: str, ledger: Path, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given 3,000 tasks on one SQLite file
    gator = Gator(sqlite_dsn, queue_name="q")
    with gator.batch() as batch:
        for i in range(TASKS):
            batch.task(tasks.record, str(ledger), f"task-{i}")
    assert gator.len() == TASKS
    # When three worker processes consume it
    for n in range(WORKERS):
        procs.append(spawn_worker(sqlite_dsn, tmp_path / f"worker-{n}.log", "--nap-time", "0.05"))
    wait_until(
        lambda: len(tasks.read_ledger(ledger)) >= TASKS and _empty(gator),
        timeout=60,
        interval=0.1,
        message="the queue to drain",
    )
    # Then every task ran exactly once and nothing is left
    runs = Counter(tasks.read_ledger(ledger))
    assert set(runs) == {f"task-{i}" for i in range(TASKS)}
    assert [key for key, n in runs.items() if n != 1] == []
    assert gator.broker.buried("q") == []
    # And the workers stop cleanly (each one signalled once its loop is up: a
    # signal during interpreter start-up kills any process, before handlers exist)
    for n, proc in enumerate(procs):
        log = tmp_path / f"worker-{n}.log"
        wait_until(partial(_started, log), 30, 0.05, message="start-up")
        proc.send_signal(signal.SIGTERM)
    for n, proc in enumerate(procs):
        assert proc.wait(timeout=30) == 0, (tmp_path / f"worker-{n}.log").read_text()


def test_a_task_of_a_killed_worker_runs_again_after_its_lease(
    sqlite_dsn: str, ledger: Path, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given a worker with a 1 s lease in the middle of a task
    gator = Gator(sqlite_dsn, queue_name="q")
    started, flag = tmp_path / "started", tmp_path / "flag"
    gator.task(tasks.wait_for_flag, str(ledger), "survivor", str(started), str(flag))
    first = spawn_worker(sqlite_dsn, tmp_path / "first.log", "--lease", "1", "--nap-time", "0.05")
    procs.append(first)
    wait_until(started.exists, timeout=30, message="the task to start")
    # When it is killed with SIGKILL before finishing
    first.kill()
    first.wait(timeout=10)
    assert tasks.read_ledger(ledger) == []
    assert gator.broker.stats("q").reserved == 1
    flag.write_text("go")
    second = spawn_worker(sqlite_dsn, tmp_path / "second.log", "--lease", "1", "--nap-time", "0.05")
    procs.append(second)
    # Then another worker runs it to success once the lease has expired
    wait_until(
        lambda: tasks.read_ledger(ledger) == ["survivor"] and _empty(gator),
        timeout=30,
        interval=0.05,
        message="the task to run again",
    )
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0, (tmp_path / "second.log").read_text()
    assert tasks.read_ledger(ledger) == ["survivor"]
