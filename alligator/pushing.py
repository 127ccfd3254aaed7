"""The producer's push path: from a task whose call is set to the ids a backend stored.

Mixed into :class:`~alligator.Gator`, whose public faces (``task``,
``push``, ``options``, ``batch``) all end here. It is kept apart from the
Gator's configuration so that the one route every enqueue takes (checks,
encoding, then a plain, prioritised, dependent, batched or unique push) reads
in one place, and so that :class:`~alligator.AsyncGator`, which sends the
same bytes its own way, shares exactly the part that does no I/O
(:meth:`Pushing.outgoing`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from alligator._typing import R
from alligator.capabilities import Capabilities
from alligator.exceptions import ConfigurationError, InvalidTaskError
from alligator.limits import check_countable
from alligator.payloads import Payloads
from alligator.protocols import Client, PriorityClient, ReliableClient, ResultClient, UniqueClient
from alligator.records import Outgoing, PushItem
from alligator.results import Results
from alligator.tasks import Task, enqueue_time
from alligator.tracing import Tracing
from alligator.unique import push_unique

__all__ = ["Pushing"]


class Pushing:
    """The push path (``serialize``, ``submit``, ``outgoing``, ``send``, ``prioritized``)."""

    if TYPE_CHECKING:  # provided by the Gator
        queue_name: str
        backend: Client
        broker: ReliableClient
        capabilities: Capabilities
        payloads: Payloads
        results: Results | None
        tracing: Tracing | None
        timestamps: bool
        _priority_broker: PriorityClient | None
        _unique_broker: UniqueClient | None

        def dependencies_of(self, task: Task[Any]) -> list[str]: ...
        def run_eagerly(self, task: Task[R]) -> Task[R]: ...

    def serialize(self, task: Task[Any]) -> bytes:
        """Encode ``task`` with this Gator's codec, signed, enforcing ``max_payload``."""
        return self.payloads.encode(task, self.queue_name)

    def submit(self, task: Task[Any]) -> Task[Any]:
        """Enqueue (or run, if eager) a task whose call is set: :meth:`push` after ``to_call``.

        A traced push is a ``send`` span around encoding and sending, so the
        task carries the span's context.
        """
        if self.tracing is None or not task.is_async:
            return self._push(task)
        with self.tracing.send(task, self.queue_name):
            return self._push(task)

    def _push(self, task: Task[Any]) -> Task[Any]:
        outgoing = self.outgoing(task)
        if outgoing is None:
            return self.run_eagerly(task)
        if task.unique_key is not None or task.unique:
            return push_unique(self._unique_broker, self.queue_name, task, outgoing.items[0].data)
        [task.task_id] = self.send(outgoing)
        return task

    def outgoing(self, task: Task[Any]) -> Outgoing | None:
        """What pushing ``task`` sends, checked and encoded; ``None`` for an eager task.

        The part of :meth:`push` that does no I/O, shared with
        :class:`~alligator.AsyncGator`, which sends the result its own way.
        """
        depends_on = self.dependencies_of(task)
        if not task.is_async:
            return None
        check_countable(getattr(task, "func", None), self.capabilities.limits)
        if (task.unique_key is not None or task.unique) and (
            depends_on or task.priority is not None
        ):
            raise InvalidTaskError(
                "unique tasks cannot take depends_on or priority yet: drop one of the options"
            )
        if task.priority is not None:
            self.prioritized()  # refuses a backend that would ignore it
        if self.timestamps:
            task.enqueued_at = enqueue_time()
        data = self.payloads.encode(task, self.queue_name)
        task.results = self.results
        return Outgoing(
            [PushItem(task.task_id, data, task.delay_until, task.priority)],
            [depends_on] if depends_on else None,
            task.priority,
        )

    def send(self, outgoing: Outgoing) -> list[str]:
        """Push what :meth:`outgoing` (or a batch) prepared; returns the stored ids."""
        items = outgoing.items
        if outgoing.depends_on is not None:
            queue = cast(ResultClient, self.broker)  # checked by dependencies_of
            return queue.push_after(self.queue_name, items, outgoing.depends_on)
        if len(items) > 1:
            return self.broker.push_many(self.queue_name, items)
        [item] = items
        priority = outgoing.priority if outgoing.priority is not None else item.priority
        if priority is not None:
            return [
                self.prioritized().push(
                    self.queue_name, item.task_id, item.data, item.delay_until, priority=priority
                )
            ]
        return [self.broker.push(self.queue_name, item.task_id, item.data, item.delay_until)]

    def prioritized(self) -> PriorityClient:
        """The backend as a :class:`~alligator.protocols.PriorityClient`, for a prioritised push.

        Raises:
            ConfigurationError: The backend cannot order tasks by priority; a
                ``priority=`` it would ignore is refused instead.
        """
        prioritized = self._priority_broker
        if prioritized is None:
            raise ConfigurationError(
                f"the {type(self.backend).__module__}.{type(self.backend).__name__} backend "
                "cannot order tasks by priority (its push takes no priority=): leave "
                "priority unset, or use a backend that has it (locmem, sqlite, redis, "
                "beanstalk, postgresql)"
            )
        return prioritized
