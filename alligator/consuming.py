"""The consumer side of a Gator's settings: ``gator.consumer()`` and ``gator.failed``.

Mixed into :class:`~alligator.Gator`. A Worker, the 1.0 in-process methods,
the command line and the web view all read a queue through a
:class:`~alligator.consumer.Consumer` made here from the Gator's codec,
signing keys, lease and results, so the producer's own module holds only
what enqueues. The queue-name check lives here too: both sides name queues,
and the consumer side is the one asked for other queues than the Gator's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from alligator.capabilities import Capabilities
from alligator.consumer import Consumer
from alligator.exceptions import ConfigurationError
from alligator.payloads import Payloads
from alligator.protocols import Client, QueueNameValidator, ReliableClient
from alligator.results import Results
from alligator.retry import Backoff

if TYPE_CHECKING:
    from alligator.failed import FailedTasks

__all__ = ["ConsumerSide"]


class ConsumerSide:
    """``consumer``, ``failed`` and ``check_queue_name``: mixed into the Gator."""

    if TYPE_CHECKING:  # provided by the Gator
        queue_name: str
        backend: Client
        broker: ReliableClient
        capabilities: Capabilities
        payloads: Payloads
        backoff: Backoff
        clock: Callable[[], float]
        lease: float
        max_deliveries: int
        results: Results | None

    def check_queue_name(self, queue_name: str) -> None:
        """Refuse a queue name the backend cannot hold (a ``ConfigurationError``)."""
        if not isinstance(queue_name, str) or not queue_name:
            raise ConfigurationError(f"queue_name must be a non-empty str, got {queue_name!r}")
        try:
            queue_name.encode()
        except UnicodeEncodeError as exc:
            raise ConfigurationError(
                f"queue name {queue_name!r} is not valid text (lone surrogates cannot be stored)"
            ) from exc
        if self.capabilities.queue_names:
            validator: QueueNameValidator = self.backend  # type: ignore[assignment]
            validator.validate_queue_name(queue_name)

    def consumer(
        self,
        queue_name: str | None = None,
        *,
        lease: float | None = None,
        nap_time: float = 0.1,
    ) -> Consumer:
        """The consumer side of this Gator's settings, for its queue or another one.

        Args:
            queue_name: Another queue of the same backend (default: this
                Gator's).
            lease: Seconds a reserved task is held (default: the Gator's).
            nap_time: Pause between polls of a backend that cannot wait.
        """
        if queue_name is None:
            queue_name = self.queue_name
        else:
            self.check_queue_name(queue_name)
        return Consumer(
            self.broker,
            queue_name,
            capabilities=self.capabilities,
            payloads=self.payloads,
            backoff=self.backoff,
            clock=self.clock,
            lease=self.lease if lease is None else lease,
            nap_time=nap_time,
            max_deliveries=self.max_deliveries,
            results=None if self.results is None else self.results.for_queue(queue_name),
        )

    @property
    def failed(self) -> FailedTasks:
        """Buried tasks of this queue: list, show, requeue, purge."""
        from alligator.failed import FailedTasks

        return FailedTasks(self.consumer())
