"""Results and dependencies through the Gator: typed waits, statuses, fan-out/fan-in.

Run on every backend whose client keeps outcomes itself (a ``ResultClient``:
locmem, the reference, SQLite, PostgreSQL, Redis and Redis Cluster), and on SQLite with outcomes
kept in another store (``results="locmem://..."``), the path beanstalkd
users take.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator, Status, Task, Worker
from alligator.exceptions import (
    ConfigurationError,
    InvalidTaskError,
    ResultTimeout,
    TaskFailed,
    TaskNotFoundError,
)
from alligator.retry import Backoff
from tests import tasks
from tests.fixtures import cluster_dsn, postgres_dsn
from tests.servers import ServerProcess
from tests.simple_client import SimpleClient

NO_WAIT = Backoff(base=0, jitter=0)


#: The backends that keep outcomes themselves, atomically with the ack.
KEEPERS = ("locmem", "sqlite", "postgresql", "redis", "redis-cluster")


@pytest.fixture(params=KEEPERS)
def gator(request: pytest.FixtureRequest, locmem_dsn: str, tmp_path: Path) -> Iterator[Gator]:
    if request.param == "locmem":
        dsn = locmem_dsn
    elif request.param == "sqlite":
        dsn = f"sqlite:///{tmp_path}/q.db"
    elif request.param == "postgresql":
        dsn = postgres_dsn(request.getfixturevalue("shared_postgres"))
    elif request.param == "redis":
        server: ServerProcess = request.getfixturevalue("shared_redis")
        dsn = f"redis://127.0.0.1:{server.port}/0?namespace=r{uuid.uuid4().hex[:12]}"
    else:
        nodes: list[ServerProcess] = request.getfixturevalue("shared_cluster")
        dsn = cluster_dsn(nodes) + f"/?namespace=c{uuid.uuid4().hex[:12]}"
    made = Gator(dsn, queue_name="q", results=True, backoff=NO_WAIT)
    yield made
    made.close()


def drain(gator: Gator, deliveries: int) -> Worker:
    worker = Worker(gator, recycle_after=deliveries, poll_timeout=0.05)
    worker.run_forever()
    return worker


def test_wait_gives_the_result_once_a_worker_stored_it(gator: Gator) -> None:
    # Given a task and a worker that will run it in another thread
    task = gator.task(tasks.add, 1, 2)
    worker = threading.Thread(target=drain, args=(gator, 1))
    worker.start()
    # When the producer waits on it
    try:
        value = task.wait(timeout=30)
    finally:
        worker.join(timeout=30)
    # Then it gets the function's return value, and the status says so
    assert value == 3
    assert gator.status(task.task_id) == Status.SUCCESS
    assert gator.wait(task.task_id, timeout=0) == 3


def test_the_value_comes_back_in_the_declared_return_type(gator: Gator) -> None:
    task = gator.task(tasks.today_plus, 3)
    drain(gator, 1)
    assert task.wait(0) == dt.date(2026, 12, 5)


def test_a_task_that_failed_for_good_raises_task_failed_with_the_remote_error(
    gator: Gator,
) -> None:
    with gator.options(retries=1) as opts:
        task = opts.task(tasks.fail, "bad input 7")
    drain(gator, 2)
    with pytest.raises(TaskFailed) as caught:
        task.wait(0)
    failed = caught.value
    assert (failed.task_id, failed.error_type, failed.message) == (
        task.task_id,
        "ValueError",
        "bad input 7",
    )
    assert "Traceback" in failed.remote_traceback and "bad input 7" in failed.remote_traceback
    assert gator.status(task.task_id) == Status.FAILED


def test_status_follows_a_task_without_waiting(gator: Gator) -> None:
    later = gator.task(tasks.add, 1, 1)
    with gator.options(delay_by=3600) as opts:
        delayed = opts.task(tasks.add, 2, 2)
    assert gator.status(later.task_id) == Status.WAITING
    assert gator.status(delayed.task_id) == Status.DELAYED
    assert gator.status("no-such-task") is None
    held = gator.broker.reserve("q", 30)
    assert held is not None and gator.status(held.task_id) == Status.RUNNING
    gator.broker.release("q", held)
    assert gator.status(held.task_id) == Status.RETRYING


def test_a_timeout_is_both_an_alligator_error_and_a_timeout_error(gator: Gator) -> None:
    task = gator.task(tasks.add, 1, 2)
    with pytest.raises(ResultTimeout) as caught:
        task.wait(timeout=0.05)
    assert isinstance(caught.value, TimeoutError)
    with pytest.raises(ConfigurationError, match="timeout"):
        task.wait(timeout=-1)


def test_waiting_on_an_unknown_id_is_a_clear_error(gator: Gator) -> None:
    with pytest.raises(TaskNotFoundError, match="never pushed here"):
        gator.wait("never-pushed", timeout=5)


def test_without_results_wait_says_how_to_turn_them_on(locmem_dsn: str) -> None:
    plain = Gator(locmem_dsn, queue_name="q")
    task = plain.task(tasks.add, 1, 2)
    with pytest.raises(ConfigurationError, match="results=True"):
        task.wait()
    with pytest.raises(ConfigurationError, match="results=True"):
        plain.status(task.task_id)
    with (
        pytest.raises(ConfigurationError, match="results=True"),
        plain.options(depends_on=[task]) as opts,
    ):
        opts.task(tasks.add, 3, 4)


def test_a_result_that_cannot_be_stored_buries_the_task_and_the_worker_lives(
    gator: Gator,
) -> None:
    bad = gator.task(tasks.unstorable)
    good = gator.task(tasks.add, 2, 3)
    worker = drain(gator, 2)
    assert worker.tasks_complete == 1
    with pytest.raises(TaskFailed, match="cannot be stored"):
        bad.wait(0)
    assert good.wait(0) == 5
    [buried] = gator.broker.buried("q")
    assert buried.task_id == bad.task_id and "cannot be stored" in buried.reason


def test_fan_out_fan_in_in_one_batch(gator: Gator) -> None:
    # Given three parts and a join depending on them, sent in one batch
    with gator.batch() as batch:
        parts = [batch.task(tasks.add, i, i) for i in range(3)]
        joined = batch.push(Task[int](depends_on=parts), tasks.total, 1, 2, 3)
    # Then the join waits, blocked, until every part ran
    assert gator.status(joined.task_id) == Status.BLOCKED
    drain(gator, 4)
    assert [p.wait(0) for p in parts] == [0, 2, 4]
    assert joined.wait(0) == 6
    # And it ran after all of them
    order = [e[0] for e in tasks.EVENTS if e[0] == "add"]
    assert len(order) == 3


def test_a_failed_dependency_buries_its_dependents_and_wait_says_why(gator: Gator) -> None:
    parent = gator.task(tasks.fail, "upstream down")
    with gator.options(depends_on=[parent]) as opts:
        child = opts.task(tasks.add, 1, 1)
    with gator.options(depends_on=[child.task_id]) as opts:
        grandchild = opts.task(tasks.add, 2, 2)
    worker = drain(gator, 1)
    assert worker.deliveries == 1  # the dependents never ran
    for dependent in (child, grandchild):
        with pytest.raises(TaskFailed, match=f"dependency {parent.task_id} failed"):
            dependent.wait(0)
        assert gator.status(dependent.task_id) == Status.FAILED
    assert gator.len() == 0


def test_canceling_a_dependency_buries_its_dependents(gator: Gator) -> None:
    parent = gator.task(tasks.add, 1, 1)
    with gator.options(depends_on=[parent]) as opts:
        child = opts.task(tasks.add, 2, 2)
    canceled = gator.cancel(parent.task_id)
    assert canceled is not None and canceled.status == Status.CANCELED
    assert gator.status(parent.task_id) == Status.CANCELED
    with pytest.raises(TaskFailed, match="was canceled"):
        parent.wait(0)
    with pytest.raises(TaskFailed, match=f"dependency {parent.task_id} was canceled"):
        child.wait(0)


def test_bad_dependencies_are_refused_at_enqueue(gator: Gator) -> None:
    with (
        pytest.raises(TaskNotFoundError, match="never pushed"),
        gator.options(depends_on=["not-a-task"]) as opts,
    ):
        opts.task(tasks.add, 1, 1)
    with (
        pytest.raises(InvalidTaskError, match="depends on itself"),
        gator.options(task_id="me", depends_on=["me"]) as opts,
    ):
        opts.task(tasks.add, 1, 1)
    with (
        pytest.raises(InvalidTaskError, match="is_async=False"),
        gator.options(is_async=False, depends_on=[gator.task(tasks.add, 0, 0)]) as opts,
    ):
        opts.task(tasks.add, 1, 1)
    assert gator.len() == 1


def test_outcomes_kept_in_another_store(tmp_path: object, locmem_dsn: str) -> None:
    # Given a SQLite queue whose outcomes live in a locmem store (as beanstalkd would)
    gator = Gator(f"sqlite:///{tmp_path}/q.db", queue_name="q", results=locmem_dsn, backoff=NO_WAIT)
    ok = gator.task(tasks.add, 20, 22)
    with gator.options(retries=0) as opts:
        bad = opts.task(tasks.fail, "nope")
    drain(gator, 2)
    assert ok.wait(0) == 42
    with pytest.raises(TaskFailed, match="nope"):
        bad.wait(0)
    with (
        pytest.raises(ConfigurationError, match="depends_on needs results kept by the queue"),
        gator.options(depends_on=[ok]) as opts,
    ):
        opts.task(tasks.add, 1, 1)
    gator.close()


def test_results_need_a_backend_that_can_keep_them(tmp_path: object) -> None:
    with pytest.raises(ConfigurationError, match="cannot keep task outcomes itself"):
        Gator(f"sqlite:///{tmp_path}/q.db", backend_class=SimpleClient, results=True)
    with pytest.raises(ConfigurationError, match="result_ttl"):
        Gator("locmem://x", results=True, result_ttl=0)
