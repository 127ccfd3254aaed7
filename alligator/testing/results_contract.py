"""The optional :class:`~alligator.protocols.ResultClient` contract, as pytest tests.

Mixed into :class:`~alligator.testing.ReliableClientContract`: every test
here skips itself (naming the capability) when the client does not keep
outcomes. Outcomes are opaque bytes to a backend; the tests store and read
them back as such. Dependencies are exercised through ``push_after``,
``complete``, ``fail`` and ``cancel``, the states through ``task_state``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import pytest

from alligator.capabilities import Capabilities
from alligator.exceptions import TaskNotFoundError
from alligator.protocols import Client, ReliableClient, ResultClient, ResultPrefetchClient
from alligator.records import PushItem, Reservation, TaskState
from alligator.testing.clock import Clock, FakeClock

__all__ = ["ResultsContract"]

#: Lease for a task the test means to keep holding; outcomes kept this long.
LONG = 600.0


class ResultsContract:
    """Tests of ``complete``/``fail``/``cancel``/``push_after``/``task_state`` and the store."""

    time_unit: float
    real_time: bool
    #: Outcomes expire by the server's own clock (Redis ``EX``), not the injected one.
    results_expire_in_real_time: bool = False

    if TYPE_CHECKING:

        def require(self, client: Client, capability: str) -> Capabilities: ...
        def make_client(self, clock: Clock) -> ReliableClient: ...

    def results(self, client: ReliableClient) -> ResultClient:
        """``client`` as a :class:`ResultClient`; skip when it keeps no outcomes."""
        self.require(client, "results")
        return cast(ResultClient, client)

    def lease_one(self, client: ReliableClient, queue: str, task_id: str) -> Reservation:
        held = client.reserve(queue, LONG)
        assert held is not None, f"{task_id} is not reservable"
        assert held.task_id == task_id, f"reserved {held.task_id}, expected {task_id}"
        return held

    # -- the store ---------------------------------------------------------

    def test_complete_acks_and_stores_the_outcome(self, client: ReliableClient, queue: str) -> None:
        results = self.results(client)
        # Given a leased task
        client.push(queue, "t1", b"payload")
        held = self.lease_one(client, queue, "t1")
        # When it completes with an outcome
        assert results.complete(queue, held, result=b"outcome", ttl=LONG) is True
        # Then it is gone from the queue and its outcome is kept
        assert client.len(queue) == 0 and client.stats(queue).reserved == 0
        assert results.fetch_result(queue, "t1") == b"outcome"
        assert results.task_state(queue, "t1") is None
        # And a stale reservation completes nothing
        assert results.complete(queue, held, result=b"other", ttl=LONG) is False
        assert results.fetch_result(queue, "t1") == b"outcome"

    def test_a_lost_lease_stores_no_outcome(self, client: ReliableClient, queue: str) -> None:
        results = self.results(client)
        client.push(queue, "t1", b"x")
        held = self.lease_one(client, queue, "t1")
        assert client.release(queue, held) is True
        assert results.complete(queue, held, result=b"outcome", ttl=LONG) is False
        assert results.fetch_result(queue, "t1") is None
        assert client.len(queue) == 1

    def test_store_result_and_fetch_are_per_queue_and_id(
        self, client: ReliableClient, queue: str, other_queue: str
    ) -> None:
        results = self.results(client)
        results.store_result(queue, "a", b"1", LONG)
        results.store_result(queue, "a", b"2", LONG)  # replaces
        results.store_result(other_queue, "a", b"3", LONG)
        assert results.fetch_result(queue, "a") == b"2"
        assert results.fetch_result(other_queue, "a") == b"3"
        assert results.fetch_result(queue, "b") is None
        assert results.fetch_result(queue, "b", timeout=0.05) is None

    def test_fetch_waits_for_an_outcome_written_meanwhile(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        results = self.results(client)
        writer = cast(ResultClient, self.make_client(clock))
        got: list[bytes | None] = []
        reader = threading.Thread(target=lambda: got.append(results.fetch_result(queue, "w", 30)))
        reader.start()
        try:
            writer.store_result(queue, "w", b"late", LONG)
        finally:
            reader.join(timeout=30)
            writer.close()
        assert got == [b"late"]

    def test_an_outcome_expires_after_its_ttl(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        results = self.results(client)
        ttl = max(self.time_unit, 1.0)
        results.store_result(queue, "e", b"soon gone", ttl)
        assert results.fetch_result(queue, "e") == b"soon gone"
        if isinstance(clock, FakeClock) and not self.results_expire_in_real_time:
            clock.advance(ttl + 0.5)
            assert results.fetch_result(queue, "e") is None
        else:  # the server's own clock: wait for it
            _wait_for(lambda: results.fetch_result(queue, "e") is None, 4 * ttl + 5)

    # -- dependencies ----------------------------------------------------------

    def test_a_dependent_waits_blocked_until_its_dependencies_succeed(
        self, client: ReliableClient, queue: str
    ) -> None:
        results = self.results(client)
        # Given two parents and a task depending on both
        client.push(queue, "p1", b"1")
        client.push(queue, "p2", b"2")
        assert results.push_after(queue, [PushItem("child", b"c")], [["p1", "p2"]]) == ["child"]
        assert results.task_state(queue, "child") == TaskState("blocked")
        # When the first parent completes, the child still waits
        first = self.lease_one(client, queue, "p1")
        assert results.complete(queue, first, result=b"ok", ttl=LONG)
        assert results.task_state(queue, "child") == TaskState("blocked")
        # And when the second completes, the child becomes ready, after it
        second = self.lease_one(client, queue, "p2")
        assert results.complete(queue, second, result=b"ok", ttl=LONG)
        assert results.task_state(queue, "child") == TaskState("ready")
        assert self.lease_one(client, queue, "child").data == b"c"

    def test_a_dependency_already_done_counts_and_an_unknown_one_is_refused(
        self, client: ReliableClient, queue: str
    ) -> None:
        results = self.results(client)
        client.push(queue, "done", b"d")
        assert results.complete(
            queue, self.lease_one(client, queue, "done"), result=b"ok", ttl=LONG
        )
        results.push_after(queue, [PushItem("next", b"n")], [["done"]])
        assert results.task_state(queue, "next") == TaskState("ready")
        with pytest.raises(TaskNotFoundError):
            results.push_after(queue, [PushItem("orphan", b"o")], [["never-pushed"]])
        assert results.task_state(queue, "orphan") is None

    def test_a_batch_may_depend_on_its_own_earlier_items(
        self, client: ReliableClient, queue: str
    ) -> None:
        results = self.results(client)
        items = [PushItem("a", b"a"), PushItem("b", b"b"), PushItem("join", b"j")]
        assert results.push_after(queue, items, [[], [], ["a", "b"]]) == ["a", "b", "join"]
        assert [results.task_state(queue, t) for t in ("a", "b", "join")] == [
            TaskState("ready"),
            TaskState("ready"),
            TaskState("blocked"),
        ]
        with pytest.raises(TaskNotFoundError):  # all or nothing
            results.push_after(queue, [PushItem("x", b"x"), PushItem("y", b"y")], [[], ["nope"]])
        assert results.task_state(queue, "x") is None

    def test_a_failure_buries_its_dependents_transitively(
        self, client: ReliableClient, queue: str
    ) -> None:
        results = self.results(client)
        # Given a chain parent <- child <- grandchild, and an unrelated task
        client.push(queue, "parent", b"p")
        results.push_after(
            queue, [PushItem("child", b"c"), PushItem("grandchild", b"g")], [["parent"], ["child"]]
        )
        client.push(queue, "other", b"o")
        # When the parent fails for good
        held = self.lease_one(client, queue, "parent")
        buried = results.fail(
            queue, held, "boom", result=b"failed", ttl=LONG, dependents_reason="parent failed"
        )
        # Then both dependents are buried with that reason, the other task is untouched
        assert sorted(buried or []) == ["child", "grandchild"]
        assert results.fetch_result(queue, "parent") == b"failed"
        reasons = {b.task_id: b.reason for b in client.buried(queue)}
        assert reasons == {
            "parent": "boom",
            "child": "parent failed",
            "grandchild": "parent failed",
        }
        assert results.task_state(queue, "child") == TaskState("buried")
        assert client.len(queue) == 1
        # And a dependent pushed after the failure is buried at once
        results.push_after(queue, [PushItem("late", b"l")], [["parent"]])
        assert results.task_state(queue, "late") == TaskState("buried")
        # And a stale reservation fails nothing
        assert results.fail(queue, held, "x", result=b"x", ttl=LONG, dependents_reason="x") is None

    def test_an_item_buried_at_once_buries_its_dependents_in_the_same_batch(
        self, client: ReliableClient, queue: str
    ) -> None:
        results = self.results(client)
        # Given a parent that failed for good
        client.push(queue, "parent", b"p")
        held = self.lease_one(client, queue, "parent")
        results.fail(queue, held, "boom", result=b"failed", ttl=LONG, dependents_reason="x")
        # When one batch holds its dependent and that dependent's own dependent
        items = [PushItem("child", b"c"), PushItem("grandchild", b"g")]
        results.push_after(queue, items, [["parent"], ["child"]])
        # Then both are buried at once: none waits on a task that will never run
        reasons = {b.task_id: b.reason for b in client.buried(queue)}
        assert reasons == {
            "parent": "boom",
            "child": "dependency parent failed",
            "grandchild": "dependency child failed",
        }
        assert results.task_state(queue, "grandchild") == TaskState("buried")

    def test_a_dependent_buried_by_a_failure_stays_failed_after_drop_all(
        self, client: ReliableClient, queue: str
    ) -> None:
        results = self.results(client)
        # Given a dependent buried by its parent's failure, its outcome not stored yet
        client.push(queue, "parent", b"p")
        results.push_after(queue, [PushItem("child", b"c")], [["parent"]])
        held = self.lease_one(client, queue, "parent")
        assert results.fail(queue, held, "boom", result=b"x", ttl=LONG, dependents_reason="x") == [
            "child"
        ]
        # When the queue is dropped (outcomes stay) before the caller stores it
        client.drop_all(queue)
        # Then a task pushed after the dependent is buried at once, not refused
        # as depending on a task never heard of
        results.push_after(queue, [PushItem("late", b"l")], [["child"]])
        assert results.task_state(queue, "late") == TaskState("buried")
        assert results.fetch_result(queue, "child") is None
        # And the outcome stored later still says it failed
        results.store_result(queue, "child", b"dependency failed", LONG)
        results.push_after(queue, [PushItem("later", b"l")], [["child"]])
        assert results.task_state(queue, "later") == TaskState("buried")
        assert results.fetch_result(queue, "child") == b"dependency failed"

    def test_cancel_removes_a_waiting_task_and_buries_its_dependents(
        self, client: ReliableClient, queue: str
    ) -> None:
        results = self.results(client)
        client.push(queue, "c", b"cancel me")
        results.push_after(queue, [PushItem("d", b"d")], [["c"]])
        found = results.cancel(queue, "c", result=b"canceled", ttl=LONG, dependents_reason="gone")
        assert found == (b"cancel me", ["d"])
        assert results.fetch_result(queue, "c") == b"canceled"
        assert results.task_state(queue, "c") is None
        assert results.task_state(queue, "d") == TaskState("buried")
        # A reserved task cannot be canceled, an unknown one neither
        client.push(queue, "busy", b"b")
        self.lease_one(client, queue, "busy")
        assert results.cancel(queue, "busy", result=b"x", ttl=LONG, dependents_reason="x") is None
        assert results.cancel(queue, "nope", result=b"x", ttl=LONG, dependents_reason="x") is None

    def test_task_state_follows_a_task_through_its_life(
        self, client: ReliableClient, queue: str, clock: Clock
    ) -> None:
        results = self.results(client)
        assert results.task_state(queue, "t") is None
        client.push(queue, "t", b"t", delay_until=clock() + LONG)
        assert results.task_state(queue, "t") == TaskState("delayed")
        client.push(queue, "r", b"r")
        assert results.task_state(queue, "r") == TaskState("ready")
        held = self.lease_one(client, queue, "r")
        assert results.task_state(queue, "r") == TaskState("reserved", attempts=1)
        assert client.release(queue, held)
        assert results.task_state(queue, "r") == TaskState("ready", attempts=1)
        held = self.lease_one(client, queue, "r")
        assert client.bury(queue, held, "why")
        assert results.task_state(queue, "r") == TaskState("buried", attempts=2)

    def test_prefetch_acks_store_outcomes_in_the_same_call(
        self, client: ReliableClient, queue: str
    ) -> None:
        self.results(client)
        self.require(client, "results_prefetch")
        fused = cast(ResultPrefetchClient, client)
        client.push(queue, "f1", b"1")
        client.push(queue, "f2", b"2")
        _, held = fused.reserve_many(queue, LONG, 2)
        flags, more = fused.reserve_many(
            queue, LONG, 1, 0.0, held, results=[b"r1", b"r2"], ttl=LONG
        )
        assert (flags, more) == ([True, True], [])
        assert [fused.fetch_result(queue, t) for t in ("f1", "f2")] == [b"r1", b"r2"]


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the outcome did not expire in time"
        time.sleep(0.05)
