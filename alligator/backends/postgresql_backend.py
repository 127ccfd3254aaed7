"""PostgreSQL backend (``postgresql://`` or ``postgres://``): the queue in your own database.

DSN: ``postgresql://user:password@host:port/dbname?option=value&...``.
Alligator's own options (every other one goes to libpq: ``sslmode``,
``application_name``, ``connect_timeout`` (default 5 s), ...):

* ``schema=NAME`` (default ``public``): where the tables live, beside the
  application's own.
* ``poll=SECONDS``: an idle worker claims every SECONDS instead of waiting
  on LISTEN/NOTIFY, for connections through a transaction-pooling
  PgBouncer (which cannot hold a LISTEN).
* ``prepare=false``: no server-side prepared statements (older poolers).
* ``migrate=false``: never change the schema; a missing or old one is an
  error that names ``alligator migrate DSN``.
* ``vacuum=ROWS`` (default 10000): a client that leased or deleted that many
  rows runs ``VACUUM`` of the task table in a background thread (``0``: leave
  it to autovacuum).

How the contract is met (the SQL and the reasons are in
:mod:`alligator.backends._postgresql_sql`):

* One table, ``alligator_tasks``, with a ``queue`` column; queue names are
  bound parameters. Created on first use, versioned, upgraded by
  ``alligator migrate`` (or on first use) under an advisory lock.
* **Claims** lease rows with ``FOR UPDATE SKIP LOCKED`` from the heads of two
  partial indexes (ready rows in claim order; delayed rows and leases by the
  time they come due), in one autocommit statement: two workers never take
  one row, and neither waits for the other. A lease is a deadline and a
  token (a random per-client prefix, a counter and the row's id); ack,
  release, bury and renew match the token and an unexpired deadline.
* **Order**: lower ``priority`` first (default 0; see
  :mod:`alligator.priority`), then earliest due, then push order. A delayed
  task that came due, or an expired lease, competes by its priority with the
  ready ones; a claim considers up to 1,000 of those at once (the earliest
  due) and makes the ones it did not take ready rows, so a larger burst is
  ordered by priority from the next claims on.
* **Prefetch**: :meth:`Client.reserve_many` acks the finished tasks and
  leases the next batch in ONE statement (one round trip, one commit).
* **Time**: due times and leases use the injected ``clock`` when one is
  given (the conformance kit's fake clock), else the server's
  ``statement_timestamp()``, so workers on machines whose clocks disagree
  still agree on leases. ``delay_until`` is an absolute epoch time from the
  producer.
* **Wake-ups**: every push, release and requeue sends ``pg_notify`` on the
  queue's channel in the same transaction (so a rolled-back enqueue wakes
  nobody). A waiting reserve blocks on a condition fed by the client's one
  LISTEN thread, until a wake-up, the next due time or lease deadline (read
  in the same statement as the failed claim), or its timeout. A worker that
  found a queue empty remembers it and does not claim again until something
  changes (a wake-up, a due time, or 30 s as a safety net): an idle worker
  sends no queries.
* **Transactional enqueue**: :meth:`Client.push_within` runs the same INSERT
  through the caller's psycopg connection, inside its transaction
  (``gator.within(conn)``); the NOTIFY is delivered at its commit.
* **Durability**: a push (and ``push_within``, ``requeue``) returns once
  its commit is on disk. Claims, acks, renewals, releases and burials
  commit without waiting for the WAL flush (``synchronous_commit=off``, set
  on a pooled connection when it switches to lease traffic): a crash of the server can undo the last
  few hundred milliseconds of those, and at-least-once delivery absorbs it
  (the task runs again, or comes back when its lease ends); no task is lost.
* **Bloat**: acked tasks are deleted, and each client vacuums the table
  every ``vacuum`` rows it churned (autovacuum visits a database only once a
  minute, by which time a busy queue's table and indexes have grown, and an
  index never shrinks), so the space is reused while the table is small.

Semantics shared with the SQLite and locmem backends: pushing an existing
``task_id`` replaces that task, whatever its state, with a fresh one at the
back of its due time. A lease is held until its deadline exactly.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from alligator.backends import _postgresql_sql as sql
from alligator.backends._checks import (
    QueueNames,
    check_due,
    check_items,
    check_page,
    check_task_id,
    check_ttl,
    safe_text,
)
from alligator.backends._postgresql_driver import (
    Database,
    Janitor,
    Listener,
    Target,
    channel_of,
    connect,
    ensure_schema,
    parse_dsn,
    schema_version,
    translating,
)
from alligator.backends._postgresql_flow import Flow
from alligator.backends._postgresql_results import Results
from alligator.exceptions import (
    BackendError,
    ConfigurationError,
    TaskInProgressError,
)
from alligator.priority import check_priority
from alligator.records import BuriedTask, PushItem, QueueStats, Reservation

__all__ = ["QUIET_RECHECK", "Client", "migrate"]

#: Longest an idle worker trusts "this queue is empty" without a wake-up.
QUIET_RECHECK: Final = 30.0

#: Pause before claiming again when a due row was skipped because another held it.
_LOCKED_PAUSE: Final = 0.005


class _Quiet(NamedTuple):
    """What a claim that found nothing learnt: nothing is due before ``next_due``."""

    generation: int
    next_due: float | None
    now: float
    since: float  # monotonic


class Client(Results, Flow):
    """A :class:`~alligator.protocols.ResultPrefetchClient`, priority, failed-task and
    transactional client over one PostgreSQL database.

    Outcomes and dependencies (:mod:`alligator.backends._postgresql_results`)
    live in the same database, written in the settlement's transaction.

    Thread-safe: each thread uses its own connection; one more connection,
    owned by a listener thread, waits for wake-ups.

    Args:
        conn_string: A DSN as described in the module docstring.
        clock: Epoch seconds for due times and leases; ``None`` (the default)
            uses the server's clock. Tests inject a fake one.
        schema: Overrides the DSN's ``schema`` option.

    Raises:
        ConfigurationError: A malformed DSN or option.
    """

    def __init__(
        self,
        conn_string: str,
        *,
        clock: Callable[[], float] | None = None,
        schema: str | None = None,
    ) -> None:
        target = parse_dsn(conn_string)
        if schema is not None:
            target = parse_dsn(_with_schema(conn_string, schema))
        self.target: Target = target
        self.conn_string = conn_string
        self._clock = clock
        self._db = Database(target)
        self._sql = self._db.statements
        self._janitor = Janitor(self._db, sql.tables(target.schema)["tasks"], target.vacuum)
        self._listener = Listener(target.conninfo) if target.poll is None else None
        self._channels: dict[str, str] = {}
        self._names = QueueNames()
        self._quiet: dict[str, _Quiet] = {}
        self._closing = threading.Event()
        self._token_prefix = secrets.token_hex(8) + "."
        self._counter = itertools.count(1)

    def __repr__(self) -> str:
        return f"<postgresql Client schema={self.target.schema!r}>"

    # -- helpers -------------------------------------------------------------

    def _now(self) -> float | None:
        return None if self._clock is None else self._clock()

    def _channel(self, queue_name: str) -> str:
        channel = self._channels.get(queue_name)
        if channel is None:
            self._names.check(queue_name)
            channel = self._channels[queue_name] = channel_of(self.target.schema, queue_name)
        return channel

    def _changed(self, queue_name: str) -> None:
        """This client changed the queue: what it knew about it being empty is void."""
        self._quiet.pop(queue_name, None)

    @property
    def vacuums_run(self) -> int:
        """VACUUMs of the task table this client ran (see the ``vacuum`` option)."""
        return self._janitor.runs

    @property
    def statements_sent(self) -> int:
        """Statements sent on the task connections (tests use it to prove idleness)."""
        return self._db.sent

    # -- Client (1.0) --------------------------------------------------------

    def len(self, queue_name: str) -> int:
        """Ready plus delayed tasks; a task whose lease expired counts as ready."""
        rows = self._db.rows(
            self._sql.length, {"queue": self._names.check(queue_name), "now": self._now()}
        )
        return int(rows[0][0])

    def drop_all(self, queue_name: str) -> None:
        """Delete every task of the queue (any state), its marks, unique keys and limit counters."""
        self.drop_flow_state(queue_name)
        self._db.count(self._sql.drop, {"queue": self._names.check(queue_name)})
        self._db.count(self._sql.drop_marks, {"queue": self._names.check(queue_name)})
        self.drop_results_state(queue_name)

    def push(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        priority: int | None = None,
    ) -> str:
        """Store (or replace) a task and wake the queue's waiting workers, in one statement.

        Raises:
            TaskInProgressError: a worker holds the lease of a task with that
                id (nothing is stored).
        """
        self._push(queue_name, [PushItem(task_id, data, delay_until)], priority)
        return task_id

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        """Store several tasks in one statement: all or none, one wake-up.

        Raises:
            TaskInProgressError: a worker holds the lease of a task with one of
                the ids (nothing is stored).
        """
        if items:
            self._push(queue_name, items, None)
        return [item.task_id for item in items]

    def _push(self, queue_name: str, items: Sequence[PushItem], priority: int | None) -> None:
        [(_, running, _)] = self._db.rows(
            self._sql.push_many, self._many_params(queue_name, items, priority)
        )
        if running is not None:
            raise TaskInProgressError(str(running), queue_name)
        self._changed(queue_name)

    def _many_params(
        self, queue_name: str, items: Sequence[PushItem], priority: int | None
    ) -> dict[str, Any]:
        # An id twice in one batch: the last one wins, at its place (as two pushes would).
        last = {item.task_id: i for i, item in enumerate(items)}
        kept = [item for i, item in enumerate(items) if last[item.task_id] == i]
        check_items(kept)
        return {
            "queue": self._names.check(queue_name),
            "ids": [item.task_id for item in kept],
            "datas": [item.data for item in kept],
            "dues": [item.delay_until for item in kept],
            # Each item's own priority, else the call's (push, push_within's keyword).
            "priorities": [
                check_priority(priority if item.priority is None else item.priority)
                for item in kept
            ],
            "now": self._now(),
            "channel": self._channel(queue_name),
        }

    # -- AbsentPushClient ----------------------------------------------------

    def push_absent(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        ttl: float,
        priority: int | None = None,
    ) -> bool:
        """Store a task unless the queue holds its id or a live mark of it; one statement.

        The mark's row in ``alligator_marks`` serialises concurrent calls
        (see :mod:`alligator.backends._postgresql_sql`); the task is ordered
        by ``priority`` as a plain push's is. Returns once the commit is on disk.
        """
        check_task_id(task_id)
        check_due(delay_until)
        check_ttl(ttl)
        params = {
            "queue": self._names.check(queue_name),
            "task_id": task_id,
            "data": data,
            "due": delay_until,
            "priority": check_priority(priority),
            "ttl": float(ttl),
            "now": self._now(),
            "channel": self._channel(queue_name),
        }
        [(written, _)] = self._db.rows(self._sql.push_absent, params)
        if written:
            self._changed(queue_name)
        return bool(written)

    def mark(self, queue_name: str, key: str, ttl: float) -> float:
        """Mark ``key`` unless it is marked (one upsert); return when it was first marked."""
        check_task_id(key)
        check_ttl(ttl)
        params = {
            "queue": self._names.check(queue_name),
            "key": key,
            "ttl": float(ttl),
            "now": self._now(),
        }
        [(at,)] = self._db.rows(self._sql.mark, params)
        return float(at)

    def pop(self, queue_name: str) -> bytes | None:
        """Remove and return the first due task (at-most-once), in one statement."""
        rows = self._db.rows(
            self._sql.pop, {"queue": self._names.check(queue_name), "count": 1, "now": self._now()}
        )
        return rows[0][0] if rows else None

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        """Remove and return a waiting task; reserved and buried ones stay."""
        params = {"queue": self._names.check(queue_name), "task_id": task_id, "now": self._now()}
        rows = self._db.rows(self._sql.get, params)
        return rows[0][0] if rows else None

    # -- leases --------------------------------------------------------------

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        """Lease the first due task, waiting up to ``timeout`` seconds for one."""
        _, found = self.reserve_many(queue_name, lease, 1, timeout)
        return found[0] if found else None

    def _claim(
        self, queue_name: str, lease: float, count: int, done: Sequence[Reservation]
    ) -> tuple[set[tuple[str, str]], list[Reservation], tuple[float | None, float]]:
        params = {
            "queue": self._names.check(queue_name),
            "ids": [r.task_id for r in done],
            "tokens": [r.token for r in done],
            "count": max(count, 0),
            "lease": float(lease),
            "prefix": f"{self._token_prefix}{next(self._counter)}.",
            "now": self._now(),
        }
        acked: set[tuple[str, str]] = set()
        leased: list[tuple[Any, ...]] = []
        hint: tuple[float | None, float] = (None, 0.0)
        for row in self._db.rows(self._sql.reserve, params, durable=False):
            kind = row[0]
            if kind == 0:
                leased.append(row)
            elif kind == 1:
                acked.add((row[1], row[3]))
            else:
                hint = (row[8], row[9])
        leased.sort(key=lambda r: (r[5], r[6], r[7]))  # priority, due, id
        self._janitor.changed(len(leased) + len(acked))
        return acked, [Reservation(r[1], r[2], r[3], r[4]) for r in leased], hint

    def reserve_many(
        self,
        queue_name: str,
        lease: float,
        count: int,
        timeout: float = 0.0,
        done: Sequence[Reservation] = (),
        *,
        results: Sequence[bytes] = (),
        ttl: float = 0.0,
    ) -> tuple[list[bool], list[Reservation]]:
        """Ack ``done`` and lease up to ``count`` due tasks in ONE statement.

        When none is due the call waits up to ``timeout`` seconds for a
        wake-up or the next due time, then claims again (without the acks,
        which were committed). A queue this client found empty, with no
        wake-up since, is not claimed from again until it may have changed.
        With ``results`` (one per task of ``done``, kept ``ttl`` seconds) the
        acks complete their tasks (:meth:`complete`), in one transaction before the claim.
        """
        if results:
            flags = self._complete_many(queue_name, done, results, ttl)
            return flags, self.reserve_many(queue_name, lease, count, timeout)[1]
        deadline = time.monotonic() + timeout
        listener = self._listener
        channel = self._channel(queue_name)
        acks: list[bool] | None = None
        must_claim = bool(done)  # the acks go out even when the queue looks empty
        waits = listener is not None and timeout > 0
        listening = waits and listener is not None and listener.is_listening(channel)
        while True:
            seen = 0
            if listener is not None and listening:
                seen = listener.generation(channel)
            quiet = self._quiet.get(queue_name)
            if must_claim or not listening or not self._still_quiet(quiet, seen):
                must_claim = False
                acked, leased, hint = self._claim(queue_name, lease, count, done)
                if acks is None:
                    acks = _flags(done, acked)
                    done = ()
                if leased or count < 1:
                    return acks, leased
                if waits and not listening:
                    # LISTEN only once there is nothing to do (a busy worker never
                    # pays for it), then claim again: a push committed between the
                    # first claim and the LISTEN is seen by the second.
                    assert listener is not None
                    listener.listen(channel)
                    listening = must_claim = True
                    continue
                quiet = _Quiet(seen, hint[0], hint[1], time.monotonic())
                if listening:
                    self._quiet[queue_name] = quiet
            acks = [] if acks is None else acks
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closing.is_set():
                return acks, []
            wait = min(remaining, self._until_due(quiet))
            if listener is not None:
                listener.wait(channel, seen, wait)
            else:
                self._closing.wait(min(wait, self.target.poll or wait))

    def _estimated_now(self, quiet: _Quiet) -> float:
        if self._clock is not None:
            return self._clock()
        return quiet.now + (time.monotonic() - quiet.since)

    def _still_quiet(self, quiet: _Quiet | None, seen: int) -> bool:
        """Whether a claim now would surely find nothing (so it is skipped)."""
        if quiet is None or quiet.generation != seen:
            return False
        if time.monotonic() - quiet.since >= QUIET_RECHECK:
            return False
        return quiet.next_due is None or self._estimated_now(quiet) < quiet.next_due

    def _until_due(self, quiet: _Quiet | None) -> float:
        """Seconds until the claim should be tried again without a wake-up."""
        if quiet is None:
            return 0.0
        recheck = QUIET_RECHECK - (time.monotonic() - quiet.since)
        if quiet.next_due is None:
            return max(recheck, 0.0)
        # A due row the claim skipped is locked by another claim or transaction:
        # look again shortly rather than spin.
        return max(min(recheck, quiet.next_due - self._estimated_now(quiet)), _LOCKED_PAUSE)

    def _held(self, queue_name: str, reservation: Reservation) -> dict[str, Any]:
        return {
            "queue": self._names.check(queue_name),
            "task_id": reservation.task_id,
            "token": reservation.token,
            "now": self._now(),
        }

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        """Delete a task whose lease is still held."""
        acked = self._db.count(self._sql.ack, self._held(queue_name, reservation), durable=False)
        self._janitor.changed(2 * acked)  # its claim's row version and itself
        return acked > 0

    def release(
        self,
        queue_name: str,
        reservation: Reservation,
        data: bytes | None = None,
        delay_until: float | None = None,
    ) -> bool:
        """Make a held task waiting again (behind those due), with new ``data`` if given."""
        params = self._held(queue_name, reservation)
        params.update(data=data, due=delay_until, channel=self._channel(queue_name))
        changed = self._db.count(self._sql.release, params, durable=False) > 0
        if changed:
            self._changed(queue_name)
        return changed

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        """Keep a held task aside with ``reason``; it is never reserved again."""
        params = self._held(queue_name, reservation)
        params["reason"] = safe_text(reason)
        return self._db.count(self._sql.bury, params, durable=False) > 0

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        """Move a held lease's deadline to ``lease`` seconds from now."""
        return self.renew_many(queue_name, [reservation], lease)[0]

    def renew_many(
        self, queue_name: str, reservations: Sequence[Reservation], lease: float
    ) -> list[bool]:
        """Renew several held leases in one statement; one flag each."""
        if not reservations:
            return []
        params = {
            "queue": self._names.check(queue_name),
            "ids": [r.task_id for r in reservations],
            "tokens": [r.token for r in reservations],
            "lease": float(lease),
            "now": self._now(),
        }
        rows = self._db.rows(self._sql.renew_many, params, durable=False)
        renewed = {(row[0], row[1]) for row in rows}
        return [(r.task_id, r.token) in renewed for r in reservations]

    # -- inspection ----------------------------------------------------------

    def stats(self, queue_name: str) -> QueueStats:
        """Counts by state; an expired lease and a delayed task come due count as ready."""
        rows = self._db.rows(
            self._sql.stats, {"queue": self._names.check(queue_name), "now": self._now()}
        )
        counts = {"ready": 0, "delayed": 0, "reserved": 0, "buried": 0}
        for state, due, count in rows:
            if state == 2:
                key = "buried"
            elif state == 0 or due:
                key = "ready"
            else:
                key = "reserved" if state == 1 else "delayed"
            counts[key] += int(count)
        return QueueStats(**counts)

    def queues(self) -> list[str]:
        """Names of the queues with any row (a :class:`~alligator.protocols.QueueLister`)."""
        return [str(name) for (name,) in self._db.rows(self._sql.queues, {})]

    def buried(self, queue_name: str) -> list[BuriedTask]:
        """Buried tasks in the order they were buried."""
        rows = self._db.rows(self._sql.buried, {"queue": self._names.check(queue_name)})
        return [BuriedTask(task_id, data, reason, at) for task_id, data, reason, at in rows]

    def buried_page(self, queue_name: str, offset: int, limit: int) -> list[BuriedTask]:
        """A slice of :meth:`buried`: one SELECT, LIMIT/OFFSET over the buried index."""
        offset, limit = check_page(offset, limit)
        params = {"queue": self._names.check(queue_name), "limit": limit, "offset": offset}
        rows = self._db.rows(self._sql.buried + sql.BURIED_PAGE, params) if limit else []
        return [BuriedTask(task_id, data, reason, at) for task_id, data, reason, at in rows]

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Make a buried task ready now (attempts from 0): one UPDATE, atomic."""
        params = {
            "queue": self._names.check(queue_name),
            "task_id": task_id,
            "data": data,
            "now": self._now(),
            "channel": self._channel(queue_name),
        }
        if self._db.count(self._sql.requeue, params) == 0:
            return None
        self._changed(queue_name)
        return task_id

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Delete one or every buried task in one DELETE (one transaction)."""
        if task_id is None:
            return self._db.count(self._sql.purge_all, {"queue": self._names.check(queue_name)})
        return self._db.count(
            self._sql.purge_one, {"queue": self._names.check(queue_name), "task_id": task_id}
        )

    # -- transactional enqueue -----------------------------------------------

    def check_connection(self, connection: object) -> None:
        """Refuse a connection tasks cannot be enqueued through, saying why.

        Raises:
            ConfigurationError: Not a psycopg 3 ``Connection`` (the message
                says how to get one from SQLAlchemy), closed, or connected to
                another database than this client's.
            BackendError: Its transaction has failed and must be rolled back.
        """
        if not isinstance(connection, psycopg.Connection):
            raise ConfigurationError(_not_psycopg(connection))
        if connection.closed:
            raise ConfigurationError("gator.within() got a closed psycopg connection")
        status = connection.info.transaction_status
        if status == TransactionStatus.INERROR:
            raise BackendError(
                "PostgreSQL: the connection's transaction has failed (an earlier statement "
                "raised); roll it back before enqueueing through it"
            )
        ours = self._db.dbname()
        if connection.info.dbname != ours:
            raise ConfigurationError(
                f"gator.within() got a connection to database {connection.info.dbname!r}, "
                f"but the Gator's queue is in {ours!r}"
            )

    def push_within(
        self,
        connection: object,
        queue_name: str,
        items: Sequence[PushItem],
        *,
        priority: int | None = None,
    ) -> list[str]:
        """Store tasks through the caller's connection, inside its open transaction.

        The rows and the wake-up commit or roll back with the caller's
        transaction. On an autocommit connection outside a transaction block
        they commit at once. A failure leaves the caller's transaction
        failed, as any failed statement does.
        """
        self.check_connection(connection)
        assert isinstance(connection, psycopg.Connection)
        if not items:
            return []
        params = self._many_params(queue_name, items, priority)
        with translating("PostgreSQL: enqueue in the caller's transaction failed"):
            cursor = connection.cursor(row_factory=tuple_row)
            with cursor:
                cursor.execute(self._sql.push_many, params, prepare=self.target.prepare)
                row = cursor.fetchone()
        if row is not None and row[1] is not None:
            raise TaskInProgressError(str(row[1]), queue_name)
        return [item.task_id for item in items]

    # -- life cycle ----------------------------------------------------------

    def ping(self) -> bool:
        """Whether the server answers; raises :class:`BackendConnectionError` if not."""
        return self._db.ping()

    def close(self) -> None:
        """Close every connection and stop the listener; later calls reconnect."""
        self._closing.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = Listener(self.target.conninfo)
        with contextlib.suppress(BackendError):
            self._db.close()
        self._quiet.clear()
        self._closing = threading.Event()


