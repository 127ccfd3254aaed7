"""The PostgreSQL backend's own promises, beyond the conformance kit."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from alligator import Gator
from alligator.backends import _postgresql_schema as pg_schema
from alligator.backends import _postgresql_sql as sql
from alligator.backends._postgresql_driver import parse_dsn, redacted
from alligator.backends._postgresql_listen import channel_of
from alligator.backends.postgresql_backend import Client, migrate
from alligator.exceptions import BackendConnectionError, ConfigurationError, InvalidTaskError
from alligator.records import PushItem
from tests.postgresql.cluster import PostgresCluster, free_port
from tests.servers import wait_until


@pytest.fixture
def client(pg_dsn: str) -> Iterator[Client]:
    made = Client(pg_dsn)
    try:
        yield made
    finally:
        made.close()


# -- DSNs --------------------------------------------------------------------


def test_dsn_options_are_ours_and_the_rest_go_to_libpq() -> None:
    target = parse_dsn(
        "postgres://u:secret@db:6432/app?schema=jobs&poll=0.5&prepare=false&sslmode=require"
    )
    assert (target.schema, target.poll, target.prepare, target.migrate) == (
        "jobs", 0.5, False, True,
    )  # fmt: skip
    assert target.conninfo.startswith("postgresql://u:secret@db:6432/app?")
    assert "sslmode=require" in target.conninfo and "schema" not in target.conninfo
    assert "connect_timeout=5" in target.conninfo
    assert "secret" not in redacted("postgresql://u:secret@db/app")


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://db/app?poll=soon",
        "postgresql://db/app?poll=0",
        "postgresql://db/app?prepare=maybe",
        "postgresql://db/app?schema=",
        f"postgresql://db/app?schema={'x' * 64}",
        "mysql://db/app",
    ],
)
def test_bad_dsns_are_configuration_errors(dsn: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_dsn(dsn)


def test_both_schemes_pick_this_backend(shared_postgres: PostgresCluster) -> None:
    for scheme in ("postgresql", "postgres"):
        dsn = shared_postgres.dsn.replace("postgresql", scheme, 1)
        with Gator(dsn) as gator:
            assert isinstance(gator.broker, Client)


def test_import_alligator_imports_no_driver() -> None:
    code = "import sys, alligator; print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_unreachable_server_is_a_connection_error() -> None:
    client = Client(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres?connect_timeout=1")
    with pytest.raises(BackendConnectionError):
        client.len("q")


# -- order, clock, names ----------------------------------------------------------


def test_lower_priority_first_then_fifo(client: Client) -> None:
    # Given tasks pushed with priorities, some equal
    for task_id, priority in [("a", 5), ("b", 0), ("c", -3), ("d", 0), ("e", 5)]:
        client.push("q", task_id, task_id.encode(), priority=priority)
    # When they are reserved one by one and in a batch
    first = client.reserve("q", 30)
    _, rest = client.reserve_many("q", 30, 10)
    # Then lower numbers come first, and equal ones in push order
    assert first is not None
    assert [first.task_id, *(r.task_id for r in rest)] == ["c", "b", "d", "a", "e"]


def test_out_of_range_priority_is_refused(client: Client) -> None:
    with pytest.raises(InvalidTaskError, match="priority"):
        client.push("q", "a", b"", priority=2**31)


def test_without_an_injected_clock_leases_use_the_servers_clock(client: Client) -> None:
    # Given a task reserved with a 60 s lease by a client on the server's clock
    client.push("q", "a", b"x")
    held = client.reserve("q", 60)
    assert held is not None
    # Then its deadline in the table is 60 s after the server's now
    with psycopg.connect(client.target.conninfo, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT run_at - extract(epoch FROM now())::float8 FROM "
            f"{sql.tables(client.target.schema)['tasks']} WHERE task_id = 'a'"
        ).fetchone()
    assert row is not None and 59 < row[0] <= 60.5


def test_odd_queue_names_are_bound_not_spliced(client: Client) -> None:
    names = ["q'; DROP TABLE x; --", 'a"b', "émoji 🐊", "x" * 300]
    for name in names:
        client.push(name, "t", name.encode())
    for name in names:
        found = client.reserve(name, 30)
        assert found is not None and found.data == name.encode()
        assert client.ack(name, found)
    assert len({channel_of("public", n) for n in names}) == len(names)


def test_a_batch_keeps_the_last_of_a_repeated_id(client: Client) -> None:
    client.push_many("q", [PushItem("a", b"1"), PushItem("b", b"2"), PushItem("a", b"3")])
    _, got = client.reserve_many("q", 30, 10)
    assert [(r.task_id, r.data) for r in got] == [("b", b"2"), ("a", b"3")]


# -- schema --------------------------------------------------------------------


def test_processes_starting_together_create_the_schema_once(
    shared_postgres: PostgresCluster, schema: str
) -> None:
    # Given eight clients starting at once on a schema that does not exist
    dsn = f"{shared_postgres.dsn}?schema={schema}"
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def first_use() -> None:
        client = Client(dsn)
        try:
            start.wait()
            client.push("q", threading.current_thread().name, b"x")
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # Then every one succeeded and the schema is at the current version
    assert errors == []
    assert migrate(dsn, check=True) == (pg_schema.SCHEMA_VERSION, pg_schema.SCHEMA_VERSION)


def test_migrate_false_refuses_a_missing_schema(
    shared_postgres: PostgresCluster, schema: str
) -> None:
    client = Client(f"{shared_postgres.dsn}?schema={schema}&migrate=false")
    with pytest.raises(ConfigurationError, match="alligator migrate"):
        client.len("q")
    assert migrate(f"{shared_postgres.dsn}?schema={schema}") == (0, pg_schema.SCHEMA_VERSION)
    assert client.len("q") == 0
    client.close()


def test_a_newer_schema_is_refused(client: Client) -> None:
    client.len("q")
    with psycopg.connect(client.target.conninfo, autocommit=True) as conn:
        conn.execute(
            f"UPDATE {sql.tables(client.target.schema)['meta']} SET value = '99'"
            " WHERE key = 'version'"
        )
    newcomer = Client(client.conn_string)
    with pytest.raises(ConfigurationError, match="newer"):
        newcomer.len("q")


def test_a_version_3_schema_with_flow_tables_made_on_first_use_upgrades_to_4(
    shared_postgres: PostgresCluster, schema: str
) -> None:
    # Given a version-3 schema whose client created the flow tables on first
    # use (what clients before version 4 did), holding a unique key
    dsn = f"{shared_postgres.dsn}?schema={schema}"
    target = parse_dsn(dsn)
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {sql.quote_ident(schema)}")
        conn.execute(pg_schema.ddl(schema, pg_schema.CREATE_META))
        for version in pg_schema.MIGRATIONS:
            for statement in version:
                conn.execute(pg_schema.ddl(schema, statement))
        conn.execute(pg_schema.ddl(schema, pg_schema.WRITE_VERSION), {"version": "3"})
    # When `alligator migrate` runs
    assert migrate(dsn) == (3, pg_schema.SCHEMA_VERSION)
    # Then the flow tables are whole and used, with no table made on first use
    client = Client(dsn)
    try:
        assert client.push_unique("q", "a", b"x", unique_key="k") == ("a", True)
        assert client.push_unique("q", "b", b"x", unique_key="k") == ("a", False)
    finally:
        client.close()


def test_the_flow_tables_exist_once_the_schema_is_made(
    shared_postgres: PostgresCluster, schema: str
) -> None:
    # Given a fresh schema, made by `alligator migrate` alone
    dsn = f"{shared_postgres.dsn}?schema={schema}"
    migrate(dsn)
    # Then every flow table is there before any client used one (no race on first use)
    names = sql.tables(schema)
    with psycopg.connect(parse_dsn(dsn).conninfo, autocommit=True) as conn:
        for table in ("unique", "slots", "starts", "limits"):
            [(found,)] = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (names[table],))
            assert found, table


def test_migrate_cli(shared_postgres: PostgresCluster, schema: str) -> None:
    dsn = f"{shared_postgres.dsn}?schema={schema}"
    run = [sys.executable, "-m", "alligator", "migrate", dsn]
    assert subprocess.run([*run, "--check"], capture_output=True, check=False).returncode == 1
    done = subprocess.run(run, capture_output=True, text=True, check=True)
    assert f"from version 0 to {pg_schema.SCHEMA_VERSION}" in done.stdout
    assert subprocess.run([*run, "--check"], capture_output=True, check=False).returncode == 0


# -- waiting -------------------------------------------------------------------


def test_an_idle_worker_sends_no_queries(client: Client) -> None:
    # Given a worker that found its queue empty
    assert client.reserve("q", 30, timeout=0.2) is None
    sent = client.statements_sent
    # When it keeps waiting, call after call, as a Worker loop does
    for _ in range(5):
        assert client.reserve("q", 30, timeout=0.2) is None
    # Then it sent no statement, and still wakes for a push from elsewhere
    assert client.statements_sent == sent
    other = Client(client.conn_string)
    try:
        threading.Timer(0.1, other.push, args=("q", "a", b"x")).start()
        found = client.reserve("q", 30, timeout=5)
        assert found is not None and found.task_id == "a"
    finally:
        other.close()


def test_a_delayed_task_wakes_its_waiter_when_due(client: Client) -> None:
    client.reserve("q", 30, timeout=0.05)
    client.push("q", "later", b"x", delay_until=time.time() + 0.3)
    started = time.monotonic()
    found = client.reserve("q", 30, timeout=5)
    assert found is not None and 0.2 < time.monotonic() - started < 2


def test_poll_mode_claims_without_listen(pg_dsn: str) -> None:
    client = Client(f"{pg_dsn}&poll=0.05")
    other = Client(pg_dsn)
    try:
        client.len("q")  # the schema is set up first (its migrations take a while)
        before = client.statements_sent
        assert client.reserve("q", 30, timeout=0.15) is None
        assert client.statements_sent - before >= 2  # it polled
        threading.Timer(0.1, other.push, args=("q", "a", b"x")).start()
        found = client.reserve("q", 30, timeout=5)
        assert found is not None
    finally:
        client.close()
        other.close()


def test_enqueues_are_durable_and_lease_traffic_is_not_waited_for(client: Client) -> None:
    # Given a client that pushed and claimed
    client.push("q", "a", b"x")
    assert client.reserve("q", 30) is not None
    # Then pushes run with commits that wait for the WAL flush, and claims
    # with commits that do not (a claim lost in a crash only re-queues)
    settings = {}
    for durable in (True, False, True):
        [(setting,)] = client._db.rows("SHOW synchronous_commit", {}, durable=durable)
        settings[durable] = setting
    assert settings == {True: "on", False: "off"}


def test_a_client_vacuums_the_table_as_rows_churn(pg_dsn: str) -> None:
    # Given a client told to vacuum every 200 rows it leases or deletes
    client = Client(f"{pg_dsn}&vacuum=200")
    try:
        # When 150 tasks are pushed, leased and acked (300 rows changed)
        client.push_many("q", [PushItem(f"t{i}", b"x") for i in range(150)])
        _, leased = client.reserve_many("q", 30, 150)
        client.reserve_many("q", 30, 0, done=leased)
        # Then it ran a VACUUM of the task table in the background
        wait_until(lambda: client.vacuums_run >= 1, 10, message="a VACUUM")
    finally:
        client.close()
    assert parse_dsn(f"{pg_dsn}&vacuum=0").vacuum == 0
    with pytest.raises(ConfigurationError):
        parse_dsn(f"{pg_dsn}&vacuum=often")


def test_a_burst_of_delayed_tasks_coming_due_is_drained_by_priority(pg_dsn: str) -> None:
    # Given ten delayed tasks due at once-ish, the least urgent due first
    now = [1_700_000_000.0]
    client = Client(pg_dsn, clock=lambda: now[0])
    try:
        items = [
            PushItem(f"t{i}", bytes([i]), now[0] + 1 + i / 100, priority=9 - i) for i in range(10)
        ]
        client.push_many("q", items)
        # When they are all due and claimed two at a time
        now[0] += 5
        order: list[bytes] = []
        while True:
            _, got = client.reserve_many("q", 30, 2)
            if not got:
                break
            order += [r.data for r in got]
        # Then the claims took them by priority, not by due time: the first
        # claim leased two and made the other due ones ready rows in order
        assert order == [bytes([i]) for i in range(9, -1, -1)]
    finally:
        client.close()


def _index_reads(client: Client, schema: str) -> int:
    """Index entries the server has read from the task table's indexes so far."""
    client._db.rows("SELECT pg_stat_force_next_flush()", {})  # this session's counts
    with psycopg.connect(client._db.target.conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT sum(idx_tup_read) FROM pg_stat_user_indexes "
            "WHERE schemaname = %s AND relname = 'alligator_tasks'",
            (schema,),
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def test_a_batch_looks_up_its_ids_without_walking_the_queue(pg_dsn: str, schema: str) -> None:
    # Given a client whose batch statement was first planned on a near-empty
    # table (its generic plan is kept), and 3,000 tasks waiting
    client = Client(pg_dsn)
    try:
        client.push("q", "first", b"x")
        client.push_many("q", [PushItem("second", b"x")])
        for start in range(0, 3000, 1000):
            client.push_many("q", [PushItem(f"t{start + i}", b"x") for i in range(1000)])
        before = _index_reads(client, schema)
        # When a batch of 100 more is pushed
        client.push_many("q", [PushItem(f"u{i}", b"x") for i in range(100)])
        # Then it read about one index entry per id, not the queue's 3,000
        # (the plan that filtered the queue by the id array read them all,
        # and a batch took a millisecond more per 100 tasks queued)
        read = _index_reads(client, schema) - before
        assert read < 1000, read
    finally:
        client.close()
