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

import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Final

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
from alligator.backends._locmem_driver import parse_dsn, reset_stores, store
from alligator.backends._locmem_flow import Flow
from alligator.backends._locmem_results import Results
from alligator.backends._locmem_store import BURIED, RESERVED, Marks, Queue, Task
from alligator.exceptions import TaskInProgressError
from alligator.records import BuriedTask, PushItem, QueueStats, Reservation

__all__ = ["Client", "reset_stores"]


class Client(Flow, Results):
    """A :class:`~alligator.protocols.PrefetchClient` over a named in-process store.

    Args:
        conn_string: ``locmem://name``; an empty name means ``"default"``.
        clock: Source of epoch seconds for due times and leases; tests inject
            a fake one so delays and lease expiry never need sleeping.
    """

    #: Producer and worker share this process (:class:`~alligator.protocols.InProcessClient`).
    in_process: Final = True

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

    def _lease_due(self, queue: Queue, lease: float, count: int) -> list[Reservation]:
        """Lease up to ``count`` due tasks, oldest due first (caller holds the lock)."""
        leased: list[Reservation] = []
        now = self._clock()
        while len(leased) < count:
            task = queue.take_due(now)
            if task is None:
                break
            queue.lease(task, f"{self._token_prefix}{next(self._tokens)}", now + lease)
            leased.append(Reservation(task.task_id, task.data, task.token, task.attempts))
        return leased

    def _wait_and_lease(
        self, queue: Queue, lease: float, count: int, deadline: float
    ) -> list[Reservation]:
        """Lease up to ``count`` tasks, waiting until ``deadline`` (monotonic) for one."""
        while True:
            leased = self._lease_due(queue, lease, count)
            if leased:
                return leased
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return leased
            next_due = queue.next_due()
            if next_due is not None:
                remaining = min(remaining, max(next_due - self._clock(), 0.001))
            queue.cond.wait(remaining)

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        """Lease the first due task, waiting up to ``timeout`` seconds for one."""
        deadline = time.monotonic() + timeout
        with self._lock:
            leased = self._wait_and_lease(self._queue(queue_name), lease, 1, deadline)
        return leased[0] if leased else None

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
        """Ack ``done`` and lease up to ``count`` due tasks under one lock hold.

        The acks happen first, before any wait; the lock is released while
        waiting, as in :meth:`reserve`. With ``results`` (one per task of
        ``done``) each ack is a :meth:`complete`: outcome kept, dependents
        released.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            acked: list[bool] = []
            for i, reservation in enumerate(done):
                held = self._held(queue_name, reservation)
                if held is not None:
                    held[0].unlink(held[1])
                    if results:
                        self._finish(
                            held[0], queue_name, reservation.task_id, results[i], ttl, ok=True
                        )
                acked.append(held is not None)
            queue = self._queue(queue_name)
            if count <= 0:
                return acked, []
            return acked, self._wait_and_lease(queue, lease, count, deadline)

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        """Delete a task whose lease is still held."""
        with self._lock:
            held = self._held(queue_name, reservation)
            if held is None:
                return False
            held[0].unlink(held[1])
            return True

    def release(
        self,
        queue_name: str,
        reservation: Reservation,
        data: bytes | None = None,
        delay_until: float | None = None,
    ) -> bool:
        """Make a held task waiting again, with new ``data`` if given."""
        with self._lock:
            held = self._held(queue_name, reservation)
            if held is None:
                return False
            queue, task = held
            if data is not None:
                task.data = data
            now = self._clock()
            due = now if delay_until is None else delay_until
            queue.to_waiting(task, due)
            if due <= now:
                queue.cond.notify()
            elif queue.heap[0][2] is task:
                queue.cond.notify_all()
            return True

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        """Keep a held task aside with ``reason``; only drop_all or push remove it."""
        with self._lock:
            held = self._held(queue_name, reservation)
            if held is None:
                return False
            queue, task = held
            queue.bury(task, safe_text(reason), self._clock())
            return True

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        """Move a held lease's deadline to ``lease`` seconds from now."""
        with self._lock:
            held = self._held(queue_name, reservation)
            if held is None:
                return False
            queue, task = held
            queue.schedule(task, self._clock() + lease)
            return True

    def renew_many(
        self, queue_name: str, reservations: Sequence[Reservation], lease: float
    ) -> list[bool]:
        """Renew several held leases under one lock hold; one flag each."""
        with self._lock:
            deadline = self._clock() + lease
            flags: list[bool] = []
            for reservation in reservations:
                held = self._held(queue_name, reservation)
                if held is not None:
                    held[0].schedule(held[1], deadline)
                flags.append(held is not None)
            return flags

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

    def buried(self, queue_name: str) -> list[BuriedTask]:
        """Buried tasks in the order they were buried (not by a clock that may jump)."""
        with self._lock:
            queue = self._existing(queue_name)
            if queue is None:
                return []
            return [_record(task) for task in queue.buried.values()]

    def buried_page(self, queue_name: str, offset: int, limit: int) -> list[BuriedTask]:
        """A slice of :meth:`buried`: walks ``offset`` index entries, copies ``limit`` tasks."""
        offset, limit = check_page(offset, limit)
        with self._lock:
            queue = self._existing(queue_name)
            if queue is None:
                return []
            page = itertools.islice(queue.buried.values(), offset, offset + limit)
            return [_record(task) for task in page]

    def queues(self) -> list[str]:
        """Names of the queues holding any task (a :class:`~alligator.protocols.QueueLister`)."""
        with self._lock:
            return sorted(name for name, queue in self._store.queues.items() if queue.tasks)

    # -- failed-task operations ------------------------------------------

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Make a buried task ready now (attempts from 0), under the store's lock."""
        with self._lock:
            queue = self._existing(queue_name)
            task = None if queue is None else queue.tasks.get(task_id)
            if queue is None or task is None or task.state != BURIED:
                return None
            if data is not None:
                task.data = data
            task.attempts = 0
            task.reason = ""
            task.buried_at = 0.0
            queue.to_waiting(task, self._clock())
            queue.cond.notify()
            return task_id

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Delete one or every buried task, under the store's lock."""
        with self._lock:
            queue = self._existing(queue_name)
            if queue is None:
                return 0
            if task_id is None:
                doomed = [t for t in queue.tasks.values() if t.state == BURIED]
            else:
                found = queue.tasks.get(task_id)
                doomed = [found] if found is not None and found.state == BURIED else []
            for task in doomed:
                queue.unlink(task)
            return len(doomed)

    def close(self) -> None:
        """Nothing to release: the store outlives clients and is shared by name."""


def _record(task: Task) -> BuriedTask:
    return BuriedTask(task.task_id, task.data, task.reason, task.buried_at)
