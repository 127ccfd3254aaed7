"""The optional :class:`~alligator.protocols.AsyncioClient` contract, as pytest tests.

Mixed into :class:`~alligator.testing.ReliableClientContract`: every test
here skips itself (naming the capability) when the client has no native
asyncio driver. What the asyncio producer stores, the client itself must
read back: the same queue, order, ids and counts, the same refusals.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

import pytest

from alligator.capabilities import Capabilities
from alligator.exceptions import TaskInProgressError
from alligator.protocols import AsyncioClient, AsyncProducer, Client, ReliableClient
from alligator.records import PushItem, QueueStats

__all__ = ["AsyncioContract"]


class AsyncioContract:
    """Tests of ``client.asyncio()``: ``push_many``, ``stats`` and ``aclose`` on a loop."""

    if TYPE_CHECKING:

        def require(self, client: Client, capability: str) -> Capabilities: ...

    def producer(self, client: ReliableClient) -> AsyncProducer:
        """A fresh asyncio producer of ``client``; skip when it has no asyncio driver."""
        self.require(client, "asyncio")
        return cast(AsyncioClient, client).asyncio()

    def test_asyncio_pushes_are_read_back_by_the_client_in_order(
        self, client: ReliableClient, queue: str
    ) -> None:
        producer = self.producer(client)
        items = [PushItem(f"a{n}", f"payload {n}".encode(), None) for n in range(3)]

        async def push() -> tuple[list[str], QueueStats]:
            ids = await producer.push_many(queue, items[:1])
            ids += await producer.push_many(queue, items[1:])
            stats = await producer.stats(queue)
            await producer.aclose()
            return ids, stats

        ids, stats = asyncio.run(push())
        assert ids == ["a0", "a1", "a2"]
        assert stats == client.stats(queue) == QueueStats(ready=3)
        taken = [client.reserve(queue, 60) for _ in items]
        assert [(r.task_id, r.data) for r in taken if r is not None] == [
            (item.task_id, item.data) for item in items
        ]

    def test_asyncio_push_of_a_leased_id_is_refused_and_stores_nothing(
        self, client: ReliableClient, queue: str
    ) -> None:
        producer = self.producer(client)
        client.push(queue, "held", b"first")
        assert client.reserve(queue, 60) is not None

        async def push() -> None:
            try:
                await producer.push_many(
                    queue, [PushItem("fresh", b"x", None), PushItem("held", b"second", None)]
                )
            finally:
                await producer.aclose()

        with pytest.raises(TaskInProgressError):
            asyncio.run(push())
        assert client.stats(queue) == QueueStats(reserved=1)

    def test_closing_the_asyncio_producer_leaves_the_client_open(
        self, client: ReliableClient, queue: str
    ) -> None:
        producer = self.producer(client)
        asyncio.run(producer.aclose())
        client.push(queue, "after", b"x")
        assert client.len(queue) == 1
