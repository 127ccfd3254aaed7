"""Outcomes and dependencies of ``sqlite://``: its :class:`~alligator.protocols.ResultClient`.

Mixed into :class:`alligator.backends.sqlite_backend.Client`; the tables and
statements are in :mod:`alligator.backends._sqlite_results_sql`.

* **One transaction.** ``complete`` deletes the task (only while its lease
  is held), writes its outcome and releases the dependents left waiting on
  nothing, in one ``BEGIN IMMEDIATE`` transaction; ``fail`` and ``cancel``
  bury the dependents (transitively) in the same way. A worker killed before
  the commit leaves none of it: the task runs again, no outcome is stored
  for it, no dependent was released. The fused acks of ``reserve_many`` do
  the same, inside its one transaction.
* **Waiting.** ``fetch_result`` reads the outcome, then polls ``PRAGMA
  data_version`` (a read of shared memory, no lock) with a back-off from
  0.5 ms to :data:`MAX_PAUSE`, and reads the outcome again only when another
  connection committed: a ``wait()`` returns a few milliseconds after the
  ack's commit.
* **Expiry** by the index on ``expires_at``: every write deletes a bounded
  batch of expired outcomes from its head; reads ignore expired rows.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

from alligator.backends import _sqlite_results_sql as rsql
from alligator.backends import _sqlite_sql as sql
from alligator.backends._checks import check_items, safe_text
from alligator.exceptions import TaskInProgressError, TaskNotFoundError
from alligator.records import PushItem, Reservation, TaskState

if TYPE_CHECKING:
    from alligator.backends._checks import QueueNames
    from alligator.backends._sqlite_driver import Database

__all__ = ["MAX_PAUSE", "Results"]

#: Longest pause between two looks at ``PRAGMA data_version`` while waiting.
MAX_PAUSE: Final = 0.004
_FIRST_PAUSE: Final = 0.0005


class Results:
    """The :class:`~alligator.protocols.ResultClient` methods of the SQLite client."""

    if TYPE_CHECKING:  # provided by the client
        _db: Database
        _clock: Callable[[], float]
        _names: QueueNames

    # -- the store -----------------------------------------------------------

    def store_result(self, queue_name: str, task_id: str, result: bytes, ttl: float) -> None:
        """Keep ``result`` for ``ttl`` seconds of the client's clock."""
        queue = self._names.check(queue_name)
        now = self._clock()
        with self._db.write() as conn:
            self._keep(conn, queue, task_id, result, expires_at=now + ttl, ok=None, now=now)

    def fetch_result(self, queue_name: str, task_id: str, timeout: float = 0.0) -> bytes | None:
        """The outcome, polling with a short back-off up to ``timeout`` seconds."""
        queue = self._names.check(queue_name)
        db = self._db
        deadline = time.monotonic() + timeout
        pause = _FIRST_PAUSE
        while True:
            version = db.one(sql.DATA_VERSION, ())
            row = db.one(rsql.FETCH, (queue, task_id, self._clock()))
            if row is not None:
                return bytes(row[0])
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, MAX_PAUSE)
                if db.one(sql.DATA_VERSION, ()) != version:
                    break

    # -- settlements ---------------------------------------------------------

    def complete(
        self, queue_name: str, reservation: Reservation, *, result: bytes, ttl: float
    ) -> bool:
        """Ack, keep the outcome, release the dependents: one transaction."""
        queue = self._names.check(queue_name)
        now = self._clock()
        with self._db.write() as conn:
            return self._complete_in(
                conn, queue, reservation, result, expires_at=now + ttl, now=now
            )

    def fail(
        self,
        queue_name: str,
        reservation: Reservation,
        reason: str,
        *,
        result: bytes,
        ttl: float,
        dependents_reason: str,
    ) -> list[str] | None:
        """Bury, keep the outcome, bury every dependent (transitively): one transaction."""
        queue = self._names.check(queue_name)
        now = self._clock()
        held = (queue, reservation.task_id, reservation.token, now)
        with self._db.write() as conn:
            if conn.execute(sql.BURY, (safe_text(reason), now, *held)).rowcount == 0:
                return None
            self._keep(
                conn, queue, reservation.task_id, result, expires_at=now + ttl, ok=0, now=now
            )
            return self._bury_dependents(
                conn,
                queue,
                reservation.task_id,
                safe_text(dependents_reason),
                expires_at=now + ttl,
                now=now,
            )

    def cancel(
        self, queue_name: str, task_id: str, *, result: bytes, ttl: float, dependents_reason: str
    ) -> tuple[bytes, list[str]] | None:
        """Remove a ready, delayed or blocked task; keep its outcome; bury its dependents."""
        queue = self._names.check(queue_name)
        now = self._clock()
        with self._db.write() as conn:
            row = conn.execute(rsql.CANCEL, (queue, task_id, now)).fetchone()
            if row is None:
                return None
            conn.execute(rsql.UNLINK_CHILD, (queue, task_id))
            self._keep(conn, queue, task_id, result, expires_at=now + ttl, ok=0, now=now)
            buried = self._bury_dependents(
                conn, queue, task_id, safe_text(dependents_reason), expires_at=now + ttl, now=now
            )
            return bytes(row[0]), buried

    # -- dependencies --------------------------------------------------------

    def push_after(
        self, queue_name: str, items: Sequence[PushItem], depends_on: Sequence[Sequence[str]]
    ) -> list[str]:
        """Store tasks, each blocked until its dependencies succeeded: one transaction.

        Raises:
            TaskNotFoundError: A dependency is unknown (nothing is stored).
            TaskInProgressError: An id names a running task (nothing is stored).
        """
        check_items(items)
        if len(depends_on) != len(items):
            raise ValueError(f"{len(items)} items but {len(depends_on)} depends_on entries")
        queue = self._names.check(queue_name)
        now = self._clock()
        earlier: set[str] = set()
        with self._db.write() as conn:
            for item, parents in zip(items, depends_on, strict=True):
                task_id, data, delay_until = item.task_id, item.data, item.delay_until
                pending, failed = self._plan(
                    conn, queue, task_id, parents, earlier=earlier, now=now
                )
                if failed is None:
                    # One buried at once is found buried below: it fails its dependents.
                    earlier.add(task_id)
                due = now if delay_until is None else delay_until
                conn.execute(rsql.UNLINK_CHILD, (queue, task_id))
                row: tuple[object, ...]
                if failed is not None:
                    row = (queue, task_id, data, due, 2, f"dependency {failed} failed", now, now)
                elif pending:
                    row = (queue, task_id, data, due, rsql.BLOCKED, None, None, now)
                else:
                    row = (queue, task_id, data, due, 0, None, None, now)
                if conn.execute(rsql.PUSH_AS, row).rowcount == 0:
                    raise TaskInProgressError(task_id, queue_name)  # rolls the batch back
                for parent in pending:
                    conn.execute(rsql.INSERT_EDGE, (queue, parent, task_id))
        return [item.task_id for item in items]

    def task_state(self, queue_name: str, task_id: str) -> TaskState | None:
        """Where a task stands: blocked, ready, delayed, reserved or buried."""
        row = self._db.one(rsql.STATE, (self._names.check(queue_name), task_id))
        if row is None:
            return None
        state, run_at, attempts = row
        if state == rsql.BLOCKED:
            return TaskState("blocked", int(attempts))
        if state == 2:
            return TaskState("buried", int(attempts))
        due = isinstance(run_at, int | float) and run_at <= self._clock()
        if state == 1:
            return TaskState("ready" if due else "reserved", int(attempts))
        return TaskState("ready" if due else "delayed", int(attempts))

    def drop_results_state(self, queue_name: str) -> None:
        """Forget the queue's dependency edges (``drop_all``; outcomes expire on their own)."""
        self._db.count(rsql.DROP_EDGES, (self._names.check(queue_name),))

    # -- internals (inside a write transaction) ------------------------------

    def _keep(
        self,
        conn: sqlite3.Connection,
        queue: str,
        task_id: str,
        data: bytes | None,
        *,
        expires_at: float,
        ok: int | None,
        now: float,
    ) -> None:
        conn.execute(rsql.EXPIRE, (now, rsql.EXPIRE_BATCH))
        conn.execute(rsql.KEEP, (queue, task_id, data, expires_at, ok))

    def _complete_in(
        self,
        conn: sqlite3.Connection,
        queue: str,
        reservation: Reservation,
        result: bytes,
        *,
        expires_at: float,
        now: float,
    ) -> bool:
        """Ack one held task, keep its outcome, release its dependents."""
        task_id = reservation.task_id
        if conn.execute(sql.ACK, (queue, task_id, reservation.token, now)).rowcount == 0:
            return False
        self._keep(conn, queue, task_id, result, expires_at=expires_at, ok=1, now=now)
        children = [child for (child,) in conn.execute(rsql.DEPENDENTS, (queue, task_id))]
        for child in children:
            conn.execute(rsql.RELEASE_CHILD, (now, queue, child, queue, child))
        return True

    def _plan(
        self,
        conn: sqlite3.Connection,
        queue: str,
        task_id: str,
        parents: Sequence[str],
        *,
        earlier: set[str],
        now: float,
    ) -> tuple[list[str], str | None]:
        """The dependencies still pending, and the first that failed, of one item."""
        pending: list[str] = []
        failed: str | None = None
        for parent in dict.fromkeys(parents):
            row = conn.execute(rsql.STATE, (queue, parent)).fetchone()
            if parent in earlier or (row is not None and row[0] != 2):
                pending.append(parent)
                continue
            outcome = conn.execute(rsql.OUTCOME_OK, (queue, parent, now)).fetchone()
            if row is not None or (outcome is not None and outcome[0] == 0):
                failed = failed or parent
            elif outcome is None:
                raise TaskNotFoundError(
                    f"task {task_id} depends on {parent!r}, which queue {queue!r} does not "
                    "hold and has no outcome of (never pushed, or its outcome expired)"
                )
        return pending, failed

    def _bury_dependents(
        self,
        conn: sqlite3.Connection,
        queue: str,
        task_id: str,
        reason: str,
        *,
        expires_at: float,
        now: float,
    ) -> list[str]:
        """Bury everything blocked on ``task_id``, directly or not; their ids."""
        buried: list[str] = []
        todo = [task_id]
        while todo:
            parent = todo.pop()
            for (child,) in conn.execute(rsql.DEPENDENTS, (queue, parent)).fetchall():
                if conn.execute(rsql.BURY_BLOCKED, (reason, now, queue, child)).rowcount == 0:
                    continue
                conn.execute(rsql.UNLINK_CHILD, (queue, child))
                # "Failed" to a later push_after; no outcome to a reader until the caller's.
                self._keep(conn, queue, child, None, expires_at=expires_at, ok=0, now=now)
                buried.append(child)
                todo.append(child)
        return buried
