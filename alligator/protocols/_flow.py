"""Flow control counted by the backend: priorities, unique keys, concurrency and rate limits.

Each is an optional extension of :class:`ReliableClient` that only the
backend can keep atomic across every producer and worker
(see ``docs/flow-control.rst``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from alligator.protocols._client import ReliableClient
from alligator.records import LimitSlot, LimitUsage, Reservation

__all__ = ["LimitClient", "PriorityClient", "UniqueClient"]


@runtime_checkable
class PriorityClient(ReliableClient, Protocol):
    """Orders ready tasks by a per-task priority given at push time.

    The scale is Alligator's, the same on every backend (see
    :mod:`alligator.priority`): an ``int`` from -2**31 to 2**31 - 1, lower
    first, ``None`` meaning 0. Among the due tasks of a queue ``reserve``
    and ``reserve_many`` take the lowest priority first, and among equal
    priorities keep the queue's first-in, first-out order. A task keeps its
    priority for its whole life: released (a retry, delayed or not), its
    lease expired, or buried and requeued, it comes back with it.
    ``push_many`` honours each item's :attr:`~alligator.PushItem.priority`.
    A priority outside the range raises
    :class:`~alligator.exceptions.InvalidTaskError` and stores nothing.

    ``isinstance`` cannot see keyword arguments, so this capability is read
    from ``push``'s signature, once, by :func:`alligator.capabilities.capabilities_of`.
    A client without it is refused a prioritised task at enqueue
    (:class:`~alligator.exceptions.ConfigurationError`), never handed one to
    ignore.
    """

    def push(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        priority: int | None = None,
    ) -> str:
        """Store a task; among due tasks a lower ``priority`` is reserved first.

        Raises:
            InvalidTaskError: ``priority`` is not an ``int`` in range.
        """
        ...


@runtime_checkable
class UniqueClient(ReliableClient, Protocol):
    """Stores a task only if no queued task holds its unique key, atomically.

    The key is held by the task it was pushed with while that task waits
    (ready, delayed, or reserved with an expired lease: it will run again)
    and, when pushed with ``while_running``, while a worker holds its lease.
    It is released with the task: by its ack, its burial (failed for good),
    its cancellation or removal; there is nothing to release by hand, so a
    worker that dies cannot leak it (the task comes back by lease, still
    holding it, and runs again).
    """

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
        """Store the task unless a queued task holds ``unique_key``, in one atomic step.

        Two callers racing with one key never both store a task.

        Returns:
            ``(task_id, True)`` when the task was stored (it now holds the
            key), or ``(holder_id, False)``, storing nothing, when the task
            ``holder_id`` holds it.
        """
        ...


@runtime_checkable
class LimitClient(ReliableClient, Protocol):
    """Concurrency and rate limits counted by the backend, across every worker.

    A worker asks before it starts a task; the backend admits it only if it
    fits under every limit, taking its slots in one atomic step (a Lua script,
    one transaction, one lock hold). A concurrency slot is held by the task's
    lease: it is free again once the task is acked, released or buried, or
    its lease expires (a killed worker's slot comes back then), with nothing
    to give back by hand. Limits are counted per queue.
    """

    def acquire(
        self, queue_name: str, reservation: Reservation, limits: Sequence[LimitSlot]
    ) -> float:
        """Admit the reserved task under every one of ``limits``, or none of them.

        Admitted: each concurrency slot is now held by the reservation's
        lease and each rate limit counted one start, now.

        Returns:
            ``0.0`` when admitted; else the seconds after which trying again
            may succeed (for a rate limit, when its oldest start leaves the
            window; for a concurrency limit, a short guess), having taken
            nothing. A reservation whose lease is no longer held is refused.
        """
        ...

    def limit_usage(self, queue_name: str) -> list[LimitUsage]:
        """Each limit key used on the queue with its current use, sorted by key."""
        ...
