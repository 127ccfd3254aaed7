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
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from alligator.backends import _sqlite_sql as sql
from alligator.backends._checks import (
    QueueNames,
    check_due,
    check_items,
    check_page,
    check_priority,
    check_task_id,
    check_ttl,
    safe_text,
)
from alligator.backends._sqlite_driver import Database, parse_dsn
from alligator.backends._sqlite_flow import Flow
from alligator.backends._sqlite_results import Results
from alligator.exceptions import TaskInProgressError
from alligator.records import BuriedTask, PushItem, QueueStats, Reservation

__all__ = ["DROP_CHUNK", "Client"]

log = logging.getLogger("alligator.backends.sqlite")

#: Rows ``drop_all`` deletes per statement (a few milliseconds each).
DROP_CHUNK = 5000
#: Longest pause between two chunks of a drop (each pause is as long as the
#: chunk took, so another writer waiting on the lock always gets a turn).
_DROP_PAUSE = 0.02
#: Most malformed rows one reserve buries before it gives up for this call.
_MAX_MALFORMED = 100

# An idle reserve checks ``PRAGMA data_version`` (a read of shared memory, no
# lock) every few ms. Each sleep-and-check costs ~25 us of CPU (mostly the
# timer wake-up), so the pause is 4 ms while tasks came recently (wake-up
# ~2.5 ms) and 8 ms once the queue has been quiet for a while (measured: under
# 1% of one core while idle).
_FIRST_PAUSE = 0.001
_BUSY_PAUSE = 0.004
_IDLE_PAUSE = 0.008
#: Seconds without a claim after which a waiting reserve polls at the idle pace.
_QUIET = 2.0


