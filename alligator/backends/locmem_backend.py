"""In-process backend (``locmem://[name]``): for tests, demos and one-process apps.

Every :class:`Client` built with the same store name shares one store, so a
Gator and a Worker in one process see the same queues; different names are
isolated. The stores live in a lock-guarded registry (never in class
attributes, see :mod:`alligator.backends._locmem_driver`) that
:func:`reset_stores` empties.

How the contract is met:

* Atomicity: every operation runs under the store's lock.
* Order: each queue keeps one heap of ``(run_at, seq, task)`` where ``run_at``
  is the due time of a waiting task or the lease deadline of a reserved one,
  so reserve is ``O(log n)`` and an expired lease makes its task reservable
  again with no sweeper. Priorities (a
  :class:`~alligator.protocols.PriorityClient`): once a task of the queue has
  one other than 0, due tasks move to a second heap ordered by ``(priority,
  run_at, seq)`` and are taken from there; a task keeps its priority through
  releases, lease expiry and requeues. Entries made stale by ack, release, renew, push or
  get are skipped lazily and compacted when they pile up (see
  :mod:`alligator.backends._locmem_store`).
* Prefetch: ``reserve_many`` acks the finished tasks and leases the next ones
  under one lock hold; each leased task keeps its own token and deadline.
* Blocking: ``reserve(timeout > 0)`` waits on the queue's condition, woken by
  push and release, and sleeps at most until the next task is due.

Semantics shared with the SQLite backend: pushing an existing ``task_id``
replaces that task (ready, delayed, buried, or reserved with an expired
lease) with a fresh one at the back of its due time, attempts reset to 0, and
any reservation of the old one becomes stale; pushing the id of a task whose
lease is held raises :class:`~alligator.exceptions.TaskInProgressError` and
changes nothing, so a running task never runs twice at once. A lease is held
until its deadline exactly: at or after it, ack/release/bury/renew return
``False`` and the task counts as ready. ``release`` puts the task behind tasks
already due at the same time. Nothing is copied: payloads are the ``bytes``
objects given.

Entries that did not come through this client (anything put into a store's
structures by other code) are checked when a reserve meets them: a task
whose id, payload or due time is not of the right kind is buried with the
reason (see :mod:`alligator.backends._locmem_store`), never handed out or
left to block the queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from alligator.backends._checks import (
    check_due,
    check_items,
    check_priority,
    check_task_id,
    check_ttl,
)
from alligator.backends._locmem_buried import BuriedTasks
from alligator.backends._locmem_driver import reset_stores
from alligator.backends._locmem_flow import Flow
from alligator.backends._locmem_leases import Leases
from alligator.backends._locmem_results import Results
from alligator.backends._locmem_store import BURIED, RESERVED, Marks
from alligator.records import PushItem, QueueStats

__all__ = ["Client", "reset_stores"]


class Client(Leases, BuriedTasks, Flow, Results):
    """A :class:`~alligator.protocols.PrefetchClient` over a named in-process store.

    The store lookups every part shares are
    :class:`~alligator.backends._locmem_access.StoreAccess`; leases (one or a
    prefetched batch) come from
    :class:`~alligator.backends._locmem_leases.Leases`, buried tasks from
    :class:`~alligator.backends._locmem_buried.BuriedTasks`, unique tasks and
    limits from :class:`~alligator.backends._locmem_flow.Flow`, outcomes and
    dependencies from :class:`~alligator.backends._locmem_results.Results`.

    Args:
        conn_string: ``locmem://name``; an empty name means ``"default"``.
        clock: Source of epoch seconds for due times and leases; tests inject
            a fake one so delays and lease expiry never need sleeping.
    """

    #: Producer and worker share this process (:class:`~alligator.protocols.InProcessClient`).
    in_process: Final = True

    # -- Client (1.0) ------------------------------------------------------

    def len(self, queue_name: str) -> int:
        """Ready plus delayed tasks; a task whose lease expired counts as ready."""
        with self._lock:
            queue = self._existing(queue_name)
            if queue is None:
                return 0
            now = self._clock()
            return queue.waiting + sum(1 for t in queue.leased.values() if t.run_at <= now)

    def drop_all(self, queue_name: str) -> None:
        """Remove every task of the queue: waiting, reserved and buried; and its marks."""
        with self._lock:
            queue = self._existing(queue_name)
            self.drop_results_state(queue_name)
            self.drop_flow_state(queue_name)
            self._store.marks.pop(queue_name, None)
            if queue is None:
                return
            queue.clear()

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
            TaskInProgressError: A task of that id is running (its lease is held).
            InvalidTaskError: A bad id, due time or priority.
        """
        check_task_id(task_id)
        check_due(delay_until)
        rank = 0 if priority is None else check_priority(priority)
        with self._lock:
            self._push_locked(
                self._queue(queue_name), queue_name, task_id, data, delay_until, rank=rank
            )
        return task_id

    def pop(self, queue_name: str) -> bytes | None:
        """Remove and return the first due task (at-most-once)."""
        with self._lock:
            queue = self._existing(queue_name)
            if queue is None:
                return None
            task = queue.take_due(self._clock())
            if task is None:
                return None
            queue.unlink(task)
            return task.data

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        """Remove and return a ready or delayed task; reserved and buried ones stay."""
        with self._lock:
            queue = self._existing(queue_name)
            task = None if queue is None else queue.tasks.get(task_id)
            if queue is None or task is None or task.state == BURIED:
                return None
            if task.state == RESERVED and task.run_at > self._clock():
                return None
            queue.unlink(task)
            return task.data

    # -- ReliableClient ----------------------------------------------------

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        """Store several tasks under one lock hold: all or nothing.

        Raises:
            TaskInProgressError: A task of one of the ids is running; nothing is stored.
        """
        check_items(items)
        with self._lock:
            now = self._clock()
            queue = self._queue(queue_name)
            self._refuse_running(queue, [item.task_id for item in items], queue_name)
            ready = 0
            new_head = False
            for task_id, data, delay_until, priority in items:
                due = now if delay_until is None else delay_until
                new_head = queue.add(task_id, data, due, priority or 0) or new_head
                ready += due <= now
            if new_head and ready < len(items):
                queue.cond.notify_all()
            elif ready:
                queue.cond.notify(ready)
        return [item.task_id for item in items]

    # -- AbsentPushClient ----------------------------------------------------

    def _marks(self, queue_name: str) -> Marks:
        """The queue's marks, created on first use (caller holds the lock)."""
        marks = self._store.marks.get(queue_name)
        if marks is None:
            marks = self._store.marks[self._names.check(queue_name)] = Marks()
        return marks

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
        """Store a task unless the queue holds its id or a live mark of it; one lock hold.

        The task is ordered by ``priority`` as a plain push's is.
        """
        check_task_id(task_id)
        check_due(delay_until)
        check_ttl(ttl)
        rank = check_priority(priority)
        with self._lock:
            now = self._clock()
            queue = self._queue(queue_name)
            marks = self._marks(queue_name)
            if task_id in queue.tasks or marks.live(task_id, now) is not None:
                return False
            due = now if delay_until is None else delay_until
            is_head = queue.add(task_id, data, due, rank)
            marks.put(task_id, now, ttl)
            if due <= now:
                queue.cond.notify()
            elif is_head:
                queue.cond.notify_all()
            return True

    def mark(self, queue_name: str, key: str, ttl: float) -> float:
        """Mark ``key`` unless it is marked; return when it was first marked."""
        check_task_id(key)
        check_ttl(ttl)
        with self._lock:
            return self._marks(queue_name).put(key, self._clock(), ttl)

    def stats(self, queue_name: str) -> QueueStats:
        """Counts by state; expired leases count as ready. ``O(n)``: not for hot paths."""
        with self._lock:
            queue = self._existing(queue_name)
            if queue is None:
                return QueueStats()
            now = self._clock()
            ready = delayed = reserved = buried = 0
            for task in queue.tasks.values():
                if task.state == BURIED:
                    buried += 1
                elif task.state == RESERVED and task.run_at > now:
                    reserved += 1
                elif task.state == RESERVED or task.run_at <= now:
                    ready += 1
                else:
                    delayed += 1
            return QueueStats(ready=ready, delayed=delayed, reserved=reserved, buried=buried)

    def queues(self) -> list[str]:
        """Names of the queues holding any task (a :class:`~alligator.protocols.QueueLister`)."""
        with self._lock:
            return sorted(name for name, queue in self._store.queues.items() if queue.tasks)

    def close(self) -> None:
        """Nothing to release: the store outlives clients and is shared by name."""
