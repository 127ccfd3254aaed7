"""PostgreSQL figures: raw psycopg baselines, Alligator, procrastinate, and table bloat.

Everything runs against ONE private PostgreSQL started here (``initdb`` +
``pg_ctl`` on a free loopback port in a temp directory, as the ``postgres``
user when run as root), with the server's default durability settings
(``fsync`` and ``synchronous_commit`` on): every autocommit statement waits
for its WAL flush, for the baselines, Alligator and procrastinate alike.

* ``raw psycopg``: a minimal job table (``id bigserial``, ``queue``,
  ``payload bytea``, an index on ``(queue, id)``); one prepared single-row
  ``INSERT`` per round trip (enqueue), and one prepared
  ``DELETE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1)
  RETURNING payload`` per round trip (drain). The payload is Alligator's own
  msgpack envelope of ``add(1, 2)``.
* ``alligator postgresql msgpack``: the same figures as every other backend
  (:mod:`benchmarks.alligator_bench`: ``gator.batch()``, one worker
  process's drain, idle wake-up), each repeat on a fresh schema. The single
  enqueue is timed in chunks alternating with the raw INSERT's
  (:func:`measure_enqueue`), so the drift of the WAL flush's speed hits both
  alike.
* ``procrastinate``: ``add.defer(a=1, b=2)`` one by one, and one worker
  (``run_worker(wait=False, concurrency=1)``) draining them, run by the
  peers' venv (``peers/run_procrastinate.py``) on a fresh database per repeat.
* ``bloat``: :data:`BLOAT_TASKS` tasks pushed (batches of 1,000) and drained
  (``reserve_many`` by 500 with fused acks) in rounds of 10,000 through the
  backend's own statements, with autovacuum as the schema configures it;
  then ``pg_total_relation_size`` of the task table (heap, TOAST, every
  index) is compared with the same table freshly created, after one plain
  ``VACUUM`` (what autovacuum's next visit would do). The client vacuums
  the table itself as rows churn (the ``vacuum`` DSN option).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg

from alligator import Gator
from alligator.backends import _postgresql_sql as sql
from alligator.backends.postgresql_backend import Client
from alligator.records import PushItem, Reservation
from alligator.utils import new_task_id
from benchmarks import alligator_bench, peers_bench, tasks
from benchmarks.alligator_bench import ROOT, Backend, run_result_process
from benchmarks.report import PG_BARE as BARE
from benchmarks.report import PG_OURS as OURS
from benchmarks.report import PG_PEER as PEER
from benchmarks.report import PG_QUIET as QUIET
from benchmarks.report import PG_RAW as RAW
from benchmarks.rows import Row, alternate, per_second, timed
from tests.postgresql.cluster import PostgresCluster, find_pg_bin

__all__ = ["BLOAT_TASKS", "measure_all", "server"]

#: Tasks enqueued and drained before the table's size is read.
BLOAT_TASKS = 1_000_000
#: Tasks per repeat of the one-by-one figures: every commit waits for an fsync
#: here, so a few thousand give a stable rate in seconds, not minutes.
PG_N = 2_000
_ROUND = 10_000
#: Enqueues per chunk of :func:`measure_enqueue` (~10 ms of each).
_CHUNK = 20
_SCRIPT = Path(__file__).resolve().parent / "peers" / "run_procrastinate.py"


@contextlib.contextmanager
def server() -> Iterator[PostgresCluster]:
    """A private PostgreSQL with default durability, destroyed on the way out."""
    bindir = find_pg_bin()
    if bindir is None:
        raise SystemExit("PostgreSQL (initdb, pg_ctl) is not installed; run `make servers` first")
    cluster = PostgresCluster(bindir)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


def version(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


# -- raw baselines ------------------------------------------------------------------

_RAW_TABLE = """
CREATE TABLE IF NOT EXISTS raw_jobs (id bigserial PRIMARY KEY, queue text NOT NULL,
                                     payload bytea NOT NULL);
