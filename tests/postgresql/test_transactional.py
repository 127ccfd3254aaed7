"""``gator.within(conn)``: tasks that commit and roll back with the caller's transaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from alligator import Gator
from alligator.backends.postgresql_backend import Client
from alligator.exceptions import BackendError, ConfigurationError
from alligator.records import QueueStats, Reservation
from alligator.transactional import ThroughConnection
from tests import tasks


@pytest.fixture
def gator(pg_dsn: str) -> Iterator[Gator]:
    with Gator(pg_dsn, queue_name="q") as made:
        yield made


@pytest.fixture
def conn(gator: Gator, shared_postgres: object) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """The application's own connection (not autocommit: a transaction opens on first use)."""
    client = gator.broker
    assert isinstance(client, Client)
    with psycopg.connect(client.target.conninfo) as own:
        own.execute("CREATE TABLE IF NOT EXISTS public.signups (name text)")
        own.commit()
        yield own


def _client(gator: Gator) -> Client:
    assert isinstance(gator.broker, Client)
    return gator.broker


class Waiter:
    """A worker thread blocked in ``reserve`` on the queue, timing its wake-up."""

    def __init__(self, client: Client, timeout: float) -> None:
        self.client = client
        self.found: Reservation | None = None
        self.woke_at = 0.0
        self.thread = threading.Thread(target=self._run, args=(timeout,), daemon=True)
        self.thread.start()

    def _run(self, timeout: float) -> None:
        self.found = self.client.reserve("q", 30, timeout=timeout)
        self.woke_at = time.perf_counter()

    def join(self) -> None:
        self.thread.join(15)
        assert not self.thread.is_alive()


def _waiting(client: Client) -> None:
    """Give a Waiter's reserve time to claim, find nothing, and block (its LISTEN is up)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if client.statements_sent >= 1 and client.stats("q").ready == 0:
            time.sleep(0.05)
            return
        time.sleep(0.01)
    raise AssertionError("the waiter never claimed")


def test_a_committed_task_exists_once_and_wakes_a_blocked_worker_within_milliseconds(
    gator: Gator, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    # Given a worker blocked in reserve (LISTEN) on an empty queue
    worker = Client(gator.conn_string)
    try:
        waiter = Waiter(worker, timeout=10)
        _waiting(worker)
        # When the application inserts its row and enqueues in one transaction
        conn.execute("INSERT INTO public.signups VALUES ('ada')")
        task = gator.within(conn).task(tasks.add, 1, 2)
        assert gator.len() == 0  # not visible before the commit
        committed = time.perf_counter()
        conn.commit()
        waiter.join()
        # Then exactly one task exists, and the worker woke within milliseconds
        assert waiter.found is not None and waiter.found.task_id == task.task_id
        assert waiter.woke_at - committed < 0.25
        assert gator.broker.stats("q").reserved == 1 and gator.len() == 0
    finally:
        worker.close()


def test_a_rolled_back_task_leaves_no_trace_and_wakes_nobody(
    gator: Gator, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    # Given a worker blocked in reserve on an empty queue
    worker = Client(gator.conn_string)
    try:
        waiter = Waiter(worker, timeout=1.0)
        _waiting(worker)
        sent = worker.statements_sent
        # When the application enqueues (one task, a batch) and then rolls back
        conn.execute("INSERT INTO public.signups VALUES ('bob')")
        bound = gator.within(conn)
        bound.task(tasks.add, 1, 2)
        with bound.batch() as batch:
            batch.task(tasks.add, 3, 4)
            batch.task(tasks.add, 5, 6)
        conn.rollback()
        waiter.join()
        # Then no task exists, and the worker was never woken: its reserve ran
        # out its timeout without claiming again
        assert waiter.found is None
        assert worker.statements_sent == sent
        assert gator.broker.stats("q") == QueueStats()
    finally:
        worker.close()


def test_batch_and_options_commit_together(
    gator: Gator, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    # Given a batch and a prioritised task enqueued in one transaction
    bound = gator.within(conn)
    with bound.batch() as batch:
        batch.task(tasks.add, 1, 1)
        batch.task(tasks.add, 2, 2)
    with bound.options(priority=-5) as opts:
        urgent = opts.task(tasks.add, 3, 3)
    # When it commits
    conn.commit()
    # Then all three are queued, the prioritised one first
    assert gator.len() == 3
    first = _client(gator).reserve("q", 30)
    assert first is not None and first.task_id == urgent.task_id


def test_an_autocommit_connection_commits_at_once(gator: Gator) -> None:
    client = _client(gator)
    with psycopg.connect(client.target.conninfo, autocommit=True) as own:
        gator.within(own).task(tasks.add, 1, 2)
        assert gator.len() == 1


def test_a_failed_transaction_is_refused_with_a_clear_error(
    gator: Gator, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    # Given a transaction in which a statement failed
    with pytest.raises(psycopg.errors.UndefinedTable):
        conn.execute("SELECT * FROM no_such_table")
    # When a task is enqueued through it: a clear error, nothing stored
    with pytest.raises(BackendError, match="roll it back"):
        gator.within(conn)
    conn.rollback()
    producer = gator.within(conn)
    with pytest.raises(psycopg.errors.UndefinedTable):
        conn.execute("SELECT * FROM no_such_table")
    with pytest.raises(BackendError, match="roll it back"):
        producer.task(tasks.add, 1, 2)
    conn.rollback()
    assert gator.len() == 0


@pytest.mark.parametrize(
    ("connection", "words"),
    [(object(), "psycopg 3 Connection"), ("postgresql://", "psycopg 3 Connection")],
)
def test_another_kind_of_connection_is_refused(
    gator: Gator, connection: object, words: str
) -> None:
    with pytest.raises(ConfigurationError, match=words):
        gator.within(connection)


def test_a_closed_connection_or_another_database_is_refused(gator: Gator) -> None:
    client = _client(gator)
    own = psycopg.connect(client.target.conninfo)
    own.close()
    with pytest.raises(ConfigurationError, match="closed"):
        gator.within(own)
    with psycopg.connect(client.target.conninfo, autocommit=True) as admin:
        admin.execute("CREATE DATABASE other_app")
    try:
        other = client.target.conninfo.replace("/postgres?", "/other_app?")
        with (
            psycopg.connect(other) as elsewhere,
            pytest.raises(ConfigurationError, match="other_app"),
        ):
            gator.within(elsewhere)
    finally:
        with psycopg.connect(client.target.conninfo, autocommit=True) as admin:
            admin.execute("DROP DATABASE other_app")


def test_a_backend_without_transactions_says_so(
    conn: psycopg.Connection[tuple[object, ...]], locmem_gator: Gator
) -> None:
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        locmem_gator.within(conn)


def test_the_bound_producer_shares_the_gator_and_closes_nothing(
    gator: Gator, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    bound = gator.within(conn)
    assert isinstance(bound.broker, ThroughConnection) and bound.broker.connection is conn
    assert bound.queue_name == gator.queue_name and bound.codec is gator.codec
    bound.close()
    conn.commit()
    assert not conn.closed
    assert gator.len() == 0  # the parent's client still works
