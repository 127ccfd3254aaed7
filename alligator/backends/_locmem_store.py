"""The data behind ``locmem://``: tasks, and each queue's heap with its invariants.

Kept apart from :mod:`alligator.backends.locmem_backend` so that module reads
as the contract's operations, while this one owns how a queue keeps order.
Each queue keeps one heap of ``(run_at, seq, task)``, where ``run_at`` is the
due time of a waiting task or the lease deadline of a reserved one, so the
next task to hand out is always on top and an expired lease makes its task
reservable again with no sweeper. A task's ``seq`` names its one valid heap
entry: rescheduling pushes a new entry and leaves the old one stale, to be
skipped when it surfaces and dropped when stale entries pile up.

Nothing here locks: every method is called with the store's lock held.

Only this module and the client write these structures, but they are plain
Python objects other code can reach, so a task that surfaces at the top of
the heap is checked before it is handed out: an id that is not a non-empty
``str``, a payload that is not ``bytes``, or a due time that is not a finite
number gets the task buried with the reason (renamed ``corrupt:<n>`` when
its id cannot be listed), and a heap that can no longer be ordered (a due
time of another type) is rebuilt from the tasks, burying the bad ones. A heap
entry whose task the queue does not hold is dropped with a logged reason.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading

__all__ = ["BURIED", "GONE", "RESERVED", "WAITING", "Marks", "Queue", "Store", "Task"]

WAITING, RESERVED, BURIED, GONE = 0, 1, 2, 3

#: Rebuild a heap once it holds this many entries more than twice its live tasks.
COMPACT_SLACK = 64

log = logging.getLogger("alligator.backends.locmem")


def malformed(task: Task) -> str | None:
    """Why ``task`` cannot be handed out, or ``None`` when it is well-formed."""
    # Typed as object: these are what other code may have put there.
    task_id: object = task.task_id
    data: object = task.data
    run_at: object = task.run_at
    priority: object = task.priority
    if not isinstance(task_id, str) or not task_id:
        return f"task id {task_id!r} is not a non-empty str"
    if not isinstance(data, bytes):
        return f"payload is {type(data).__name__}, not bytes"
    if isinstance(run_at, bool) or not isinstance(run_at, int | float) or not math.isfinite(run_at):
        return f"due time {run_at!r} is not a finite number"
    if type(priority) is not int:
        return f"priority {priority!r} is not an int"
    return None


class Task:
    """One task; ``seq`` names its single valid heap entry (others are stale)."""

    __slots__ = (
        "attempts",
        "buried_at",
        "data",
        "priority",
        "reason",
        "run_at",
        "seq",
        "state",
        "task_id",
        "token",
    )

    def __init__(
        self, task_id: str, data: bytes, run_at: float, seq: int, priority: int = 0
    ) -> None:
        self.task_id = task_id
        self.data = data
        self.run_at = run_at
        self.seq = seq
        self.priority = priority
        self.state = WAITING
        self.token = ""
        self.attempts = 0
        self.reason = ""
        self.buried_at = 0.0


class Queue:
    """A queue's tasks, heap and counters; guarded by its store's lock.

    Priorities: while no task of the queue has a priority other than 0,
    tasks are taken straight off :attr:`heap` in due order, as ever. Once
    one has (:attr:`ranked` counts them), a take first moves every due task
    off :attr:`heap` onto :attr:`ready`, a heap of ``(priority, run_at, seq,
    task)``, and takes the top of that: lowest priority first, then due
    order. Each task still has one valid entry, named by its ``seq``.

    Attributes:
        tasks: Every task of the queue by id, whatever its state.
        leased: The reserved tasks by id (their leases may have expired).
        buried: The buried tasks by the ``seq`` of their burial, so in
            burial order (the store's counter only grows): a page of them
            is a slice, not a sort of the whole queue.
        waiting: How many tasks wait (ready or delayed).
        ranked: How many tasks of the queue have a priority other than 0.
        ready: Due tasks by priority, used while :attr:`ranked` (or it) is not empty.
        cond: Signalled when a task may have become reservable.
    """

    __slots__ = (
        "buried",
        "cond",
        "heap",
        "leased",
        "ranked",
        "ready",
        "seq",
        "tasks",
        "waiting",
    )

    def __init__(self, lock: threading.Lock, seq: itertools.count[int]) -> None:
        self.tasks: dict[str, Task] = {}
        self.heap: list[tuple[float, int, Task]] = []
        self.ready: list[tuple[int, float, int, Task]] = []
        self.ranked = 0
        self.leased: dict[str, Task] = {}
        self.buried: dict[int, Task] = {}
        self.waiting = 0
        self.cond = threading.Condition(lock)
        self.seq = seq

    def schedule(self, task: Task, run_at: float) -> None:
        """Give ``task`` a new heap entry at ``run_at``; its old one goes stale."""
        task.run_at = run_at
        task.seq = seq = next(self.seq)
        try:
            heapq.heappush(self.heap, (run_at, seq, task))
        except TypeError:  # the heap holds a due time that does not compare
            self.repair(run_at)  # (the time of this call is not known here: run_at stands in)

    def take_due(self, now: float) -> Task | None:
        """Pop the first task due at ``now`` off the heap, or return ``None``.

        A malformed task met on the way is buried (see the module docstring).
        """
        try:
            if self.ranked or self.ready:
                return self._take_ranked(now)
            return self._take_due(now)
        except TypeError:  # a due time that does not compare: rebuild and go on
            self.repair(now)
            return self._take_due(now) if not self.ranked else self._take_ranked(now)

    def _take_ranked(self, now: float) -> Task | None:
        """The due task of the lowest priority (then earliest due), off :attr:`ready`."""
        ready = self.ready
        while (task := self._take_due(now)) is not None:
            heapq.heappush(ready, (task.priority, task.run_at, task.seq, task))
        while ready:
            _, _, seq, task = heapq.heappop(ready)
            if task.seq == seq and task.state < BURIED and self.tasks.get(task.task_id) is task:
                return task
        return None

    def _take_due(self, now: float) -> Task | None:
        heap = self.heap
        while heap:
            run_at, seq, task = heap[0]
            if task.seq != seq or task.state >= BURIED:
                heapq.heappop(heap)
            elif self.tasks.get(task.task_id) is not task:
                heapq.heappop(heap)
                log.warning("dropped a heap entry of a task the queue does not hold: %r", task)
            elif (why := malformed(task)) is not None:
                heapq.heappop(heap)
                self.quarantine(task, why, now)
                # A due time that compares with nothing (nan) may have kept
                # entries from their place: put the heap in order again.
                self.repair(now)
                heap = self.heap
            elif run_at <= now:
                heapq.heappop(heap)
                return task
            else:
                return None
        return None

    def next_due(self) -> float | None:
        """When the first task comes due (or its lease ends); ``None`` if none will."""
        heap = self.heap
        try:
            while heap:
                run_at, seq, task = heap[0]
                if task.seq == seq and task.state < BURIED and malformed(task) is None:
                    return run_at
                if task.seq == seq and task.state < BURIED:
                    return 0.0  # due now: the next take buries it
                heapq.heappop(heap)
        except TypeError:
            return 0.0  # the next take rebuilds the heap
        return None

    def repair(self, now: float) -> None:
        """Bury every malformed task and rebuild the heap from the tasks left."""
        for task in list(self.tasks.values()):
            why = malformed(task)
            if why is not None and task.state < BURIED:
                self.quarantine(task, why, now)
        self.heap = [(t.run_at, t.seq, t) for t in self.tasks.values() if t.state < BURIED]
        heapq.heapify(self.heap)
        self.ready = []

    def quarantine(self, task: Task, reason: str, now: float) -> None:
        """Bury a malformed waiting or reserved task with ``reason``, listable as any other."""
        if task.state == WAITING:
            self.waiting -= 1
        elif task.state == RESERVED:
            self.leased.pop(task.task_id, None)
        key: object = task.task_id
        data: object = task.data
        task.seq = next(self.seq)
        if not isinstance(key, str) or not key:
            self.tasks.pop(task.task_id, None)
            task.task_id = f"corrupt:{task.seq}"
            self.tasks[task.task_id] = task
        if not isinstance(data, bytes):
            task.data = repr(data).encode("utf-8", "backslashreplace")
        task.state = BURIED
        task.token = ""
        task.reason = f"malformed task: {reason}"
        task.buried_at = now
        self.buried[task.seq] = task
        log.warning("buried malformed task %s: %s", task.task_id, reason)

    def add(self, task_id: str, data: bytes, due: float, priority: int = 0) -> bool:
        """Store a waiting task (replacing any namesake); ``True`` if it is the new head."""
        old = self.tasks.get(task_id)
        if old is not None:
            self.unlink(old)
        task = Task(task_id, data, due, 0, priority)
        self.tasks[task_id] = task
        if priority:
            self.ranked += 1
        self.waiting += 1
        self.schedule(task, due)
        return self.heap[0][2] is task

    def add_buried(self, task_id: str, data: bytes, reason: str, now: float) -> None:
        """Store a task that never ran straight among the buried (replacing any namesake)."""
        old = self.tasks.get(task_id)
        if old is not None:
            self.unlink(old)
        task = Task(task_id, data, now, next(self.seq))
        task.state = BURIED
        task.reason = reason
        task.buried_at = now
        self.tasks[task_id] = task
        self.buried[task.seq] = task

    def lease(self, task: Task, token: str, deadline: float) -> None:
        """Reserve a task taken by :meth:`take_due` (waiting, or a lease that expired)."""
        if task.state == RESERVED:
            del self.leased[task.task_id]  # an expired lease, taken over
        else:
            self.waiting -= 1
        task.state = RESERVED
        task.token = token
        task.attempts += 1
        self.leased[task.task_id] = task
        self.schedule(task, deadline)

    def to_waiting(self, task: Task, run_at: float) -> None:
        """Put a reserved or buried task back to wait until ``run_at``."""
        if task.state == RESERVED:
            del self.leased[task.task_id]
        elif task.state == BURIED:
            del self.buried[task.seq]
        task.state = WAITING
        task.token = ""
        self.waiting += 1
        self.schedule(task, run_at)

    def bury(self, task: Task, reason: str, now: float) -> None:
        """Keep a reserved task aside; its sequence number orders the buried list."""
        del self.leased[task.task_id]
        task.state = BURIED
        task.token = ""
        task.reason = reason
        task.buried_at = now
        task.seq = next(self.seq)
        self.buried[task.seq] = task

    def unlink(self, task: Task) -> None:
        """Remove ``task`` from the queue, leaving its heap entry stale."""
        if task.state == WAITING:
            self.waiting -= 1
        elif task.state == RESERVED:
            del self.leased[task.task_id]
        elif task.state == BURIED:
            del self.buried[task.seq]
        task.state = GONE
        del self.tasks[task.task_id]
        if task.priority:
            self.ranked -= 1
        if len(self.heap) > 2 * (self.waiting + len(self.leased)) + COMPACT_SLACK:
            self.repair(task.run_at)  # compacts; buries what cannot be ordered

    def clear(self) -> None:
        """Forget every task; clients still holding one see it gone."""
        for task in self.tasks.values():
            task.state = GONE
        self.tasks.clear()
        self.leased.clear()
        self.buried.clear()
        self.heap.clear()
        self.ready.clear()
        self.waiting = 0
        self.ranked = 0


class Marks:
    """One queue's marks: key -> [first marked at, expires at] (see ``AbsentPushClient``).

    Expired marks are ignored when read and swept out once the dict has
    doubled since the last sweep, so the cost per call stays constant.
    """

    __slots__ = ("by_key", "sweep_at")

    def __init__(self) -> None:
        self.by_key: dict[str, list[float]] = {}
        self.sweep_at = 64

    def live(self, key: str, now: float) -> list[float] | None:
        """The live mark of ``key`` (its time and expiry), or ``None``."""
        found = self.by_key.get(key)
        return found if found is not None and found[1] > now else None

    def put(self, key: str, now: float, ttl: float) -> float:
        """Mark ``key`` at ``now`` unless it is marked; extend the expiry; return its time."""
        found = self.live(key, now)
        if found is None:
            self.by_key[key] = [now, now + ttl]
            if len(self.by_key) >= self.sweep_at:
                self.by_key = {k: v for k, v in self.by_key.items() if v[1] > now}
                self.sweep_at = max(64, 2 * len(self.by_key))
            return now
        found[1] = max(found[1], now + ttl)
        return found[0]


class Store:
    """A named set of queues sharing one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queues: dict[str, Queue] = {}
        self.seq = itertools.count()
        #: Each queue's marks, by queue name.
        self.marks: dict[str, Marks] = {}

    def queue(self, name: str) -> Queue:
        """The queue ``name``, created empty on first use."""
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues[name] = Queue(self.lock, self.seq)
        return queue
