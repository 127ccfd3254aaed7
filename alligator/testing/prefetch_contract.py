"""The optional :class:`~alligator.protocols.PrefetchClient` contract, as pytest tests.

Mixed into :class:`~alligator.testing.ReliableClientContract`: every test here
skips itself when the client does not offer ``reserve_many``/``renew_many``
(as a Worker decides, through
:func:`alligator.capabilities.capabilities_of`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from alligator.capabilities import Capabilities, prefetch_view
from alligator.protocols import Client, PrefetchClient, ReliableClient
from alligator.records import QueueStats, Reservation
from alligator.testing.clock import Clock, FakeClock

__all__ = ["PrefetchContract"]

#: Lease for a task the test means to keep holding.
LONG = 600.0


class PrefetchContract:
    """Tests of ``reserve_many`` (fused acks) and ``renew_many``."""

    time_unit: float
    reserve_sets_lease: bool
    strict_fifo: bool

    if TYPE_CHECKING:

        def require(self, client: Client, capability: str) -> Capabilities: ...

    def prefetch(self, client: ReliableClient) -> PrefetchClient:
        """``client`` as a :class:`PrefetchClient`; skip when it is not one."""
        found = prefetch_view(client, self.require(client, "prefetch"))
        assert found is not None
        return found

    def test_reserve_many_leases_due_tasks_oldest_first(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        prefetch = self.prefetch(client)
        # Given three ready tasks and a delayed one
        ids = [client.push(queue, f"t{i}", bytes([i])) for i in range(3)]
        client.push(queue, "later", b"d", delay_until=clock() + LONG)
        # When up to five are leased in one call
        acked, got = prefetch.reserve_many(queue, LONG, 5)
        # Then the three due ones come, in order, each under its own lease
        assert acked == []
        if self.strict_fifo:
            assert [r.task_id for r in got] == ids
        assert sorted(r.task_id for r in got) == sorted(ids)
        assert all(r.attempts == 1 for r in got)
        assert len({r.token for r in got}) == 3
        assert client.stats(queue) == QueueStats(delayed=1, reserved=3)
        # And each lease is settled on its own
        assert client.ack(queue, got[0]) is True
        assert client.release(queue, got[1]) is True
        assert client.bury(queue, got[2], "broken") is True
        assert client.stats(queue) == QueueStats(ready=1, delayed=1, buried=1)

    def test_reserve_many_takes_no_more_than_count(
        self, client: ReliableClient, queue: str
    ) -> None:
        prefetch = self.prefetch(client)
        for i in range(4):
            client.push(queue, f"t{i}", b"x")
        _, first = prefetch.reserve_many(queue, LONG, 3)
        _, second = prefetch.reserve_many(queue, LONG, 3)
        _, third = prefetch.reserve_many(queue, LONG, 3)
        assert (len(first), len(second), third) == (3, 1, [])
        assert client.stats(queue) == QueueStats(reserved=4)

    def test_done_is_acked_in_the_same_call(self, client: ReliableClient, queue: str) -> None:
        prefetch = self.prefetch(client)
        # Given two held tasks and one more waiting
        client.push(queue, "a", b"1")
        client.push(queue, "b", b"2")
        _, held = prefetch.reserve_many(queue, LONG, 2)
        client.push(queue, "c", b"3")
        # When the held ones are passed as done while leasing the next
        acked, got = prefetch.reserve_many(queue, LONG, 2, done=held)
        # Then both were acked, and the next task is leased
        assert acked == [True, True]
        assert [r.data for r in got] == [b"3"]
        assert client.stats(queue) == QueueStats(reserved=1)
        # And acking them again is refused
        assert prefetch.reserve_many(queue, LONG, 1, done=held) == ([False, False], [])

    def test_acks_happen_when_nothing_is_due_and_before_waiting(
        self, client: ReliableClient, queue: str
    ) -> None:
        prefetch = self.prefetch(client)
        # Given one held task and nothing else
        client.push(queue, "a", b"1")
        _, held = prefetch.reserve_many(queue, LONG, 1)
        # When it is acked with a call that waits for more and gets none
        acked, got = prefetch.reserve_many(queue, LONG, 4, timeout=0.1, done=held)
        # Then the ack landed anyway
        assert (acked, got) == ([True], [])
        assert client.stats(queue) == QueueStats()

    def test_a_stale_or_forged_done_is_refused_and_changes_nothing(
        self, client: ReliableClient, queue: str
    ) -> None:
        prefetch = self.prefetch(client)
        # Given a task released (so its old reservation is stale) and leased again
        task_id = client.push(queue, "t", b"x")
        _, [stale] = prefetch.reserve_many(queue, LONG, 1)
        assert client.release(queue, stale) is True
        _, [fresh] = prefetch.reserve_many(queue, LONG, 1)
        assert fresh.task_id == task_id
        forged = Reservation(task_id, b"x", "not-a-token", 1)
        # When the stale and forged ones are passed as done
        acked, got = prefetch.reserve_many(queue, LONG, 1, done=[stale, forged])
        # Then both are refused and the current holder keeps the task
        assert (acked, got) == ([False, False], [])
        assert client.stats(queue) == QueueStats(reserved=1)
        assert prefetch.reserve_many(queue, LONG, 1, done=[fresh]) == ([True], [])

    def test_reserve_many_waits_for_a_task_pushed_by_another_thread(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        prefetch = self.prefetch(client)
        pusher = self.make_client(clock)  # type: ignore[attr-defined]
        pushed: list[str] = []
        thread = threading.Timer(0.05, lambda: pushed.append(pusher.push(queue, "late", b"x")))
        thread.start()
        try:
            _, got = prefetch.reserve_many(queue, LONG, 8, timeout=10.0)
        finally:
            thread.join()
            pusher.close()
        assert [r.task_id for r in got] == pushed

    def test_renew_many_extends_held_leases_and_refuses_stale_ones(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        prefetch = self.prefetch(client)
        unit = self.time_unit
        # Given two tasks leased for two units, one of them then acked
        client.push(queue, "a", b"1")
        client.push(queue, "b", b"2")
        _, held = prefetch.reserve_many(queue, 2 * unit, 2)
        assert len(held) == 2
        assert client.ack(queue, held[1]) is True
        if isinstance(clock, FakeClock):
            clock.advance(1.5 * unit)
        # When both are renewed / Then only the one still held is
        assert prefetch.renew_many(queue, held, 2 * unit) == [True, False]
        assert prefetch.renew_many(queue, [], 2 * unit) == []
        if isinstance(clock, FakeClock):
            clock.advance(1.5 * unit)  # past the first deadline, before the new one
        assert client.reserve(queue, LONG) is None
        assert client.stats(queue) == QueueStats(reserved=1)
        assert client.ack(queue, held[0]) is True

    def test_an_expired_prefetched_lease_goes_to_another_worker(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        prefetch = self.prefetch(client)
        if not self.reserve_sets_lease or not isinstance(clock, FakeClock):
            pytest.skip("needs a lease the test can run out with a fake clock")
        # Given two tasks leased ahead for one unit and never started
        client.push(queue, "a", b"1")
        client.push(queue, "b", b"2")
        _, ahead = prefetch.reserve_many(queue, self.time_unit, 2)
        # When the lease runs out / Then both are leased again, one more attempt each
        clock.advance(2 * self.time_unit)
        acked, again = prefetch.reserve_many(queue, LONG, 2, done=ahead)
        assert acked == [False, False]
        assert sorted((r.data, r.attempts) for r in again) == [(b"1", 2), (b"2", 2)]