def migrate(conn_string: str, *, check: bool = False) -> tuple[int, int]:
    """Create or upgrade the schema a DSN names (``alligator migrate``).

    Args:
        conn_string: A PostgreSQL DSN; its ``schema`` option picks the schema
            (its ``migrate`` option is ignored: this is the explicit step).
        check: Change nothing, only read the version.

    Returns:
        The version found and the version this Alligator needs (after the
        call, unless ``check``, the schema is at the latter).
    """
    target = parse_dsn(conn_string)
    conn = connect(target.conninfo)
    try:
        if check:
            return schema_version(conn, target.schema), sql.SCHEMA_VERSION
        return ensure_schema(conn, target, upgrade=True)
    finally:
        conn.close()


def _flags(done: Sequence[Reservation], acked: set[tuple[str, str]]) -> list[bool]:
    """One flag per reservation of ``done``: a lease acked twice counts once."""
    flags = []
    for r in done:
        key = (r.task_id, r.token)
        flags.append(key in acked)
        acked.discard(key)
    return flags


def _with_schema(conn_string: str, schema: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(conn_string)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    query.append(("schema", schema))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _not_psycopg(connection: object) -> str:
    kind = type(connection)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if isinstance(connection, psycopg.AsyncConnection):
        hint = "an async connection cannot be used: give a psycopg.Connection"
    elif kind.__module__.startswith("sqlalchemy"):
        hint = (
            "from SQLAlchemy (postgresql+psycopg dialect) pass the driver connection: "
            "gator.within(session.connection().connection.driver_connection)"
        )
    elif kind.__module__.startswith("psycopg2"):
        hint = "psycopg 2 is not supported: connect with psycopg 3 (pip install 'psycopg[binary]')"
    else:
        hint = "give the psycopg.Connection whose transaction the tasks should join"
    return f"gator.within() needs a psycopg 3 Connection, got {name}: {hint}"
