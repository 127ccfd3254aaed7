"""Outcomes and dependencies of ``locmem://``: the reference ``ResultClient``.

Kept apart from :mod:`alligator.backends.locmem_backend` (which mixes
:class:`Results` into its client) so that module reads as the queue
contract. Everything runs under the store's lock, so each operation is
atomic: an ack and its outcome and the release of its dependents are one
step, as the protocol asks.

* **Outcomes** live in a per-store book, by (queue, task id), with their
  expiry time on the client's clock and whether they were a success: a
  dependency pushed later needs to know. Expired ones are dropped as they
  are met and from the front of an expiry heap on every write, never by a
  scan.
* **Blocked tasks** wait outside the queue's heap, with the set of
  dependencies still pending; each pending dependency lists its dependents,
  so a completion releases exactly those (no polling).
"""

from __future__ import annotations

import heapq
import threading
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from alligator.backends._locmem_store import BURIED, RESERVED, WAITING, Queue, Store, Task
from alligator.exceptions import TaskNotFoundError
from alligator.records import PushItem, Reservation, TaskState

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Results"]


class _Outcome(NamedTuple):
    data: bytes | None  # None: a buried dependent, failed, whose outcome the caller writes
    expires: float
    ok: bool | None  # success, failure, or written apart from any settlement (unknown)


class _Blocked(NamedTuple):
    data: bytes
    delay_until: float | None
    pending: set[str]


class _Book:
    """One store's outcomes and dependency graph (guarded by the store's lock)."""

    def __init__(self, lock: threading.Lock) -> None:
        self.outcomes: dict[tuple[str, str], _Outcome] = {}
        self.expiry: list[tuple[float, tuple[str, str]]] = []
        self.written = threading.Condition(lock)
        self.blocked: dict[str, dict[str, _Blocked]] = {}
        self.dependents: dict[str, dict[str, list[str]]] = {}

    def outcome(self, queue: str, task_id: str, now: float) -> _Outcome | None:
        found = self.outcomes.get((queue, task_id))
        if found is not None and found.expires <= now:
            del self.outcomes[(queue, task_id)]
            return None
        return found

    def keep(
        self, queue: str, task_id: str, data: bytes | None, expires: float, ok: bool | None
    ) -> None:
        key = (queue, task_id)
        if ok is None:  # an outcome written apart keeps what a settlement said
            old = self.outcomes.get(key)
            ok = None if old is None else old.ok
        self.outcomes[key] = _Outcome(data, expires, ok)
        heapq.heappush(self.expiry, (expires, key))
        self.written.notify_all()

    def prune(self, now: float) -> None:
        while self.expiry and self.expiry[0][0] <= now:
            _, key = heapq.heappop(self.expiry)
            found = self.outcomes.get(key)
            if found is not None and found.expires <= now:
                del self.outcomes[key]


_BOOKS: weakref.WeakKeyDictionary[Store, _Book] = weakref.WeakKeyDictionary()


def book_of(store: Store) -> _Book:
    """The book of ``store`` (caller holds its lock)."""
    found = _BOOKS.get(store)
    if found is None:
        found = _BOOKS[store] = _Book(store.lock)
    return found


