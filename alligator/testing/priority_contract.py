"""The optional :class:`~alligator.protocols.PriorityClient` contract, as pytest tests.

Mixed into :class:`~alligator.testing.ReliableClientContract`: every test here
skips itself (naming the capability) when the client's ``push`` takes no
``priority``. The scale is Alligator's (:mod:`alligator.priority`): lower
first, ``None`` meaning 0, first in, first out among equals, the same on
every backend. Orders are checked exactly, whatever ``strict_fifo`` says: a
backend that declares priorities promises this order for fresh pushes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

import pytest

from alligator.capabilities import Capabilities
from alligator.exceptions import InvalidTaskError
from alligator.priority import PRIORITY_MAX, PRIORITY_MIN
from alligator.protocols import (
    Client,
    FailedTasksClient,
    PrefetchClient,
    PriorityClient,
    ReliableClient,
)
from alligator.records import PushItem, QueueStats
from alligator.testing.clock import Clock, FakeClock
from alligator.testing.support import reserved_until_empty

__all__ = ["PriorityContract"]

#: Lease for a task the test means to keep holding.
LONG = 600.0


class PriorityContract:
    """Tests of ``push(priority=...)``, prioritised ``push_many`` items, and the order kept."""

    time_unit: float
    reserve_sets_lease: bool

    if TYPE_CHECKING:

        def require(self, client: Client, capability: str) -> Capabilities: ...

    def prioritized(self, client: ReliableClient) -> PriorityClient:
        """``client`` as a :class:`PriorityClient`; skip when it does not order by priority."""
        self.require(client, "priority")
        return cast(PriorityClient, client)

    def drain(self, client: ReliableClient, queue: str) -> list[bytes]:
        """Reserve (and ack) until nothing is due; the payloads in the order taken."""
        got: list[bytes] = []
        stats = client.stats(queue)  # a delayed task may come due meanwhile (a real clock)
        for held in reserved_until_empty(client, queue, stats.ready + stats.delayed):
            got.append(held.data)
            assert client.ack(queue, held) is True
        return got

    def wait_ready(self, client: ReliableClient, queue: str, clock: Clock, ready: int) -> None:
        """Let a unit pass (a fake clock moves), until ``ready`` tasks are due."""
        if isinstance(clock, FakeClock):
            clock.advance(self.time_unit)
        deadline = time.monotonic() + 10.0 * self.time_unit
        while client.stats(queue).ready < ready:
            assert time.monotonic() < deadline, f"{ready} tasks never became ready"
            time.sleep(0.02)

    def test_lower_priority_first_and_fifo_among_equals(
        self, client: ReliableClient, queue: str
    ) -> None:
        ranked = self.prioritized(client)
        # Given tasks of mixed priorities, None and 0 among them, pushed in this order
        ranked.push(queue, "a", b"a")
        ranked.push(queue, "b", b"b", priority=5)
        ranked.push(queue, "c", b"c", priority=-5)
        ranked.push(queue, "d", b"d", priority=0)
        ranked.push(queue, "e", b"e", priority=-5)
        ranked.push(queue, "f", b"f", priority=PRIORITY_MAX)
        ranked.push(queue, "g", b"g", priority=PRIORITY_MIN)
        # Then they are reserved lowest priority first, in push order among equals
        assert self.drain(client, queue) == [b"g", b"c", b"e", b"a", b"d", b"b", b"f"]

    def test_push_many_carries_each_items_priority(
        self, client: ReliableClient, queue: str
    ) -> None:
        self.prioritized(client)
        # Given one batch whose items have their own priorities
        items = [PushItem("a", b"a", None, 3), PushItem("b", b"b"), PushItem("c", b"c", None, -1)]
        ids = client.push_many(queue, items)
        assert len(ids) == 3
        # Then the batch is stored whole and drained by priority
        assert client.stats(queue) == QueueStats(ready=3)
        assert self.drain(client, queue) == [b"c", b"b", b"a"]

    def test_an_out_of_range_priority_is_refused_and_stores_nothing(
        self, client: ReliableClient, queue: str
    ) -> None:
        ranked = self.prioritized(client)
        for bad in (PRIORITY_MAX + 1, PRIORITY_MIN - 1):
            with pytest.raises(InvalidTaskError):
                ranked.push(queue, "t", b"x", priority=bad)
            with pytest.raises(InvalidTaskError):
                client.push_many(queue, [PushItem("ok", b"x"), PushItem("t", b"x", None, bad)])
        assert client.stats(queue) == QueueStats()

    def test_a_released_task_keeps_its_priority(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        ranked = self.prioritized(client)
        # Given an urgent task leased ahead of an ordinary one
        ranked.push(queue, "plain", b"plain")
        ranked.push(queue, "urgent", b"urgent", priority=-1)
        held = client.reserve(queue, LONG)
        assert held is not None and held.data == b"urgent"
        # When it is released at once / Then it is taken again before the other
        assert client.release(queue, held) is True
        again = client.reserve(queue, LONG)
        assert again is not None and again.data == b"urgent"
        # When it is released with a new payload and a delay (a retry)
        assert client.release(queue, again, data=b"retry", delay_until=clock() + self.time_unit)
        self.wait_ready(client, queue, clock, 2)
        # Then once due it still goes first
        assert self.drain(client, queue) == [b"retry", b"plain"]

    def test_a_delayed_task_competes_by_priority_once_due(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        ranked = self.prioritized(client)
        # Given an urgent task delayed by a unit, and ordinary ones due now
        ranked.push(queue, "later", b"later", clock() + self.time_unit, priority=-1)
        ranked.push(queue, "now", b"now")
        assert self.drain(client, queue) == [b"now"]
        ranked.push(queue, "next", b"next", priority=0)
        # When it comes due / Then it goes ahead of the ordinary one
        self.wait_ready(client, queue, clock, 2)
        assert self.drain(client, queue) == [b"later", b"next"]

    def test_a_task_keeps_its_priority_when_its_lease_expires(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        ranked = self.prioritized(client)
        if not self.reserve_sets_lease or not isinstance(clock, FakeClock):
            pytest.skip("needs a lease the test can run out with a fake clock")
        # Given an urgent task whose holder lets its lease run out
        ranked.push(queue, "urgent", b"urgent", priority=-2)
        assert client.reserve(queue, self.time_unit) is not None
        ranked.push(queue, "plain", b"plain")
        ranked.push(queue, "lazy", b"lazy", priority=2)
        clock.advance(2 * self.time_unit)
        # Then it comes back ahead of the ordinary task
        assert self.drain(client, queue) == [b"urgent", b"plain", b"lazy"]

    def test_a_requeued_task_keeps_its_priority(self, client: ReliableClient, queue: str) -> None:
        ranked = self.prioritized(client)
        self.require(client, "failed_tasks")
        failed = cast(FailedTasksClient, client)
        # Given an urgent task buried, then an ordinary one pushed
        ranked.push(queue, "urgent", b"urgent", priority=-1)
        held = client.reserve(queue, LONG)
        assert held is not None and client.bury(queue, held, "boom") is True
        ranked.push(queue, "plain", b"plain")
        # When the buried one is requeued / Then it goes first again
        assert failed.requeue(queue, held.task_id) is not None
        assert self.drain(client, queue) == [b"urgent", b"plain"]

    def test_reserve_many_takes_by_priority(self, client: ReliableClient, queue: str) -> None:
        self.prioritized(client)
        self.require(client, "prefetch")
        prefetch = cast(PrefetchClient, client)
        # Given six tasks of three priorities, pushed interleaved
        client.push_many(
            queue,
            [PushItem(f"t{i}", bytes([i]), None, (1, 0, -1)[i % 3]) for i in range(6)],
        )
        # When they are leased two, then four at a time
        _, first = prefetch.reserve_many(queue, LONG, 2)
        _, rest = prefetch.reserve_many(queue, LONG, 4)
        # Then the batches follow priority, then push order
        assert [r.data for r in first + rest] == [bytes([i]) for i in (2, 5, 1, 4, 0, 3)]
