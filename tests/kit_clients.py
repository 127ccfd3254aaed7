"""Clients for testing the conformance kit itself: one correct, several broken.

Each broken client gets one thing wrong, the way a real backend might; the
kit must fail every one of them (``tests/conformance/test_kit_fails_broken_clients.py``).
They override public methods only, on top of a correct client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from alligator.backends.locmem_backend import Client as LocmemClient
from alligator.records import LimitSlot, PushItem, Reservation
from tests.simple_client import SimpleClient

__all__ = [
    "DelayingClient",
    "ForgetsDependents",
    "GetKeepsTheTask",
    "HandsOutLeasedTasks",
    "IgnoresDelay",
    "IgnoresPriority",
    "IgnoresReliableDelay",
    "LosesTasks",
    "PopsLifo",
    "StoresStaleOutcomes",
]


class DelayingClient:
    """A correct 1.0 client whose ``push`` also takes ``delay_until`` (honoured).

    Due tasks are popped oldest due first, ties in push order; ``len`` counts
    delayed tasks too; ``get`` removes a task whatever its due time.
    """

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._queues: dict[str, dict[str, tuple[float, int, bytes]]] = {}
        self._seq = 0
        self._lock = threading.Lock()

    def len(self, queue_name: str) -> int:
        with self._lock:
            return len(self._queues.get(queue_name, {}))

    def drop_all(self, queue_name: str) -> None:
        with self._lock:
            self._queues.pop(queue_name, None)

    def push(
        self, queue_name: str, task_id: str, data: bytes, delay_until: float | None = None
    ) -> str:
        with self._lock:
            self._seq += 1
            due = self._clock() if delay_until is None else delay_until
            self._queues.setdefault(queue_name, {})[task_id] = (due, self._seq, data)
        return task_id

    def pop(self, queue_name: str) -> bytes | None:
        with self._lock:
            queue = self._queues.get(queue_name, {})
            now = self._clock()
            due = [(due, seq, task_id) for task_id, (due, seq, _) in queue.items() if due <= now]
            if not due:
                return None
            return queue.pop(min(due)[2])[2]

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        with self._lock:
            task = self._queues.get(queue_name, {}).pop(task_id, None)
        return None if task is None else task[2]


# -- broken plain clients -------------------------------------------------------------


class LosesTasks(SimpleClient):
    """Silently drops a task pushed to a queue that already holds two."""

    def push(self, queue_name: str, task_id: str, data: bytes) -> str:
        if self.len(queue_name) >= 2:
            return task_id
        return super().push(queue_name, task_id, data)


class PopsLifo(SimpleClient):
    """Pops the newest task instead of the oldest."""

    def pop(self, queue_name: str) -> bytes | None:
        with self._lock:
            queue = self._queues.get(queue_name)
            if not queue:
                return None
            return queue.pop(next(reversed(queue)))


class GetKeepsTheTask(SimpleClient):
    """``get`` returns the payload but leaves the task in the queue."""

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        with self._lock:
            return self._queues.get(queue_name, {}).get(task_id)


class IgnoresDelay(DelayingClient):
    """``push`` takes ``delay_until`` (so the Gator passes it) and ignores it."""

    def push(
        self, queue_name: str, task_id: str, data: bytes, delay_until: float | None = None
    ) -> str:
        return super().push(queue_name, task_id, data)


# -- broken reliable clients ----------------------------------------------------------


class HandsOutLeasedTasks(LocmemClient):
    """A reserved task stays reservable: the lease hides nothing."""

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        got = super().reserve(queue_name, lease, timeout)
        if got is not None:
            super().release(queue_name, got)  # back to ready, while we hand it out
        return got


class IgnoresReliableDelay(LocmemClient):
    """Takes ``delay_until`` in ``push`` and ``push_many`` and makes every task due now."""

    def push(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        priority: int | None = None,
    ) -> str:
        return super().push(queue_name, task_id, data, priority=priority)

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        return [self.push(queue_name, item.task_id, item.data) for item in items]


class IgnoresPriority(LocmemClient):
    """Takes ``priority`` in ``push`` and ``push_many`` (declaring the capability), drops it."""

    def push(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        priority: int | None = None,
    ) -> str:
        return super().push(queue_name, task_id, data, delay_until)

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        plain = [PushItem(item.task_id, item.data, item.delay_until) for item in items]
        return super().push_many(queue_name, plain)


class ForgetsDependents(LocmemClient):
    """``complete`` stores the outcome and acks, but never releases the task's dependents."""

    def complete(
        self, queue_name: str, reservation: Reservation, *, result: bytes, ttl: float
    ) -> bool:
        if not self.ack(queue_name, reservation):
            return False
        self.store_result(queue_name, reservation.task_id, result, ttl)
        return True

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
        flags = [
            self.complete(queue_name, held, result=results[i], ttl=ttl) if results else False
            for i, held in enumerate(done)
        ]
        if not results:
            flags = [self.ack(queue_name, held) for held in done]
        return flags, super().reserve_many(queue_name, lease, count, timeout)[1]


class StoresStaleOutcomes(LocmemClient):
    """``complete`` stores the outcome even when the lease was lost (and the task runs again)."""

    def complete(
        self, queue_name: str, reservation: Reservation, *, result: bytes, ttl: float
    ) -> bool:
        done = super().complete(queue_name, reservation, result=result, ttl=ttl)
        if not done:
            self.store_result(queue_name, reservation.task_id, result, ttl)
        return done


class StoresEveryUniquePush(LocmemClient):
    """``push_unique`` stores every task, whatever key is held."""

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
        return self.push(queue_name, task_id, data, delay_until), True


class AdmitsOverTheLimit(LocmemClient):
    """``acquire`` counts the task but admits it however full the limit is."""

    def acquire(
        self, queue_name: str, reservation: Reservation, limits: Sequence[LimitSlot]
    ) -> float:
        super().acquire(queue_name, reservation, limits)
        return 0.0
