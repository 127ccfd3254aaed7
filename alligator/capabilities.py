"""What a backend client can do, decided once when a Gator is built.

Optional abilities are small protocols in :mod:`alligator.protocols`; this
module is the one place that looks at a client to see which of them it
offers. Everything else reads the frozen :class:`Capabilities` record (a
Gator's ``capabilities``) instead of probing the client with ``isinstance``,
``getattr`` or ``inspect.signature`` at the call site: probing is slow on a
hot path (a runtime protocol check walks every method), and a decision made
in one place cannot drift between two call sites.
"""

from __future__ import annotations

import inspect
from typing import cast

import msgspec

from alligator.protocols import (
    AbsentPushClient,
    AsyncioClient,
    BuriedPages,
    Client,
    FailedTasksClient,
    IdAssigningClient,
    InProcessClient,
    LimitClient,
    PrefetchClient,
    PriorityClient,
    QueueLister,
    QueueNameValidator,
    ReliableClient,
    ResultClient,
    ResultStore,
    ScheduleLedgerClient,
    TransactionalClient,
    UniqueClient,
)

__all__ = [
    "Capabilities",
    "absent_push_view",
    "asyncio_view",
    "buried_pages_view",
    "capabilities_of",
    "limit_view",
    "prefetch_view",
    "priority_view",
    "queue_lister_view",
    "transactional_view",
    "unique_view",
]


class Capabilities(msgspec.Struct, frozen=True):
    """The optional protocols one client offers.

    Attributes:
        reliable: A :class:`~alligator.protocols.ReliableClient` (leases,
            ack, bury): at-least-once delivery. ``False`` for a client with
            only the five Alligator 1.0 methods, which the Gator drives
            through :class:`alligator.compat.SimpleClientAdapter`
            (at-most-once).
        delays: ``push`` accepts ``delay_until``: always for a reliable
            client; for a 1.0 client only when its ``push`` takes it.
        prefetch: A :class:`~alligator.protocols.PrefetchClient`: a worker
            leases tasks in batches and acks them with its next claim.
        failed_tasks: A :class:`~alligator.protocols.FailedTasksClient`:
            buried tasks can be requeued and purged.
        priority: A :class:`~alligator.protocols.PriorityClient`: ``push``
            takes a per-task ``priority``.
        queue_names: A :class:`~alligator.protocols.QueueNameValidator`
            that restricts queue names.
        closes: The client has ``close()`` (every reliable client does; a
            1.0 client may).
        in_process: An :class:`~alligator.protocols.InProcessClient`: its
            tasks run in this process, so functions of ``__main__`` may be
            enqueued.
        assigns_ids: An :class:`~alligator.protocols.IdAssigningClient`:
            ``push`` picks the id, so a signature cannot bind it.
        lists_queues: A :class:`~alligator.protocols.QueueLister`: it names
            the queues that hold tasks.
        transactional: A :class:`~alligator.protocols.TransactionalClient`:
            ``gator.within(conn)`` enqueues inside the caller's transaction.
        result_store: A :class:`~alligator.protocols.ResultStore`: it can
            keep task outcomes (``Gator(results=...)``).
        results: A :class:`~alligator.protocols.ResultClient`: it keeps
            outcomes atomically with the settlement and runs dependencies
            (``Gator(results=True)``, ``depends_on``).
        results_prefetch: Its ``reserve_many`` takes ``results``: a worker
            keeps prefetching with results on (else it claims one by one).
        unique: A :class:`~alligator.protocols.UniqueClient`: it refuses
            a second task with a held ``unique_key``, atomically.
        limits: A :class:`~alligator.protocols.LimitClient`: it counts
            concurrency and rate limits across every worker.
        absent_push: An :class:`~alligator.protocols.AbsentPushClient`: it
            stores a task only when its id is new, and keeps marks, so any
            number of schedulers may run a schedule (:mod:`alligator.schedules`).
        schedule_ledger: A :class:`~alligator.protocols.ScheduleLedgerClient`:
            no push-if-absent, but a ledger that lets one scheduler run.
        asyncio: An :class:`~alligator.protocols.AsyncioClient`: an
            ``AsyncGator`` pushes through its native asyncio driver (else
            through the client's own calls, in a thread).
        pages_buried: A :class:`~alligator.protocols.BuriedPages`: it reads
            one page of buried tasks with bounded work (else the dashboard
            and ``alligator failed list`` read them all with ``buried``).
    """

    reliable: bool
    delays: bool
    prefetch: bool = False
    failed_tasks: bool = False
    priority: bool = False
    queue_names: bool = False
    closes: bool = False
    in_process: bool = False
    assigns_ids: bool = False
    lists_queues: bool = False
    transactional: bool = False
    result_store: bool = False
    results: bool = False
    results_prefetch: bool = False
    unique: bool = False
    limits: bool = False
    absent_push: bool = False
    schedule_ledger: bool = False
    asyncio: bool = False
    pages_buried: bool = False


