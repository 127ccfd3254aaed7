"""The optional unique-key and limit contracts, as pytest tests.

Mixed into :class:`~alligator.testing.ReliableClientContract`: every test
here skips itself (naming the capability) when the client does not offer
:class:`~alligator.protocols.UniqueClient` or
:class:`~alligator.protocols.LimitClient`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, cast

from alligator.capabilities import Capabilities
from alligator.protocols import Client, LimitClient, ReliableClient, UniqueClient
from alligator.records import LimitSlot, Reservation
from alligator.testing.clock import Clock, FakeClock

__all__ = ["FlowContract"]

#: Lease for a task the test means to keep holding.
LONG = 600.0


class FlowContract:
    """Tests of ``push_unique``, ``acquire`` and ``limit_usage``."""

    time_unit: float

    if TYPE_CHECKING:

        def require(self, client: Client, capability: str) -> Capabilities: ...

    def unique(self, client: ReliableClient) -> UniqueClient:
        """``client`` as a :class:`UniqueClient`; skip when it is not one."""
        self.require(client, "unique")
        return cast(UniqueClient, client)

    def limits(self, client: ReliableClient) -> LimitClient:
        """``client`` as a :class:`LimitClient`; skip when it is not one."""
        self.require(client, "limits")
        return cast(LimitClient, client)

    def lease(self, client: ReliableClient, queue: str, lease: float = LONG) -> Reservation:
        held = client.reserve(queue, lease)
        assert held is not None, "nothing was reservable"
        return held

    # -- unique keys --------------------------------------------------------

    def test_a_held_unique_key_stores_no_second_task(
        self, client: ReliableClient, queue: str
    ) -> None:
        unique = self.unique(client)
        # Given a task pushed with a key
        assert unique.push_unique(queue, "a", b"1", unique_key="k") == ("a", True)
        # When another task is pushed with the same key
        # Then nothing is stored and the holder is named
        assert unique.push_unique(queue, "b", b"2", unique_key="k") == ("a", False)
        assert client.len(queue) == 1
        # And another key is free
        assert unique.push_unique(queue, "c", b"3", unique_key="other") == ("c", True)
        assert client.len(queue) == 2

    def test_the_key_is_released_by_ack_and_burial(
        self, client: ReliableClient, queue: str
    ) -> None:
        unique = self.unique(client)
        unique.push_unique(queue, "a", b"1", unique_key="k")
        held = self.lease(client, queue)
        assert client.ack(queue, held) is True
        # Acked: the key is free again
        assert unique.push_unique(queue, "b", b"2", unique_key="k") == ("b", True)
        held = self.lease(client, queue)
        assert client.bury(queue, held, "failed for good") is True
        # Buried: free again
        assert unique.push_unique(queue, "c", b"3", unique_key="k") == ("c", True)

    def test_a_running_task_holds_its_key_only_when_asked(
        self, client: ReliableClient, queue: str
    ) -> None:
        unique = self.unique(client)
        unique.push_unique(queue, "a", b"1", unique_key="waiting")
        unique.push_unique(queue, "b", b"2", unique_key="running", while_running=True)
        self.lease(client, queue)
        self.lease(client, queue)
        # While both run, only the one pushed with while_running holds its key
        assert unique.push_unique(queue, "c", b"3", unique_key="waiting") == ("c", True)
        assert unique.push_unique(queue, "d", b"4", unique_key="running") == ("b", False)

    def test_a_released_task_holds_its_key_again(self, client: ReliableClient, queue: str) -> None:
        unique = self.unique(client)
        unique.push_unique(queue, "a", b"1", unique_key="k")
        held = self.lease(client, queue)
        assert client.release(queue, held) is True
        assert unique.push_unique(queue, "b", b"2", unique_key="k") == ("a", False)

    def test_an_expired_lease_holds_the_key_as_waiting(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        unique = self.unique(client)
        if not isinstance(clock, FakeClock):
            import pytest

            pytest.skip("needs a fake clock to let the lease run out")
        unique.push_unique(queue, "a", b"1", unique_key="k")
        self.lease(client, queue, lease=self.time_unit)
        clock.advance(2 * self.time_unit)
        # The worker died: the task will run again, so it still holds its key
        assert unique.push_unique(queue, "b", b"2", unique_key="k") == ("a", False)

    def test_a_race_for_one_key_stores_one_task(self, client: ReliableClient, queue: str) -> None:
        unique = self.unique(client)
        results: list[tuple[str, bool]] = []
        start = threading.Barrier(8)

        def push(n: int) -> None:
            start.wait()
            results.append(unique.push_unique(queue, f"t{n}", b"x", unique_key="k"))

        threads = [threading.Thread(target=push, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(results) == 8
        winners = [task_id for task_id, created in results if created]
        assert len(winners) == 1, results
        assert {task_id for task_id, _ in results} == set(winners)
        assert client.len(queue) == 1

    # -- limits ---------------------------------------------------------------

    def test_a_concurrency_limit_admits_that_many(self, client: ReliableClient, queue: str) -> None:
        limits = self.limits(client)
        slot = [LimitSlot("f:running", concurrency=2)]
        for task_id in "abc":
            client.push(queue, task_id, b"x")
        first, second, third = (self.lease(client, queue) for _ in range(3))
        assert limits.acquire(queue, first, slot) == 0.0
        assert limits.acquire(queue, second, slot) == 0.0
        # Two hold the key: the third is told to wait, and takes nothing
        assert limits.acquire(queue, third, slot) > 0.0
        [usage] = limits.limit_usage(queue)
        assert (usage.key, usage.concurrency, usage.running) == ("f:running", 2, 2)
        # Once one is acked its slot is free
        assert client.ack(queue, first) is True
        assert limits.acquire(queue, third, slot) == 0.0

    def test_a_released_task_frees_its_slot(self, client: ReliableClient, queue: str) -> None:
        limits = self.limits(client)
        slot = [LimitSlot("f:running", concurrency=1)]
        client.push(queue, "a", b"x")
        client.push(queue, "b", b"x")
        first, second = self.lease(client, queue), self.lease(client, queue)
        assert limits.acquire(queue, first, slot) == 0.0
        assert limits.acquire(queue, second, slot) > 0.0
        assert client.release(queue, first) is True
        assert limits.acquire(queue, second, slot) == 0.0

    def test_an_expired_lease_frees_its_slot(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        limits = self.limits(client)
        if not isinstance(clock, FakeClock):
            import pytest

            pytest.skip("needs a fake clock to let the lease run out")
        slot = [LimitSlot("f:running", concurrency=1)]
        client.push(queue, "a", b"x")
        client.push(queue, "b", b"x")
        dying = self.lease(client, queue, lease=self.time_unit)
        living = self.lease(client, queue, lease=LONG)
        assert limits.acquire(queue, dying, slot) == 0.0
        assert limits.acquire(queue, living, slot) > 0.0
        # The first worker was killed: its lease runs out, and so does its slot
        clock.advance(2 * self.time_unit)
        assert limits.acquire(queue, living, slot) == 0.0

    def test_a_rate_limit_counts_starts_in_its_window(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        limits = self.limits(client)
        slot = [LimitSlot("f:rate", rate=2, period=LONG)]
        for task_id in "abc":
            client.push(queue, task_id, b"x")
        held = [self.lease(client, queue) for _ in range(3)]
        assert limits.acquire(queue, held[0], slot) == 0.0
        assert limits.acquire(queue, held[1], slot) == 0.0
        wait = limits.acquire(queue, held[2], slot)
        # The third start waits until the first leaves the window
        assert 0.0 < wait <= LONG
        [usage] = limits.limit_usage(queue)
        assert (usage.rate, usage.period, usage.recent) == (2, LONG, 2)

    def test_limits_are_taken_all_or_none(self, client: ReliableClient, queue: str) -> None:
        limits = self.limits(client)
        full = LimitSlot("g:running", concurrency=1)
        rate = LimitSlot("g:rate", rate=5, period=LONG)
        client.push(queue, "a", b"x")
        client.push(queue, "b", b"x")
        first, second = self.lease(client, queue), self.lease(client, queue)
        assert limits.acquire(queue, first, [full]) == 0.0
        # Over the concurrency limit: the rate limit counts no start either
        assert limits.acquire(queue, second, [rate, full]) > 0.0
        assert [u.recent for u in limits.limit_usage(queue) if u.key == "g:rate"] == [0]

    def test_a_lost_lease_is_not_admitted(self, client: ReliableClient, queue: str) -> None:
        limits = self.limits(client)
        client.push(queue, "a", b"x")
        held = self.lease(client, queue)
        assert client.release(queue, held) is True
        assert limits.acquire(queue, held, [LimitSlot("h:running", concurrency=5)]) > 0.0
