"""Unique keys and limits of the PostgreSQL backend, mixed into its client.

Each decision is one transaction that first takes a transaction-scoped
advisory lock on what it decides about (the queue and the unique key, or each
limit key, in sorted order so two never deadlock). Under READ COMMITTED
every later statement of the transaction sees what the previous holder of
the lock committed, so the check and the write it guards are one atomic step
across every process. Times are the server's (``statement_timestamp()``).

Four small tables beside ``alligator_tasks`` in the client's schema (schema
version 4, :mod:`alligator.backends._postgresql_schema`):

* ``alligator_unique`` (queue, key) -> the id of the task pushed with the key
  and whether it holds it while running. The key is held while a task of that
  id is in the queue, not buried, and not running under a held lease (unless
  ``running``): its ack, burial or removal releases it with no write of its
  own, and a worker's death cannot leak it.
* ``alligator_limit_slots`` (queue, key, task id, token): tasks admitted under
  a concurrency limit; a slot counts while that lease is held.
* ``alligator_limit_starts`` (queue, key, at): starts under a rate limit
  within its window (a sliding-window log); ``alligator_limits``: the limits
  last given per key, for ``alligator info``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alligator.backends._checks import check_due, check_task_id
from alligator.backends._postgresql_sql import NOW, tables
from alligator.backends._postgresql_state import ClientState
from alligator.exceptions import TaskInProgressError
from alligator.limits import CONCURRENCY_RETRY
from alligator.records import LimitSlot, LimitUsage, PushItem, Reservation

if TYPE_CHECKING:
    from alligator.backends._postgresql_driver import Row, Target
    from alligator.backends._postgresql_pool import Database
    from alligator.backends._postgresql_sql import Statements

__all__ = ["Flow"]

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%(what)s, 0))"
_HOLDER = f"""SELECT u.task_id FROM {{unique}} AS u JOIN {{tasks}} AS t
    ON t.queue = u.queue AND t.task_id = u.task_id
    WHERE u.queue = %(queue)s AND u.ukey = %(key)s AND t.state != 2
    AND (u.running OR t.state != 1 OR t.run_at <= {NOW})"""
_TAKE_KEY = """INSERT INTO {unique} VALUES (%(queue)s, %(key)s, %(task_id)s, %(running)s)
    ON CONFLICT (queue, ukey) DO UPDATE SET task_id = excluded.task_id,
    running = excluded.running"""
_LEASED = f"""SELECT 1 FROM {{tasks}} WHERE queue = %(queue)s AND task_id = %(task_id)s
    AND state = 1 AND token = %(token)s AND run_at > {NOW}"""
_REMEMBER = """INSERT INTO {limits} VALUES (%(queue)s, %(key)s, %(c)s, %(r)s, %(p)s)
    ON CONFLICT (queue, lkey) DO UPDATE SET concurrency = excluded.concurrency,
    rate = excluded.rate, period = excluded.period"""
_PRUNE_SLOTS = f"""DELETE FROM {{slots}} AS s WHERE s.queue = %(queue)s AND s.lkey = %(key)s
    AND NOT EXISTS (SELECT 1 FROM {{tasks}} AS t WHERE t.queue = s.queue
    AND t.task_id = s.task_id AND t.state = 1 AND t.token = s.token AND t.run_at > {NOW})"""
_SLOTS = """SELECT count(*), count(*) FILTER (WHERE task_id = %(task_id)s) FROM {slots}
    WHERE queue = %(queue)s AND lkey = %(key)s"""
_TAKE_SLOT = """INSERT INTO {slots} VALUES (%(queue)s, %(key)s, %(task_id)s, %(token)s)
    ON CONFLICT (queue, lkey, task_id) DO UPDATE SET token = excluded.token"""
_PRUNE_STARTS = f"""DELETE FROM {{starts}} WHERE queue = %(queue)s AND lkey = %(key)s
    AND at <= {NOW} - %(p)s"""
_STARTS = f"""SELECT count(*), min(at) + %(p)s - {NOW} FROM {{starts}}
    WHERE queue = %(queue)s AND lkey = %(key)s"""
_TAKE_START = f"INSERT INTO {{starts}} VALUES (%(queue)s, %(key)s, {NOW})"
_USAGE = f"""SELECT l.lkey, l.concurrency, l.rate, l.period,
    (SELECT count(*) FROM {{slots}} AS s JOIN {{tasks}} AS t
     ON t.queue = s.queue AND t.task_id = s.task_id AND t.token = s.token
     WHERE s.queue = l.queue AND s.lkey = l.lkey AND t.state = 1 AND t.run_at > {NOW}),
    (SELECT count(*) FROM {{starts}} AS r
     WHERE r.queue = l.queue AND r.lkey = l.lkey AND r.at > {NOW} - l.period)
    FROM {{limits}} AS l WHERE l.queue = %(queue)s ORDER BY l.lkey"""


class _Sql:
    """The statements above with this schema's table names filled in."""

    def __init__(self, schema: str) -> None:
        names = tables(schema)
        self.holder = _HOLDER.format(**names)
        self.take_key = _TAKE_KEY.format(**names)
        self.leased = _LEASED.format(**names)
        self.remember = _REMEMBER.format(**names)
        self.prune_slots = _PRUNE_SLOTS.format(**names)
        self.slots = _SLOTS.format(**names)
        self.take_slot = _TAKE_SLOT.format(**names)
        self.prune_starts = _PRUNE_STARTS.format(**names)
        self.starts = _STARTS.format(**names)
        self.take_start = _TAKE_START.format(**names)
        self.usage = _USAGE.format(**names)
        self.drop = [
            f"DELETE FROM {names[table]} WHERE queue = %(queue)s"
            for table in ("unique", "slots", "starts", "limits")
        ]


