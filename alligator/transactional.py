"""Enqueue inside the application's own transaction: ``gator.within(conn)``.

The producer returned by :meth:`alligator.Gator.within` is a copy of the
Gator whose backend is a :class:`ThroughConnection`: its pushes go through
the caller's open database connection instead of the backend's own, so
each task commits or rolls back with the caller's transaction: the task
exists if and only if the row that caused it was committed. Everything
else (codec, signing, payload limits, the queue) is the parent Gator's;
reading and running tasks still use the backend's own connections.

Only a backend that is a :class:`~alligator.protocols.TransactionalClient`
(PostgreSQL) can do this; any other gets a ``ConfigurationError``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

from alligator.capabilities import Capabilities, transactional_view
from alligator.exceptions import ConfigurationError
from alligator.records import BuriedTask, PushItem, QueueStats, Reservation

if TYPE_CHECKING:
    from alligator.gator import Gator
    from alligator.protocols import ReliableClient, TransactionalClient

__all__ = ["ThroughConnection", "through", "within"]


class ThroughConnection:
    """A backend client whose pushes go through one caller-owned connection.

    Pushes (single, prioritised, batched) call
    :meth:`~alligator.protocols.TransactionalClient.push_within`; every other
    operation is the backend's own. ``close`` does nothing: the backend
    belongs to the parent Gator and the connection to the caller.
    """

    def __init__(self, client: TransactionalClient, connection: object) -> None:
        self.client = client
        self.connection = connection

    def push(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        priority: int | None = None,
    ) -> str:
        item = PushItem(task_id, data, delay_until)
        return self.client.push_within(self.connection, queue_name, [item], priority=priority)[0]

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        return self.client.push_within(self.connection, queue_name, items)

    def len(self, queue_name: str) -> int:
        return self.client.len(queue_name)

    def drop_all(self, queue_name: str) -> None:
        self.client.drop_all(queue_name)

    def pop(self, queue_name: str) -> bytes | None:
        return self.client.pop(queue_name)

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        return self.client.get(queue_name, task_id)

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        return self.client.reserve(queue_name, lease, timeout)

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        return self.client.ack(queue_name, reservation)

    def release(
        self,
        queue_name: str,
        reservation: Reservation,
        data: bytes | None = None,
        delay_until: float | None = None,
    ) -> bool:
        return self.client.release(queue_name, reservation, data, delay_until)

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        return self.client.bury(queue_name, reservation, reason)

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        return self.client.renew(queue_name, reservation, lease)

    def stats(self, queue_name: str) -> QueueStats:
        return self.client.stats(queue_name)

    def buried(self, queue_name: str) -> list[BuriedTask]:
        return self.client.buried(queue_name)

    def close(self) -> None:
        """Nothing to close: the parent Gator owns the backend."""


def through(
    client: ReliableClient, capabilities: Capabilities, connection: object
) -> ThroughConnection:
    """``client`` with its pushes rerouted through ``connection``, checked first.

    Raises:
        ConfigurationError: ``client`` is not a
            :class:`~alligator.protocols.TransactionalClient`, or refuses
            ``connection`` (see its ``check_connection``).
        BackendError: ``connection``'s transaction has failed.
    """
    transactional = transactional_view(client, capabilities)
    if transactional is None:
        raise ConfigurationError(
            f"the {type(client).__module__} backend cannot enqueue inside a caller's "
            "transaction: gator.within() needs the PostgreSQL backend"
        )
    transactional.check_connection(connection)
    return ThroughConnection(transactional, connection)


def within(gator: Gator, connection: object) -> Gator:
    """``gator``'s copy for :meth:`Gator.within <alligator.Gator.within>`.

    A shallow copy, so that codec, signing, limits, results and the backend's
    own connections stay shared with the parent; only the brokers its pushes
    go through are swapped.
    """
    bound = copy.copy(gator)
    bound.broker = bound._priority_broker = through(gator.broker, gator.capabilities, connection)
    bound._unique_broker = None  # a unique push is the backend's own transaction
    return bound
