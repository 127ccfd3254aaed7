"""The optional :class:`~alligator.protocols.AbsentPushClient` contract, as pytest tests.

Mixed into :class:`~alligator.testing.ReliableClientContract`: every test
here skips itself (naming the capability) when the client does not offer
``push_absent``/``mark``. What they pin down is what lets any number of
schedulers run one schedule: an id is stored once, stays taken while its
task waits, runs or lies buried, and for ``ttl`` seconds after its push
even once the task is gone; of concurrent pushes of one id exactly one wins.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, cast

import pytest

from alligator.capabilities import Capabilities
from alligator.exceptions import InvalidTaskError
from alligator.protocols import AbsentPushClient, Client, ReliableClient
from alligator.records import QueueStats
from alligator.testing.clock import Clock, FakeClock
from alligator.testing.support import reserved_until_empty

__all__ = ["AbsentPushContract"]

#: Lease for a task the test means to keep holding; marks kept this long.
LONG = 600.0


class AbsentPushContract:
    """Tests of ``push_absent`` (the id taken by a task or a mark) and ``mark``."""

    time_unit: float

    if TYPE_CHECKING:

        def require(self, client: Client, capability: str) -> Capabilities: ...
        def make_client(self, clock: Clock) -> ReliableClient: ...
        def new_queue(self) -> str: ...

    def absent(self, client: ReliableClient) -> AbsentPushClient:
        """``client`` as an :class:`AbsentPushClient`; skip when it is not one."""
        self.require(client, "absent_push")
        return cast(AbsentPushClient, client)

    def later(self, clock: Clock, seconds: float) -> None:
        """Let ``seconds`` pass: advance a fake clock, else sleep."""
        if isinstance(clock, FakeClock):
            clock.advance(seconds)
        else:
            time.sleep(seconds)

    def test_push_absent_stores_a_new_id_once(self, client: ReliableClient, queue: str) -> None:
        absent = self.absent(client)
        # When an id is pushed twice, with different payloads
        assert absent.push_absent(queue, "tick-1", b"first", ttl=LONG) is True
        assert absent.push_absent(queue, "tick-1", b"second", ttl=LONG) is False
        # Then one task is stored, the first
        assert client.stats(queue) == QueueStats(ready=1)
        held = client.reserve(queue, LONG)
        assert held is not None
        assert (held.task_id, held.data, held.attempts) == ("tick-1", b"first", 1)

    def test_an_id_stays_taken_while_its_task_runs_and_after_it_ran(
        self, client: ReliableClient, queue: str
    ) -> None:
        absent = self.absent(client)
        assert absent.push_absent(queue, "t", b"x", ttl=LONG) is True
        # While it is leased to a worker
        held = client.reserve(queue, LONG)
        assert held is not None
        assert absent.push_absent(queue, "t", b"y", ttl=LONG) is False
        # And once it ran and was acked (the task is gone, its mark is not)
        assert client.ack(queue, held) is True
        assert absent.push_absent(queue, "t", b"y", ttl=LONG) is False
        assert client.stats(queue) == QueueStats()

    def test_an_id_is_free_again_once_its_mark_expired_and_its_task_is_gone(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        absent = self.absent(client)
        ttl = 2 * self.time_unit
        assert absent.push_absent(queue, "t", b"x", ttl=ttl) is True
        # The task still waits: the id stays taken, whatever the mark says
        self.later(clock, ttl + self.time_unit)
        assert absent.push_absent(queue, "t", b"y", ttl=ttl) is False
        # Once it ran and the mark expired, the id is new again
        held = client.reserve(queue, LONG)
        assert held is not None and client.ack(queue, held) is True
        assert absent.push_absent(queue, "t", b"z", ttl=ttl) is True
        got = client.reserve(queue, LONG)
        assert got is not None and got.data == b"z"

    def test_expired_marks_are_swept_and_free_their_ids(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        absent = self.absent(client)
        ttl = 2 * self.time_unit
        # Given many ids pushed, run and acked, whose marks then expire
        ids = [f"old-{n}" for n in range(20)]
        assert all(absent.push_absent(queue, i, b"x", ttl=ttl) for i in ids)
        for held in reserved_until_empty(client, queue, len(ids)):
            assert client.ack(queue, held) is True
        self.later(clock, ttl + self.time_unit)
        # When another push sweeps the expired marks on its way
        assert absent.push_absent(queue, "new", b"y", ttl=LONG) is True
        # Then every old id is free again, and a live mark still holds
        assert all(absent.push_absent(queue, i, b"z", ttl=LONG) for i in ids)
        assert absent.push_absent(queue, "new", b"y", ttl=LONG) is False
        assert client.len(queue) == 21

    def test_a_task_pushed_plainly_or_buried_takes_its_id(
        self, client: ReliableClient, queue: str
    ) -> None:
        absent = self.absent(client)
        # A task pushed by plain push has no mark, but it takes its id
        plain = client.push(queue, "plain", b"p")
        assert absent.push_absent(queue, plain, b"other", ttl=LONG) is False
        # So does a buried one
        held = client.reserve(queue, LONG)
        assert held is not None and client.bury(queue, held, "broken") is True
        assert absent.push_absent(queue, plain, b"other", ttl=LONG) is False
        assert [b.data for b in client.buried(queue)] == [b"p"]
        assert client.stats(queue) == QueueStats(buried=1)

    def test_push_absent_honours_a_due_time(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        absent = self.absent(client)
        assert absent.push_absent(queue, "d", b"x", clock() + LONG, ttl=LONG) is True
        assert client.stats(queue) == QueueStats(delayed=1)
        assert client.reserve(queue, LONG) is None
        assert absent.push_absent(queue, "d", b"y", ttl=LONG) is False

    def test_push_absent_orders_by_priority_as_push_does(
        self, client: ReliableClient, queue: str
    ) -> None:
        absent = self.absent(client)
        self.require(client, "priority")
        # Given a plain task, then ticks pushed behind it with priorities
        client.push(queue, "plain", b"plain")
        assert absent.push_absent(queue, "late", b"late", ttl=LONG, priority=5) is True
        assert absent.push_absent(queue, "urgent", b"urgent", ttl=LONG, priority=-5) is True
        # Then they are reserved by priority, lower first
        order = []
        for _ in range(3):
            held = client.reserve(queue, LONG)
            assert held is not None
            order.append(held.task_id)
        assert order == ["urgent", "plain", "late"]

    def test_queues_keep_their_own_ids_and_marks(self, client: ReliableClient, queue: str) -> None:
        absent = self.absent(client)
        other = self.new_queue()
        assert absent.push_absent(queue, "t", b"x", ttl=LONG) is True
        assert absent.push_absent(other, "t", b"x", ttl=LONG) is True
        assert absent.mark(queue, "k", LONG) != 0.0
        assert client.len(queue) == client.len(other) == 1

    def test_of_concurrent_pushes_of_one_id_exactly_one_stores_it(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        self.absent(client)
        # Given several clients of the same store, each in its own thread
        clients = [cast(AbsentPushClient, self.make_client(clock)) for _ in range(4)]
        won: list[bool] = []
        gate = threading.Barrier(len(clients))

        def push(c: AbsentPushClient, n: int) -> None:
            gate.wait()
            for tick in range(10):
                won.append(c.push_absent(queue, f"tick-{tick}", b"%d" % n, ttl=LONG))

        threads = [threading.Thread(target=push, args=(c, n)) for n, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for c in clients:
            c.close()
        # Then each id was stored by exactly one of them
        assert sum(won) == 10 and len(won) == 40
        got = list(reserved_until_empty(client, queue, 10))
        assert sorted(r.task_id for r in got) == sorted(f"tick-{n}" for n in range(10))

    def test_mark_keeps_the_first_time_until_it_expires(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        absent = self.absent(client)
        ttl = 2 * self.time_unit
        first = absent.mark(queue, "since", ttl)
        assert abs(first - clock()) < 5.0
        # A later mark within the ttl keeps the first time, and extends the mark
        self.later(clock, 1.5 * self.time_unit)
        assert absent.mark(queue, "since", ttl) == first
        self.later(clock, 1.5 * self.time_unit)
        assert absent.mark(queue, "since", ttl) == first
        # Once it expired, the key is marked anew
        self.later(clock, ttl + self.time_unit)
        again = absent.mark(queue, "since", ttl)
        assert again > first

    def test_a_mark_takes_an_id_for_push_absent(self, client: ReliableClient, queue: str) -> None:
        absent = self.absent(client)
        # Marks and the ids of push_absent share one namespace per queue
        absent.mark(queue, "taken", LONG)
        assert absent.push_absent(queue, "taken", b"x", ttl=LONG) is False
        assert client.len(queue) == 0
        # And a mark of a pushed id says when it was pushed
        assert absent.push_absent(queue, "pushed", b"x", ttl=LONG) is True
        assert absent.mark(queue, "pushed", LONG) <= absent.mark(queue, "later", LONG)

    def test_drop_all_forgets_the_marks(self, client: ReliableClient, queue: str) -> None:
        absent = self.absent(client)
        assert absent.push_absent(queue, "t", b"x", ttl=LONG) is True
        first = absent.mark(queue, "k", LONG)
        client.drop_all(queue)
        assert absent.push_absent(queue, "t", b"x", ttl=LONG) is True
        assert absent.mark(queue, "k", LONG) >= first

    @pytest.mark.parametrize("ttl", [0, -1.0, float("inf"), float("nan")])
    def test_a_ttl_that_is_not_a_positive_number_is_refused(
        self, client: ReliableClient, queue: str, ttl: float
    ) -> None:
        absent = self.absent(client)
        with pytest.raises(InvalidTaskError, match="ttl"):
            absent.push_absent(queue, "t", b"x", ttl=ttl)
        with pytest.raises(InvalidTaskError, match="ttl"):
            absent.mark(queue, "k", ttl)
        assert client.len(queue) == 0
