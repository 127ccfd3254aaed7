"""A pure-Python reference model of the reliable queue semantics.

The state machine in :mod:`alligator.testing.machine` runs every operation on
a real client and on this model, and compares. The model is the executable
form of the contract in :mod:`alligator.protocols`:

* A task is *waiting* (ready when ``due <= now``, else delayed), *reserved*
  (its lease is held while ``now < deadline``), or *buried*. A reserved task
  whose deadline has passed counts as ready; its old token is stale.
* ``len`` is ready + delayed: reserved and buried tasks are not counted.
* ``push`` of an id already in the queue replaces it with a fresh task (new
  payload and due time, attempts back to 0) when it is waiting, delayed,
  buried, or leased with an expired lease; reservations of the old one become
  stale. A task whose lease is held (it is running) is never replaced: the
  push raises :class:`~alligator.exceptions.TaskInProgressError` and changes
  nothing (a ``push_many`` naming it stores none of its tasks).
* ``reserve`` takes a due task in order of priority (lower first; 0 when
  none was given, see :mod:`alligator.priority`), then of due time; among
  equal due times the task whose due time was set first (push, replace or
  release) goes first. A task keeps its priority when it is released.
  A task whose lease expired may be taken in any order (backends differ in
  when they notice the expiry). ``attempts`` counts reservations.
* ``get`` removes and returns a waiting task, or one whose lease expired;
  a held or buried task stays and ``None`` is returned.
* ``pop`` is an atomic reserve + ack.

Tasks are keyed by the id ``push`` *returned*, which a backend may choose
itself (beanstalkd's job ids). A backend whose ``release`` with a new payload
stores a new job (:attr:`ModelTask.rekeyed`) gives that task a new id, maybe
the old one, and restarts its ``attempts``: the model then knows it only by
its payload until the next reserve says which id it has.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from alligator.records import QueueStats

__all__ = ["ModelTask", "QueueModel"]


@dataclass
class ModelTask:
    """What the model knows of one task."""

    task_id: str
    data: bytes
    due: float
    seq: int
    priority: int = 0
    attempts: int = 0
    token: str | None = None
    deadline: float = 0.0
    reason: str | None = None
    bury_seq: int = 0
    rekeyed: bool = False
    """Released with a new payload by a backend that stores it as a new job:
    the id (``task_id`` is then the old one) and ``attempts`` are unknown
    until the next reserve."""

    def held(self, now: float) -> bool:
        """Whether a lease is held on the task right now."""
        return self.token is not None and now < self.deadline

    def expired(self, now: float) -> bool:
        """Whether the task was reserved and its lease ran out."""
        return self.token is not None and now >= self.deadline

    @property
    def buried(self) -> bool:
        """Whether the task was buried."""
        return self.reason is not None

    def waiting(self, now: float) -> bool:
        """Neither held nor buried: counted by ``len``, reservable once due."""
        return not self.buried and not self.held(now)


@dataclass
class QueueModel:
    """Every queue's tasks, keyed by queue name then task id.

    Args:
        strict_fifo: Check the order of ``reserve``/``pop``; when ``False``
            any due task is accepted (for backends that promise no order).
    """

    strict_fifo: bool = True
    queues: dict[str, dict[str, ModelTask]] = field(default_factory=dict)
    _seq: Iterator[int] = field(default_factory=itertools.count)

    def tasks(self, queue: str) -> dict[str, ModelTask]:
        """The tasks of ``queue`` (created empty on first use)."""
        return self.queues.setdefault(queue, {})

    def push(
        self, queue: str, task_id: str, data: bytes, due: float, priority: int | None = None
    ) -> None:
        """Store a fresh task, replacing a namesake (check :meth:`in_progress` first)."""
        task = ModelTask(task_id, data, due, next(self._seq), priority or 0)
        self.tasks(queue)[task_id] = task

    def in_progress(self, queue: str, task_id: str, now: float) -> bool:
        """Whether a push of ``task_id`` must be refused: its lease is held."""
        task = self.tasks(queue).get(task_id)
        return task is not None and task.held(now)

    def drop_all(self, queue: str) -> None:
        """Forget every task of the queue."""
        self.tasks(queue).clear()

    def len(self, queue: str, now: float) -> int:
        """Ready plus delayed tasks."""
        return sum(1 for t in self.tasks(queue).values() if t.waiting(now))

    def stats(self, queue: str, now: float) -> QueueStats:
        """Counts by state, expired leases counted as ready."""
        ready = delayed = reserved = buried = 0
        for task in self.tasks(queue).values():
            if task.buried:
                buried += 1
            elif task.held(now):
                reserved += 1
            elif task.expired(now) or task.due <= now:
                ready += 1
            else:
                delayed += 1
        return QueueStats(ready=ready, delayed=delayed, reserved=reserved, buried=buried)

    def buried(self, queue: str) -> list[ModelTask]:
        """Buried tasks, first buried first."""
        return sorted((t for t in self.tasks(queue).values() if t.buried), key=lambda t: t.bury_seq)

    def due(self, queue: str, now: float) -> list[ModelTask]:
        """Tasks a reserve could take now."""
        return [
            t
            for t in self.tasks(queue).values()
            if not t.buried and (t.expired(now) or (t.token is None and t.due <= now))
        ]

    def acceptable(self, queue: str, now: float) -> list[ModelTask]:
        """The tasks a correct ``reserve``/``pop`` may return now (empty: ``None``)."""
        due = self.due(queue, now)
        if not self.strict_fifo:
            return due
        expired = [t for t in due if t.expired(now)]
        waiting = [t for t in due if not t.expired(now)]
        first = min(waiting, key=lambda t: (t.priority, t.due, t.seq), default=None)
        if first is None:
            return expired
        # Tasks sharing a place in line (released by one step) may go in any order.
        place = (first.priority, first.due, first.seq)
        return expired + [t for t in waiting if (t.priority, t.due, t.seq) == place]

    def reserve(self, queue: str, task_id: str, token: str, deadline: float) -> ModelTask:
        """Record that ``task_id`` was leased under ``token`` until ``deadline``."""
        task = self.tasks(queue)[task_id]
        task.attempts += 1
        task.token = token
        task.deadline = deadline
        return task

    def holder(self, queue: str, task_id: str, token: str, now: float) -> ModelTask | None:
        """The task if ``token`` holds its lease now, else ``None`` (stale)."""
        task = self.tasks(queue).get(task_id)
        if task is None or task.token != token or not task.held(now):
            return None
        return task

    def remove(self, queue: str, task_id: str) -> ModelTask:
        """Delete a task (ack, pop, get)."""
        return self.tasks(queue).pop(task_id)

    def release(
        self, queue: str, task: ModelTask, data: bytes | None, due: float, *, new_job: bool = False
    ) -> None:
        """Put a held task back to waiting, behind tasks already due at ``due``.

        With ``new_job`` (and new ``data``) the backend stored a new job: the
        task's id and attempts are unknown until :meth:`rekey`.
        """
        if data is not None:
            task.data = data
            task.rekeyed = new_job
        task.token = None
        task.due = due
        task.seq = next(self._seq)

    def rekey(self, queue: str, task: ModelTask, task_id: str, attempts: int) -> None:
        """Learn the id and attempts a reserve reported for a :attr:`~ModelTask.rekeyed` task."""
        tasks = self.tasks(queue)
        del tasks[task.task_id]
        task.task_id = task_id
        task.attempts = attempts - 1  # :meth:`reserve` counts this reservation
        task.rekeyed = False
        tasks[task_id] = task

    def bury(self, task: ModelTask, reason: str) -> None:
        """Move a held task aside."""
        task.token = None
        task.reason = reason
        task.bury_seq = next(self._seq)

    def renew(self, task: ModelTask, deadline: float) -> None:
        """Move a held lease's deadline."""
        task.deadline = deadline

    def gettable(self, queue: str, task_id: str, now: float) -> ModelTask | None:
        """The task ``get`` would remove and return, or ``None``."""
        task = self.tasks(queue).get(task_id)
        if task is None or task.buried or task.held(now):
            return None
        return task
