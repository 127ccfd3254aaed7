"""Alligator 1.0 compatibility: a client with only the five 1.0 methods.

The Gator and Worker speak :class:`~alligator.protocols.ReliableClient`
only; :class:`SimpleClientAdapter` lets them drive a client that offers just
the 1.0 contract (``len``, ``drop_all``, ``push``, ``pop``, ``get``), such
as the custom SQLite client of the extending guide, with the weaker
guarantees such a client can give:

- delivery is at-most-once (``pop`` removes the task before it runs);
- ``reserve`` never waits: the consumer polls it every ``nap_time``;
- ``release`` pushes the task again; its delay is kept only when the
  client's ``push`` accepts ``delay_until``;
- ``bury`` cannot keep the task in the backend: it is logged at ERROR with
  its reason and payload, and kept in :attr:`graveyard` for this process,
  where ``requeue`` and ``purge`` find it.

It lives outside :mod:`alligator.backends` because it is no backend: it is
how the core meets an old one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, cast

import msgspec

from alligator.capabilities import Capabilities, capabilities_of
from alligator.exceptions import ConfigurationError
from alligator.protocols import Client, ReliableClient
from alligator.records import BuriedTask, PushItem, QueueStats, Reservation

log = logging.getLogger("alligator.backends")

__all__ = ["SimpleClientAdapter", "as_reliable"]


class SimpleClientAdapter:
    """A :class:`ReliableClient` view of a plain :class:`Client`.

    Args:
        client: The 1.0 client.
        capabilities: What ``client`` offers (whether its ``push`` takes
            ``delay_until``, whether it has ``close``).
    """

    def __init__(self, client: Client, capabilities: Capabilities) -> None:
        self.client = client
        self.capabilities = capabilities
        self.graveyard: list[BuriedTask] = []

    def len(self, queue_name: str) -> int:
        return self.client.len(queue_name)

    def drop_all(self, queue_name: str) -> None:
        self.client.drop_all(queue_name)

    def push(
        self, queue_name: str, task_id: str, data: bytes, delay_until: float | None = None
    ) -> str:
        if delay_until is None:
            return self.client.push(queue_name, task_id, data)
        if not self.capabilities.delays:
            raise ConfigurationError(
                f"{type(self.client).__name__}.push takes no delay_until: this backend "
                "cannot delay tasks"
            )
        push: Any = self.client.push
        return str(push(queue_name, task_id, data, delay_until=delay_until))

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        return [self.push(queue_name, i.task_id, i.data, i.delay_until) for i in items]

    def pop(self, queue_name: str) -> bytes | None:
        return self.client.pop(queue_name)

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        return self.client.get(queue_name, task_id)

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        """Pop the next task at once; ``timeout`` is the caller's to poll (1.0 has no wait)."""
        # 1.0 clients may fail on an empty queue instead of returning None.
        data = self.client.pop(queue_name) if self.client.len(queue_name) else None
        return None if data is None else Reservation(task_id="", data=data, token="")

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        return True

    def release(
        self,
        queue_name: str,
        reservation: Reservation,
        data: bytes | None = None,
        delay_until: float | None = None,
    ) -> bool:
        if not self.capabilities.delays:
            delay_until = None
        data = reservation.data if data is None else data
        self.push(queue_name, reservation.task_id, data, delay_until)
        return True

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        log.error(
            "task %s on %r cannot be kept by %s (no bury support): %s; payload %r",
            reservation.task_id or "?",
            queue_name,
            type(self.client).__name__,
            reason,
            reservation.data,
        )
        self.graveyard.append(
            BuriedTask(reservation.task_id, reservation.data, reason, time.time())
        )
        return True

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        return True

    def stats(self, queue_name: str) -> QueueStats:
        return QueueStats(ready=self.client.len(queue_name), buried=len(self.graveyard))

    def buried(self, queue_name: str) -> list[BuriedTask]:
        return list(self.graveyard)

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Push a task of this process's graveyard again (it exists nowhere else)."""
        for i, task in enumerate(self.graveyard):
            if task.task_id == task_id:
                del self.graveyard[i]
                return self.push(queue_name, task_id, task.data if data is None else data)
        return None

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Forget one or every task of this process's graveyard."""
        before = len(self.graveyard)
        self.graveyard = [t for t in self.graveyard if task_id is not None and t.task_id != task_id]
        return before - len(self.graveyard)

    def close(self) -> None:
        if self.capabilities.closes:
            cast(Any, self.client).close()


def as_reliable(client: Client) -> tuple[ReliableClient, Capabilities]:
    """``client`` as a :class:`ReliableClient` (wrapped if it is a 1.0 client), and its abilities.

    The adapter keeps buried tasks in its graveyard, so it offers the
    failed-task operations whatever the client behind it does.
    """
    capabilities = capabilities_of(client)
    if capabilities.reliable:
        return cast(ReliableClient, client), capabilities
    adapter = SimpleClientAdapter(client, capabilities)
    return adapter, msgspec.structs.replace(capabilities, failed_tasks=True)
