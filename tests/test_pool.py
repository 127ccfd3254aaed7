"""The supervised pool: ``python -m alligator worker --processes N`` as real processes.

Runs on SQLite and on a private redis-server (the session fixture of
``tests/redis/conftest.py``, imported here). Tasks that must be caught in
the middle wait on a flag file the test writes, so "during the task" is a
fact, not a guess about timing.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator
from alligator.pool import Pool
from tests import tasks
from tests.conftest import ROOT, stop_process
from tests.redis.conftest import single_server
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.slow

__all__ = ["backend_dsn", "children_of", "single_server", "start_pool"]


@pytest.fixture(params=["sqlite", "redis"])
def backend_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh queue store: a SQLite file, or a new namespace on the private Redis."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    server: ServerProcess = request.getfixturevalue("single_server")
    return f"redis://127.0.0.1:{server.port}/0?namespace=p{uuid.uuid4().hex[:12]}"


def start_pool(dsn: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``python -m alligator worker DSN --queue q --import tests.tasks EXTRA``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "alligator", "worker", dsn, "--queue", "q",
             "--import", "tests.tasks", "--nap-time", "0.05", *extra],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip


def children_of(pid: int) -> list[int]:
    """The live child pids of ``pid`` (Linux /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    # A zombie is dead for our purposes: it runs nothing.
    return stat.exists() and stat.read_text().rpartition(")")[2].split()[0] != "Z"


def _empty(gator: Gator) -> bool:
    return gator.broker.stats("q") == type(gator.broker.stats("q"))()


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        for child in children_of(proc.pid) if proc.poll() is None else []:
            os.kill(child, signal.SIGKILL)
        stop_process(proc)


def test_pool_of_3_drains_2000_tasks_exactly_once_and_stops_with_0(
    backend_dsn: str, ledger: Path, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given a pool of three processes, all three started
    log = tmp_path / "pool.log"
    pool = start_pool(backend_dsn, log, "--processes", "3")
    procs.append(pool)
    wait_until(
        lambda: log.exists() and log.read_text().count("starting & consuming") == 3,
        timeout=30,
        message="three children to start",
    )
    with Gator(backend_dsn, queue_name="q") as gator:
        # When 2,000 tasks are enqueued
        with gator.batch() as batch:
            for i in range(2000):
                batch.task(tasks.record, str(ledger), f"task-{i}")
        wait_until(
            lambda: len(tasks.read_ledger(ledger)) >= 2000 and _empty(gator),
            timeout=60,
            interval=0.1,
            message="the queue to drain",
        )
        # Then every task ran exactly once, by three processes
        runs = Counter(tasks.read_ledger(ledger))
        assert set(runs) == {f"task-{i}" for i in range(2000)}
        assert [key for key, n in runs.items() if n != 1] == []
        children = children_of(pool.pid)
        assert len(children) == 3
        # And SIGTERM stops the pool and its children with exit code 0
        pool.send_signal(signal.SIGTERM)
        assert pool.wait(timeout=30) == 0, log.read_text()
        assert not any(_alive(child) for child in children)
        assert log.read_text().count("starting & consuming") == 3


def test_a_child_killed_with_sigkill_is_replaced_and_its_task_recovered(
    sqlite_dsn: str, ledger: Path, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given a one-process pool with a 1 s lease, in the middle of a task
    gator = Gator(sqlite_dsn, queue_name="q")
    started, flag = tmp_path / "started", tmp_path / "flag"
    gator.task(tasks.wait_for_flag, str(ledger), "survivor", str(started), str(flag))
    log = tmp_path / "pool.log"
    pool = start_pool(sqlite_dsn, log, "--processes", "1", "--lease", "1")
    procs.append(pool)
    wait_until(started.exists, timeout=30, message="the task to start")
    [child] = children_of(pool.pid)
    # When that child is killed with SIGKILL
    os.kill(child, signal.SIGKILL)
    flag.write_text("go")
    # Then the pool starts another, which runs the task once its lease expires
    wait_until(
        lambda: tasks.read_ledger(ledger) == ["survivor"] and _empty(gator),
        timeout=30,
        interval=0.05,
        message="the task to run again",
    )
    [replacement] = children_of(pool.pid)
    assert replacement != child
    assert "died (exit code -9)" in log.read_text()
    pool.send_signal(signal.SIGTERM)
    assert pool.wait(timeout=30) == 0, log.read_text()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_parent_lets_every_child_finish_its_task_then_exits_0(
    signum: signal.Signals,
    sqlite_dsn: str,
    ledger: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
) -> None:
    # Given a pool of two, one child in the middle of a task, and more tasks queued behind
    gator = Gator(sqlite_dsn, queue_name="q")
    started, flag = tmp_path / "started", tmp_path / "flag"
    gator.task(tasks.wait_for_flag, str(ledger), "long", str(started), str(flag))
    log = tmp_path / "pool.log"
    pool = start_pool(sqlite_dsn, log, "--processes", "2")
    procs.append(pool)
    wait_until(started.exists, timeout=30, message="the task to start")
    with gator.batch() as batch:
        for i in range(100):
            batch.task(tasks.record, str(ledger), f"task-{i}")
    children = children_of(pool.pid)
    # When the parent gets the signal mid-task, and the task is then let finish
    pool.send_signal(signum)
    wait_until(lambda: "workers finish their current task" in log.read_text(), timeout=10)
    flag.write_text("go")
    # Then the pool exits 0 after every child finished and acked
    assert pool.wait(timeout=30) == 0, log.read_text()
    assert not any(_alive(child) for child in children)
    ran = tasks.read_ledger(ledger)
    assert "long" in ran
    # And no task is lost: each ran once or is still waiting, none is left reserved
    stats = gator.broker.stats("q")
    assert (stats.reserved, stats.buried) == (0, 0)
    assert len(ran) == len(set(ran))
    assert len(ran) + stats.ready == 101


def test_a_second_sigint_kills_the_children_at_once(
    sqlite_dsn: str, ledger: Path, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given a pool whose only child is in the middle of a task
    gator = Gator(sqlite_dsn, queue_name="q")
    started, flag = tmp_path / "started", tmp_path / "flag"
    gator.task(tasks.wait_for_flag, str(ledger), "cut", str(started), str(flag))
    log = tmp_path / "pool.log"
    pool = start_pool(sqlite_dsn, log, "--processes", "1", "--lease", "30")
    procs.append(pool)
    wait_until(started.exists, timeout=30, message="the task to start")
    [child] = children_of(pool.pid)
    # When SIGINT comes twice
    pool.send_signal(signal.SIGINT)
    wait_until(lambda: "workers finish their current task" in log.read_text(), timeout=10)
    pool.send_signal(signal.SIGINT)
    # Then the pool exits at once without waiting for the task
    assert pool.wait(timeout=30) == 128 + signal.SIGINT, log.read_text()
    assert not _alive(child)
    # And the task is still held by its lease, to come back when it expires
    assert tasks.read_ledger(ledger) == []
    assert gator.broker.stats("q").reserved == 1


def test_a_child_that_keeps_dying_is_restarted_with_a_growing_back_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a pool over a command that always fails at once
    pool = Pool([sys.executable, "-c", "raise SystemExit(3)"], 1, poll_interval=0.02)

    def deaths() -> list[str]:
        return [r.getMessage() for r in list(caplog.records) if "died" in r.getMessage()]

    def stop_after_four_deaths() -> None:
        # The fourth death is reaped and its restart is 2 s away: the stop lands
        # while no child runs, whatever the scheduling.
        wait_until(lambda: len(deaths()) >= 4, timeout=30, interval=0.02)
        pool.stop()

    stopper = threading.Thread(target=stop_after_four_deaths, daemon=True)
    stopper.start()
    # When it runs until four children have died
    with caplog.at_level(logging.WARNING, logger="alligator.pool"):
        code = pool.run()
    stopper.join(timeout=10)
    # Then each restart waited longer than the one before
    delays = [message.rpartition(" in ")[2] for message in deaths()]
    assert delays == ["0.0s", "0.5s", "1.0s", "2.0s"]
    # And a stop while children keep failing ends the run at once, cleanly: every
    # death came before the stop and was answered by a restart (no fifth child)
    assert code == 0
    assert pool.started == 4
    assert pool.pids() == []