CREATE INDEX IF NOT EXISTS raw_jobs_queue ON raw_jobs (queue, id)"""
_RAW_INSERT = "INSERT INTO raw_jobs (queue, payload) VALUES (%s, %s)"
_RAW_CLAIM = (
    "DELETE FROM raw_jobs WHERE id = (SELECT id FROM raw_jobs WHERE queue = %s ORDER BY id"
    " LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING payload"
)


def measure_raw(dsn: str, n: int, repeats: int, payload: bytes) -> list[Row]:
    """One prepared SKIP LOCKED claim per round trip (the INSERT: :func:`measure_enqueue`)."""
    note = "autocommit, prepared, one row per round trip"
    claim = Row(RAW, "raw", "drain", n=n, note=f"DELETE ... SKIP LOCKED RETURNING: {note}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(_RAW_TABLE)
        cursor = conn.cursor()
        for _ in range(repeats):
            conn.execute("TRUNCATE raw_jobs")
            for _ in range(n):
                cursor.execute(_RAW_INSERT, ("bench", payload), prepare=True)

            def drain() -> None:
                for _ in range(n):
                    cursor.execute(_RAW_CLAIM, ("bench",), prepare=True)
                    if cursor.fetchone() is None:
                        raise RuntimeError("raw drain ran dry")

            claim.values.append(per_second(n, timed(drain)))
    return [claim]


def measure_enqueue(dsn: str, n: int, repeats: int, payload: bytes) -> list[Row]:
    """Raw INSERT and ``gator.task`` one by one, in alternating chunks of :data:`_CHUNK`.

    Each waits for a WAL flush, whose speed drifts with whatever else the
    disk is doing; alternating small chunks (and which leg goes first)
    lets the drift hit both alike,
    where two phases a minute apart measured ratios from 0.54 to 0.86 for
    the same code. Two more legs send the backend's own INSERT through
    psycopg with no Alligator code around it, with and without its
    ``pg_notify``: the floor of any enqueue into this schema, and what the
    wake-up costs.
    """
    note = f"one per round trip, in chunks of {_CHUNK} alternating with the others"
    rows = [
        Row(RAW, "raw", "enqueue", n=n, note=f"INSERT, autocommit, prepared; {note}"),
        Row(OURS, "alligator", "enqueue", n=n, note=f"gator.task(add, 1, 2); {note}"),
        Row(BARE, "raw", "enqueue", n=n, note=f"the backend's INSERT via psycopg; {note}"),
        Row(QUIET, "raw", "enqueue", n=n, note=f"the same without pg_notify; {note}"),
    ]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(_RAW_TABLE)
        for _ in range(repeats):
            conn.execute("TRUNCATE raw_jobs")
            with Gator(f"{dsn}?schema=e{uuid.uuid4().hex[:10]}", codec="msgpack") as gator:
                spent = alternate(_enqueue_legs(conn.cursor(), gator, payload), n, _CHUNK)
            for row, seconds in zip(rows, spent, strict=True):
                row.values.append(per_second(n, seconds))
    return rows


def _enqueue_legs(
    cursor: psycopg.Cursor[Any], gator: Gator, payload: bytes
) -> list[Callable[[int], None]]:
    """The legs of :func:`measure_enqueue`, in its rows' order, each making ``count`` enqueues."""
    gator.task(tasks.add, 1, 2)  # the schema, a connection and the statements ready
    backend = gator.backend
    assert isinstance(backend, Client)
    queue = gator.queue_name
    channel = backend._channel(queue)
    fresh = backend._sql.push_fresh
    silent, returning, _ = fresh.rpartition("RETURNING")
    assert returning, "push_fresh has no RETURNING clause to drop"

    def raw(count: int) -> None:
        for _ in range(count):
            cursor.execute(_RAW_INSERT, ("bench", payload), prepare=True)

    def alligator(count: int) -> None:
        for _ in range(count):
            gator.task(tasks.add, 1, 2)

    def statement(count: int) -> None:
        for _ in range(count):
            cursor.execute(fresh, (queue, new_task_id(), payload, 0, None, channel), prepare=True)

    def unnotified(count: int) -> None:
        for _ in range(count):
            cursor.execute(silent, (queue, new_task_id(), payload, 0, None), prepare=True)

    return [raw, alligator, statement, unnotified]


# -- Alligator ----------------------------------------------------------------------


def measure_alligator(
    dsn: str, n: int, repeats: int, batch_size: int, *, wake_n: int, idle: float
) -> list[Row]:
    """The figures every backend gets, each repeat on a fresh schema."""

    def fresh() -> str:
        return f"{dsn}?schema=b{uuid.uuid4().hex[:10]}"

    backend = Backend("postgresql msgpack", fresh, "msgpack")
    # The one-by-one enqueue is measured beside the raw INSERT (measure_enqueue).
    rows = [
        row
        for row in alligator_bench.measure(backend, n, repeats, batch_size)
        if row.metric != "enqueue"
    ]
    rows += alligator_bench.measure_wake(backend, wake_n, repeats, idle=idle)
    return rows


# -- procrastinate ------------------------------------------------------------------


def _peer(args: list[str]) -> dict[str, object]:
    return run_result_process([str(peers_bench.python()), str(_SCRIPT), *args])


