"""Where finished tasks' outcomes are kept, and the queues that run dependencies.

Apart from the plain queue contract because a store of outcomes may live in
another backend than the queue (:class:`ResultStore` alone); a queue that
keeps them itself settles and stores in one step (:class:`ResultClient`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from alligator.protocols._client import PrefetchClient, ReliableClient
from alligator.records import PushItem, Reservation, TaskState

__all__ = ["ResultClient", "ResultPrefetchClient", "ResultStore"]


@runtime_checkable
class ResultStore(Protocol):
    """Keeps each finished task's outcome for a while, by queue and task id.

    The outcome is opaque bytes (the core's :class:`~alligator.results.Result`
    record). A store may live in the queue's own backend (then it is a
    :class:`ResultClient` and the outcome is written with the ack) or in
    another one (``Gator(results="redis://...")``).
    """

    def store_result(self, queue_name: str, task_id: str, result: bytes, ttl: float) -> None:
        """Keep ``result`` for ``ttl`` seconds (replacing an earlier one), then forget it.

        Expiry is by the backend's own TTL mechanism or an index on the
        expiry time, never a scan of every result.
        """
        ...

    def fetch_result(self, queue_name: str, task_id: str, timeout: float = 0.0) -> bytes | None:
        """The stored outcome, waiting up to ``timeout`` seconds for it to be written.

        Waits on the backend's own mechanism where it has one (a blocking
        pop, a condition), else polls with a short back-off. ``None`` when
        there is no outcome (yet, or any more) when the time is up.
        """
        ...


@runtime_checkable
class ResultClient(ReliableClient, ResultStore, Protocol):
    """A queue that stores outcomes itself, atomically with the settlement, and runs dependencies.

    Where results and queue share a backend the result write, the ack (or
    burial) and the release (or burial) of dependents happen in one step: a
    worker killed between running and settling never leaves a stored result
    for a task that will run again, nor a dependent released twice.
    Dependencies are tracked within one queue: a task may depend on tasks of
    its own queue only.
    """

    def complete(
        self, queue_name: str, reservation: Reservation, *, result: bytes, ttl: float
    ) -> bool:
        """Ack a task that ran, store its outcome and release its dependents, atomically.

        A dependent whose every dependency has now succeeded becomes ready
        (due at its own ``delay_until``, or now). Returns ``False`` and
        changes nothing when the lease was lost.
        """
        ...

    def fail(
        self,
        queue_name: str,
        reservation: Reservation,
        reason: str,
        *,
        result: bytes,
        ttl: float,
        dependents_reason: str,
    ) -> list[str] | None:
        """Bury a task that failed for good, store its outcome, bury its dependents, atomically.

        Every task waiting on it, directly or through others, is buried
        with ``dependents_reason`` (it never runs).

        Returns:
            The ids of the dependents it buried (the caller stores their
            outcomes), or ``None``, changing nothing, when the lease was lost.
        """
        ...

    def push_after(
        self,
        queue_name: str,
        items: Sequence[PushItem],
        depends_on: Sequence[Sequence[str]],
    ) -> list[str]:
        """Store tasks, each ready once every task of its ``depends_on`` entry succeeded.

        One entry of ``depends_on`` per item; an item may depend on earlier
        items of the same call, so a fan-out/fan-in graph is stored in one
        round trip. All or nothing. A dependency that already succeeded
        (its outcome is stored) counts as done; one that failed or was
        canceled buries the new task at once, with a reason naming it; an
        item with no dependencies is pushed as by ``push_many``.

        Raises:
            TaskNotFoundError: a dependency is neither in the queue (nor an
                earlier item) nor has a stored outcome (never pushed, or its
                outcome expired): nothing is stored.
        """
        ...

    def task_state(self, queue_name: str, task_id: str) -> TaskState | None:
        """Where a queued task stands; ``None`` if the queue does not hold it."""
        ...

    def cancel(
        self, queue_name: str, task_id: str, *, result: bytes, ttl: float, dependents_reason: str
    ) -> tuple[bytes, list[str]] | None:
        """Remove a waiting task, store its canceled outcome, bury its dependents: atomically.

        A waiting task is ready, delayed or blocked; a reserved or buried
        one is left alone.

        Returns:
            The removed payload and the ids of the dependents it buried, or
            ``None`` (changing nothing) when no waiting task has that id.
        """
        ...


@runtime_checkable
class ResultPrefetchClient(PrefetchClient, ResultClient, Protocol):
    """Prefetch with results on: the fused acks of ``reserve_many`` store outcomes too.

    Told apart from a plain :class:`PrefetchClient` by the ``results``
    parameter (read once by :func:`alligator.capabilities.capabilities_of`).
    """

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
        """As :meth:`PrefetchClient.reserve_many`, each ack a :meth:`ResultClient.complete`.

        ``results`` holds one outcome per task of ``done`` (empty: plain
        acks), kept for ``ttl`` seconds.
        """
        ...
