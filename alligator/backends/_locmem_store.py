"""The in-process store behind ``locmem://``: tasks, per-queue heaps, named registry.

Kept apart from the client so :mod:`alligator.backends.locmem_backend` reads
as the contract's operations. Everything here is guarded by a store's lock,
which the client holds.
"""

from __future__ import annotations

import itertools
import threading

__all__ = [
    "BURIED",
    "COMPACT_SLACK",
    "GONE",
    "RESERVED",
    "WAITING",
    "Queue",
    "Store",
    "Task",
    "reset_stores",
    "store",
]

WAITING, RESERVED, BURIED, GONE = 0, 1, 2, 3

#: Rebuild a heap once it holds this many entries more than twice its live tasks.
COMPACT_SLACK = 64


class Task:
    """One task; ``seq`` names its single valid heap entry (others are stale)."""

    __slots__ = (
        "attempts",
        "buried_at",
        "data",
        "reason",
        "run_at",
        "seq",
        "state",
        "task_id",
        "token",
    )

    def __init__(self, task_id: str, data: bytes, run_at: float, seq: int) -> None:
        self.task_id = task_id
        self.data = data
        self.run_at = run_at
        self.seq = seq
        self.state = WAITING
        self.token = ""
        self.attempts = 0
        self.reason = ""
        self.buried_at = 0.0


class Queue:
    """A queue's tasks, heap and counters; guarded by its store's lock."""

    __slots__ = ("cond", "heap", "leased", "tasks", "waiting")

    def __init__(self, lock: threading.Lock) -> None:
        self.tasks: dict[str, Task] = {}
        self.heap: list[tuple[float, int, Task]] = []
        self.leased: dict[str, Task] = {}
        self.waiting = 0
        self.cond = threading.Condition(lock)


class Store:
    """A named set of queues sharing one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queues: dict[str, Queue] = {}
        self.seq = itertools.count()

    def queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues[name] = Queue(self.lock)
        return queue


_STORES: dict[str, Store] = {}
_STORES_LOCK = threading.Lock()


def store(name: str) -> Store:
    with _STORES_LOCK:
        store = _STORES.get(name)
        if store is None:
            store = _STORES[name] = Store()
        return store


def reset_stores(name: str | None = None) -> None:
    """Forget one named store, or all of them (for test isolation).

    Clients already holding a store keep using it; new clients get a fresh one.
    """
    with _STORES_LOCK:
        if name is None:
            _STORES.clear()
        else:
            _STORES.pop(name, None)