def _takes(method: object, parameter: str) -> bool:
    try:
        return parameter in inspect.signature(method).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def capabilities_of(client: Client) -> Capabilities:
    """Look at ``client`` once and record which optional protocols it offers.

    A runtime protocol check only sees method names, so where a protocol is
    told apart by a parameter (``priority``, a 1.0 ``push``'s
    ``delay_until``, the fused acks of ``reserve_many``) the signature is
    read here too: a client whose ``reserve_many`` predates the protocol is
    not used for prefetch.
    """
    reliable = isinstance(client, ReliableClient)
    return Capabilities(
        reliable=reliable,
        delays=reliable or _takes(client.push, "delay_until"),
        prefetch=isinstance(client, PrefetchClient) and _takes(client.reserve_many, "done"),
        failed_tasks=isinstance(client, FailedTasksClient),
        priority=reliable and _takes(client.push, "priority"),
        queue_names=isinstance(client, QueueNameValidator),
        closes=reliable or callable(getattr(client, "close", None)),
        in_process=isinstance(client, InProcessClient) and client.in_process,
        assigns_ids=isinstance(client, IdAssigningClient) and client.assigns_ids,
        lists_queues=isinstance(client, QueueLister),
        transactional=isinstance(client, TransactionalClient),
        result_store=isinstance(client, ResultStore),
        results=isinstance(client, ResultClient),
        results_prefetch=isinstance(client, PrefetchClient)
        and isinstance(client, ResultClient)
        and _takes(client.reserve_many, "results"),
        unique=isinstance(client, UniqueClient),
        limits=isinstance(client, LimitClient),
        absent_push=isinstance(client, AbsentPushClient),
        schedule_ledger=isinstance(client, ScheduleLedgerClient),
        asyncio=isinstance(client, AsyncioClient),
        pages_buried=isinstance(client, BuriedPages),
    )


def prefetch_view(client: ReliableClient, capabilities: Capabilities) -> PrefetchClient | None:
    """``client`` typed as a :class:`PrefetchClient` when it is one, else ``None``."""
    return cast(PrefetchClient, client) if capabilities.prefetch else None


def priority_view(client: ReliableClient, capabilities: Capabilities) -> PriorityClient | None:
    """``client`` typed as a :class:`PriorityClient` when it is one, else ``None``."""
    return cast(PriorityClient, client) if capabilities.priority else None


def queue_lister_view(client: Client, capabilities: Capabilities) -> QueueLister | None:
    """``client`` (the backend itself, not an adapter) as a :class:`QueueLister`, else ``None``."""
    return cast(QueueLister, client) if capabilities.lists_queues else None


def transactional_view(
    client: ReliableClient, capabilities: Capabilities
) -> TransactionalClient | None:
    """``client`` typed as a :class:`TransactionalClient` when it is one, else ``None``."""
    return cast(TransactionalClient, client) if capabilities.transactional else None


def results_view(client: ReliableClient, capabilities: Capabilities) -> ResultClient | None:
    """``client`` typed as a :class:`ResultClient` when it is one, else ``None``."""
    return cast(ResultClient, client) if capabilities.results else None


def result_store_view(client: Client, capabilities: Capabilities) -> ResultStore | None:
    """``client`` typed as a :class:`ResultStore` when it is one, else ``None``."""
    return cast(ResultStore, client) if capabilities.result_store else None


def unique_view(client: ReliableClient, capabilities: Capabilities) -> UniqueClient | None:
    """``client`` typed as a :class:`UniqueClient` when it is one, else ``None``."""
    return cast(UniqueClient, client) if capabilities.unique else None


def limit_view(client: ReliableClient, capabilities: Capabilities) -> LimitClient | None:
    """``client`` typed as a :class:`LimitClient` when it is one, else ``None``."""
    return cast(LimitClient, client) if capabilities.limits else None


def absent_push_view(client: Client, capabilities: Capabilities) -> AbsentPushClient | None:
    """``client`` typed as an :class:`AbsentPushClient` when it is one, else ``None``."""
    return cast(AbsentPushClient, client) if capabilities.absent_push else None


def asyncio_view(client: Client, capabilities: Capabilities) -> AsyncioClient | None:
    """``client`` typed as an :class:`AsyncioClient` when it is one, else ``None``."""
    return cast(AsyncioClient, client) if capabilities.asyncio else None


def buried_pages_view(client: ReliableClient, capabilities: Capabilities) -> BuriedPages | None:
    """``client`` typed as a :class:`BuriedPages` when it is one, else ``None``."""
    return cast(BuriedPages, client) if capabilities.pages_buried else None
