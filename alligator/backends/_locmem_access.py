"""How a ``locmem://`` client reaches its named store: the base of its parts.

:class:`alligator.backends.locmem_backend.Client` is assembled from mixins
(leases, buried tasks, flow control, outcomes); the lookups they all make
under the store's lock live here, below every one of them, so each part
calls down into this module and none calls back into the client's module.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Sequence

from alligator.backends._checks import QueueNames
from alligator.backends._locmem_driver import parse_dsn, store
from alligator.backends._locmem_store import Queue, Task
from alligator.exceptions import TaskInProgressError
from alligator.records import Reservation

__all__ = ["StoreAccess"]


class StoreAccess:
    """A client's store, its clock and lease tokens; every method expects the lock held."""

    def __init__(self, conn_string: str, *, clock: Callable[[], float] = time.time) -> None:
        self.name = parse_dsn(conn_string)
        self._store = store(self.name)
        self._lock = self._store.lock
        self._clock = clock
        # Tokens only need to be unique and unguessable across clients: one
        # random prefix per client and a counter, not an urandom call per lease.
        self._token_prefix = secrets.token_hex(8) + "-"
        self._tokens = itertools.count(1)
        self._names = QueueNames()

    def _queue(self, queue_name: str) -> Queue:
        """The queue, created on first use (caller holds the lock)."""
        return self._store.queue(self._names.check(queue_name))

    def _existing(self, queue_name: str) -> Queue | None:
        """The queue if it exists (caller holds the lock)."""
        return self._store.queues.get(self._names.check(queue_name))

    def _refuse_running(self, queue: Queue, task_ids: Sequence[str], queue_name: str) -> None:
        """Raise if a push would replace a task whose lease is held (caller holds the lock)."""
        now = self._clock()
        for task_id in task_ids:
            task = queue.leased.get(task_id)
            if task is not None and task.run_at > now:
                raise TaskInProgressError(task_id, queue_name)

    def _held(self, queue_name: str, reservation: Reservation) -> tuple[Queue, Task] | None:
        """The queue and task of a lease still held (caller holds the lock)."""
        queue = self._existing(queue_name)
        if queue is None:
            return None
        task = queue.leased.get(reservation.task_id)
        if task is None or task.token != reservation.token or task.run_at <= self._clock():
            return None
        return queue, task

    def _push_locked(
        self,
        queue: Queue,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None,
        *,
        rank: int = 0,
    ) -> Task:
        """Store a task and wake waiters (caller holds the lock); the task stored."""
        now = self._clock()
        due = now if delay_until is None else delay_until
        self._refuse_running(queue, (task_id,), queue_name)
        is_head = queue.add(task_id, data, due, rank)
        if due <= now:
            queue.cond.notify()
        elif is_head:
            queue.cond.notify_all()  # waiters shorten their sleep to the new due time
        return queue.tasks[task_id]
