"""Leases of ``locmem://``: reserve (one or a prefetched batch), ack, release, bury, renew.

Mixed into :class:`alligator.backends.locmem_backend.Client`, so that module
reads as the queue contract. Each operation runs under the store's lock, so
a batch of acks and the leases that follow them are one atomic step, and a
blocked reserve waits on the queue's condition, woken by a push or a
release, never polling.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from alligator.backends._checks import safe_text
from alligator.backends._locmem_access import StoreAccess
from alligator.backends._locmem_store import Queue
from alligator.records import Reservation

__all__ = ["Leases"]


class Leases(StoreAccess):
    """The lease methods of :class:`~alligator.protocols.PrefetchClient`."""

    if TYPE_CHECKING:  # provided by the client's Results mixin

        def _finish(
            self,
            queue: Queue,
            queue_name: str,
            task_id: str,
            result: bytes,
            ttl: float,
            *,
            ok: bool,
        ) -> None: ...

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