class Flow(ClientState):
    """The :class:`~alligator.protocols.UniqueClient` and ``LimitClient`` methods."""

    if TYPE_CHECKING:  # provided by the client
        target: Target
        _db: Database
        _sql: Statements

        def _many_params(
            self, queue_name: str, items: Sequence[PushItem], priority: int | None
        ) -> dict[str, Any]: ...

    @functools.cached_property
    def _flow(self) -> _Sql:
        """The statements for this client's schema (its tables are schema version 4)."""
        return _Sql(self.target.schema)

    def drop_flow_state(self, queue_name: str) -> None:
        """Forget the queue's unique keys and limit counters (``drop_all``)."""
        with self._db.cursor_transaction() as cursor:
            for statement in self._flow.drop:
                cursor.execute(statement, {"queue": queue_name})

    def push_unique(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        unique_key: str,
        while_running: bool = False,
    ) -> tuple[str, bool]:
        """Store the task unless a queued task holds ``unique_key``: one transaction."""
        check_task_id(task_id)
        check_due(delay_until)
        params = {"queue": queue_name, "key": unique_key, "now": self._now()}
        with self._db.cursor_transaction() as cursor:
            flow = self._flow
            cursor.execute(_LOCK, {"what": f"alligator-unique:{queue_name}\x1f{unique_key}"})
            cursor.execute(flow.holder, params)
            row = cursor.fetchone()
            if row is not None:
                return str(row[0]), False
            items = [PushItem(task_id, data, delay_until)]
            cursor.execute(self._sql.push_many, self._many_params(queue_name, items, None))
            pushed = cursor.fetchone()
            if pushed is not None and pushed[1] is not None:
                raise TaskInProgressError(str(pushed[1]), queue_name)
            cursor.execute(flow.take_key, {**params, "task_id": task_id, "running": while_running})
        self._changed(queue_name)
        return task_id, True

    def acquire(
        self, queue_name: str, reservation: Reservation, limits: Sequence[LimitSlot]
    ) -> float:
        """Admit a reserved task under every limit or none: one transaction."""
        base = {
            "queue": queue_name,
            "task_id": reservation.task_id,
            "token": reservation.token,
            "now": self._now(),
        }
        with self._db.cursor_transaction() as cursor:
            flow = self._flow
            for key in sorted({limit.key for limit in limits}):
                cursor.execute(_LOCK, {"what": f"alligator-limit:{queue_name}\x1f{key}"})
            cursor.execute(flow.leased, base)
            if cursor.fetchone() is None:
                return CONCURRENCY_RETRY
            wait = 0.0
            for limit in limits:
                params = {
                    **base,
                    "key": limit.key,
                    "c": limit.concurrency,
                    "r": limit.rate,
                    "p": limit.period,
                }
                cursor.execute(flow.remember, params)
                if limit.concurrency:
                    cursor.execute(flow.prune_slots, params)
                    cursor.execute(flow.slots, params)
                    held, mine = _pair(cursor.fetchone())
                    if held >= limit.concurrency and not mine:
                        wait = max(wait, CONCURRENCY_RETRY)
                else:
                    cursor.execute(flow.prune_starts, params)
                    cursor.execute(flow.starts, params)
                    count, left = _pair(cursor.fetchone())
                    if count >= limit.rate:
                        wait = max(wait, float(left), 0.001)
            if wait:
                return wait
            for limit in limits:
                params = {**base, "key": limit.key}
                cursor.execute(flow.take_slot if limit.concurrency else flow.take_start, params)
        return 0.0

    def limit_usage(self, queue_name: str) -> list[LimitUsage]:
        """Each limit key used on the queue, with its current use."""
        with self._db.cursor_transaction() as cursor:
            flow = self._flow
            cursor.execute(flow.usage, {"queue": queue_name, "now": self._now()})
            rows = cursor.fetchall()
        return [
            LimitUsage(
                str(key),
                concurrency=int(c),
                running=int(running) if c else 0,
                rate=int(r),
                period=float(p),
                recent=int(recent) if r else 0,
            )
            for key, c, r, p, running, recent in rows
        ]


def _pair(row: Row | None) -> tuple[Any, Any]:
    assert row is not None  # an aggregate always gives one row
    return row[0], row[1]
