"""Results and dependencies through the Gator on Redis, Redis Cluster, and beanstalkd + a store.

The kit's ``ResultsContract`` pins the client (``test_conformance.py``) and
``tests/test_results.py`` runs the Gator-level cases (fan-out/fan-in,
failed and canceled dependencies) on Redis too; these run what is Redis's
own: a worker (prefetching, so its fused acks store the outcomes, or one task
at a time) writes outcomes that ``wait`` reads back, typed; a real worker
process killed with SIGKILL between running a task and acking it leaves no
outcome behind and releases no dependent twice.
"""

from __future__ import annotations

import datetime as dt
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

from alligator import Gator, Status, Worker
from alligator.backends.sqlite_backend import Client as Sqlite
from alligator.capabilities import capabilities_of
from alligator.exceptions import ConfigurationError, TaskFailed, TaskNotFoundError
from alligator.records import TaskState
from alligator.retry import Backoff
from tests import tasks
from tests.conftest import stop_process
from tests.fixtures import cluster_dsn
from tests.process_tasks import ROOT, lines
from tests.redis import result_worker
from tests.servers import ServerProcess, wait_until

NO_WAIT = Backoff(base=0, jitter=0)


@pytest.fixture(params=["single", "cluster"])
def store_dsn(request: pytest.FixtureRequest, namespace: str) -> str:
    """A Redis DSN (single server or cluster) with a namespace of the test's own."""
    if request.param == "single":
        server: ServerProcess = request.getfixturevalue("single_server")
        return f"redis://127.0.0.1:{server.port}/0?namespace={namespace}"
    nodes: list[ServerProcess] = request.getfixturevalue("cluster_nodes")
    return cluster_dsn(nodes) + f"/?namespace={namespace}"


@pytest.fixture
def gator(store_dsn: str) -> Iterator[Gator]:
    made = Gator(store_dsn, queue_name="q", results=True, backoff=NO_WAIT)
    yield made
    made.close()


def drain(gator: Gator, deliveries: int, *, prefetch: bool = True) -> Worker:
    worker = Worker(gator, recycle_after=deliveries, poll_timeout=0.05, prefetch=prefetch)
    worker.run_forever()
    return worker


@pytest.mark.parametrize("prefetch", [True, False], ids=["prefetch", "one-by-one"])
def test_wait_gives_the_typed_result_once_a_worker_stored_it(gator: Gator, prefetch: bool) -> None:
    # Given tasks and a worker that runs them in another thread
    task = gator.task(tasks.add, 1, 2)
    dated = gator.task(tasks.today_plus, 3)
    worker = threading.Thread(target=drain, args=(gator, 2), kwargs={"prefetch": prefetch})
    worker.start()
    # When the producer waits on them (blocking on the outcome's key)
    try:
        value = task.wait(timeout=30)
        day = dated.wait(timeout=30)
    finally:
        worker.join(timeout=30)
    # Then it gets the values in their declared types, and the status says so
    assert (value, day) == (3, dt.date(2026, 12, 5))
    assert gator.status(task.task_id) == Status.SUCCESS
    assert gator.wait(task.task_id, timeout=0) == 3


def test_a_failure_raises_task_failed_and_statuses_follow_the_task(gator: Gator) -> None:
    with gator.options(retries=0) as opts:
        bad = opts.task(tasks.fail, "bad input 7")
    with gator.options(delay_by=3600) as opts:
        later = opts.task(tasks.add, 2, 2)
    assert gator.status(bad.task_id) == Status.WAITING
    assert gator.status(later.task_id) == Status.DELAYED
    assert gator.status("no-such-task") is None
    drain(gator, 1)
    with pytest.raises(TaskFailed) as caught:
        bad.wait(0)
    assert (caught.value.error_type, caught.value.message) == ("ValueError", "bad input 7")
    assert "Traceback" in caught.value.remote_traceback
    assert gator.status(bad.task_id) == Status.FAILED
    with pytest.raises(TaskNotFoundError, match="never pushed here"):
        gator.wait("never-pushed", timeout=1)


# -- beanstalkd paired with a store ------------------------------------------------


def _sqlite_keeps_outcomes(tmp_path: Path) -> bool:
    client = Sqlite(f"sqlite:///{tmp_path / 'probe.db'}")
    try:
        return capabilities_of(client).result_store
    finally:
        client.close()