class Client(Results, Flow):
    """A :class:`~alligator.protocols.ResultPrefetchClient` over one SQLite file.

    Outcomes and dependencies (:mod:`alligator.backends._sqlite_results`)
    are kept in the same file, written in the settlement's transaction;
    unique keys and limit counters (:mod:`alligator.backends._sqlite_flow`)
    in tables of their own.

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

    # -- helpers -----------------------------------------------------------

    def _change(self, statement: str, params: tuple[object, ...]) -> bool:
        return self._db.count(statement, params) > 0

    def _held(self, queue_name: str, reservation: Reservation) -> tuple[str, str, str, float]:
        queue = self._names.check(queue_name)
        return (queue, reservation.task_id, reservation.token, self._clock())

    def _claimed(
        self, conn: sqlite3.Connection, row: tuple[Any, ...], token: str, now: float
    ) -> Reservation | None:
        """The reservation of a claimed row, or ``None`` having buried it (inside ``conn``'s txn).

        Row: seq, the id's type, the id's bytes, the payload's bytes, attempts.
        """
        seq, kind, raw_id, data, attempts = row[:5]
        try:
            if kind != "text":
                raise ValueError(f"stored as {kind}")
            task_id = bytes(raw_id).decode("utf-8")
        except ValueError:
            shown = bytes(raw_id)[:32].hex() + ("..." if len(raw_id) > 32 else "")
            reason = f"malformed task: task id is not UTF-8 text ({kind}): bytes {shown}"
            new_id = f"corrupt:{seq}"
            if conn.execute(sql.BURY_MALFORMED, (new_id, reason, now, seq)).rowcount == 0:
                conn.execute(sql.DELETE_SEQ, (seq,))
                log.warning("deleted a row not buried (%s is taken): %s", new_id, reason)
            else:
                log.warning("buried row %s as %s: %s", seq, new_id, reason)
            return None
        return Reservation(task_id, bytes(data), token, int(attempts))

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
        if not self._change(sql.PUSH, (queue, task_id, data, due, now, rank)):
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

    def _token(self) -> str:
        """A fresh lease token: this client's random prefix and a counter."""
        return f"{self._token_prefix}{next(self._tokens)}"

    def _claim(self, queue_name: str, lease: float) -> Reservation | None:
        queue_name = self._names.check(queue_name)
        for _ in range(_MAX_MALFORMED):
            now = self._clock()
            token = self._token()
            row = self._db.one(sql.RESERVE, (now + lease, token, queue_name, now))
            if row is None:
                return None
            self._local.last_claim = time.monotonic()
            if row[1] == "text":  # the common case, without a transaction
                found = self._claimed(self._db.connection(), row, token, now)
            else:
                with self._db.write() as conn:
                    found = self._claimed(conn, row, token, now)
            if found is not None:
                return found
        return None

    def _wait_for_due(self, queue_name: str, deadline: float) -> bool:
        """Wait until a task may be due, or ``deadline`` (monotonic); ``True`` if one may.

        Reads only, so an idle worker never takes the write lock: the next due
        time is re-read only when ``PRAGMA data_version`` says another
        connection committed, checked every few milliseconds.
        """
        db = self._db
        version = db.one(sql.DATA_VERSION, ())
        next_due = self._next_due(queue_name)
        pause = _FIRST_PAUSE
        quiet_at = getattr(self._local, "last_claim", 0.0) + _QUIET
        while True:
            now = self._clock()
            if next_due is not None and next_due <= now:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            wait = min(pause, remaining)
            if next_due is not None:
                wait = min(wait, max(next_due - now, 0.0005))
            time.sleep(wait)
            cap = _BUSY_PAUSE if time.monotonic() < quiet_at else _IDLE_PAUSE
            pause = min(pause * 2, cap)
            seen = db.one(sql.DATA_VERSION, ())
            if seen != version:
                version = seen
                next_due = self._next_due(queue_name)

    def _next_due(self, queue_name: str) -> float | None:
        """The earliest due time or lease deadline of the queue, if it has any.

        Waiting rows whose ``run_at`` is not a number are buried on the way.
        """
        row = self._db.one(sql.NEXT_DUE, (queue_name,))
        if row is not None and row[1]:
            buried = self._db.count(sql.BURY_ODD_RUN_AT, (self._clock(), queue_name))
            log.warning("buried %d task(s) of %r whose run_at is not a number", buried, queue_name)
        return None if row is None or row[0] is None else float(row[0])

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        """Lease the first due task, polling up to ``timeout`` seconds for one."""
        queue_name = self._names.check(queue_name)
        found = self._claim(queue_name, lease)
        if found is not None or timeout <= 0:
            return found
        deadline = time.monotonic() + timeout
        while self._wait_for_due(queue_name, deadline):
            found = self._claim(queue_name, lease)
            if found is not None:
                return found
        return None

    def _settle_and_lease(
        self,
        queue_name: str,
        lease: float,
        count: int,
        done: Sequence[Reservation],
        *,
        results: Sequence[bytes] = (),
        ttl: float = 0.0,
    ) -> tuple[list[bool], list[Reservation], int]:
        """Ack ``done`` and lease up to ``count`` rows in one write transaction.

        With ``results`` (one per task of ``done``) each ack keeps its outcome
        and releases its dependents (:meth:`complete`), in the same transaction.
        Returns the ack flags, the leases, and how many rows were claimed
        (malformed ones, buried, included).
        """
        queue_name = self._names.check(queue_name)
        now = self._clock()
        acked: list[bool] = []
        leased: list[Reservation] = []
        with self._db.write() as conn:
            for i, held in enumerate(done):
                if results:
                    acked.append(
                        self._complete_in(
                            conn, queue_name, held, results[i], expires_at=now + ttl, now=now
                        )
                    )
                    continue
                params = (queue_name, held.task_id, held.token, now)
                acked.append(conn.execute(sql.ACK, params).rowcount > 0)
            due = conn.execute(sql.DUE_MANY, (queue_name, now, count)) if count > 0 else ()
            seqs = [r[0] for r in due]
            if seqs:
                prefix = self._token() + "-"
                rows = conn.execute(sql.lease_many(len(seqs)), (now + lease, prefix, *seqs))
                by_seq = {row[0]: row for row in rows.fetchall()}
                self._local.last_claim = time.monotonic()
                for seq in seqs:
                    row = by_seq[seq]
                    found = self._claimed(conn, row, row[5], now)
                    if found is not None:
                        leased.append(found)
            if 0 < len(seqs) < count:  # the queue ran short: bury rows never due
                conn.execute(sql.BURY_ODD_FIFO, (now, queue_name))
        return acked, leased, len(seqs)

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
        """Ack ``done`` and lease up to ``count`` tasks in ONE write transaction.

        When nothing is due the transaction still commits the acks, then the
        call polls as :meth:`reserve` does (reads only) and leases with a
        fresh transaction once something may be due. With ``results`` (one
        per task of ``done``, kept ``ttl`` seconds) each ack is a
        :meth:`complete`.
        """
        if results and len(results) != len(done):
            raise ValueError(f"{len(done)} acks but {len(results)} results")
        acked, leased, claimed = self._settle_and_lease(
            queue_name, lease, count, done, results=results, ttl=ttl
        )
        for _ in range(_MAX_MALFORMED):  # a batch of only malformed rows: the next one
            if leased or not claimed:
                break
            _, leased, claimed = self._settle_and_lease(queue_name, lease, count, ())
        if leased or timeout <= 0 or count <= 0:
            return acked, leased
        deadline = time.monotonic() + timeout
        while self._wait_for_due(queue_name, deadline):
            _, leased, _ = self._settle_and_lease(queue_name, lease, count, ())
            if leased:
                break
        return acked, leased

    def renew_many(
        self, queue_name: str, reservations: Sequence[Reservation], lease: float
    ) -> list[bool]:
        """Renew several held leases in one write transaction; one flag each."""
        queue_name = self._names.check(queue_name)
        now = self._clock()
        with self._db.write() as conn:
            return [
                conn.execute(sql.RENEW, (now + lease, queue_name, r.task_id, r.token, now)).rowcount
                > 0
                for r in reservations
            ]

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        """Delete a task whose lease is still held."""
        return self._change(sql.ACK, self._held(queue_name, reservation))

    def release(
        self,
        queue_name: str,
        reservation: Reservation,
        data: bytes | None = None,
        delay_until: float | None = None,
    ) -> bool:
        """Make a held task waiting again, with new ``data`` if given."""
        check_due(delay_until)
        now = self._clock()
        due = now if delay_until is None else delay_until
        return self._change(sql.RELEASE, (due, data, *self._held(queue_name, reservation)))

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        """Keep a held task aside with ``reason``; only drop_all or push remove it."""
        held = self._held(queue_name, reservation)
        return self._change(sql.BURY, (safe_text(reason), held[3], *held))

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        """Move a held lease's deadline to ``lease`` seconds from now."""
        held = self._held(queue_name, reservation)
        return self._change(sql.RENEW, (held[3] + lease, *held))

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

    def buried(self, queue_name: str) -> list[BuriedTask]:
        """Buried tasks in the order they were buried (not by a clock that may jump)."""
        return _buried(self._db.all(sql.BURIED, (self._names.check(queue_name),)))

    def buried_page(self, queue_name: str, offset: int, limit: int) -> list[BuriedTask]:
        """A slice of :meth:`buried`: one SELECT, LIMIT/OFFSET over the buried index."""
        offset, limit = check_page(offset, limit)
        params = (self._names.check(queue_name), limit, offset)
        return _buried(self._db.all(sql.BURIED_PAGE, params)) if limit else []

    def queues(self) -> list[str]:
        """Names of the queues with any row (a :class:`~alligator.protocols.QueueLister`)."""
        return [name for (name,) in self._db.all(sql.QUEUES, ())]

    # -- failed-task operations ------------------------------------------

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Make a buried task ready now (attempts from 0): one UPDATE, atomic."""
        params = (self._clock(), data, self._names.check(queue_name), task_id)
        try:
            check_task_id(task_id)
        except ValueError:
            return None
        return task_id if self._change(sql.REQUEUE, params) else None

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Delete one or every buried task in one DELETE (one transaction)."""
        queue_name = self._names.check(queue_name)
        params: tuple[object, ...]
        if task_id is None:
            statement, params = sql.PURGE_ALL, (queue_name,)
        else:
            try:
                statement, params = sql.PURGE_ONE, (queue_name, check_task_id(task_id))
            except ValueError:  # an id listed from bytes that are not UTF-8
                raw = task_id.encode("utf-8", "surrogateescape")
                statement, params = sql.PURGE_RAW, (queue_name, raw)
        return self._db.count(statement, params)


def _buried(rows: list[Any]) -> list[BuriedTask]:
    return [
        BuriedTask(
            # An id written by other code may not be UTF-8: kept as
            # escapes, which purge turns back into the same bytes.
            bytes(task_id).decode("utf-8", "surrogateescape"),
            bytes(data),
            bytes(reason or b"").decode("utf-8", "replace"),
            _seconds(buried_at),
        )
        for task_id, data, reason, buried_at in rows
    ]


def _seconds(value: object) -> float:
    """A time stored by whoever wrote the row; 0.0 when it is not a number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
