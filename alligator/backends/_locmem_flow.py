"""Unique keys and limits of ``locmem://``: the reference ``UniqueClient`` and ``LimitClient``.

Mixed into :class:`alligator.backends.locmem_backend.Client`. Everything runs
under the store's lock, so each decision is one atomic step.

* **Unique keys**: per queue, key -> the task object that holds it. The key
  is held while that very object is still the queue's task under its id and
  is waiting (or reserved with an expired lease; with ``while_running``, also
  while its lease is held). Ack, burial, cancellation, removal or a push
  that replaces the task end that, so nothing is ever released by hand.
* **Concurrency limits**: per key, the (task, token) pairs admitted; a pair
  counts while that task's lease is still held by that token, and pairs that
  no longer count are dropped when met.
* **Rate limits**: per key, the start times within the last ``period``
  seconds (a sliding-window log: exact, by this process's clock).
"""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

from alligator.backends._locmem_store import BURIED, GONE, RESERVED, Queue, Store, Task
from alligator.limits import CONCURRENCY_RETRY
from alligator.records import LimitSlot, LimitUsage, Reservation

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Flow"]


class _Flow:
    """One store's unique keys and limit counters (guarded by the store's lock)."""

    def __init__(self) -> None:
        self.unique: dict[tuple[str, str], tuple[Task, bool]] = {}
        self.running: dict[tuple[str, str], dict[str, tuple[Task, str]]] = {}
        self.starts: dict[tuple[str, str], collections.deque[float]] = {}
        self.limits: dict[tuple[str, str], LimitSlot] = {}


_FLOWS: weakref.WeakKeyDictionary[Store, _Flow] = weakref.WeakKeyDictionary()


def _flow_of(store: Store) -> _Flow:
    found = _FLOWS.get(store)
    if found is None:
        found = _FLOWS[store] = _Flow()
    return found


def _holds(queue: Queue, task: Task, while_running: bool, now: float) -> bool:
    """Whether ``task`` still holds the unique key it was pushed with."""
    if task.state in (BURIED, GONE) or queue.tasks.get(task.task_id) is not task:
        return False
    return while_running or task.state != RESERVED or task.run_at <= now


def _live(queue: Queue, task: Task, token: str, now: float) -> bool:
    """Whether ``task`` still holds the lease ``token`` names."""
    return (
        task.state == RESERVED
        and task.token == token
        and task.run_at > now
        and queue.tasks.get(task.task_id) is task
    )


class Flow:
    """The :class:`~alligator.protocols.UniqueClient` and ``LimitClient`` methods."""

    if TYPE_CHECKING:  # provided by the client
        _store: Store
        _lock: threading.Lock
        _clock: Callable[[], float]

        def _queue(self, queue_name: str) -> Queue: ...

        def _existing(self, queue_name: str) -> Queue | None: ...

        def _push_locked(
            self,
            queue: Queue,
            queue_name: str,
            task_id: str,
            data: bytes,
            delay_until: float | None,
        ) -> Task: ...

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
        """Store the task unless a queued task holds ``unique_key``, under the store's lock."""
        from alligator.backends._checks import check_due, check_task_id

        check_task_id(task_id)
        check_due(delay_until)
        with self._lock:
            queue = self._queue(queue_name)
            unique = _flow_of(self._store).unique
            found = unique.get((queue_name, unique_key))
            if found is not None and _holds(queue, found[0], found[1], self._clock()):
                return found[0].task_id, False
            task = self._push_locked(queue, queue_name, task_id, data, delay_until)
            unique[(queue_name, unique_key)] = (task, while_running)
            return task_id, True

    def drop_flow_state(self, queue_name: str) -> None:
        """Forget the queue's unique keys and limit counters (``drop_all``; lock held)."""
        flow = _flow_of(self._store)
        for table in (flow.unique, flow.running, flow.starts, flow.limits):
            for where in [where for where in table if where[0] == queue_name]:
                del table[where]

    def acquire(
        self, queue_name: str, reservation: Reservation, limits: Sequence[LimitSlot]
    ) -> float:
        """Admit a reserved task under every limit or none, under the store's lock."""
        with self._lock:
            queue = self._existing(queue_name)
            now = self._clock()
            task = None if queue is None else queue.leased.get(reservation.task_id)
            if queue is None or task is None or not _live(queue, task, reservation.token, now):
                return CONCURRENCY_RETRY
            flow = _flow_of(self._store)
            wait = 0.0
            for limit in limits:
                where = (queue_name, limit.key)
                flow.limits[where] = limit
                if limit.concurrency:
                    holders = flow.running.setdefault(where, {})
                    for held_id, (held, token) in list(holders.items()):
                        if not _live(queue, held, token, now):
                            del holders[held_id]
                    if len(holders) >= limit.concurrency and reservation.task_id not in holders:
                        wait = max(wait, CONCURRENCY_RETRY)
                else:
                    starts = flow.starts.setdefault(where, collections.deque())
                    while starts and starts[0] <= now - limit.period:
                        starts.popleft()
                    if len(starts) >= limit.rate:
                        wait = max(wait, starts[0] + limit.period - now)
            if wait:
                return wait
            for limit in limits:
                where = (queue_name, limit.key)
                if limit.concurrency:
                    flow.running[where][reservation.task_id] = (task, reservation.token)
                else:
                    flow.starts[where].append(now)
            return 0.0

    def limit_usage(self, queue_name: str) -> list[LimitUsage]:
        """Each limit key used on the queue, with its current use."""
        with self._lock:
            queue = self._existing(queue_name)
            flow = _flow_of(self._store)
            now = self._clock()
            found: dict[str, LimitUsage] = {}
            for (name, key), limit in sorted(flow.limits.items()):
                if name != queue_name:
                    continue
                if limit.concurrency:
                    holders = flow.running.get((name, key), {}).values()
                    running = sum(
                        1
                        for t, token in holders
                        if queue is not None and _live(queue, t, token, now)
                    )
                    found[key] = LimitUsage(key, concurrency=limit.concurrency, running=running)
                else:
                    starts = flow.starts.get((name, key), collections.deque())
                    recent = sum(1 for at in starts if at > now - limit.period)
                    found[key] = LimitUsage(
                        key, rate=limit.rate, period=limit.period, recent=recent
                    )
            return list(found.values())