class Results:
    """The :class:`~alligator.protocols.ResultClient` methods of the locmem client."""

    if TYPE_CHECKING:  # provided by the client
        _store: Store
        _lock: threading.Lock
        _clock: Callable[[], float]

        def _held(self, queue_name: str, reservation: Reservation) -> tuple[Queue, Task] | None: ...

    # -- the store -----------------------------------------------------------

    def store_result(self, queue_name: str, task_id: str, result: bytes, ttl: float) -> None:
        """Keep ``result`` for ``ttl`` seconds of the client's clock."""
        with self._lock:
            book, now = book_of(self._store), self._clock()
            book.prune(now)
            book.keep(queue_name, task_id, result, now + ttl, None)

    def fetch_result(self, queue_name: str, task_id: str, timeout: float = 0.0) -> bytes | None:
        """The outcome, waiting on a condition (woken by every write) up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            book = book_of(self._store)
            while True:
                found = book.outcome(queue_name, task_id, self._clock())
                left = deadline - time.monotonic()
                if (found is not None and found.data is not None) or left <= 0:
                    return None if found is None else found.data
                book.written.wait(left)

    # -- settlements -----------------------------------------------------------

    def complete(
        self, queue_name: str, reservation: Reservation, *, result: bytes, ttl: float
    ) -> bool:
        """Ack, keep the outcome, release the dependents whose last dependency this was."""
        with self._lock:
            held = self._held(queue_name, reservation)
            if held is None:
                return False
            queue, task = held
            queue.unlink(task)
            self._finish(queue, queue_name, task.task_id, result, ttl, ok=True)
            return True

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
        """Bury, keep the outcome, bury every dependent (transitively)."""
        with self._lock:
            held = self._held(queue_name, reservation)
            if held is None:
                return None
            queue, task = held
            queue.bury(task, reason, self._clock())
            self._finish(queue, queue_name, task.task_id, result, ttl, ok=False)
            return self._bury_dependents(queue, queue_name, task.task_id, dependents_reason, ttl)

    def cancel(
        self, queue_name: str, task_id: str, *, result: bytes, ttl: float, dependents_reason: str
    ) -> tuple[bytes, list[str]] | None:
        """Remove a ready, delayed or blocked task; keep its outcome; bury its dependents."""
        with self._lock:
            queue = self._store.queue(queue_name)
            blocked = book_of(self._store).blocked.get(queue_name, {})
            now = self._clock()
            task = queue.tasks.get(task_id)
            if task_id in blocked:
                data = self._unblock(queue_name, task_id).data
            elif task is not None and (
                task.state == WAITING or (task.state == RESERVED and task.run_at <= now)
            ):
                data = task.data
                queue.unlink(task)
            else:
                return None
            self._finish(queue, queue_name, task_id, result, ttl, ok=False)
            return data, self._bury_dependents(queue, queue_name, task_id, dependents_reason, ttl)

    # -- dependencies ------------------------------------------------------------

    def push_after(
        self, queue_name: str, items: Sequence[PushItem], depends_on: Sequence[Sequence[str]]
    ) -> list[str]:
        """Store tasks, each blocked until its dependencies succeeded: all or nothing."""
        with self._lock:
            queue = self._store.queue(queue_name)
            book, now = book_of(self._store), self._clock()
            plans = self._plan(queue, queue_name, items, depends_on, now)
            for item, (pending, failed) in zip(items, plans, strict=True):
                task_id, data, delay_until = item.task_id, item.data, item.delay_until
                if failed is not None:
                    queue.add_buried(task_id, data, f"dependency {failed} failed", now)
                elif pending:
                    book.blocked.setdefault(queue_name, {})[task_id] = _Blocked(
                        data, delay_until, pending
                    )
                    graph = book.dependents.setdefault(queue_name, {})
                    for parent in pending:
                        graph.setdefault(parent, []).append(task_id)
                else:
                    self._ready(queue, task_id, data, delay_until, now)
            return [item.task_id for item in items]

    def task_state(self, queue_name: str, task_id: str) -> TaskState | None:
        """Where a task stands: blocked, ready, delayed, reserved or buried."""
        with self._lock:
            if task_id in book_of(self._store).blocked.get(queue_name, {}):
                return TaskState("blocked")
            queue = self._store.queues.get(queue_name)
            task = None if queue is None else queue.tasks.get(task_id)
            if task is None:
                return None
            if task.state == BURIED:
                return TaskState("buried", task.attempts)
            due = task.run_at <= self._clock()
            if task.state == RESERVED:
                return TaskState("ready" if due else "reserved", task.attempts)
            return TaskState("ready" if due else "delayed", task.attempts)

    def drop_results_state(self, queue_name: str) -> None:
        """Forget the queue's blocked tasks (``drop_all``; outcomes expire on their own)."""
        book = book_of(self._store)
        book.blocked.pop(queue_name, None)
        book.dependents.pop(queue_name, None)

    # -- internals (the store's lock is held) ----------------------------------

    def _plan(
        self,
        queue: Queue,
        queue_name: str,
        items: Sequence[PushItem],
        depends_on: Sequence[Sequence[str]],
        now: float,
    ) -> list[tuple[set[str], str | None]]:
        """Per item: the dependencies still pending, or the first that failed."""
        book = book_of(self._store)
        blocked = book.blocked.get(queue_name, {})
        # An earlier item of the call: whether it is buried at once.
        earlier: dict[str, bool] = {}
        plans: list[tuple[set[str], str | None]] = []
        for item, parents in zip(items, depends_on, strict=True):
            pending: set[str] = set()
            failed: str | None = None
            for parent in parents:
                task = queue.tasks.get(parent)
                outcome = book.outcome(queue_name, parent, now)
                if earlier.get(parent) is True:
                    failed = failed or parent
                elif parent in earlier or parent in blocked or (task and task.state != BURIED):
                    pending.add(parent)
                elif (task is not None and task.state == BURIED) or (
                    outcome is not None and outcome.ok is False
                ):
                    failed = failed or parent
                elif outcome is None:
                    raise TaskNotFoundError(
                        f"task {item.task_id} depends on {parent!r}, which queue "
                        f"{queue_name!r} does not hold and has no outcome of (never pushed, "
                        "or its outcome expired)"
                    )
            earlier[item.task_id] = failed is not None
            plans.append((pending, failed))
        return plans

    def _finish(
        self, queue: Queue, queue_name: str, task_id: str, result: bytes, ttl: float, *, ok: bool
    ) -> None:
        """Keep a settlement's outcome; on success release the dependents it unblocks."""
        book, now = book_of(self._store), self._clock()
        book.prune(now)
        book.keep(queue_name, task_id, result, now + ttl, ok)
        if not ok:
            return
        for child in book.dependents.get(queue_name, {}).pop(task_id, []):
            waiting = book.blocked.get(queue_name, {}).get(child)
            if waiting is None:
                continue
            waiting.pending.discard(task_id)
            if not waiting.pending:
                self._unblock(queue_name, child)
                self._ready(queue, child, waiting.data, waiting.delay_until, now)

    def _bury_dependents(
        self, queue: Queue, queue_name: str, task_id: str, reason: str, ttl: float
    ) -> list[str]:
        """Bury everything waiting on ``task_id``, directly or not; their ids."""
        book, now = book_of(self._store), self._clock()
        graph = book.dependents.get(queue_name, {})
        buried: list[str] = []
        todo = list(graph.pop(task_id, []))
        while todo:
            child = todo.pop()
            if child not in book.blocked.get(queue_name, {}):
                continue
            queue.add_buried(child, self._unblock(queue_name, child).data, reason, now)
            book.keep(queue_name, child, None, now + ttl, False)
            buried.append(child)
            todo.extend(graph.pop(child, []))
        return buried

    def _unblock(self, queue_name: str, task_id: str) -> _Blocked:
        """Take a blocked task out of the graph (it waits on nothing any more)."""
        book = book_of(self._store)
        waiting = book.blocked[queue_name].pop(task_id)
        graph = book.dependents.get(queue_name, {})
        for parent in waiting.pending:
            children = graph.get(parent, [])
            if task_id in children:
                children.remove(task_id)
        return waiting

    @staticmethod
    def _ready(
        queue: Queue, task_id: str, data: bytes, delay_until: float | None, now: float
    ) -> None:
        due = now if delay_until is None else max(delay_until, now)
        queue.add(task_id, data, due)
        if due <= now:
            queue.cond.notify()
        else:
            queue.cond.notify_all()
