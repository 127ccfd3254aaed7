"""Every example of the extending guide (docs: extending.rst), run for real.

The guide's examples talk to Redis; here they run on Redis (a single server
and a cluster, each test in a namespace of its own) and, with the DSN swapped,
on the embedded backends (locmem and SQLite). The guide's own SQLite client is
tested on its own. The example code lives in ``tests.seed`` so workers can
import it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator, Task, Worker
from alligator.backends.locmem_backend import reset_stores
from alligator.compat import SimpleClientAdapter
from alligator.constants import ALL
from alligator.exceptions import ConfigurationError
from alligator.retry import Backoff
from tests import tasks
from tests.fixtures import cluster_dsn
from tests.seed import hooks, jobs
from tests.seed.logworkers import LoggingWorker
from tests.seed.skinnytask import SkinnyTask
from tests.seed.sqlite_backend import Client as SQLiteClient
from tests.seed.sqlite_backend import quote_identifier
from tests.servers import ServerProcess, wait_until

FEEDS = [
    "http://daringfireball.net/feeds/main",
    "http://xkcd.com/rss.xml",
    "http://www.reddit.com/r/DotA2/.rss",
]
#: Retries come back at once, so draining a queue never waits on a backoff.
NO_BACKOFF = Backoff(base=0.0, jitter=0.0)


@pytest.fixture(autouse=True)
def _clean_seed_state() -> Iterator[None]:
    hooks.reset()
    jobs.calls.clear()
    yield
    hooks.reset()
    jobs.calls.clear()


@pytest.fixture(params=["redis", "redis-cluster", "locmem", "sqlite"])
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The guide's Redis DSN (on a private server), or a fresh embedded store."""
    name = f"extending{uuid.uuid4().hex[:12]}"
    if request.param == "redis":
        server: ServerProcess = request.getfixturevalue("shared_redis")
        yield f"redis://127.0.0.1:{server.port}/0?namespace={name}"
    elif request.param == "redis-cluster":
        nodes: list[ServerProcess] = request.getfixturevalue("shared_cluster")
        yield cluster_dsn(nodes) + f"/?namespace={name}"
    elif request.param == "locmem":
        yield f"locmem://{name}"
        reset_stores(name)
    else:
        yield f"sqlite:///{tmp_path / 'queue.db'}"


def drain(worker: Worker, limit: int = 20) -> int:
    """Run tasks until the queue stays empty for one poll; returns how many ran."""
    ran = 0
    while worker.check_and_run_task():
        ran += 1
        assert ran <= limit, "the queue never drained"
    return ran


def hook_calls() -> list[tuple[str, str, str]]:
    """The recorded hook calls as (hook, task id, repr of the argument)."""
    return [(name, task_id, repr(arg)) for name, task_id, arg in hooks.events]


# -- Hook Methods --------------------------------------------------------------------


def enqueue_feeds(gator: Gator) -> Task[int]:
    # The guide's code, verbatim but for the returned task.
    with gator.options(
        on_start=hooks.log_start,
        on_success=hooks.log_success,
        on_error=hooks.maybe_retry_error,
    ) as opts:
        return opts.task(hooks.fetch_feeds, FEEDS)


def test_hooks_see_start_and_success_with_the_result(dsn: str) -> None:
    # Given every feed answering 200
    gator = Gator(dsn, backoff=NO_BACKOFF)
    task = enqueue_feeds(gator)
    # When a worker drains the queue
    ran = drain(Worker(gator, poll_timeout=0.05))
    # Then the task ran once; on_start got the task, on_success the task and its result
    assert ran == 1
    assert hook_calls() == [("on_start", task.task_id, "None"), ("on_success", task.task_id, "3")]
    assert hooks.requests.calls == FEEDS
    assert hooks.cache.counts == {"feeds_imported": 3}
    assert gator.len() == 0


