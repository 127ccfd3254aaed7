"""Unique keys and limits of the SQLite backend, mixed into its client.

Each decision is one ``BEGIN IMMEDIATE`` transaction: SQLite's write lock
serializes it against every other writer of the file, in every process, so a
check and the write it guards are one atomic step.

Three small tables beside ``alligator_tasks``, created with the rest of the
schema when the file is opened:

* ``alligator_unique`` (queue, key) -> the id of the task pushed with the key
  and whether it holds it while running. The key is held while a task of that
  id is in the queue, not buried, and waiting (or reserved with an expired
  lease; or at all, with ``running``). So its ack, burial or removal releases
  it, with no write of its own, and a worker's death cannot leak it.
* ``alligator_limit_slots`` (queue, key, task id, token): a task admitted
  under a concurrency limit. A slot counts while the task's lease is held by
  that token; slots that no longer count are deleted when the key is next
  checked.
* ``alligator_limit_starts`` (queue, key, at): the starts under a rate limit
  within its window (a sliding-window log), and ``alligator_limits`` the
  limits last given per key, for ``alligator info``.

Times are the client's clock: every process sharing the file should have a
synchronized clock (they share a machine, or NTP).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from alligator.backends import _sqlite_sql as sql
from alligator.backends._checks import QueueNames, check_due, check_task_id
from alligator.exceptions import TaskInProgressError
from alligator.limits import CONCURRENCY_RETRY
from alligator.records import LimitSlot, LimitUsage, Reservation

if TYPE_CHECKING:
    from alligator.backends._sqlite_driver import Database

__all__ = ["Flow"]

#: Created by the driver with the task table (see ``_sqlite_driver``).
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS alligator_unique (
        queue TEXT NOT NULL, ukey TEXT NOT NULL, task_id TEXT NOT NULL,
        running INTEGER NOT NULL, PRIMARY KEY (queue, ukey))""",
    """CREATE TABLE IF NOT EXISTS alligator_limit_slots (
        queue TEXT NOT NULL, lkey TEXT NOT NULL, task_id TEXT NOT NULL, token TEXT NOT NULL,
        PRIMARY KEY (queue, lkey, task_id))""",
    """CREATE TABLE IF NOT EXISTS alligator_limit_starts (
        queue TEXT NOT NULL, lkey TEXT NOT NULL, at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS alligator_limit_starts_at"
    " ON alligator_limit_starts (queue, lkey, at)",
    """CREATE TABLE IF NOT EXISTS alligator_limits (
        queue TEXT NOT NULL, lkey TEXT NOT NULL, concurrency INTEGER NOT NULL,
        rate INTEGER NOT NULL, period REAL NOT NULL, PRIMARY KEY (queue, lkey))""",
)

# The task holding a unique key; parameters: queue, key, now.
HOLDER = (
    "SELECT u.task_id FROM alligator_unique AS u JOIN alligator_tasks AS t"
    " ON t.queue = u.queue AND t.task_id = u.task_id WHERE u.queue = ? AND u.ukey = ?"
    " AND t.state != 2 AND (u.running = 1 OR t.state != 1 OR t.run_at <= ?)"
)
TAKE_KEY = (
    "INSERT OR REPLACE INTO alligator_unique (queue, ukey, task_id, running) VALUES (?,?,?,?)"
)
# A lease held now: parameters as sql.HELD.
LEASED = f"SELECT 1 FROM alligator_tasks WHERE {sql.HELD}"
# Slots whose task no longer holds the lease they were taken with; parameters: queue, key, now.
PRUNE_SLOTS = (
    "DELETE FROM alligator_limit_slots AS s WHERE queue = ? AND lkey = ? AND NOT EXISTS"
    " (SELECT 1 FROM alligator_tasks AS t WHERE t.queue = s.queue AND t.task_id = s.task_id"
    " AND t.state = 1 AND t.token = s.token AND t.run_at > ?)"
)
SLOTS = "SELECT count(*), sum(task_id = ?) FROM alligator_limit_slots WHERE queue = ? AND lkey = ?"
TAKE_SLOT = "INSERT OR REPLACE INTO alligator_limit_slots VALUES (?, ?, ?, ?)"
PRUNE_STARTS = "DELETE FROM alligator_limit_starts WHERE queue = ? AND lkey = ? AND at <= ?"
STARTS = "SELECT count(*), min(at) FROM alligator_limit_starts WHERE queue = ? AND lkey = ?"
TAKE_START = "INSERT INTO alligator_limit_starts VALUES (?, ?, ?)"
REMEMBER = "INSERT OR REPLACE INTO alligator_limits VALUES (?, ?, ?, ?, ?)"
#: What ``drop_all`` forgets of a queue besides its tasks; parameter: queue.
DROP = tuple(
    f"DELETE FROM alligator_{table} WHERE queue = ?"
    for table in ("unique", "limit_slots", "limit_starts", "limits")
)
USAGE = (
    "SELECT l.lkey, l.concurrency, l.rate, l.period,"
    " (SELECT count(*) FROM alligator_limit_slots AS s JOIN alligator_tasks AS t"
    "  ON t.queue = s.queue AND t.task_id = s.task_id AND t.token = s.token"
    "  WHERE s.queue = l.queue AND s.lkey = l.lkey AND t.state = 1 AND t.run_at > ?),"
    " (SELECT count(*) FROM alligator_limit_starts AS r"
    "  WHERE r.queue = l.queue AND r.lkey = l.lkey AND r.at > ? - l.period)"
    " FROM alligator_limits AS l WHERE l.queue = ? ORDER BY l.lkey"
)


class Flow:
    """The :class:`~alligator.protocols.UniqueClient` and ``LimitClient`` methods."""

    if TYPE_CHECKING:  # provided by the client
        _db: Database
        _clock: Callable[[], float]
        _names: QueueNames

    def drop_flow_state(self, queue_name: str) -> None:
        """Forget the queue's unique keys and limit counters (``drop_all``)."""
        with self._db.write() as conn:
            for statement in DROP:
                conn.execute(statement, (queue_name,))

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
        queue = self._names.check(queue_name)
        now = self._clock()
        with self._db.write() as conn:
            row = conn.execute(HOLDER, (queue, unique_key, now)).fetchone()
            if row is not None:
                return str(row[0]), False
            due = now if delay_until is None else delay_until
            if conn.execute(sql.PUSH, (queue, task_id, data, due, now, 0)).rowcount == 0:
                raise TaskInProgressError(task_id, queue_name)
            conn.execute(TAKE_KEY, (queue, unique_key, task_id, int(while_running)))
        return task_id, True

    def acquire(
        self, queue_name: str, reservation: Reservation, limits: Sequence[LimitSlot]
    ) -> float:
        """Admit a reserved task under every limit or none: one transaction."""
        queue = self._names.check(queue_name)
        now = self._clock()
        task_id = reservation.task_id
        with self._db.write() as conn:
            if conn.execute(LEASED, (queue, task_id, reservation.token, now)).fetchone() is None:
                return CONCURRENCY_RETRY
            wait = 0.0
            for limit in limits:
                key = limit.key
                conn.execute(REMEMBER, (queue, key, limit.concurrency, limit.rate, limit.period))
                if limit.concurrency:
                    conn.execute(PRUNE_SLOTS, (queue, key, now))
                    held, mine = conn.execute(SLOTS, (task_id, queue, key)).fetchone()
                    if held >= limit.concurrency and not mine:
                        wait = max(wait, CONCURRENCY_RETRY)
                else:
                    conn.execute(PRUNE_STARTS, (queue, key, now - limit.period))
                    count, first = conn.execute(STARTS, (queue, key)).fetchone()
                    if count >= limit.rate:
                        wait = max(wait, float(first) + limit.period - now)
            if wait:
                return wait
            for limit in limits:
                if limit.concurrency:
                    conn.execute(TAKE_SLOT, (queue, limit.key, task_id, reservation.token))
                else:
                    conn.execute(TAKE_START, (queue, limit.key, now))
        return 0.0

    def limit_usage(self, queue_name: str) -> list[LimitUsage]:
        """Each limit key used on the queue, with its current use."""
        queue = self._names.check(queue_name)
        now = self._clock()
        with self._db.write() as conn:
            rows = conn.execute(USAGE, (now, now, queue)).fetchall()
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
