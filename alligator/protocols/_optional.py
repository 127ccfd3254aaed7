"""Optional abilities a backend may declare: markers, queue names, transactions, asyncio.

None of them changes delivery; each lets the core do something more with
a backend that has it (read once into :class:`~alligator.capabilities.Capabilities`),
and a backend without it keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from alligator.protocols._client import ReliableClient
from alligator.records import PushItem, QueueStats

__all__ = [
    "AsyncProducer",
    "AsyncioClient",
    "IdAssigningClient",
    "InProcessClient",
    "QueueLister",
    "QueueNameValidator",
    "TransactionalClient",
]


@runtime_checkable
class TransactionalClient(ReliableClient, Protocol):
    """Enqueues through a database connection the caller owns, inside its transaction.

    The task exists if and only if the caller's transaction commits: the row
    that caused it and the task commit together, or neither does. Used by
    :meth:`alligator.Gator.within`; the PostgreSQL backend offers it (with a
    psycopg 3 connection).
    """

    def check_connection(self, connection: object) -> None:
        """Raise a clear error if tasks cannot be enqueued through ``connection``.

        The wrong kind of connection, a closed one, or one whose transaction
        has failed is refused before anything is sent.
        """
        ...

    def push_within(
        self,
        connection: object,
        queue_name: str,
        items: Sequence[PushItem],
        *,
        priority: int | None = None,
    ) -> list[str]:
        """Store ``items`` through ``connection``, in its open transaction.

        Nothing is visible to workers, and no worker is woken, before that
        transaction commits; a rollback leaves no trace. Returns the ids the
        tasks are stored under.
        """
        ...


@runtime_checkable
class InProcessClient(Protocol):
    """A backend whose queues live in this process's memory (``locmem://``).

    Its tasks can only be run by a worker of the same process, so a task
    function defined in ``__main__`` (a script, a notebook) resolves to the
    same function there and may be enqueued.
    """

    @property
    def in_process(self) -> bool:
        """Always true: the marker of this capability."""
        ...


@runtime_checkable
class IdAssigningClient(Protocol):
    """A backend that stores tasks under ids of its own choosing (beanstalkd's job ids).

    ``push`` ignores the ``task_id`` it is given and returns the id it used,
    so nothing written before the push (a signature, say) can name that id.
    """

    @property
    def assigns_ids(self) -> bool:
        """Always true: the marker of this capability."""
        ...


@runtime_checkable
class QueueNameValidator(Protocol):
    """A backend that restricts queue names (beanstalkd tubes, for one).

    The Gator calls it when it is built and for every extra queue a Worker
    consumes, so a bad name fails at start-up, not at the first push.
    """

    def validate_queue_name(self, name: str) -> str:
        """Return ``name`` unchanged, or raise ``ConfigurationError`` saying why not."""
        ...


@runtime_checkable
class QueueLister(Protocol):
    """A backend that can name the queues it holds tasks for.

    Optional: ``alligator info`` without ``-q`` shows every queue it names,
    and a worker started on an empty queue says which other queues have
    tasks. Every built-in backend offers it.
    """

    def queues(self) -> list[str]:
        """The names of the queues holding at least one task, in any state, sorted.

        Ready, delayed, reserved and buried tasks all count. A read for
        operators, not for a hot path: it may cost one call per queue. Not
        atomic across queues: a queue emptied or filled meanwhile may be
        missing or listed.
        """
        ...


class AsyncProducer(Protocol):
    """A producer's backend calls on the running event loop (what an ``AsyncGator`` awaits).

    The same operations, guarantees and errors as the client's own
    ``push_many`` and ``stats``, sent through an asyncio driver.
    """

    async def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        """Store several tasks; all are stored or none (see :meth:`ReliableClient.push_many`)."""
        ...

    async def stats(self, queue_name: str) -> QueueStats:
        """Count the queue's tasks by state."""
        ...

    async def aclose(self) -> None:
        """Release the asyncio connections (the client's own stay open)."""
        ...


@runtime_checkable
class AsyncioClient(Protocol):
    """A client with a native asyncio driver for producers (Redis: ``redis.asyncio``).

    An ``AsyncGator`` over any other client runs the client's calls in a
    thread, so the event loop never blocks either way.
    """

    def asyncio(self) -> AsyncProducer:
        """A new asyncio producer over the same store (its own connections)."""
        ...