@pytest.fixture(params=["redis", "sqlite"])
def paired_store(request: pytest.FixtureRequest, tmp_path: Path, namespace: str) -> str:
    """A store apart from the queue: Redis, or SQLite once its client keeps outcomes."""
    if request.param == "sqlite":
        if not _sqlite_keeps_outcomes(tmp_path):
            pytest.skip("the SQLite client keeps no outcomes on this branch yet (results-sql)")
        return f"sqlite:///{tmp_path / 'results.db'}"
    server: ServerProcess = request.getfixturevalue("single_server")
    return f"redis://127.0.0.1:{server.port}/0?namespace={namespace}"


def test_beanstalkd_with_outcomes_kept_in_another_store(
    shared_beanstalkd: ServerProcess, paired_store: str, queue_name: str
) -> None:
    # Given a beanstalkd queue whose outcomes live in another store
    dsn = f"beanstalk://127.0.0.1:{shared_beanstalkd.port}"
    gator = Gator(dsn, queue_name=queue_name, results=paired_store, backoff=NO_WAIT)
    try:
        ok = gator.task(tasks.add, 20, 22)
        with gator.options(retries=0) as opts:
            bad = opts.task(tasks.fail, "nope")
        worker = threading.Thread(target=drain, args=(gator, 2))
        worker.start()
        # When a worker runs them, the producer waits on both
        try:
            assert ok.wait(timeout=30) == 42
            with pytest.raises(TaskFailed, match="nope") as caught:
                bad.wait(timeout=30)
        finally:
            worker.join(timeout=30)
        # Then the outcomes say what happened, and so do the statuses
        assert caught.value.error_type == "ValueError"
        assert gator.status(ok.task_id) == Status.SUCCESS
        assert gator.status(bad.task_id) == Status.FAILED
        # And dependencies, which need the queue's own backend, are refused at enqueue
        with (
            pytest.raises(ConfigurationError, match="depends_on needs results kept by the queue"),
            gator.options(depends_on=[ok]) as opts,
        ):
            opts.task(tasks.add, 1, 1)
    finally:
        gator.close()


# -- a worker killed between running a task and acking it ---------------------------


@pytest.fixture
def worker_procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop_process(proc)


def _spawn(dsn: str, log: Path, lease: float, gate: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ALLIGATOR_TEST_HANG": str(gate)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.redis.result_worker", dsn, "q", str(lease)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip


def test_a_worker_killed_between_run_and_ack_leaves_no_outcome_and_releases_once(
    single_server: ServerProcess, tmp_path: Path, worker_procs: list[subprocess.Popen[bytes]]
) -> None:
    dsn = f"redis://127.0.0.1:{single_server.port}/0?namespace=k{uuid.uuid4().hex[:10]}"
    ledger, gate = tmp_path / "ledger", tmp_path / "gate"
    gator = Gator(dsn, queue_name="q", results=True)
    # Given a parent whose success hook hangs the first time, and a dependent
    with gator.options(on_success=result_worker.hang_once) as opts:
        parent = opts.task(result_worker.ran, str(ledger), "parent")
    with gator.options(depends_on=[parent]) as opts:
        child = opts.task(result_worker.ran, str(ledger), "child")
    # And a worker process that ran the parent and hangs before its ack
    first = _spawn(dsn, tmp_path / "first.log", 1.0, gate)
    worker_procs.append(first)
    hung = Path(f"{gate}.hung")
    wait_until(hung.exists, timeout=30, message="the parent to run")
    assert lines(ledger) == ["parent"]
    # When it is killed with SIGKILL there
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    # Then no outcome was stored, and the dependent is still blocked
    assert gator.status(parent.task_id) in (Status.RUNNING, Status.RETRYING)
    results = gator.results
    assert results is not None and results.store.fetch_result("q", parent.task_id) is None
    assert gator.broker.stats("q").reserved == 1
    assert results.queue is not None
    assert results.queue.task_state("q", child.task_id) == TaskState("blocked")
    # And once another worker ran the parent again after its lease, the child runs once
    second = _spawn(dsn, tmp_path / "second.log", 1.0, gate)
    worker_procs.append(second)
    assert child.wait(timeout=60) == "child"
    assert parent.wait(timeout=0) == "parent"
    wait_until(lambda: len(lines(ledger)) >= 3, timeout=10, message="the ledger")
    assert Counter(lines(ledger)) == {"parent": 2, "child": 1}
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0, (tmp_path / "second.log").read_text()
    assert Counter(lines(ledger)) == {"parent": 2, "child": 1}
    assert gator.broker.stats("q") == type(gator.broker.stats("q"))()
    gator.close()
