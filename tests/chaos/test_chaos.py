"""Workers SIGKILLed every second, the server disrupted mid-run: no task lost.

Each backend drains its tasks with 4 worker processes while a killer
SIGKILLs a random one about every second and starts a replacement. Once
half the tasks have run, the server itself is disrupted: Redis (AOF,
``appendfsync always``) and beanstalkd (binlog) are SIGKILLed and
restarted; PostgreSQL is crash-restarted (``pg_ctl restart -m immediate``:
no shutdown checkpoint, WAL recovery); SQLite gets a process that takes the
write lock, deletes every task inside its transaction, and is SIGKILLed
while holding it. The cluster run has kills only. At the end every task ran
at least once, nothing is left or buried, and the duplicates (allowed by
at-least-once) are counted. A run with no kills must have no duplicates.
A third run freezes workers (SIGSTOP) past their lease instead of killing
them: the woken worker's stale prefetched tasks must not be lost or buried.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import Report, run_chaos
from tests.fixtures import beanstalkd_server, cluster_dsn, postgres_cluster, redis_server
from tests.postgresql.cluster import PostgresCluster
from tests.servers import ServerProcess

pytestmark = pytest.mark.slow

KILL_RUN_TASKS = 5_000
CALM_RUN_TASKS = 2_000
STOP_RUN_TASKS = 1_000
BACKENDS = ("sqlite", "redis", "redis-cluster", "beanstalk", "postgresql")


class Target:
    """A backend for one run: its DSN and how to disrupt its server."""

    def __init__(self, dsn: str, disrupt: Callable[[], bool] | None = None) -> None:
        self.dsn = dsn
        self.disrupt = disrupt


def _kill_and_restart(server: ServerProcess) -> bool:
    """SIGKILL the server and start it again; whether a new process now serves."""
    assert server.proc is not None
    old = server.proc
    server.restart(kill=True)
    return old.returncode == -9 and server.proc is not None and server.proc.pid != old.pid


def _crash_restart(cluster: PostgresCluster) -> bool:
    """``pg_ctl restart -m immediate``; whether a new postmaster now serves."""
    before = (cluster.datadir / "postmaster.pid").read_text().split()[0]
    cluster.restart("immediate")
    after = (cluster.datadir / "postmaster.pid").read_text().split()[0]
    return before != after


def _hold_sqlite_write_lock_then_die(path: Path) -> bool:
    """A process deletes every task inside a write transaction and is SIGKILLed.

    Returns whether it held the lock and died of the SIGKILL.
    """
    script = (
        "import sqlite3, sys, time\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "conn.execute('DELETE FROM alligator_tasks')\n"
        "print('holding', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        held = proc.stdout.readline() == b"holding\n"
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    return held and proc.returncode == -9


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    backend: str = request.param
    if backend == "sqlite":
        path = tmp_path / "chaos.db"
        yield Target(f"sqlite:///{path}", lambda: _hold_sqlite_write_lock_then_die(path))
    elif backend == "redis":
        server = redis_server(
            tmp_path, "--save", "", "--appendonly", "yes", "--appendfsync", "always"
        )
        server.start()
        try:
            yield Target(f"redis://127.0.0.1:{server.port}/0", lambda: _kill_and_restart(server))
        finally:
            server.stop()
    elif backend == "postgresql":
        cluster = postgres_cluster()
        try:
            yield Target(cluster.dsn, lambda: _crash_restart(cluster))
        finally:
            cluster.destroy()
    elif backend == "redis-cluster":
        nodes: list[ServerProcess] = request.getfixturevalue("shared_cluster")
        yield Target(cluster_dsn(nodes))
    else:
        beanstalkd = beanstalkd_server(tmp_path, binlog=True)
        beanstalkd.start()
        try:
            dsn = f"beanstalk://127.0.0.1:{beanstalkd.port}?ttr=2"
            yield Target(dsn, lambda: _kill_and_restart(beanstalkd))
        finally:
            beanstalkd.stop()


def _check(report: Report) -> None:
    assert report.lost == 0, report.line()
    assert report.buried == 0, report.line()


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_kills_and_a_server_disruption_lose_nothing(
    target: Target, queue_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = request.node.callspec.id
    # Given 5,000 tasks and 4 workers, one SIGKILLed about every second
    # When the server is disrupted halfway through
    report = run_chaos(
        f"{backend} (kills+restart)",
        target.dsn,
        queue_name,
        tmp_path,
        count=KILL_RUN_TASKS,
        kill_every=1.0,
        disrupt=target.disrupt,
    )
    # Then the server was disrupted once (the cluster run has kills only)
    assert report.restarts == (0 if target.disrupt is None else 1), report.line()
    # And every task ran, nothing is left or buried (duplicates are reported)
    _check(report)
    assert report.kills > 0


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_without_kills_every_task_runs_exactly_once(
    target: Target, queue_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = request.node.callspec.id
    report = run_chaos(
        f"{backend} (no kills)",
        target.dsn,
        queue_name,
        tmp_path,
        count=CALM_RUN_TASKS,
        kill_every=None,
    )
    _check(report)
    assert (report.kills, report.restarts) == (0, 0), report.line()
    assert report.duplicates == 0, report.line()


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_workers_frozen_past_their_lease_lose_nothing(
    target: Target, queue_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = request.node.callspec.id
    # Given 1,000 tasks and 4 workers, one frozen for twice its lease about every second
    report = run_chaos(
        f"{backend} (SIGSTOP past lease)",
        target.dsn,
        queue_name,
        tmp_path,
        count=STOP_RUN_TASKS,
        kill_every=None,
        stop_every=1.0,
    )
    # Then workers were frozen, and every task ran with nothing left or buried
    assert report.stops > 0, report.line()
    _check(report)
