"""Leases of the SQLite backend, mixed into its client: claims, waiting, renewals, settlements.

A claim is one ``UPDATE ... RETURNING`` in autocommit mode (SQLite takes the
write lock before the statement reads), or, for a prefetching worker,
:meth:`Leases.reserve_many`: the acks of the finished tasks and the next
batch's leases in ONE ``BEGIN IMMEDIATE`` transaction. A row whose id is not
UTF-8 text is buried (or deleted) on the way instead of failing the batch.

A claim that found nothing waits by reading ``PRAGMA data_version`` (shared
memory, no lock) every few milliseconds, and reads the next due time again
only when another connection committed: an idle worker never takes the
write lock.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from alligator.backends import _sqlite_sql as sql
from alligator.backends._checks import check_due, safe_text
from alligator.records import Reservation

if TYPE_CHECKING:
    from alligator.backends._checks import QueueNames
    from alligator.backends._sqlite_driver import Database

__all__ = ["Leases"]

log = logging.getLogger("alligator.backends.sqlite")

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


class Leases:
    """The :class:`~alligator.protocols.PrefetchClient` lease methods of the SQLite client."""

    if TYPE_CHECKING:  # provided by the client
        _db: Database
        _clock: Callable[[], float]
        _names: QueueNames
        _local: threading.local
        _token_prefix: str
        _tokens: Iterator[int]

        def _complete_in(
            self,
            conn: sqlite3.Connection,
            queue: str,
            reservation: Reservation,
            result: bytes,
            *,
            expires_at: float,
            now: float,
        ) -> bool: ...

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
        return self._db.count(sql.ACK, self._held(queue_name, reservation)) > 0

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
        return self._db.count(sql.RELEASE, (due, data, *self._held(queue_name, reservation))) > 0

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        """Keep a held task aside with ``reason``; only drop_all or push remove it."""
        held = self._held(queue_name, reservation)
        return self._db.count(sql.BURY, (safe_text(reason), held[3], *held)) > 0

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        """Move a held lease's deadline to ``lease`` seconds from now."""
        held = self._held(queue_name, reservation)
        return self._db.count(sql.RENEW, (held[3] + lease, *held)) > 0
