"""Outcomes and dependencies on SQLite and PostgreSQL, beyond the kit's contract.

Races the contract cannot stage from one thread: parents of one child
completing at the same time (the last one releases it, once), and a
dependent pushed while its parent completes (it is released or ready,
never blocked for ever). Expiry goes through the ``expires_at`` index, and
a PostgreSQL schema of version 1 is upgraded in place by ``alligator migrate``.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from alligator.backends import _postgresql_schema as pg_schema
from alligator.backends import _postgresql_sql as pg_sql
from alligator.backends import _sqlite_results_sql as sqlite_results_sql
from alligator.backends._postgresql_driver import parse_dsn
from alligator.backends.postgresql_backend import Client as Postgres
from alligator.backends.postgresql_backend import migrate
from alligator.backends.sqlite_backend import Client as Sqlite
from alligator.protocols import ResultClient
from alligator.records import PushItem, TaskState
from tests.fixtures import postgres_dsn
from tests.postgresql.cluster import PostgresCluster

LONG = 600.0

#: A client factory: each call is a client of its own (its own connections).
Factory = Callable[[], ResultClient]


@pytest.fixture(params=["sqlite", "postgresql"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    made: list[ResultClient] = []
    if request.param == "sqlite":
        dsn = f"sqlite:///{tmp_path}/q.db"

        def new() -> ResultClient:
            made.append(Sqlite(dsn))
            return made[-1]
    else:
        pg = postgres_dsn(request.getfixturevalue("shared_postgres"))

        def new() -> ResultClient:
            made.append(Postgres(pg))
            return made[-1]

    yield new
    for client in made:
        client.close()


def _together(actions: list[Callable[[], object]]) -> list[object]:
    """Run each action in its own thread, all released at once; their results."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait(10)
        try:
            results[i] = actions[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    return results


def test_parents_completing_together_release_their_child_once(factory: Factory) -> None:
    client = factory()
    for round_ in range(5):
        # Given a child waiting on four parents, each leased
        parents = [f"p{round_}-{i}" for i in range(4)]
        client.push_many("q", [PushItem(p, b"p") for p in parents])
        client.push_after("q", [PushItem(f"c{round_}", b"c")], [parents])
        held = [client.reserve("q", LONG) for _ in parents]
        # When four workers (clients of their own) complete them at the same time
        workers = [factory() for _ in held]
        completions: list[Callable[[], object]] = [
            functools.partial(w.complete, "q", h, result=b"ok", ttl=LONG)
            for w, h in zip(workers, held, strict=True)
            if h is not None
        ]
        flags = _together(completions)
        # Then every completion landed and the child is ready, reserved exactly once
        assert flags == [True] * 4
        assert client.task_state("q", f"c{round_}") == TaskState("ready")
        child = client.reserve("q", LONG)
        assert child is not None and child.task_id == f"c{round_}"
        assert client.reserve("q", LONG) is None
        assert client.complete("q", child, result=b"done", ttl=LONG)


def test_a_dependent_pushed_while_its_parent_completes_is_never_stranded(
    factory: Factory,
) -> None:
    producer, worker = factory(), factory()
    for round_ in range(20):
        parent = f"p{round_}"
        producer.push("q", parent, b"p")
        held = worker.reserve("q", LONG)
        assert held is not None
        # When the parent completes while a dependent on it is pushed
        _together(
            [
                functools.partial(worker.complete, "q", held, result=b"ok", ttl=LONG),
                functools.partial(
                    producer.push_after, "q", [PushItem(f"c{parent}", b"c")], [[parent]]
                ),
            ]
        )
        # Then the dependent is ready either way (released, or pushed after the outcome)
        assert producer.task_state("q", f"c{parent}") == TaskState("ready")
        got = worker.reserve("q", LONG)
        assert got is not None and got.task_id == f"c{parent}"
        assert worker.ack("q", got)


def test_sqlite_expiry_reads_the_index_head_never_the_table(tmp_path: Path) -> None:
    # Given the SQLite schema
    client = Sqlite(f"sqlite:///{tmp_path}/q.db")
    client.store_result("q", "t", b"r", LONG)
    client.close()
    conn = sqlite3.connect(tmp_path / "q.db")
    try:
        # When SQLite plans the clean-up of expired outcomes
        plan = conn.execute("EXPLAIN QUERY PLAN " + sqlite_results_sql.EXPIRE, (0.0, 64)).fetchall()
    finally:
        conn.close()
    # Then it searches the expiry index and scans nothing
    details = " ".join(str(row[-1]) for row in plan)
    assert "alligator_results_expiry" in details
    assert "SCAN alligator_results" not in details.replace("USING", "")


def test_a_version_1_postgresql_schema_is_upgraded_in_place(
    shared_postgres: PostgresCluster,
) -> None:
    # Given a schema made by the release before results (version 1), holding a task
    dsn = postgres_dsn(shared_postgres)
    target = parse_dsn(dsn)
    schema = target.schema
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {pg_sql.quote_ident(schema)}")
        conn.execute(pg_schema.ddl(schema, pg_schema.CREATE_META))
        for statement in pg_schema.MIGRATIONS[0]:
            conn.execute(pg_schema.ddl(schema, statement))
        conn.execute(pg_schema.ddl(schema, pg_schema.WRITE_VERSION), {"version": "1"})
        conn.execute(
            pg_schema.ddl(
                schema,
                "INSERT INTO {tasks} (queue, task_id, data, run_at)"
                " VALUES ('q', 'old', 'payload', 0)",
            )
        )
    # When `alligator migrate` runs
    assert migrate(dsn) == (1, pg_schema.SCHEMA_VERSION)
    # Then the old task is there and outcomes and dependencies work
    client = Postgres(dsn)
    try:
        client.push_after("q", [PushItem("next", b"n")], [["old"]])
        held = client.reserve("q", LONG)
        assert held is not None and (held.task_id, held.data) == ("old", b"payload")
        assert client.complete("q", held, result=b"done", ttl=LONG)
        assert client.fetch_result("q", "old") == b"done"
        assert client.task_state("q", "next") == TaskState("ready")
    finally:
        client.close()


def test_a_settlement_on_a_connection_the_server_dropped_is_retried_once(
    shared_postgres: PostgresCluster,
) -> None:
    # Given a client whose pooled connections are known by a name of their own
    dsn = postgres_dsn(shared_postgres) + "&application_name=dropped-under-it"
    client = Postgres(dsn)
    try:
        client.push_many("q", [PushItem("a", b"a"), PushItem("b", b"b")])
        first = client.reserve("q", LONG)
        assert first is not None and client.complete("q", first, result=b"1", ttl=LONG)
        second = client.reserve("q", LONG)
        assert second is not None
        # When the server drops them (as a restart would)
        with psycopg.connect(parse_dsn(dsn).conninfo, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'dropped-under-it' AND pid <> pg_backend_pid()"
            )
        # Then the next settlement's transaction starts on a fresh connection
        assert client.complete("q", second, result=b"2", ttl=LONG)
        assert client.fetch_result("q", "b") == b"2"
    finally:
        client.close()
