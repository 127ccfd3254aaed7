"""The optional :class:`~alligator.protocols.FailedTasksClient` contract, as pytest tests.

Mixed into :class:`~alligator.testing.ReliableClientContract`: every test
here skips itself when the client cannot ``requeue`` or ``purge`` buried
tasks (a third-party reliable client written before these existed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from alligator.capabilities import Capabilities
from alligator.protocols import Client, FailedTasksClient, ReliableClient
from alligator.records import QueueStats

__all__ = ["FailedTasksContract"]

#: Lease for a task the test means to keep holding.
LONG = 600.0


class FailedTasksContract:
    """Tests of ``requeue`` and ``purge`` on buried tasks."""

    if TYPE_CHECKING:

        def require(self, client: Client, capability: str) -> Capabilities: ...

    def failed_tasks(self, client: ReliableClient) -> FailedTasksClient:
        """``client`` as a :class:`FailedTasksClient`; skip when it is not one."""
        self.require(client, "failed_tasks")
        return cast(FailedTasksClient, client)

    def bury_one(self, client: ReliableClient, queue: str, data: bytes) -> str:
        task_id = client.push(queue, "t-" + data.decode(), data)
        held = client.reserve(queue, LONG)
        assert held is not None and held.task_id == task_id
        assert client.bury(queue, held, "broken") is True
        return task_id

    def test_requeue_makes_a_buried_task_ready_again(
        self, client: ReliableClient, queue: str
    ) -> None:
        failed = self.failed_tasks(client)
        # Given a buried task and a ready one
        buried_id = self.bury_one(client, queue, b"a")
        ready_id = client.push(queue, "t-b", b"b")
        # When the buried one is requeued
        new_id = failed.requeue(queue, buried_id)
        # Then it is ready again and no longer buried
        assert new_id is not None
        assert client.stats(queue) == QueueStats(ready=2)
        assert client.buried(queue) == []
        first = client.reserve(queue, LONG)
        second = client.reserve(queue, LONG)
        assert first is not None and second is not None
        # (no order is promised: beanstalkd kicks a job back under its old, lower id)
        got = sorted([(first.data, first.task_id), (second.data, second.task_id)])
        assert got == [(b"a", new_id), (b"b", ready_id)]
        # And a task that is not buried (any more) cannot be requeued
        assert failed.requeue(queue, new_id) is None
        assert failed.requeue(queue, "999999") is None

    def test_requeue_can_replace_the_payload(self, client: ReliableClient, queue: str) -> None:
        failed = self.failed_tasks(client)
        buried_id = self.bury_one(client, queue, b"old")
        new_id = failed.requeue(queue, buried_id, b"new")
        got = client.reserve(queue, LONG)
        assert got is not None
        assert (got.task_id, got.data) == (new_id, b"new")

    def test_purge_deletes_only_buried_tasks(self, client: ReliableClient, queue: str) -> None:
        failed = self.failed_tasks(client)
        # Given two buried tasks and a ready one
        first = self.bury_one(client, queue, b"a")
        self.bury_one(client, queue, b"b")
        client.push(queue, "t-c", b"c")
        # When one is purged by id, then the rest
        assert failed.purge(queue, first) == 1
        assert failed.purge(queue, first) == 0
        assert failed.purge(queue) == 1
        # Then only the ready task is left
        assert client.stats(queue) == QueueStats(ready=1)
        assert client.buried(queue) == []
