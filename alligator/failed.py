"""Failed-task operations: list, show, requeue and purge the buried tasks of a queue.

A task is buried when it failed with no retries left, or when a worker
refused its payload (undecodable, a missing or disallowed callable, a bad
signature). Nothing is silently dropped: it stays buried, with the reason
(for a failure, the traceback), until someone requeues or purges it::

    failed = gator.failed                  # a FailedTasks for gator's queue
    for task in failed.list():             # oldest burial first
        print(task.task_id, task.reason.splitlines()[-1])
    failed.requeue(task_id)                # back to ready, with fresh retries
    failed.purge(task_id)                  # or delete it for good
    failed.purge()                         # every buried task of the queue

The same operations are ``python -m alligator failed list|show|requeue|purge``.

Requeueing with fresh retries rewrites the payload: the envelope's
``retries`` becomes the budget it was first given (its remaining retries plus
the attempts already spent) or the number asked for, and ``attempts`` starts
from 0. A payload that cannot be decoded (buried for that reason) is put back
unchanged, e.g. once the missing module is deployed. Signed payloads are
verified before they are rewritten and signed again with the Gator's key, so
requeue never launders a forged payload into a signed one: a payload that
fails verification is refused, and a signed payload cannot be requeued
without the key.

Each requeue and purge is atomic on the backend (one SQL statement, one Lua
script, one lock hold; on beanstalkd a ``kick-job``, or a put-then-delete
that can leave a duplicate but never loses the task when the payload
changes). A requeued task keeps its id, except on beanstalkd when its payload
was rewritten: there the new id is returned.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

import msgspec

from alligator import codecs, signing
from alligator.backends._checks import check_page
from alligator.capabilities import buried_pages_view
from alligator.exceptions import CodecError, ConfigurationError, TaskNotFoundError
from alligator.protocols import FailedTasksClient
from alligator.records import BuriedTask
from alligator.tasks import enqueue_time

if TYPE_CHECKING:
    from alligator.consumer import Consumer

__all__ = ["FailedTasks"]

log = logging.getLogger("alligator.failed")

#: Buried tasks read per page when every one is walked (show, requeue, the CLI's list).
WALK_PAGE = 500


class FailedTasks:
    """The buried tasks of one queue.

    Args:
        consumer: Gives the backend, the queue, and the payload rules
            (signing keys) of the queue (``gator.consumer(queue_name)``).
    """

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.queue_name = consumer.queue_name

    def __repr__(self) -> str:
        return f"<FailedTasks {type(self.consumer.broker).__name__} queue={self.queue_name!r}>"

    def _client(self) -> FailedTasksClient:
        broker = self.consumer.broker
        if not self.consumer.capabilities.failed_tasks:
            raise ConfigurationError(
                f"{type(broker).__name__} cannot requeue or purge buried tasks "
                "(it does not implement alligator.protocols.FailedTasksClient)"
            )
        return cast(FailedTasksClient, broker)

    def list(self) -> list[BuriedTask]:
        """Every buried task of the queue, oldest burial first."""
        return self.consumer.broker.buried(self.queue_name)

    def page(self, offset: int, limit: int) -> builtins.list[BuriedTask]:
        """At most ``limit`` buried tasks from position ``offset`` of :meth:`list`.

        Read with bounded work on a backend that pages
        (:class:`~alligator.protocols.BuriedPages`, every built-in one but
        beanstalkd), so a screen of a queue with a million buried tasks
        costs one screen; on any other backend it is a slice of
        :meth:`list`, which reads them all.

        Raises:
            ValueError: ``offset`` or ``limit`` is not an ``int`` >= 0.
        """
        pager = buried_pages_view(self.consumer.broker, self.consumer.capabilities)
        if pager is not None:
            return pager.buried_page(self.queue_name, offset, limit)
        offset, limit = check_page(offset, limit)
        return self.list()[offset : offset + limit]

    def walk(self, page_size: int | None = None) -> Iterator[BuriedTask]:
        """Every buried task, oldest burial first, read :meth:`page` by page.

        ``page_size`` defaults to :data:`WALK_PAGE`.

        Memory stays at one page where the backend pages. Not a snapshot:
        a task requeued or purged meanwhile shifts the later ones, so one
        may be missed or seen twice at a page boundary (see
        :class:`~alligator.protocols.BuriedPages`); a task buried meanwhile
        is met at the end.
        """
        if not self.consumer.capabilities.pages_buried:
            yield from self.list()
            return
        size = WALK_PAGE if page_size is None else page_size
        if size < 1:
            raise ValueError(f"page_size must be >= 1, got {size!r}")
        offset = 0
        while True:
            tasks = self.page(offset, size)
            yield from tasks
            if len(tasks) < size:
                return
            offset += len(tasks)

    def __len__(self) -> int:
        return self.consumer.broker.stats(self.queue_name).buried

    def show(self, task_id: str) -> BuriedTask:
        """One buried task, with its payload and full reason.

        Raises:
            TaskNotFoundError: no buried task has that id.
        """
        for task in self.walk():
            if task.task_id == task_id:
                return task
        raise TaskNotFoundError(f"no buried task {task_id!r} on queue {self.queue_name!r}")

    def requeue(self, task_id: str, *, retries: int | None = None) -> str:
        """Put a buried task back on the queue, due now, with fresh retries.

        Args:
            task_id: The buried task.
            retries: Its new retry budget; by default the budget it was
                first given.

        Returns:
            The id it is now stored under (new only on beanstalkd when the
            payload was rewritten).

        Raises:
            TaskNotFoundError: no buried task has that id (any more).
            SignatureError: its signature does not verify with the Gator's keys.
            ConfigurationError: it is signed but the Gator has no key to
                sign the refreshed payload, or the backend cannot requeue.
        """
        _check_retries(retries)
        client = self._client()
        return self._requeue(client, self.show(task_id), retries)

    def _requeue(self, client: FailedTasksClient, buried: BuriedTask, retries: int | None) -> str:
        task_id = buried.task_id
        data = self._refreshed(buried, retries)
        new_id = client.requeue(self.queue_name, task_id, data)
        if new_id is None:
            raise TaskNotFoundError(
                f"buried task {task_id!r} on queue {self.queue_name!r} was requeued or "
                "purged by someone else meanwhile"
            )
        log.info("requeued buried task %s on %r as %s", task_id, self.queue_name, new_id)
        return new_id

    def requeue_all(self, *, retries: int | None = None) -> builtins.list[str]:
        """Requeue every buried task (oldest first); returns their ids.

        The tasks are read first (page by page where the backend pages),
        then each is requeued: requeueing as the pages are read would shift
        the pages still to come.
        """
        tasks = builtins.list(self.walk())
        if not tasks:
            return []
        _check_retries(retries)
        client = self._client()
        return [self._requeue(client, task, retries) for task in tasks]

    def purge(self, task_id: str | None = None) -> int:
        """Delete one buried task, or all of them when ``task_id`` is ``None``.

        Returns:
            How many were deleted (0 when ``task_id`` is not buried).
        """
        count = self._client().purge(self.queue_name, task_id)
        log.info("purged %d buried task(s) on %r", count, self.queue_name)
        return count

    def _refreshed(self, buried: BuriedTask, retries: int | None) -> bytes | None:
        """The payload with a fresh retry budget, or ``None`` to keep it as is."""
        payloads = self.consumer.payloads
        signed = signing.is_signed(buried.data)
        if signed and payloads.signer is None:
            raise ConfigurationError(
                f"buried task {buried.task_id!r} is signed: requeueing it with fresh "
                "retries needs the signing key (signing_key=, or --signing-key-file / "
                "ALLIGATOR_SIGNING_KEY on the command line)"
            )
        # SignatureError propagates: never launder. Age is not checked: an
        # operator requeueing a buried task vouches for when it runs.
        inner = payloads.verified(buried.data, self.queue_name, buried.task_id, check_age=False)
        try:
            codec = codecs.sniff(inner)
            envelope = codec.decode(inner)
        except CodecError:
            if retries is not None:
                raise
            return None  # buried as undecodable: put back exactly as it was
        fresh = envelope.retries + envelope.attempts if retries is None else retries
        envelope = msgspec.structs.replace(
            envelope,
            retries=fresh,
            attempts=0,
            delay_until=None,
            # Its queue wait counts from the requeue, not from the first enqueue.
            enqueued_at=None if envelope.enqueued_at is None else enqueue_time(),
        )
        data = codec.encode(envelope)
        return payloads.sign(data, self.queue_name, buried.task_id)


def _check_retries(retries: int | None) -> None:
    if retries is not None and (isinstance(retries, bool) or retries < 0):
        raise ConfigurationError(f"retries must be an int >= 0, got {retries!r}")
