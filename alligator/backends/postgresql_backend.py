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
from collections.abc import Callable, Sequence
from typing import Any

from alligator.backends import _postgresql_sql as sql
from alligator.backends._checks import (
    QueueNames,
    check_due,
    check_items,
    check_task_id,
    check_ttl,
)
from alligator.backends._postgresql_buried import BuriedTasks
from alligator.backends._postgresql_driver import Target, parse_dsn
from alligator.backends._postgresql_flow import Flow
from alligator.backends._postgresql_janitor import Janitor
from alligator.backends._postgresql_leases import QUIET_RECHECK, Leases, Quiet
from alligator.backends._postgresql_listen import Listener
from alligator.backends._postgresql_pool import Database
from alligator.backends._postgresql_results import Results
from alligator.backends._postgresql_schema import migrate
from alligator.backends._postgresql_within import Within
from alligator.exceptions import BackendError, TaskInProgressError
from alligator.priority import check_priority
from alligator.records import PushItem, QueueStats

__all__ = ["QUIET_RECHECK", "Client", "migrate"]


class Client(Results, Flow, Leases, BuriedTasks, Within):
    """A :class:`~alligator.protocols.ResultPrefetchClient`, priority, failed-task and
    transactional client over one PostgreSQL database.

    Outcomes and dependencies (:mod:`alligator.backends._postgresql_results`)
    live in the same database, written in the settlement's transaction.
    The lease half of the contract, with its wake-ups
    (:mod:`~alligator.backends._postgresql_leases`), the failed-task
    operations (:mod:`~alligator.backends._postgresql_buried`) and the
    transactional enqueue (:mod:`~alligator.backends._postgresql_within`)
    are mixed in from modules of their own.

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
        self._quiet: dict[str, Quiet] = {}
        self._closing = threading.Event()
        self._token_prefix = secrets.token_hex(8) + "."
        self._counter = itertools.count(1)

    def __repr__(self) -> str:
        return f"<postgresql Client schema={self.target.schema!r}>"

    # -- helpers -------------------------------------------------------------

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
        """Store (or replace) a task and wake the queue's waiting workers.

        One statement: a plain INSERT for a task due now under an id the
        queue does not hold, the replacing one for a delayed task. Replacing
        a held id without a delay takes both (the server logs the INSERT's
        unique violation).

        Raises:
            TaskInProgressError: a worker holds the lease of a task with that
                id (nothing is stored).
        """
        check_items([PushItem(task_id, data, delay_until)])
        # A fresh id due now (every task a Gator makes without a delay) takes
        # one plain INSERT; an id the queue holds, or a delay, takes the
        # statement that replaces and schedules.
        stored = delay_until is None and self._db.inserted(
            self._sql.push_fresh,
            (
                self._names.check(queue_name),
                task_id,
                data,
                check_priority(priority),
                self._now(),
                self._channel(queue_name),
            ),
        )
        if not stored:
            params = self._one_params(queue_name, task_id, data, delay_until, priority)
            [(_, running, _)] = self._db.rows(self._sql.push_one, params)
            if running is not None:
                raise TaskInProgressError(str(running), queue_name)
        self._changed(queue_name)
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

    def _one_params(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None,
        priority: int | None,
    ) -> dict[str, Any]:
        """The parameters of a statement that stores one task."""
        return {
            "queue": self._names.check(queue_name),
            "task_id": task_id,
            "data": data,
            "due": delay_until,
            "priority": check_priority(priority),
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
        params = self._one_params(queue_name, task_id, data, delay_until, priority)
        params["ttl"] = float(ttl)
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


def _with_schema(conn_string: str, schema: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(conn_string)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    query.append(("schema", schema))
    return urlunsplit(parts._replace(query=urlencode(query)))
