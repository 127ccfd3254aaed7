"""SQLite backend (``sqlite://relative.db``, ``sqlite:////abs/path.db``): the embedded default.

Several processes and threads share one database file. How the contract is met:

* One fixed table, ``alligator_tasks``, with a ``queue`` column; queue names
  are always bound parameters, never formatted into SQL. Tables and indexes
  are created on first use.
* ``run_at`` is the time a row becomes reservable: the due time of a waiting
  row (``state = 0``), the lease deadline of a reserved one (``state = 1``).
  So "ready and due, or reserved with an expired lease" is the single indexed
  range ``state < 2 AND run_at <= now``, and FIFO is ``ORDER BY run_at, seq``
  on a partial index: reserve is ``O(log n)`` with no sweeper. Rows with a
  priority other than 0 live in a second partial index ordered by priority
  first; a claim merges the heads of both (see
  :mod:`alligator.backends._sqlite_sql`), and a row keeps its priority
  through release, lease expiry, burial and requeue. ``token`` proves
  ownership of a lease; buried rows (``state = 2``) keep ``reason`` and
  ``buried_at``.
* Atomicity: every read-then-write that is one statement (reserve, pop, get,
  ack, release, bury, renew) runs as ``UPDATE/DELETE ... WHERE seq =
  (SELECT ... LIMIT 1) RETURNING ...`` in autocommit mode. SQLite takes the
  write lock before such a statement reads anything (the same lock ``BEGIN
  IMMEDIATE`` takes, with ``busy_timeout`` honoured), so two workers never
  claim one row, in one round trip instead of three. Multi-statement writes
  (``push_many``) use an explicit ``BEGIN IMMEDIATE``. RETURNING rows are read
  to the end before the statement finishes, which is when it commits.
* WAL journal with ``synchronous=NORMAL``: a commit survives a crash of the
  process, not necessarily a power loss. One connection per thread, so a
  worker's lease-renewing heartbeat thread never shares one with its task
  (:mod:`alligator.backends._sqlite_driver` owns the connections).
* ``reserve_many`` acks the finished tasks and leases the next ones (picked by
  one indexed SELECT, then one UPDATE of those rows) in ONE ``BEGIN
  IMMEDIATE`` transaction: one commit per batch instead of two per task.
* ``reserve(timeout > 0)`` waits by reading ``PRAGMA data_version`` every 1 to
  4 ms (8 ms once nothing was claimed for 2 s); it changes when another
  connection commits, and only then is the next due time read again. The
  sleep is capped at the time until the next task is due. Idle workers take
  no write lock and wake within a few milliseconds.

Semantics shared with the locmem backend: pushing an existing ``task_id``
replaces that task whatever its state with a fresh one at the back of its due
time (attempts reset, old reservations stale). A lease is held until its
deadline exactly; at or after it ack/release/bury/renew return ``False``.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable, Sequence

from alligator.backends import _sqlite_sql as sql
from alligator.backends._checks import (
    QueueNames,
    check_due,
    check_items,
    check_priority,
    check_task_id,
    check_ttl,
)
from alligator.backends._sqlite_buried import BuriedTasks
from alligator.backends._sqlite_driver import Database, parse_dsn
from alligator.backends._sqlite_flow import Flow
from alligator.backends._sqlite_leases import Leases
from alligator.backends._sqlite_results import Results
from alligator.exceptions import TaskInProgressError
from alligator.records import PushItem, QueueStats

__all__ = ["DROP_CHUNK", "Client"]

#: Rows ``drop_all`` deletes per statement (a few milliseconds each).
DROP_CHUNK = 5000
#: Longest pause between two chunks of a drop (each pause is as long as the
#: chunk took, so another writer waiting on the lock always gets a turn).
_DROP_PAUSE = 0.02


class Client(Results, Flow, Leases, BuriedTasks):
    """A :class:`~alligator.protocols.ResultPrefetchClient` over one SQLite file.

    Outcomes and dependencies (:mod:`alligator.backends._sqlite_results`)
    are kept in the same file, written in the settlement's transaction;
    unique keys and limit counters (:mod:`alligator.backends._sqlite_flow`)
    in tables of their own. The lease half of the contract, with its waiting
    (:mod:`~alligator.backends._sqlite_leases`), and the failed-task
    operations (:mod:`~alligator.backends._sqlite_buried`) are mixed in from
    modules of their own.

    Args:
        conn_string: ``sqlite://relative/path.db`` or ``sqlite:////abs/path.db``.
            The directory must exist; the file is created if missing.
        clock: Source of epoch seconds for due times and leases; tests inject
            a fake one so delays and lease expiry never need sleeping.
        busy_timeout: Seconds to wait for another writer before failing with
            :class:`~alligator.exceptions.BackendConnectionError`.

    Raises:
        ConfigurationError: The DSN is malformed, in-memory, or its directory
            does not exist.
    """

    def __init__(
        self,
        conn_string: str,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 10.0,
    ) -> None:
        self.path = parse_dsn(conn_string)
        self._db = Database(self.path, busy_timeout)
        self._clock = clock
        # When this thread last claimed a task: an idle wait slows its pace.
        self._local = threading.local()
        # Lease tokens: one random prefix per client plus a counter, unique
        # across processes without an urandom call per lease.
        self._token_prefix = secrets.token_hex(8) + "-"
        self._tokens = itertools.count(1)
        self._names = QueueNames()

    def close(self) -> None:
        """Close every connection this client opened; later calls reopen lazily."""
        self._db.close()

    # -- Client (1.0) ------------------------------------------------------

    def len(self, queue_name: str) -> int:
        """Ready plus delayed tasks; a task whose lease expired counts as ready."""
        row = self._db.one(sql.LEN, (self._names.check(queue_name), self._clock()))
        return int(row[0]) if row else 0

    def drop_all(self, queue_name: str) -> None:
        """Remove every task of the queue: waiting, reserved and buried; and its marks.

        In chunks of :data:`DROP_CHUNK` rows, each its own transaction, with
        a pause after each as long as it took: a big queue never holds the
        write lock longer than a chunk, so other writers get in.
        """
        queue_name = self._names.check(queue_name)
        self.drop_results_state(queue_name)
        self.drop_flow_state(queue_name)
        self._db.count(sql.DROP_MARKS, (queue_name,))
        while True:
            started = time.monotonic()
            if self._db.count(sql.DROP_CHUNK, (queue_name, DROP_CHUNK)) < DROP_CHUNK:
                return
            time.sleep(min(time.monotonic() - started, _DROP_PAUSE))

    def push(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        priority: int | None = None,
    ) -> str:
        """Store a task due at ``delay_until`` (or now); replaces a namesake.

        Raises:
            InvalidTaskError: An empty or unencodable id, a due time that is
                not a finite number, or a priority out of range.
            TaskInProgressError: A task of that id is running (its lease is held).
        """
        check_task_id(task_id)
        check_due(delay_until)
        rank = check_priority(priority)
        now = self._clock()
        due = now if delay_until is None else delay_until
        queue = self._names.check(queue_name)
        if not self._db.count(sql.PUSH, (queue, task_id, data, due, now, rank)):
            raise TaskInProgressError(task_id, queue_name)
        return task_id

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
        """Store a task unless the queue holds its id or a live mark of it; one transaction.

        The check and the insert run under SQLite's write lock (``BEGIN
        IMMEDIATE``), so of concurrent calls exactly one stores the task.
        Expired marks of the queue are deleted on the way, off the expiry
        index. The task is ordered by ``priority`` as a plain push's is.
        """
        check_task_id(task_id)
        check_due(delay_until)
        check_ttl(ttl)
        rank = check_priority(priority)
        queue = self._names.check(queue_name)
        now = self._clock()
        with self._db.write() as conn:
            if conn.execute(sql.HAS_TASK, (queue, task_id)).fetchone() is not None:
                return False
            if conn.execute(sql.LIVE_MARK, (queue, task_id, now)).fetchone() is not None:
                return False
            conn.execute(sql.SWEEP_MARKS, (queue, now))
            due = now if delay_until is None else delay_until
            conn.execute(sql.INSERT_TASK, (queue, task_id, data, due, rank))
            conn.execute(sql.MARK, (queue, task_id, now, now + ttl, now, now)).fetchall()
        return True

    def mark(self, queue_name: str, key: str, ttl: float) -> float:
        """Mark ``key`` unless it is marked (one upsert); return when it was first marked."""
        check_task_id(key)
        check_ttl(ttl)
        queue = self._names.check(queue_name)
        now = self._clock()
        row = self._db.one(sql.MARK, (queue, key, now, now + ttl, now, now))
        assert row is not None  # an upsert always returns its row
        return float(row[0])

    def pop(self, queue_name: str) -> bytes | None:
        """Remove and return the first due task (at-most-once)."""
        row = self._db.one(sql.POP, (self._names.check(queue_name), self._clock()))
        return None if row is None else bytes(row[0])

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        """Remove and return a ready or delayed task; reserved and buried ones stay."""
        queue = self._names.check(queue_name)
        try:
            check_task_id(task_id)
        except ValueError:
            return None
        row = self._db.one(sql.GET, (queue, task_id, self._clock()))
        return None if row is None else bytes(row[0])

    # -- ReliableClient ----------------------------------------------------

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        """Store several tasks in one transaction: all or nothing.

        Raises:
            TaskInProgressError: A task of one of the ids is running; nothing
                is stored.
        """
        check_items(items)
        queue = self._names.check(queue_name)
        now = self._clock()
        rows = [
            (queue, task_id, data, now if delay_until is None else delay_until, now, priority or 0)
            for task_id, data, delay_until, priority in items
        ]
        with self._db.write() as conn:
            if conn.executemany(sql.PUSH, rows).rowcount < len(rows):
                running = next(
                    item.task_id
                    for item in items
                    if conn.execute(sql.RUNNING, (queue, item.task_id, now)).fetchone()
                )
                raise TaskInProgressError(running, queue_name)  # rolls the batch back
        return [item.task_id for item in items]

    def stats(self, queue_name: str) -> QueueStats:
        """Counts by state; expired leases count as ready."""
        rows = self._db.all(sql.STATS, (self._clock(), self._names.check(queue_name)))
        counts = {"ready": 0, "delayed": 0, "reserved": 0, "buried": 0}
        for state, due, count in rows:
            if state == 2:
                key = "buried"
            elif state == 1:
                key = "ready" if due else "reserved"
            else:
                key = "ready" if due else "delayed"
            counts[key] += count
        return QueueStats(**counts)

    def queues(self) -> list[str]:
        """Names of the queues with any row (a :class:`~alligator.protocols.QueueLister`)."""
        return [name for (name,) in self._db.all(sql.QUEUES, ())]