def test_on_error_adding_a_retry_gives_exactly_one_more_try(dsn: str) -> None:
    # Given a feed that is unavailable once, then fine
    hooks.requests.script[FEEDS[1]] = [503, 200]
    gator = Gator(dsn, backoff=NO_BACKOFF)
    task = enqueue_feeds(gator)
    # When a worker drains the queue
    ran = drain(Worker(gator, poll_timeout=0.05))
    # Then on_error saw the FeedUnavailable, granted a retry, and the second try succeeded
    assert ran == 2
    assert [name for name, _, _ in hooks.events] == [
        "on_start",
        "on_error",
        "on_start",
        "on_success",
    ]
    assert {task_id for _, task_id, _ in hooks.events} == {task.task_id}
    error = hooks.events[1][2]
    assert isinstance(error, hooks.FeedUnavailable)
    assert error.args == (FEEDS[1],)
    assert hooks.requests.calls == FEEDS[:2] + FEEDS
    assert hooks.cache.counts == {"feeds_imported": 3}


def test_a_retry_granted_by_on_error_is_only_one(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a feed that is unavailable, then missing
    hooks.requests.script[FEEDS[0]] = [503, 404]
    gator = Gator(dsn, backoff=NO_BACKOFF)
    task = enqueue_feeds(gator)
    # When a worker drains the queue
    with caplog.at_level(logging.ERROR, logger=hooks.log.name):
        ran = drain(Worker(gator, poll_timeout=0.05))
    # Then the task ran exactly twice: once more for the 503, none for the 404
    assert ran == 2
    assert hooks.requests.calls == [FEEDS[0], FEEDS[0]]
    errors = [arg for name, _, arg in hooks.events if name == "on_error"]
    assert [type(err) for err in errors] == [hooks.FeedUnavailable, hooks.FeedNotFound]
    assert f"Importing feed url {FEEDS[0]} failed." in caplog.messages
    # ... and it is buried with its error, not lost
    [buried] = gator.broker.buried(gator.queue_name)
    assert buried.task_id == task.task_id
    assert "FeedNotFound" in buried.reason
    assert hooks.cache.counts == {}


def test_without_the_hook_a_failed_task_is_not_retried(dsn: str) -> None:
    hooks.requests.script[FEEDS[0]] = [503, 200]
    gator = Gator(dsn, backoff=NO_BACKOFF)
    with gator.options(on_start=hooks.log_start) as opts:
        opts.task(hooks.fetch_feeds, FEEDS)
    assert drain(Worker(gator, poll_timeout=0.05)) == 1
    assert len(gator.broker.buried(gator.queue_name)) == 1


def test_hooks_and_the_granted_retry_also_apply_to_synchronous_tasks(dsn: str) -> None:
    # Given is_async=False, the task runs at enqueue, in this process
    hooks.requests.script[FEEDS[2]] = [503, 200]
    gator = Gator(dsn, backoff=NO_BACKOFF)
    with gator.options(
        is_async=False,
        on_start=hooks.log_start,
        on_success=hooks.log_success,
        on_error=hooks.maybe_retry_error,
    ) as opts:
        task = opts.task(hooks.fetch_feeds, FEEDS)
    # Then the hooks ran around both tries and nothing was queued
    assert [name for name, _, _ in hooks.events] == [
        "on_start",
        "on_error",
        "on_start",
        "on_success",
    ]
    assert task.status.name == "SUCCESS"
    assert gator.len() == 0


# -- Custom Task Classes -------------------------------------------------------------


def test_skinny_task_round_trips_through_bz2() -> None:
    task = SkinnyTask(retries=2, is_async=False).to_call(jobs.shout, "hi", times=3)
    data = task.serialize()
    assert data.startswith(b"BZh")
    back = SkinnyTask.deserialize(data)
    assert (back.task_id, back.retries, back.is_async) == (task.task_id, 2, False)
    assert back.func is jobs.shout
    assert (back.func_args, back.func_kwargs) == (("hi",), {"times": 3})


def test_skinny_task_through_gator_and_worker(dsn: str) -> None:
    # Given a Gator using SkinnyTask (the guide's skinnylatergator.py, DSN swapped)
    gator = Gator(dsn, task_class=SkinnyTask)
    tasks = [gator.task(jobs.shout, word, times=2) for word in ("a", "b", "c")]
    assert all(isinstance(task, SkinnyTask) for task in tasks)
    assert gator.len() == 3
    # When a Worker built from that Gator runs until its task limit
    worker = Worker(gator, max_tasks=3, poll_timeout=0.05)
    worker.run_forever()
    # Then it decoded every task with SkinnyTask and ran them in order
    assert worker.tasks_complete == 3
    assert jobs.calls == [("shout", "a"), ("shout", "b"), ("shout", "c")]
    assert gator.len() == 0
    assert gator.broker.buried(gator.queue_name) == []


def test_skinny_task_is_retried_with_its_own_encoding(dsn: str) -> None:
    gator = Gator(dsn, task_class=SkinnyTask, backoff=NO_BACKOFF)
    gator.push(SkinnyTask(retries=1), jobs.add, 1, "two")  # type: ignore[call-overload]
    assert drain(Worker(gator, poll_timeout=0.05)) == 2
    assert jobs.calls == [("add", (1, "two"))] * 2
    [buried] = gator.broker.buried(gator.queue_name)
    assert "TypeError" in buried.reason


# -- Multiple Queues -----------------------------------------------------------------


def test_two_gators_on_one_backend_keep_their_queues_apart(dsn: str) -> None:
    # Given the guide's two Gators on one backend
    email_gator = Gator(dsn, queue_name="notifications")
    image_gator = Gator(dsn, queue_name="images")
    email_gator.task(jobs.send_welcome_email, 42)
    email_gator.task(jobs.send_welcome_email, 43)
    for path in ("a.jpg", "b.jpg", "c.jpg"):
        image_gator.task(jobs.create_thumbnail, path)
    assert (email_gator.len(), image_gator.len()) == (2, 3)
    # When an email worker drains its queue
    assert drain(Worker(email_gator, poll_timeout=0.05)) == 2
    # Then only emails ran; the images wait for their own worker
    assert jobs.calls == [("email", 42), ("email", 43)]
    assert (email_gator.len(), image_gator.len()) == (0, 3)
    assert drain(Worker(image_gator, poll_timeout=0.05)) == 3
    assert [kind for kind, _ in jobs.calls[2:]] == ["thumbnail"] * 3
    assert image_gator.len() == 0


def test_a_worker_can_be_pointed_at_another_queue_with_to_consume(dsn: str) -> None:
    email_gator = Gator(dsn, queue_name="notifications")
    Gator(dsn, queue_name="images").task(jobs.create_thumbnail, "x.jpg")
    email_gator.task(jobs.send_welcome_email, 7)
    worker = Worker(email_gator, to_consume="images", poll_timeout=0.05)
    assert worker.to_consume == "images"
    assert drain(worker) == 1
    assert jobs.calls == [("thumbnail", "x.jpg")]
    assert email_gator.len() == 1
    assert email_gator.queue_name == "notifications"


# -- Custom Backend Clients ----------------------------------------------------------


@pytest.fixture
def seed_sqlite(tmp_path: Path) -> Iterator[str]:
    """A database for the guide's client, its table created as the guide leaves to you."""
    path = tmp_path / "myapp_queue.db"
    conn = sqlite3.connect(path)
    for queue in (ALL, "other"):
        conn.execute(f"CREATE TABLE {quote_identifier(queue)} (task_id TEXT, data BLOB)")
    conn.commit()
    conn.close()
    yield f"sqlite://{path}"


def test_the_seed_sqlite_client_runs_tasks_through_gator_and_worker(seed_sqlite: str) -> None:
    # Given a Gator on the guide's 1.0-only client
    gator = Gator(seed_sqlite, backend_class=SQLiteClient)
    assert isinstance(gator.backend, SQLiteClient)
    assert isinstance(gator.broker, SimpleClientAdapter)
    for n in range(4):
        gator.task(jobs.add, n, n)
    # Then the tasks are committed where another connection sees them
    assert SQLiteClient(seed_sqlite).len(ALL) == 4
    assert SQLiteClient(seed_sqlite).len("other") == 0
    # When a worker drains them
    worker = Worker(gator, max_tasks=4, poll_timeout=0.05)
    worker.run_forever()
    # Then each ran once, in order
    assert worker.tasks_complete == 4
    assert jobs.calls == [("add", (n, n)) for n in range(4)]
    assert gator.len() == 0


def test_the_seed_sqlite_client_supports_get_pop_and_cancel(seed_sqlite: str) -> None:
    gator = Gator(seed_sqlite, backend_class=SQLiteClient)
    first = gator.task(jobs.add, 1, 2)
    second = gator.task(jobs.add, 3, 4)
    third = gator.task(jobs.add, 5, 6)
    assert tasks.result_of(gator.get(second.task_id)) == 7
    canceled = gator.cancel(third.task_id)
    assert canceled is not None
    assert canceled.status.name == "CANCELED"
    assert tasks.result_of(gator.pop()) == 3
    assert gator.pop() is None
    assert jobs.calls == [("add", (3, 4)), ("add", (1, 2))]
    assert first.task_id != second.task_id


def test_the_seed_sqlite_client_retries_a_failed_task(seed_sqlite: str) -> None:
    gator = Gator(seed_sqlite, backend_class=SQLiteClient, backoff=NO_BACKOFF)
    gator.push(Task(retries=1), jobs.add, 1, "x")  # type: ignore[call-overload]
    assert drain(Worker(gator, poll_timeout=0.05)) == 2
    assert jobs.calls == [("add", (1, "x"))] * 2
    assert gator.len() == 0


def test_a_delay_is_refused_clearly_by_a_client_without_delay_support(seed_sqlite: str) -> None:
    gator = Gator(seed_sqlite, backend_class=SQLiteClient)
    with gator.options(delay_by=60) as opts, pytest.raises(ConfigurationError, match="delay"):
        opts.task(jobs.add, 1, 2)
    assert gator.len() == 0


# -- Different Workers ---------------------------------------------------------------


def test_logging_worker_runs_stops_and_logs_through_alligator_worker(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given three tasks and the guide's LoggingWorker with a task limit
    gator = Gator(dsn)
    for n in range(3):
        gator.task(jobs.add, n, 10)
    worker_logger = logging.getLogger("alligator.worker")
    before = {
        name: list(logging.getLogger(name).handlers)
        for name in ("", "alligator", worker_logger.name)
    }
    worker = LoggingWorker(gator, max_tasks=3, poll_timeout=0.05)
    # When it runs
    with caplog.at_level(logging.DEBUG, logger="alligator.worker"):
        worker.run_forever()
    # Then it ran the three tasks and stopped by itself
    assert worker.tasks_complete == 3
    assert worker.keep_running is False
    assert gator.len() == 0
    ident = worker.ident()
    worker_records = [r for r in caplog.records if r.name == "alligator.worker"]
    messages = [r.getMessage() for r in worker_records]
    assert messages[0] == f'{ident} starting & consuming "{ALL}".'
    assert messages[1] == f"{ident} will die after 3 tasks."
    assert messages[-1] == f'{ident} for "{ALL}" shutting down. Consumed 3 tasks.'
    # ... its result() override logged each return value at DEBUG
    results = [
        r.msg for r in worker_records if r.levelno == logging.DEBUG and isinstance(r.msg, int)
    ]
    assert results == [10, 11, 12]
    # ... and nobody added a logging handler
    after = {name: list(logging.getLogger(name).handlers) for name in before}
    assert after == before


def test_logging_worker_without_limit_stops_on_keep_running_false(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a LoggingWorker that "will never die", running in a thread
    gator = Gator(dsn)
    worker = LoggingWorker(gator, poll_timeout=0.05)
    caplog.set_level(logging.INFO, logger="alligator.worker")
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    try:
        gator.task(jobs.add, 1, 1)
        gator.task(jobs.add, 2, 2)
        wait_until(lambda: worker.tasks_complete == 2, timeout=10, message="two tasks run")
    finally:
        # When asked to stop
        worker.keep_running = False
        thread.join(timeout=10)
    # Then it stopped and said so
    assert not thread.is_alive()
    assert f"{worker.ident()} will never die." in caplog.messages
    assert caplog.messages[-1].endswith("shutting down. Consumed 2 tasks.")


def test_a_task_retried_on_the_seed_client_keeps_its_id(seed_sqlite: str) -> None:
    gator = Gator(seed_sqlite, backend_class=SQLiteClient, backoff=Backoff(base=60, jitter=0))
    task = gator.push(Task(retries=1), jobs.add, 1, "x")  # type: ignore[call-overload]
    assert Worker(gator, poll_timeout=0.05).check_and_run_task()
    conn = sqlite3.connect(seed_sqlite.split("://", 1)[1])
    try:
        rows = conn.execute(f"SELECT task_id FROM {quote_identifier(ALL)}").fetchall()
    finally:
        conn.close()
    assert rows == [(task.task_id,)]
