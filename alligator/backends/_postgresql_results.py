"""Outcomes and dependencies of ``postgresql://``: its :class:`~alligator.protocols.ResultClient`.

Mixed into :class:`alligator.backends.postgresql_backend.Client`; the
statements, and why each settlement is a short transaction of a few of
them, are in :mod:`alligator.backends._postgresql_results_sql`.

* **One transaction.** ``complete`` deletes the task (only while its lease
  is held), stores its outcome and releases the dependents left waiting on
  nothing; ``fail`` and ``cancel`` bury the dependents (transitively). A
  worker killed, or a connection lost, before the commit leaves none of it.
  Settlements commit as acks do (``synchronous_commit=off``): a crash of the
  server can undo the last of them whole, never half of one.
* **Waiting.** ``fetch_result`` polls with a back-off from 1 ms to
  :data:`MAX_PAUSE` (one indexed read each): no NOTIFY per outcome, which
  would serialise every commit on the server's notification queue.
* **Expiry** by the index on ``expires_at``: each write deletes a bounded
  batch of expired outcomes; reads ignore expired rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from alligator.backends import _postgresql_results_sql as rsql
from alligator.backends import _postgresql_sql as sql
from alligator.backends._postgresql_state import ClientState
from alligator.exceptions import TaskInProgressError, TaskNotFoundError
from alligator.records import PushItem, Reservation, TaskState

if TYPE_CHECKING:
    from alligator.backends._postgresql_driver import Target
    from alligator.backends._postgresql_pool import Database

__all__ = ["MAX_PAUSE", "Results"]

#: Longest pause between two reads of an outcome not there yet.
MAX_PAUSE: Final = 0.008
_FIRST_PAUSE: Final = 0.001

#: Runs one statement inside a transaction and returns its rows.
Run = Callable[[str, Mapping[str, Any]], list[tuple[Any, ...]]]


class Results(ClientState):
    """The :class:`~alligator.protocols.ResultClient` methods of the PostgreSQL client."""

    if TYPE_CHECKING:  # provided by the client
        target: Target
        _db: Database

    _results_sql: rsql.Statements | None = None

    @property
    def _rsql(self) -> rsql.Statements:
        found = self._results_sql
        if found is None:
            found = self._results_sql = rsql.statements(sql.tables(self.target.schema))
        return found

    # -- the store -----------------------------------------------------------

    def store_result(self, queue_name: str, task_id: str, result: bytes, ttl: float) -> None:
        """Keep ``result`` for ``ttl`` seconds (replacing an earlier one)."""
        self._db.count(self._rsql.keep, self._keep_params(queue_name, task_id, result, ttl, None))

    def fetch_result(self, queue_name: str, task_id: str, timeout: float = 0.0) -> bytes | None:
        """The outcome, polling with a short back-off up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        pause = _FIRST_PAUSE
        while True:
            params = {"queue": queue_name, "task_id": task_id, "now": self._now()}
            rows = self._db.rows(self._rsql.fetch, params)
            if rows:
                return bytes(rows[0][0])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, MAX_PAUSE)

    # -- settlements ---------------------------------------------------------

    def complete(
        self, queue_name: str, reservation: Reservation, *, result: bytes, ttl: float
    ) -> bool:
        """Ack, keep the outcome, release the dependents: one transaction."""
        return self._complete_many(queue_name, [reservation], [result], ttl)[0]

    def _complete_many(
        self, queue_name: str, done: Sequence[Reservation], results: Sequence[bytes], ttl: float
    ) -> list[bool]:
        """Complete each held task of ``done`` with its outcome, in one transaction."""
        if not done:
            return []
        outcome = {(r.task_id, r.token): data for r, data in zip(done, results, strict=True)}
        now = self._now()
        with self._db.transaction(durable=False) as run:
            taken = run(
                self._rsql.take_held,
                {
                    "queue": queue_name,
                    "ids": [r.task_id for r in done],
                    "tokens": [r.token for r in done],
                    "now": now,
                },
            )
            acked = {(row[0], row[1]) for row in taken}
            if acked:
                released = run(
                    self._rsql.keep_and_release,
                    {
                        "queue": queue_name,
                        "ids": [task_id for task_id, _ in acked],
                        "datas": [outcome[key] for key in acked],
                        "ttl": float(ttl),
                        "now": now,
                        "channel": self._channel(queue_name),
                    },
                )
        if acked and released[0][0]:
            self._changed(queue_name)
        flags = []
        for r in done:  # a reservation given twice is acked once
            key = (r.task_id, r.token)
            flags.append(key in acked)
            acked.discard(key)
        return flags

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
        params = {
            "queue": queue_name,
            "task_id": reservation.task_id,
            "token": reservation.token,
            "reason": reason,
            "now": self._now(),
        }
        with self._db.transaction(durable=False) as run:
            if not run(self._rsql.bury_held, params):
                return None
            return self._settle_removed(
                run,
                queue_name,
                reservation.task_id,
                result=result,
                ttl=ttl,
                reason=dependents_reason,
            )

    def cancel(
        self, queue_name: str, task_id: str, *, result: bytes, ttl: float, dependents_reason: str
    ) -> tuple[bytes, list[str]] | None:
        """Remove a ready, delayed or blocked task; keep its outcome; bury its dependents."""
        params = {"queue": queue_name, "task_id": task_id, "now": self._now()}
        with self._db.transaction() as run:
            rows = run(self._rsql.take_waiting, params)
            if not rows:
                return None
            run(self._rsql.unlink, {"queue": queue_name, "ids": [task_id]})
            buried = self._settle_removed(
                run, queue_name, task_id, result=result, ttl=ttl, reason=dependents_reason
            )
            return bytes(rows[0][0]), buried

    def _settle_removed(
        self, run: Run, queue_name: str, task_id: str, *, result: bytes, ttl: float, reason: str
    ) -> list[str]:
        """Keep a failed task's outcome, then bury its dependents level by level."""
        run(self._rsql.keep, self._keep_params(queue_name, task_id, result, ttl, False))
        buried: list[str] = []
        parents = [task_id]
        while parents:
            params = {
                "queue": queue_name,
                "parents": parents,
                "reason": reason,
                "ttl": float(ttl),
                "now": self._now(),
            }
            parents = [row[0] for row in run(self._rsql.bury_children, params)]
            buried.extend(parents)
        return buried

    # -- dependencies --------------------------------------------------------

    def push_after(
        self, queue_name: str, items: Sequence[PushItem], depends_on: Sequence[Sequence[str]]
    ) -> list[str]:
        """Store tasks, each blocked until its dependencies succeeded: one transaction.

        Raises:
            TaskNotFoundError: A dependency is unknown (nothing is stored).
            TaskInProgressError: An id names a running task (nothing is stored).
        """
        if not items:
            return []
        now = self._now()
        wanted = sorted({parent for parents in depends_on for parent in parents})
        with self._db.transaction() as run:
            params = {"queue": queue_name, "ids": wanted, "now": now}
            states = dict(run(self._rsql.lock_parents, params))
            outcomes = dict(run(self._rsql.outcomes, params))
            planned = _plan(queue_name, items, depends_on, states, outcomes)
            run(self._rsql.unlink, {"queue": queue_name, "ids": planned["ids"]})
            planned.update(queue=queue_name, now=now, channel=self._channel(queue_name))
            [(running, _)] = run(self._rsql.write_planned, planned)
            if running is not None:
                raise TaskInProgressError(str(running), queue_name)  # rolls back
        self._changed(queue_name)
        return [item.task_id for item in items]

    def task_state(self, queue_name: str, task_id: str) -> TaskState | None:
        """Where a task stands: blocked, ready, delayed, reserved or buried."""
        params = {"queue": queue_name, "task_id": task_id, "now": self._now()}
        rows = self._db.rows(self._rsql.state, params)
        if not rows:
            return None
        state, due, attempts = rows[0]
        attempts = int(attempts)
        if state == rsql.BLOCKED:
            return TaskState("blocked", attempts)
        if state == 2:
            return TaskState("buried", attempts)
        if state == 1:
            return TaskState("ready" if due else "reserved", attempts)
        return TaskState("ready" if state == 0 or due else "delayed", attempts)

    def drop_results_state(self, queue_name: str) -> None:
        """Forget the queue's dependency edges (``drop_all``; outcomes expire on their own)."""
        self._db.count(self._rsql.drop_edges, {"queue": queue_name})

    def _keep_params(
        self, queue_name: str, task_id: str, data: bytes, ttl: float, ok: bool | None
    ) -> dict[str, Any]:
        return {
            "queue": queue_name,
            "task_id": task_id,
            "ids": [task_id],
            "data": data,
            "ttl": float(ttl),
            "ok": ok,
            "now": self._now(),
        }


