"""Behaviour of the ``sqlite://`` backend on real files, with an injected clock.

Both embedded backends promise the same semantics, so the semantic tests of
the locmem module are collected here too and run against SQLite through this
module's ``client`` fixture; below them are the SQLite-specific tests.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator
from alligator.backends._sqlite_sql import RESERVE
from alligator.backends.sqlite_backend import Client
from alligator.exceptions import BackendConnectionError, BackendError, ConfigurationError
from alligator.records import PushItem, QueueStats, Reservation
from tests import tasks, test_locmem_backend

# The locmem semantics tests, imported so pytest runs them here against SQLite
# (test_every_locmem_semantics_test_runs_here keeps this list complete).
from tests.test_locmem_backend import (  # noqa: F401
    FakeClock,
    test_buried_lists_in_burial_order_even_if_the_clock_jumps_back,
    test_bury_keeps_task_aside_with_reason,
    test_delayed_task_is_invisible_until_due,
    test_drop_all_removes_every_state_of_that_queue_only,
    test_expired_lease_makes_task_ready_again,
    test_get_removes_ready_or_delayed_only,
    test_lease_expired_but_not_retaken_is_lost,
    test_order_is_fifo_by_due_time_then_push_order,
    test_pop_is_at_most_once_and_honours_delay,
    test_push_existing_id_replaces_the_task,
    test_push_many_stores_all,
    test_release_with_new_data_and_delay,
    test_release_without_data_keeps_payload_and_goes_behind_same_due,
    test_renew_extends_the_lease,
    test_stale_token_is_refused_and_changes_nothing,
)

Q = "q"

#: Locmem tests about locmem itself (named stores, its heap, its DSNs, its
#: condition variable); each has a SQLite counterpart below where one applies.
LOCMEM_ONLY = {
    "test_bad_dsn_is_a_configuration_error",
    "test_blocking_reserve_returns_none_after_timeout",
    "test_blocking_reserve_wakes_on_push_from_another_thread",
    "test_clients_with_one_name_share_a_store_and_names_isolate",
    "test_heap_is_compacted_after_many_removals",
    "test_reset_stores_gives_new_clients_an_empty_store",
    "test_threads_reserve_each_task_exactly_once",
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'queue.db'}"


@pytest.fixture
def client(dsn: str, clock: FakeClock) -> Iterator[Client]:
    client = Client(dsn, clock=clock)
    yield client
    client.close()


@pytest.fixture
def _one_task(client: Client) -> None:
    client.push(Q, "t", b"payload")


def _drain(dsn: str, out: list[str]) -> None:
    client = Client(dsn)
    while (found := client.reserve(Q, 30)) is not None:
        assert client.ack(Q, found)
        out.append(found.task_id)
    client.close()


def _drain_in_process(dsn: str, results: multiprocessing.Queue[list[str] | str]) -> None:
    seen: list[str] = []
    try:
        _drain(dsn, seen)
    except BaseException as exc:  # the parent says why, instead of timing out on the queue
        results.put(f"{type(exc).__name__}: {exc} (after {len(seen)} tasks)")
        raise
    results.put(seen)


def test_two_clients_on_one_file_see_each_others_tasks(dsn: str, clock: FakeClock) -> None:
    gator, worker = Client(dsn, clock=clock), Client(dsn, clock=clock)
    gator.push(Q, "t", b"x")
    held = worker.reserve(Q, 30)
    assert held is not None and held.data == b"x"
    assert gator.stats(Q) == QueueStats(reserved=1)
    assert worker.ack(Q, held)
    assert gator.len(Q) == 0
    gator.close()
    worker.close()


def test_tasks_survive_closing_and_reopening(dsn: str, clock: FakeClock) -> None:
    client = Client(dsn, clock=clock)
    client.push(Q, "t", b"\x00\xff binary")
    client.close()
    assert Client(dsn, clock=clock).pop(Q) == b"\x00\xff binary"


def test_a_closed_client_reopens_on_next_use(client: Client) -> None:
    client.push(Q, "t", b"x")
    client.close()
    assert client.len(Q) == 1


def test_four_threads_reserve_each_of_500_tasks_exactly_once(client: Client, dsn: str) -> None:
    # Given 500 tasks
    Client(dsn).push_many(Q, [PushItem(str(i), b"x") for i in range(500)])
    # When four threads (one connection each) drain the queue concurrently
    seen: list[str] = []
    threads = [threading.Thread(target=_drain, args=(dsn, seen)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then each task was handed out exactly once
    assert sorted(seen, key=int) == [str(i) for i in range(500)]


def test_two_processes_reserve_each_task_exactly_once(dsn: str) -> None:
    Client(dsn).push_many(Q, [PushItem(str(i), b"x") for i in range(500)])
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[list[str] | str] = context.Queue()
    workers = [context.Process(target=_drain_in_process, args=(dsn, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    got = [results.get(timeout=60) for _ in workers]
    seen = [task_id for part in got if isinstance(part, list) for task_id in part]
    assert [part for part in got if isinstance(part, str)] == []
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert sorted(seen, key=int) == [str(i) for i in range(500)]


def test_blocking_reserve_wakes_on_push_from_another_thread(dsn: str) -> None:
    # Given a worker polling in reserve with a long timeout
    results: list[Reservation | None] = []
    worker = threading.Thread(target=lambda: results.append(Client(dsn).reserve(Q, 30, timeout=30)))
    worker.start()
    # When another client pushes
    Client(dsn).push(Q, "t", b"x")
    # Then the worker returns that task
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert results[0] is not None and results[0].task_id == "t"


def test_blocking_reserve_returns_none_after_timeout(client: Client) -> None:
    assert client.reserve(Q, 30, timeout=0.02) is None


def test_missing_directory_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "queue.db"
    with pytest.raises(ConfigurationError, match="nope"):
        Client(f"sqlite:///{missing}")
    assert not missing.parent.exists()


@pytest.mark.parametrize(
    "dsn",
    [
        "sqlite://:memory:",
        "sqlite:///:memory:",
        "sqlite://",
        "sqlite:///",
        "sqlite://x.db?mode=ro",
        "sqlite:x.db",
        "locmem://",
    ],
)
def test_unusable_dsn_is_a_configuration_error(dsn: str) -> None:
    with pytest.raises(ConfigurationError):
        Client(dsn)


def test_relative_path_is_resolved_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    client = Client("sqlite://rel.db")
    assert client.path == str(tmp_path / "rel.db")


def test_everything_after_the_scheme_is_the_path_as_in_1_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a working directory that has a ./tmp of its own (the old trap)
    (tmp_path / "work" / "tmp").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    absolute = tmp_path / "q.db"
    # Then three slashes name an absolute path, four too, and two a relative one
    assert Client(f"sqlite://{absolute}").path == str(absolute)
    assert Client(f"sqlite:///{absolute}").path == str(absolute)
    assert Client("sqlite://tmp/q.db").path == str(tmp_path / "work" / "tmp" / "q.db")


def test_the_seed_dsn_names_the_file_in_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The original documentation's Gator('sqlite:///tmp/myapp_queue.db'): /tmp, wherever we are
    monkeypatch.chdir(tmp_path)
    assert Client("sqlite:///tmp/myapp_queue.db").path == "/tmp/myapp_queue.db"


def test_the_default_dsn_is_alligator_db_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with Gator() as gator:
        assert gator.conn_string == "sqlite://alligator.db"
        gator.task(tasks.add, 1, 2)
    assert (tmp_path / "alligator.db").exists()


def test_queue_name_is_data_never_sql(client: Client) -> None:
    evil = "x'; DROP TABLE alligator_tasks; --"
    client.push(evil, "t", b"x")
    client.push(Q, "u", b"y")
    assert client.len(evil) == 1
    assert client.pop(evil) == b"x"
    assert client.len(Q) == 1


def test_file_uses_wal_and_reserve_uses_the_due_indexes(client: Client, dsn: str) -> None:
    client.push(Q, "t", b"x")
    with sqlite3.connect(client.path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        plan = raw.execute("EXPLAIN QUERY PLAN " + RESERVE, (1.0, "tok", Q, 2.0)).fetchall()
    raw.close()
    steps = [row[3] for row in plan]
    # Each of the three heads (priorities below 0, 0, above 0) is an index range...
    assert "SEARCH alligator_tasks USING INDEX alligator_tasks_fifo (queue=? AND run_at<?)" in steps
    ranked = "SEARCH alligator_tasks USING INDEX alligator_tasks_ranked (queue=? AND priority{}?)"
    assert ranked.format("<") in steps and ranked.format(">") in steps
    # ...no table is scanned, and the only sort merges the (at most 3) heads
    assert not [s for s in steps if s.startswith("SCAN alligator_tasks")]
    assert [s for s in steps if "TEMP B-TREE" in s] == ["USE TEMP B-TREE FOR ORDER BY"]


def test_a_file_made_before_priorities_gets_the_column(tmp_path: Path) -> None:
    # Given a database written by a version without priorities, holding a task
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.execute(
            "CREATE TABLE alligator_tasks (seq INTEGER PRIMARY KEY, queue TEXT NOT NULL,"
            " task_id TEXT NOT NULL, data BLOB NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
            " run_at REAL NOT NULL, token TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
            " reason TEXT, buried_at REAL)"
        )
        raw.execute(
            "CREATE INDEX alligator_tasks_due ON alligator_tasks (queue, run_at, seq)"
            " WHERE state < 2"
        )
        raw.execute(
            "INSERT INTO alligator_tasks (queue, task_id, data, run_at) VALUES (?, ?, ?, 0)",
            (Q, "old", b"o"),
        )
    raw.close()
    # When a client opens it and pushes a prioritised task
    client = Client(f"sqlite:///{path}")
    client.push(Q, "urgent", b"u", priority=-1)
    # Then the old task kept its place at priority 0, behind the urgent one
    assert [client.pop(Q), client.pop(Q), client.pop(Q)] == [b"u", b"o", None]
    with sqlite3.connect(path) as raw:
        indexes = {
            name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    raw.close()
    assert "alligator_tasks_due" not in indexes
    assert {"alligator_tasks_fifo", "alligator_tasks_ranked"} <= indexes
    client.close()


def test_locked_database_raises_backend_connection_error(dsn: str) -> None:
    # Given another connection holding the write lock
    client = Client(dsn, busy_timeout=0.05)
    client.push(Q, "t", b"x")
    holder = sqlite3.connect(client.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # Then a write gives our error, chained to the driver's
        with pytest.raises(BackendConnectionError) as caught:
            client.push(Q, "u", b"y")
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        # And reads still work in WAL mode
        assert client.len(Q) == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        client.close()


def test_a_broken_statement_is_a_backend_error_not_a_connection_error(client: Client) -> None:
    # Given a database whose table someone else dropped after the client set it up
    client.push(Q, "t", b"x")
    with sqlite3.connect(client.path, isolation_level=None) as raw:
        raw.execute("DROP TABLE alligator_tasks")
    raw.close()
    # Then the failure is our BackendError, chained to the driver's, and not a
    # connection error (retrying would not help)
    with pytest.raises(BackendError) as caught:
        client.push(Q, "u", b"y")
    assert not isinstance(caught.value, BackendConnectionError)
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert "no such table" in str(caught.value)


def test_a_file_that_is_not_a_database_is_a_connection_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not a database at all, " * 100)
    client = Client(f"sqlite:///{path}")
    with pytest.raises(BackendConnectionError) as caught:
        client.len(Q)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    client.close()


def test_connections_of_finished_threads_are_closed(client: Client) -> None:
    # Given a thread that used the client and ended (like a per-task heartbeat)
    for _ in range(3):
        thread = threading.Thread(target=client.len, args=(Q,))
        thread.start()
        thread.join()
    # When another connection is opened, the finished threads' ones are closed
    client.len(Q)
    assert len(client._db._connections) == 1


def test_attempts_count_every_reservation(client: Client, clock: FakeClock) -> None:
    client.push(Q, "t", b"x")
    for attempt in (1, 2, 3):
        held = client.reserve(Q, 5)
        assert held is not None and held.attempts == attempt
        clock.advance(5)


def test_every_locmem_semantics_test_runs_here() -> None:
    # A semantics test added to the locmem module must be re-collected above
    # (or named locmem-only), or SQLite would silently miss it.
    locmem = {name for name in vars(test_locmem_backend) if name.startswith("test_")}
    here = {
        name
        for name, value in globals().items()
        if name.startswith("test_")
        and getattr(value, "__module__", None) == "tests.test_locmem_backend"
    }
    assert locmem >= LOCMEM_ONLY, f"no such locmem test: {sorted(LOCMEM_ONLY - locmem)}"
    assert sorted(locmem - LOCMEM_ONLY - here) == [], "locmem tests SQLite does not run"
