"""SQLite backend (``sqlite://relative.db``, ``sqlite:////abs/path.db``): the embedded default.

Several processes and threads share one database file. How the contract is met:

* One fixed table, ``alligator_tasks``, with a ``queue`` column; queue names
  are always bound parameters, never formatted into SQL. Tables and indexes
  are created on first use.
* ``run_at`` is the time a row becomes reservable: the due time of a waiting
  row (``state = 0``), the lease deadline of a reserved one (``state = 1``).
  So "ready and due, or reserved with an expired lease" is the single indexed
  range ``state < 2 AND run_at <= now``, and FIFO is ``ORDER BY run_at, seq``
  on a partial index: reserve is ``O(log n)`` with no sweeper. ``token`` proves
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
from alligator.backends._sqlite_driver import Database, parse_dsn
from alligator.records import BuriedTask, PushItem, QueueStats, Reservation

__all__ = ["Client"]

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


class Client:
    """A :class:`~alligator.protocols.PrefetchClient` over one SQLite file.

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

    def close(self) -> None:
        """Close every connection this client opened; later calls reopen lazily."""
        self._db.close()

    # -- helpers -----------------------------------------------------------

    def _change(self, statement: str, params: tuple[object, ...]) -> bool:
        return self._db.count(statement, params) > 0

    def _held(self, queue_name: str, reservation: Reservation) -> tuple[str, str, str, float]:
        return (queue_name, reservation.task_id, reservation.token, self._clock())

    # -- Client (1.0) ------------------------------------------------------

    def len(self, queue_name: str) -> int:
        """Ready plus delayed tasks; a task whose lease expired counts as ready."""
        row = self._db.one(sql.LEN, (queue_name, self._clock()))
        return int(row[0]) if row else 0

    def drop_all(self, queue_name: str) -> None:
        """Remove every task of the queue: waiting, reserved and buried."""
        self._change(sql.DROP, (queue_name,))

    def push(
        self, queue_name: str, task_id: str, data: bytes, delay_until: float | None = None
    ) -> str:
        """Store a task due at ``delay_until`` (or now); replaces a namesake."""
        due = self._clock() if delay_until is None else delay_until
        self._change(sql.PUSH, (queue_name, task_id, data, due))
        return task_id

    def pop(self, queue_name: str) -> bytes | None:
        """Remove and return the first due task (at-most-once)."""
        row = self._db.one(sql.POP, (queue_name, self._clock()))
        return None if row is None else row[0]

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        """Remove and return a ready or delayed task; reserved and buried ones stay."""
        row = self._db.one(sql.GET, (queue_name, task_id, self._clock()))
        return None if row is None else row[0]

    # -- ReliableClient ----------------------------------------------------

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        """Store several tasks in one transaction: all or nothing."""
        now = self._clock()
        rows = [
            (queue_name, task_id, data, now if delay_until is None else delay_until)
            for task_id, data, delay_until in items
        ]
        with self._db.write() as conn:
            conn.executemany(sql.PUSH, rows)
        return [item.task_id for item in items]

    def _token(self) -> str:
        """A fresh lease token: this client's random prefix and a counter."""
        return f"{self._token_prefix}{next(self._tokens)}"

    def _claim(self, queue_name: str, lease: float) -> Reservation | None:
        now = self._clock()
        token = self._token()
        row = self._db.one(sql.RESERVE, (now + lease, token, queue_name, now))
        if row is None:
            return None
        self._local.last_claim = time.monotonic()
        task_id, data, attempts = row
        return Reservation(task_id, data, token, attempts)

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
        """The earliest due time or lease deadline of the queue, if it has any."""
        row = self._db.one(sql.NEXT_DUE, (queue_name,))
        return None if row is None else row[0]

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        """Lease the first due task, polling up to ``timeout`` seconds for one."""
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
        self, queue_name: str, lease: float, count: int, done: Sequence[Reservation]
    ) -> tuple[list[bool], list[Reservation]]:
        """Ack ``done`` and lease up to ``count`` rows in one write transaction."""
        now = self._clock()
        acked: list[bool] = []
        leased: list[Reservation] = []
        with self._db.write() as conn:
            for held in done:
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
                    _, task_id, data, attempts, token = by_seq[seq]
                    leased.append(Reservation(task_id, data, token, attempts))
        return acked, leased

    def reserve_many(
        self,
        queue_name: str,
        lease: float,
        count: int,
        timeout: float = 0.0,
        done: Sequence[Reservation] = (),
    ) -> tuple[list[bool], list[Reservation]]:
        """Ack ``done`` and lease up to ``count`` tasks in ONE write transaction.

        When nothing is due the transaction still commits the acks, then the
        call polls as :meth:`reserve` does (reads only) and leases with a
        fresh transaction once something may be due.
        """
        acked, leased = self._settle_and_lease(queue_name, lease, count, done)
        if leased or timeout <= 0 or count <= 0:
            return acked, leased
        deadline = time.monotonic() + timeout
        while self._wait_for_due(queue_name, deadline):
            _, leased = self._settle_and_lease(queue_name, lease, count, ())
            if leased:
                break
        return acked, leased

    def renew_many(
        self, queue_name: str, reservations: Sequence[Reservation], lease: float
    ) -> list[bool]:
        """Renew several held leases in one write transaction; one flag each."""
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
        now = self._clock()
        due = now if delay_until is None else delay_until
        return self._change(sql.RELEASE, (due, data, *self._held(queue_name, reservation)))

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        """Keep a held task aside with ``reason``; only drop_all or push remove it."""
        held = self._held(queue_name, reservation)
        return self._change(sql.BURY, (reason, held[3], *held))

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        """Move a held lease's deadline to ``lease`` seconds from now."""
        held = self._held(queue_name, reservation)
        return self._change(sql.RENEW, (held[3] + lease, *held))

    def stats(self, queue_name: str) -> QueueStats:
        """Counts by state; expired leases count as ready."""
        rows = self._db.all(sql.STATS, (self._clock(), queue_name))
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
        rows = self._db.all(sql.BURIED, (queue_name,))
        return [
            BuriedTask(task_id, data, reason, buried_at)
            for task_id, data, reason, buried_at in rows
        ]

    def queues(self) -> list[str]:
        """Names of the queues with any row (a :class:`~alligator.protocols.QueueLister`)."""
        return [name for (name,) in self._db.all(sql.QUEUES, ())]

    # -- failed-task operations ------------------------------------------

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Make a buried task ready now (attempts from 0): one UPDATE, atomic."""
        params = (self._clock(), data, queue_name, task_id)
        return task_id if self._change(sql.REQUEUE, params) else None

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Delete one or every buried task in one DELETE (one transaction)."""
        params: tuple[object, ...]
        if task_id is None:
            statement, params = sql.PURGE_ALL, (queue_name,)
        else:
            statement, params = sql.PURGE_ONE, (queue_name, task_id)
        return self._db.count(statement, params)