def peer_version() -> dict[str, str]:
    found = _peer(["versions"])["versions"]
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def measure_procrastinate(dsn: str, n: int, repeats: int) -> list[Row]:
    """``defer`` one by one, then one worker draining them, on a fresh database per repeat."""
    enqueue = Row(PEER, "peer", "enqueue", n=n, note="add.defer(a=1, b=2), one by one")
    drain = Row(PEER, "peer", "drain", n=n, note="one worker, concurrency=1, wait=False")
    for i in range(repeats):
        database = f"procrastinate_{i}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {database}")
        target = dsn.rsplit("/", 1)[0] + f"/{database}"
        try:
            _peer(["schema", target])
            seconds = float(str(_peer(["enqueue", target, str(n)])["seconds"]))
            enqueue.values.append(per_second(n, seconds))
            seconds = float(str(_peer(["drain", target, str(n)])["seconds"]))
            drain.values.append(per_second(n, seconds))
        finally:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE {database} WITH (FORCE)")
    return [enqueue, drain]


# -- bloat --------------------------------------------------------------------------


def _size(conn: psycopg.Connection[Any], schema: str) -> int:
    row = conn.execute(
        "SELECT pg_total_relation_size(%s::regclass)", (sql.tables(schema)["tasks"],)
    ).fetchone()
    return int(row[0]) if row else 0


def _drain(client: Client, queue: str) -> int:
    done: list[Reservation] = []
    drained = 0
    while True:
        _, leased = client.reserve_many(queue, 300.0, 500, done=done)
        drained += len(leased)
        done = leased
        if not leased:
            return drained


def measure_bloat(dsn: str, total: int, payload: bytes) -> list[Row]:
    """Table + indexes after ``total`` tasks went through, against a fresh table."""
    schema = f"bloat{uuid.uuid4().hex[:8]}"
    client = Client(f"{dsn}?schema={schema}")
    client.len("q")  # creates the schema
    with psycopg.connect(dsn, autocommit=True) as conn:
        empty = _size(conn, schema)
        peak = 0
        started = time.perf_counter()
        for _ in range(total // _ROUND):
            for start in range(0, _ROUND, 1000):
                items = [PushItem(uuid.uuid4().hex, payload) for _ in range(start, start + 1000)]
                client.push_many("q", items)
            peak = max(peak, _size(conn, schema))
            if _drain(client, "q") != _ROUND:
                raise RuntimeError("the bloat run lost tasks")
        seconds = time.perf_counter() - started
        drained = _size(conn, schema)
        vacuums = client.vacuums_run
        # What autovacuum's next visit does; VACUUM cannot run in a transaction.
        conn.execute(f"VACUUM {sql.tables(schema)['tasks']}")
        settled = _size(conn, schema)
    client.close()
    mb = 1024 * 1024
    note = (
        f"{total:,} tasks in rounds of {_ROUND:,} in {seconds:.0f} s; table+indexes "
        f"{empty / 1024:.0f} KB fresh, {peak / mb:.1f} MB at the peak, {drained / mb:.1f} MB "
        f"right after the drain ({vacuums} VACUUMs run by the client on the way), "
        f"{settled / mb:.1f} MB after one more plain VACUUM"
    )
    return [Row(OURS, "alligator", "pg_growth_mb", [(settled - empty) / mb], n=total, note=note)]


def measure_all(
    n: int,
    repeats: int,
    batch_size: int,
    *,
    wake_n: int,
    idle: float,
    payload: bytes,
    peers: bool,
    bloat_tasks: int,
) -> tuple[list[Row], dict[str, str]]:
    """Every PostgreSQL figure on one private server."""
    rows: list[Row] = []
    n = min(n, PG_N)
    with server() as cluster:
        dsn = cluster.dsn
        found = {"postgresql": version(dsn), "psycopg": psycopg.__version__}
        rows += measure_raw(dsn, n, repeats, payload)
        rows += measure_enqueue(dsn, n, repeats, payload)
        rows += measure_alligator(dsn, n, repeats, batch_size, wake_n=wake_n, idle=idle)
        if peers:
            found.update(peer_version())
            rows += measure_procrastinate(dsn, n, repeats)
        if bloat_tasks:
            rows += measure_bloat(dsn, bloat_tasks, payload)
    return rows, found


def main() -> None:  # pragma: no cover - a manual entry point
    """``python -m benchmarks.postgres_bench``: a quick look, printed."""
    payload = b"\x94" * 60
    rows, found = measure_all(
        2000, 1, 1000, wake_n=30, idle=2.0, payload=payload, peers=False, bloat_tasks=0
    )
    print(found)
    for row in rows:
        print(f"{row.system:32} {row.metric:12} {row.median:12,.2f}  {row.note}")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
