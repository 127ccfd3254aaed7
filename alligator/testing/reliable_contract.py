"""The at-least-once contract (:class:`ReliableClient`) as a pytest base class."""

from __future__ import annotations

import abc
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator.exceptions import TaskInProgressError
from alligator.protocols import ReliableClient
from alligator.records import PushItem, QueueStats, Reservation
from alligator.testing.absent_contract import AbsentPushContract
from alligator.testing.asyncio_contract import AsyncioContract
from alligator.testing.buried_pages_contract import BuriedPagesContract
from alligator.testing.clock import Clock, FakeClock
from alligator.testing.contract import ClientContract
from alligator.testing.failed_contract import FailedTasksContract
from alligator.testing.flow_contract import FlowContract
from alligator.testing.prefetch_contract import PrefetchContract
from alligator.testing.priority_contract import PriorityContract
from alligator.testing.results_contract import ResultsContract

__all__ = ["ReliableClientContract"]

#: Lease for a task the test means to keep holding.
LONG = 600.0


class ReliableClientContract(
    FailedTasksContract,
    BuriedPagesContract,
    AsyncioContract,
    AbsentPushContract,
    FlowContract,
    ResultsContract,
    PriorityContract,
    PrefetchContract,
    ClientContract,
):
    """The 1.0 tests plus delays, leases, ack/release/bury/renew and stats.

    Also runs the :class:`FailedTasksContract`, :class:`BuriedPagesContract`,
    :class:`PrefetchContract`, :class:`PriorityContract`, :class:`ResultsContract`,
    :class:`FlowContract` and :class:`AbsentPushContract` tests, which skip
    themselves for a client without that protocol.
    """

    @abc.abstractmethod
    def make_client(self, clock: Clock) -> ReliableClient:
        """A reliable client for the backend under test (see :class:`ClientContract`)."""

    @pytest.fixture
    def client(self, clock: Clock, tmp_path: Path) -> Iterator[ReliableClient]:
        self.tmp_path = tmp_path
        self._queues: list[str] = []
        client = self.make_client(clock)
        yield client
        for queue in self._queues:
            client.drop_all(queue)
        client.close()

    @property
    def unit(self) -> float:
        return self.time_unit

    def needs_expiry(self) -> None:
        """Skip a test that needs a lease shorter than the one fixed at push."""
        if not self.reserve_sets_lease:
            pytest.skip("reserve_sets_lease is off: the lease cannot be made to run out")

    def reserve_after(
        self,
        client: ReliableClient,
        queue: str,
        clock: Clock,
        seconds: float,
        lease: float = LONG,
    ) -> Reservation | None:
        """Reserve once ``seconds`` have passed: advance a fake clock, else wait for it."""
        if isinstance(clock, FakeClock):
            clock.advance(seconds)
            return client.reserve(queue, lease)
        return client.reserve(queue, lease, timeout=seconds + 5.0 * self.unit)

    def test_a_delayed_task_waits_until_due(  # type: ignore[override]  # the fixture is reliable
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        # Replaces the plain contract's version (push/pop only) with reserve and stats.
        # Given a task delayed by two units
        later = client.push(queue, "later", b"x", delay_until=clock() + 2 * self.unit)
        # Then it is counted as delayed but cannot be taken yet
        assert client.len(queue) == 1
        assert client.stats(queue) == QueueStats(delayed=1)
        assert client.reserve(queue, LONG) is None
        assert client.pop(queue) is None
        # When its time comes / Then it is reserved
        got = self.reserve_after(client, queue, clock, 2 * self.unit)
        assert got is not None
        assert (got.task_id, got.data, got.attempts) == (later, b"x", 1)

    def test_due_time_orders_reservations(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        # Given tasks due in two units, in one unit and now, pushed in that order
        now = clock()
        second = client.push(queue, "second-due", b"2", delay_until=now + 2 * self.unit)
        first = client.push(queue, "first-due", b"1", delay_until=now + self.unit)
        at_once = client.push(queue, "now", b"0")
        # When each is reserved as soon as it is due / Then the earliest due goes first
        order = [self.reserve_after(client, queue, clock, 2 * self.unit) for _ in range(3)]
        assert [r.task_id if r else None for r in order] == [at_once, first, second]
        assert [r.data if r else None for r in order] == [b"0", b"1", b"2"]

    def test_a_reserved_task_is_hidden(self, client: ReliableClient, queue: str) -> None:
        # Given a reserved task
        client.push(queue, "t", b"x")
        assert client.reserve(queue, LONG) is not None
        # Then nobody else can take it and it is counted as reserved only
        assert client.reserve(queue, LONG) is None
        assert client.pop(queue) is None
        assert client.len(queue) == 0
        assert client.stats(queue) == QueueStats(reserved=1)

    def test_an_expired_lease_makes_the_task_reservable_again(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        self.needs_expiry()
        # Given a task reserved for one unit
        task_id = client.push(queue, "t", b"x")
        first = client.reserve(queue, self.unit)
        assert first is not None
        # When the lease runs out / Then it is reserved again with one more attempt
        second = self.reserve_after(client, queue, clock, 2 * self.unit)
        assert second is not None
        assert (second.task_id, second.data, second.attempts) == (task_id, b"x", 2)
        assert second.token != first.token
        # And the first holder's token no longer works
        assert client.ack(queue, first) is False
        assert client.ack(queue, second) is True

    def test_ack_deletes_the_task(self, client: ReliableClient, queue: str) -> None:
        # Given a reserved task
        client.push(queue, "t", b"x")
        held = client.reserve(queue, LONG)
        assert held is not None
        # When it is acked / Then it is gone for good, and a second ack is refused
        assert client.ack(queue, held) is True
        assert client.stats(queue) == QueueStats()
        assert client.ack(queue, held) is False

    def test_a_stale_token_changes_nothing(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        # Given a task reserved, lost (by lease expiry, or released), and reserved again
        task_id = client.push(queue, "t", b"x")
        stale = client.reserve(queue, self.unit if self.reserve_sets_lease else LONG)
        assert stale is not None
        if self.reserve_sets_lease:
            fresh = self.reserve_after(client, queue, clock, 2 * self.unit)
        else:
            assert client.release(queue, stale) is True
            fresh = client.reserve(queue, LONG)
        assert fresh is not None
        assert fresh.task_id == task_id
        forged = Reservation(task_id, b"x", "not-a-token", 1)
        # When the old or a forged token is used / Then every call is refused
        for res in (stale, forged):
            assert client.ack(queue, res) is False
            assert client.release(queue, res, data=b"evil") is False
            assert client.bury(queue, res, "evil") is False
            assert client.renew(queue, res, LONG) is False
        # And the current holder is unaffected
        assert client.stats(queue) == QueueStats(reserved=1)
        assert client.buried(queue) == []
        assert client.release(queue, fresh) is True
        again = client.reserve(queue, LONG)
        assert again is not None
        assert (again.data, again.attempts) == (b"x", 3)

    def test_release_with_new_data_and_a_delay(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        # Given a reserved task
        task_id = client.push(queue, "t", b"old")
        held = client.reserve(queue, LONG)
        assert held is not None
        # When it is released with new data and a delay
        assert client.release(queue, held, data=b"new", delay_until=clock() + self.unit)
        # Then it waits as delayed, then comes back once, with the new data
        assert client.stats(queue) == QueueStats(delayed=1)
        assert client.reserve(queue, LONG) is None
        got = self.reserve_after(client, queue, clock, self.unit)
        assert got is not None
        assert got.data == b"new"
        if self.release_with_data_keeps_id_and_attempts:
            assert (got.task_id, got.attempts) == (task_id, 2)
        assert client.stats(queue) == QueueStats(reserved=1)
        assert client.ack(queue, held) is False
        assert client.ack(queue, got) is True
        assert client.stats(queue) == QueueStats()

    def test_release_without_delay_is_ready_at_once(
        self, client: ReliableClient, queue: str
    ) -> None:
        task_id = client.push(queue, "t", b"x")
        held = client.reserve(queue, LONG)
        assert held is not None
        assert client.release(queue, held) is True
        assert client.len(queue) == 1
        got = client.reserve(queue, LONG)
        assert got is not None
        assert (got.task_id, got.data, got.attempts) == (task_id, b"x", 2)

    def test_bury_keeps_the_task_aside_with_its_reason(
        self, client: ReliableClient, queue: str
    ) -> None:
        # Given a reserved task
        task_id = client.push(queue, "t", b"payload")
        held = client.reserve(queue, LONG)
        assert held is not None
        # When it is buried
        assert client.bury(queue, held, "ValueError: boom") is True
        # Then it is out of len and out of reach, and listed with its reason
        assert client.len(queue) == 0
        assert client.reserve(queue, LONG) is None
        assert client.stats(queue) == QueueStats(buried=1)
        [buried] = client.buried(queue)
        assert (buried.task_id, buried.data, buried.reason) == (
            task_id,
            b"payload",
            "ValueError: boom",
        )

    def test_renew_extends_the_lease(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        # Given a task reserved for two units, one and a half of them gone
        client.push(queue, "t", b"x")
        held = client.reserve(queue, 2 * self.unit)
        assert held is not None
        if isinstance(clock, FakeClock):
            clock.advance(1.5 * self.unit)
        # When the lease is renewed for two more units
        assert client.renew(queue, held, 2 * self.unit) is True
        if isinstance(clock, FakeClock):
            clock.advance(1.5 * self.unit)  # past the first deadline, before the new one
        # Then the task is still held by us
        assert client.reserve(queue, LONG) is None
        assert client.stats(queue) == QueueStats(reserved=1)
        assert client.ack(queue, held) is True

    def test_stats_count_every_state(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        # Given one task in each state
        client.push(queue, "reserved", b"")
        client.push(queue, "buried", b"")
        client.push(queue, "ready", b"")
        client.push(queue, "delayed", b"", delay_until=clock() + LONG)
        assert client.reserve(queue, LONG) is not None
        to_bury = client.reserve(queue, LONG)
        assert to_bury is not None
        assert client.bury(queue, to_bury, "failed")
        # Then stats count each, and len counts ready + delayed
        assert client.stats(queue) == QueueStats(ready=1, delayed=1, reserved=1, buried=1)
        assert client.len(queue) == 2

    def test_push_many_stores_a_batch_in_order(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        items = [
            PushItem("a", b"1"),
            PushItem("b", b"2"),
            PushItem("c", b"3", delay_until=clock() + LONG),
        ]
        ids = client.push_many(queue, items)
        self.check_ids(["a", "b", "c"], ids)
        assert client.push_many(queue, []) == []
        assert client.stats(queue) == QueueStats(ready=2, delayed=1)
        got = [client.pop(queue), client.pop(queue), client.pop(queue)]
        assert self.in_order(got) == self.in_order([b"1", b"2", None])
        # And the delayed one is known by the id returned for it
        assert client.get(queue, ids[2]) == b"3"

    def test_push_replaces_a_task_with_the_same_id(
        self, client: ReliableClient, queue: str
    ) -> None:
        if not (self.caller_ids and self.replaces_on_push):
            pytest.skip("replaces_on_push is off: the backend does not replace a task by id")
        client.push(queue, "t", b"old")
        client.push(queue, "t", b"new")
        assert client.len(queue) == 1
        assert client.pop(queue) == b"new"
        assert client.pop(queue) is None

    def test_push_refuses_the_id_of_a_running_task(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        if not (self.caller_ids and self.replaces_on_push):
            pytest.skip("replaces_on_push is off: the backend does not replace a task by id")
        # Given a task a worker holds, and one waiting
        client.push_many(queue, [PushItem("running", b"v1"), PushItem("waiting", b"w1")])
        held = client.reserve(queue, LONG)
        assert held is not None and held.task_id == "running"
        # When either id is pushed again, alone or in a batch
        with pytest.raises(TaskInProgressError) as caught:
            client.push(queue, "running", b"v2")
        assert caught.value.task_id == "running"
        with pytest.raises(TaskInProgressError):
            client.push_many(queue, [PushItem("fresh", b"f"), PushItem("running", b"v2")])
        client.push(queue, "waiting", b"w2")
        # Then the running task is untouched, the refused batch stored nothing,
        # and the waiting task was replaced
        assert client.stats(queue) == QueueStats(ready=1, reserved=1)
        assert client.ack(queue, held) is True
        assert client.get(queue, "waiting") == b"w2"

    def test_push_replaces_a_task_whose_lease_expired(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        if not (self.caller_ids and self.replaces_on_push):
            pytest.skip("replaces_on_push is off: the backend does not replace a task by id")
        self.needs_expiry()
        if not isinstance(clock, FakeClock):
            pytest.skip("needs a fake clock to let the lease run out")
        client.push(queue, "slow", b"v1")
        stale = client.reserve(queue, self.unit)
        assert stale is not None
        clock.advance(2 * self.unit)
        client.push(queue, "slow", b"v2")
        assert client.ack(queue, stale) is False
        assert client.get(queue, "slow") == b"v2"

    def test_drop_all_clears_every_state(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        # Given tasks ready, delayed, reserved and buried
        for name in ("held", "buried", "ready"):
            client.push(queue, name, b"")
        client.push(queue, "delayed", b"", delay_until=clock() + LONG)
        held = client.reserve(queue, LONG)
        to_bury = client.reserve(queue, LONG)
        assert held is not None and to_bury is not None
        assert client.bury(queue, to_bury, "failed")
        # When the queue is dropped / Then nothing is left, and old leases are void
        client.drop_all(queue)
        assert client.stats(queue) == QueueStats()
        assert client.buried(queue) == []
        assert client.ack(queue, held) is False

    def test_reserve_waits_for_a_task_pushed_by_another_thread(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        # Given a second client pushing from another thread shortly
        pusher = self.make_client(clock)
        pushed: list[str] = []
        thread = threading.Timer(0.05, lambda: pushed.append(pusher.push(queue, "late", b"x")))
        thread.start()
        try:
            # When we reserve with a timeout / Then the task arrives within it
            got = client.reserve(queue, LONG, timeout=10.0)
        finally:
            thread.join()
            pusher.close()
        assert got is not None
        assert [got.task_id] == pushed

    def test_reserve_with_a_timeout_returns_none_when_nothing_comes(
        self, client: ReliableClient, queue: str
    ) -> None:
        assert client.reserve(queue, LONG, timeout=0.1) is None
