"""Gives a 1.0-style client (len/drop_all/push/pop/get only) the reliable API.

The Gator and Worker speak :class:`~alligator.protocols.ReliableClient`
only; this adapter lets them drive a client that offers just the 1.0
contract, with the weaker guarantees such a client can give:

- delivery is at-most-once (``pop`` removes the task before it runs);
- ``release`` pushes the task again; its delay is kept only when the
  client's ``push`` accepts ``delay_until``;
- ``bury`` cannot keep the task in the backend: it is logged at ERROR with
  its reason and payload, and kept in :attr:`graveyard` for this process,
  where ``requeue`` and ``purge`` find it.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Sequence
from typing import Any

from alligator.exceptions import ConfigurationError
from alligator.protocols import Client, PrefetchClient, ReliableClient
from alligator.records import BuriedTask, PushItem, QueueStats, Reservation

log = logging.getLogger("alligator.backends")

__all__ = ["SimpleClientAdapter", "as_prefetch", "as_reliable"]


class SimpleClientAdapter:
    """A :class:`ReliableClient` view of a plain :class:`Client`."""

    def __init__(self, client: Client, nap_time: float = 0.1) -> None:
        self.client = client
        self.nap_time = nap_time
        self.graveyard: list[BuriedTask] = []
        try:
            params = inspect.signature(client.push).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
            params = {}  # type: ignore[assignment]
        self.supports_delay = "delay_until" in params

    def len(self, queue_name: str) -> int:
        return self.client.len(queue_name)

    def drop_all(self, queue_name: str) -> None:
        self.client.drop_all(queue_name)

    def push(
        self, queue_name: str, task_id: str, data: bytes, delay_until: float | None = None
    ) -> str:
        if delay_until is None:
            return self.client.push(queue_name, task_id, data)
        if not self.supports_delay:
            raise ConfigurationError(
                f"{type(self.client).__name__}.push takes no delay_until: this backend "
                "cannot delay tasks"
            )
        push: Any = self.client.push
        return str(push(queue_name, task_id, data, delay_until=delay_until))

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        return [self.push(queue_name, *item) for item in items]

    def pop(self, queue_name: str) -> bytes | None:
        return self.client.pop(queue_name)

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        return self.client.get(queue_name, task_id)

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        deadline = time.monotonic() + timeout
        while True:
            # 1.0 clients may fail on an empty queue instead of returning None.
            data = self.client.pop(queue_name) if self.client.len(queue_name) else None
            if data is not None:
                return Reservation(task_id="", data=data, token="")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(self.nap_time, remaining))

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        return True

    def release(
        self,
        queue_name: str,
        reservation: Reservation,
        data: bytes | None = None,
        delay_until: float | None = None,
    ) -> bool:
        if not self.supports_delay:
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
        close = getattr(self.client, "close", None)
        if callable(close):
            close()


def as_reliable(client: Client, nap_time: float = 0.1) -> ReliableClient:
    """``client`` itself if it is reliable, else wrapped in the adapter."""
    if isinstance(client, ReliableClient):
        return client
    return SimpleClientAdapter(client, nap_time)


def as_prefetch(client: ReliableClient) -> PrefetchClient | None:
    """``client`` when it offers :class:`PrefetchClient` with its signature, else ``None``.

    Checked once (a worker calls this in its constructor): a runtime
    ``isinstance`` against a protocol only sees method names, so the
    parameters of ``reserve_many`` are checked too; a client whose
    ``reserve_many`` predates the protocol (no ``done``) is not used as one.
    """
    if isinstance(client, SimpleClientAdapter):
        return None
    reserve_many = getattr(client, "reserve_many", None)
    if not callable(reserve_many) or not callable(getattr(client, "renew_many", None)):
        return None
    try:
        params = inspect.signature(reserve_many).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return None
    if not {"queue_name", "lease", "count", "timeout", "done"} <= params.keys():
        return None
    prefetch: PrefetchClient = client  # type: ignore[assignment]
    return prefetch
