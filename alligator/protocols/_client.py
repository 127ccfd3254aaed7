"""The queue contract a backend implements: the 1.0 methods and the at-least-once ladder.

:class:`Client` and :class:`ReliableClient` are what a Gator and a Worker
need, and every other client protocol extends :class:`ReliableClient`.
:class:`FailedTasksClient` and :class:`PrefetchClient` sit beside it because
they change no guarantee, only add operations on the same tasks (buried
ones; several at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from alligator.records import BuriedTask, PushItem, QueueStats, Reservation

__all__ = ["BuriedPages", "Client", "FailedTasksClient", "PrefetchClient", "ReliableClient"]


@runtime_checkable
class Client(Protocol):
    """The Alligator 1.0 backend contract; enough for a Gator and a Worker.

    A client offering only these five methods gives at-most-once delivery: a
    task popped by a worker that then dies is gone. The built-in backends
    implement :class:`ReliableClient` as well.
    """

    def len(self, queue_name: str) -> int:
        """Count the tasks waiting in the queue: ready and delayed, not leased or buried.

        ``0`` for a queue that never held a task; never an error for an
        unknown queue.
        """
        ...

    def drop_all(self, queue_name: str) -> None:
        """Remove every task of the queue, whatever its state (ready, delayed, leased, buried).

        A worker still holding a lease on a dropped task finds its ``ack``
        and ``release`` refused (``False``); a queue that does not exist is
        not an error.
        """
        ...

    def push(self, queue_name: str, task_id: str, data: bytes) -> str:
        """Store ``data`` at the back of the queue; return the id it is stored under.

        Atomic: after it returns the task is durable to the backend's own
        standard; if it raises, nothing was stored.
        """
        ...

    def pop(self, queue_name: str) -> bytes | None:
        """Remove and return the oldest due task, or ``None`` if none is due.

        Atomic: two callers never receive the same task. At-most-once: the
        task is gone before it runs.
        """
        ...

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        """Remove and return the waiting task stored under ``task_id``, or ``None``.

        Waiting means ready or delayed, whatever its due time: ``get`` skips
        a task whose lease is held (it is running; ``None``) and a buried one
        (``None``; see :class:`FailedTasksClient`). Atomic like :meth:`pop`:
        of two callers asking for the same id, one gets it.
        """
        ...


@runtime_checkable
class ReliableClient(Client, Protocol):
    """The at-least-once extension: a task is removed only once it has run.

    A reserved task is invisible to other workers until its lease deadline.
    If the holder neither acks, releases, buries nor renews before then, the
    task becomes ready again for any worker (a crashed worker loses nothing).
    Every method below is atomic on the backend; a method that takes a
    :class:`Reservation` returns ``False`` and changes nothing when the lease
    is no longer held by that reservation's token.
    """

    def push(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
    ) -> str:
        """Store a task, not to be reserved before ``delay_until`` (epoch seconds).

        On a backend that stores tasks under the caller's ids, a push of an
        id the queue holds replaces that task when it is waiting, delayed,
        buried or its lease expired; while its lease is held the push raises
        :class:`~alligator.exceptions.TaskInProgressError` and changes
        nothing, so a running task never runs twice at once. Due times are
        absolute; a backend with a server judges them by the server's clock.

        Raises:
            TaskInProgressError: The id names a task whose lease is held.
            InvalidTaskError: The id or due time cannot be stored (empty,
                unencodable, not a finite number).
        """
        ...

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        """Store several tasks in one round trip; all are stored or none.

        Raises:
            TaskInProgressError: An id names a task whose lease is held;
                none of the tasks is stored.
        """
        ...

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        """Lease the oldest due task for ``lease`` seconds.

        Waits up to ``timeout`` seconds for one to become due, without busy
        polling where the backend can block. Among due tasks the order is
        FIFO by due time unless the backend documents otherwise (beanstalkd
        orders by priority, then job id). Returns ``None`` when nothing
        became due in time.

        An entry of the store that cannot be handed out as a task (written
        there by something other than the backend: an id that is not text, a
        due time that is not a number) is buried with the reason by the
        backend, never returned, and never stops the tasks behind it.
        """
        ...

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        """Delete a task that ran; ``False`` (changing nothing) if the lease was lost.

        The lease is lost once its deadline has passed (whether or not
        another worker reserved the task since), or when the task was
        dropped, replaced or taken by ``get``.
        """
        ...

    def release(
        self,
        queue_name: str,
        reservation: Reservation,
        data: bytes | None = None,
        delay_until: float | None = None,
    ) -> bool:
        """Put a leased task back, optionally with a new payload and a delay.

        The task keeps its id and attempt count (beanstalkd, storing a new
        payload as a new job, gives a new id and says so) and is due at
        ``delay_until``, or now. ``False`` (changing nothing) if the lease
        was lost.
        """
        ...

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        """Move a leased task aside with ``reason``; it is kept, never run again.

        Buried tasks are not counted by :meth:`len`, are listed by
        :meth:`buried` with their reason and time, and are only ever run
        again through :meth:`FailedTasksClient.requeue`. ``False``
        (changing nothing) if the lease was lost.
        """
        ...

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        """Push the lease deadline ``lease`` seconds from now (the server's now, where it has one).

        ``False`` (changing nothing) if the lease was lost: the holder should
        stop treating the task as its own.
        """
        ...

    def stats(self, queue_name: str) -> QueueStats:
        """Count the queue's tasks by state: ready, delayed, reserved, buried.

        A leased task whose deadline passed counts as ready (it can be
        reserved again); counts of an unknown queue are all ``0``.
        """
        ...

    def buried(self, queue_name: str) -> list[BuriedTask]:
        """List the buried tasks, oldest first."""
        ...

    def close(self) -> None:
        """Release connections; the client may not be used afterwards."""
        ...


@runtime_checkable
class FailedTasksClient(ReliableClient, Protocol):
    """Operations on buried tasks: put them back, or delete them for good.

    A separate protocol so that a third-party :class:`ReliableClient` written
    before these existed keeps its at-least-once delivery; every built-in
    backend implements it, and ``alligator failed requeue|purge`` (and
    :mod:`alligator.failed`) need it.
    """

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Move the buried task ``task_id`` back to ready, due now.

        Atomic: the task is either still buried or ready again, never both
        and never neither (a backend that cannot do this in one step, like
        beanstalkd with a new body, may leave both, never neither, and says
        so). Its attempt count starts again from 0 and its burial reason is
        dropped. ``data`` replaces the payload when given.

        Returns:
            The id the task is now stored under (backends with
            server-assigned ids may give a new one when ``data`` changes), or
            ``None`` when no buried task has that id.
        """
        ...

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Delete the buried task ``task_id``, or every buried task when ``None``.

        Only buried tasks are touched: ready, delayed and reserved ones stay.
        Each task is deleted atomically; purging all is not one transaction on
        every backend, but a task buried meanwhile is either kept or deleted
        whole.

        Returns:
            How many buried tasks were deleted.
        """
        ...


@runtime_checkable
class PrefetchClient(ReliableClient, Protocol):
    """Fewer round trips per task: settle and claim several tasks in one call.

    Optional: a Worker uses it when the backend offers it (every built-in
    backend except beanstalkd does) and falls back to one ``reserve`` and one
    ``ack`` per task otherwise. Each reserved task still has its own lease and
    token, so at-least-once delivery is unchanged; only the number of round
    trips drops.
    """

    def reserve_many(
        self,
        queue_name: str,
        lease: float,
        count: int,
        timeout: float = 0.0,
        done: Sequence[Reservation] = (),
    ) -> tuple[list[bool], list[Reservation]]:
        """Ack ``done``, then lease up to ``count`` due tasks, in one atomic step.

        Each task of ``done`` is deleted only if its lease is still held (as
        :meth:`ReliableClient.ack`). The acks happen whether or not any task
        is due; when none is, the call waits up to ``timeout`` seconds as
        :meth:`ReliableClient.reserve` does, without repeating the acks.

        Returns:
            One flag per task of ``done`` (``False``: its lease was lost), and
            the leased tasks, oldest due first.
        """
        ...

    def renew_many(
        self, queue_name: str, reservations: Sequence[Reservation], lease: float
    ) -> list[bool]:
        """Renew several leases in one round trip; one flag per reservation."""
        ...


@runtime_checkable
class BuriedPages(ReliableClient, Protocol):
    """A backend that reads one page of buried tasks without reading them all.

    Optional: the dashboard and ``alligator failed list`` page through a
    queue of any size with it (the page count comes from ``stats``); for a
    client without it they fall back to :meth:`ReliableClient.buried` and
    slice, which reads every buried task. Every built-in backend offers it
    but beanstalkd, whose bury reasons can only be read all at once (see
    :mod:`alligator.backends._beanstalk_records`).
    """

    def buried_page(self, queue_name: str, offset: int, limit: int) -> list[BuriedTask]:
        """The buried tasks from position ``offset`` (0-based), at most ``limit`` of them.

        The order is :meth:`ReliableClient.buried`'s, oldest burial first and
        stable, so the pages of an unchanged queue, concatenated, are exactly
        ``buried()``. An ``offset`` at or past the end, or a ``limit`` of 0,
        gives ``[]``; a negative one is a ``ValueError``.

        Bounded work: it reads at most ``limit`` tasks, plus a walk over the
        ``offset`` entries of an index of the buried tasks (never their
        payloads), whatever the queue holds. Each page is one consistent
        read, but pages are not one snapshot: a task buried between two
        pages is appended at the end, and a task requeued or purged
        meanwhile shifts the later ones forward, so a reader walking page by
        page may then miss or repeat a task at a page boundary.
        """
        ...