def _plan(
    queue_name: str,
    items: Sequence[PushItem],
    depends_on: Sequence[Sequence[str]],
    states: dict[str, int],
    outcomes: dict[str, bool | None],
) -> dict[str, Any]:
    """The rows and edges ``push_after`` writes, as arrays of the write statement.

    Raises:
        TaskNotFoundError: A dependency is neither an earlier item, nor a
            row of the queue, nor has an outcome.
    """
    planned: dict[str, list[Any]] = {
        key: [] for key in ("ids", "datas", "dues", "states", "pendings", "reasons")
    }
    planned.update(parents=[], children=[])
    # An earlier item of the call: whether it is buried at once.
    earlier: dict[str, bool] = {}
    for item, parents in zip(items, depends_on, strict=True):
        pending: list[str] = []
        failed: str | None = None
        for parent in dict.fromkeys(parents):
            state = states.get(parent)
            if earlier.get(parent) is True:
                failed = failed or parent
            elif parent in earlier or (state is not None and state != 2):
                pending.append(parent)
            elif state == 2 or outcomes.get(parent, True) is False:
                failed = failed or parent
            elif parent not in outcomes:
                raise TaskNotFoundError(
                    f"task {item.task_id} depends on {parent!r}, which queue {queue_name!r} "
                    "does not hold and has no outcome of (never pushed, or its outcome expired)"
                )
        earlier[item.task_id] = failed is not None
        if failed is not None:
            state, reason, pending = 2, f"dependency {failed} failed", []
        else:
            state, reason = (rsql.BLOCKED if pending else 0), None
        planned["ids"].append(item.task_id)
        planned["datas"].append(item.data)
        planned["dues"].append(item.delay_until)
        planned["states"].append(state)
        planned["pendings"].append(len(pending))
        planned["reasons"].append(reason)
        planned["parents"].extend(pending)
        planned["children"].extend([item.task_id] * len(pending))
    return planned
