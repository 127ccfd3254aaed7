"""Behaviour of the in-process ``locmem://`` backend, with an injected clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from alligator.backends import _locmem_driver
from alligator.backends.locmem_backend import Client, reset_stores
from alligator.exceptions import ConfigurationError, TaskInProgressError
from alligator.records import PushItem, QueueStats, Reservation
from tests.servers import wait_until

Q = "q"


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _fresh_stores() -> Iterator[None]:
    reset_stores()
    yield
    reset_stores()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Client:
    return Client("locmem://", clock=clock)


def reserve(client: Client, lease: float = 30.0) -> Reservation:
    found = client.reserve(Q, lease)
    assert found is not None
    return found


def test_delayed_task_is_invisible_until_due(client: Client, clock: FakeClock) -> None:
    # Given a task due in 60 seconds
    client.push(Q, "t", b"x", delay_until=clock.now + 60)
    # Then it is counted but neither reserved nor popped before then
    assert client.len(Q) == 1
    assert client.reserve(Q, 10) is None
    assert client.pop(Q) is None
    # When the time comes, it is handed out
    clock.advance(60)
    assert reserve(client).task_id == "t"


def test_order_is_fifo_by_due_time_then_push_order(client: Client, clock: FakeClock) -> None:
    # Given tasks pushed in order a, b, c, with c due earlier than "now"
    client.push(Q, "a", b"a")
    client.push(Q, "b", b"b")
    client.push(Q, "c", b"c", delay_until=clock.now - 1)
    client.push(Q, "d", b"d", delay_until=clock.now + 1)
    clock.advance(5)
    # Then they come out by due time, ties in push order
    assert [reserve(client).task_id for _ in range(4)] == ["c", "a", "b", "d"]


def test_expired_lease_makes_task_ready_again(client: Client, clock: FakeClock) -> None:
    # Given a task reserved for 10 seconds
    client.push(Q, "t", b"x")
    first = reserve(client, lease=10)
    client.push(Q, "other", b"o", delay_until=clock.now + 100)
    assert client.stats(Q) == QueueStats(delayed=1, reserved=1)
    assert client.len(Q) == 1
    # When the lease runs out
    clock.advance(10)
    # Then it counts as ready and another worker gets it, attempts counted
    assert client.stats(Q) == QueueStats(ready=1, delayed=1)
    assert client.len(Q) == 2
    second = reserve(client)
    assert (second.task_id, second.attempts) == (first.task_id, 2)
    assert second.token != first.token


@pytest.fixture
def _one_task(client: Client) -> None:
    client.push(Q, "t", b"payload")


@pytest.mark.usefixtures("_one_task")
def test_stale_token_is_refused_and_changes_nothing(client: Client, clock: FakeClock) -> None:
    # Given a lease that expired and was taken over by another worker
    stale = reserve(client, lease=5)
    clock.advance(5)
    fresh = reserve(client, lease=5)
    # Then every lease method refuses the stale reservation
    assert not client.ack(Q, stale)
    assert not client.release(Q, stale, b"new")
    assert not client.bury(Q, stale, "boom")
    assert not client.renew(Q, stale, 100)
    # And the fresh holder is unaffected
    assert client.stats(Q) == QueueStats(reserved=1)
    assert client.ack(Q, fresh)
    assert client.stats(Q) == QueueStats()


@pytest.mark.usefixtures("_one_task")
def test_lease_expired_but_not_retaken_is_lost(client: Client, clock: FakeClock) -> None:
    held = reserve(client, lease=5)
    clock.advance(5)
    assert not client.ack(Q, held)
    assert client.len(Q) == 1


@pytest.mark.usefixtures("_one_task")
def test_renew_extends_the_lease(client: Client, clock: FakeClock) -> None:
    held = reserve(client, lease=5)
    clock.advance(4)
    assert client.renew(Q, held, 10)
    clock.advance(9)
    assert client.reserve(Q, 5) is None
    assert client.ack(Q, held)


@pytest.mark.usefixtures("_one_task")
def test_release_with_new_data_and_delay(client: Client, clock: FakeClock) -> None:
    held = reserve(client)
    # When released with a new payload, due in 30 seconds
    assert client.release(Q, held, b"retry", delay_until=clock.now + 30)
    assert client.stats(Q) == QueueStats(delayed=1)
    assert not client.ack(Q, held)
    assert client.reserve(Q, 5) is None
    clock.advance(30)
    again = reserve(client)
    assert (again.data, again.attempts) == (b"retry", 2)


@pytest.mark.usefixtures("_one_task")
def test_release_without_data_keeps_payload_and_goes_behind_same_due(client: Client) -> None:
    client.push(Q, "u", b"second")
    held = reserve(client)
    assert client.release(Q, held)
    assert [reserve(client).data for _ in range(2)] == [b"second", b"payload"]


@pytest.mark.usefixtures("_one_task")
def test_bury_keeps_task_aside_with_reason(client: Client, clock: FakeClock) -> None:
    held = reserve(client)
    assert client.bury(Q, held, "ValueError: boom")
    assert client.reserve(Q, 5) is None
    assert client.len(Q) == 0
    assert client.stats(Q) == QueueStats(buried=1)
    [buried] = client.buried(Q)
    assert (buried.task_id, buried.data, buried.reason, buried.buried_at) == (
        "t",
        b"payload",
        "ValueError: boom",
        clock.now,
    )
    assert client.get(Q, "t") is None
    assert not client.ack(Q, held)


def test_buried_lists_in_burial_order_even_if_the_clock_jumps_back(
    client: Client, clock: FakeClock
) -> None:
    client.push_many(Q, [PushItem("a", b"a"), PushItem("b", b"b")])
    first, second = reserve(client), reserve(client)
    client.bury(Q, second, "2")
    clock.advance(-1)
    client.bury(Q, first, "1")
    assert [b.task_id for b in client.buried(Q)] == ["b", "a"]


def test_get_removes_ready_or_delayed_only(client: Client, clock: FakeClock) -> None:
    client.push(Q, "ready", b"r")
    client.push(Q, "later", b"l", delay_until=clock.now + 60)
    client.push(Q, "held", b"h", delay_until=clock.now - 1)
    reserve(client)
    assert client.get(Q, "later") == b"l"
    assert client.get(Q, "held") is None
    assert client.get(Q, "absent") is None
    assert client.get(Q, "ready") == b"r"
    assert client.get(Q, "ready") is None
    assert client.stats(Q) == QueueStats(reserved=1)


def test_pop_is_at_most_once_and_honours_delay(client: Client, clock: FakeClock) -> None:
    client.push(Q, "later", b"l", delay_until=clock.now + 1)
    client.push(Q, "now", b"")
    assert client.pop(Q) == b""  # an empty payload is a task, not "no task"
    assert client.pop(Q) is None
    clock.advance(1)
    assert client.pop(Q) == b"l"
    assert client.len(Q) == 0


def test_drop_all_removes_every_state_of_that_queue_only(client: Client, clock: FakeClock) -> None:
    client.push_many(Q, [PushItem(str(i), b"x") for i in range(4)])
    client.push(Q, "later", b"x", delay_until=clock.now + 60)
    client.push("other", "keep", b"k")
    held = reserve(client)
    client.bury(Q, reserve(client), "bad")
    reserve(client)
    client.drop_all(Q)
    assert client.stats(Q) == QueueStats()
    assert client.buried(Q) == []
    assert not client.ack(Q, held)
    assert client.len("other") == 1


def test_push_existing_id_replaces_the_task(client: Client, clock: FakeClock) -> None:
    client.push(Q, "t", b"old")
    held = reserve(client)
    # When a task is pushed under the id of a task being run / Then it is refused
    with pytest.raises(TaskInProgressError):
        client.push(Q, "t", b"new", delay_until=clock.now + 5)
    assert client.stats(Q) == QueueStats(reserved=1)
    # When it is pushed again once the lease expired
    clock.advance(31)
    assert client.push(Q, "t", b"new", delay_until=clock.now + 5) == "t"
    # Then the old reservation is stale and only the new task exists
    assert not client.ack(Q, held)
    assert client.stats(Q) == QueueStats(delayed=1)
    clock.advance(5)
    again = reserve(client)
    assert (again.data, again.attempts) == (b"new", 1)


def test_push_many_stores_all(client: Client, clock: FakeClock) -> None:
    ids = client.push_many(Q, [PushItem("a", b"1"), PushItem("b", b"2", clock.now + 9)])
    assert ids == ["a", "b"]
    assert client.stats(Q) == QueueStats(ready=1, delayed=1)


def test_clients_with_one_name_share_a_store_and_names_isolate(clock: FakeClock) -> None:
    gator = Client("locmem://shared", clock=clock)
    worker = Client("locmem://shared", clock=clock)
    stranger = Client("locmem://elsewhere", clock=clock)
    gator.push(Q, "t", b"x")
    assert stranger.len(Q) == 0
    assert worker.pop(Q) == b"x"
    assert Client("locmem://", clock=clock).name == "default"


def test_reset_stores_gives_new_clients_an_empty_store(client: Client) -> None:
    client.push(Q, "t", b"x")
    reset_stores("default")
    assert Client("locmem://").len(Q) == 0


def test_blocking_reserve_wakes_on_push_from_another_thread(
    client: Client, clock: FakeClock
) -> None:
    # Given a worker blocked in reserve
    results: list[Reservation | None] = []
    worker = threading.Thread(target=lambda: results.append(client.reserve(Q, 30, timeout=30)))
    worker.start()
    store = _locmem_driver.store("default")
    wait_until(lambda: Q in store.queues and bool(store.queues[Q].cond._waiters))  # type: ignore[attr-defined]
    # When a producer pushes
    Client("locmem://", clock=clock).push(Q, "t", b"x")
    # Then the worker wakes with the task
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert results[0] is not None and results[0].task_id == "t"


def test_blocking_reserve_returns_none_after_timeout(client: Client) -> None:
    assert client.reserve(Q, 30, timeout=0.02) is None


def test_threads_reserve_each_task_exactly_once() -> None:
    client = Client("locmem://race")
    client.push_many(Q, [PushItem(str(i), b"x") for i in range(500)])
    seen: list[str] = []

    def drain() -> None:
        while (found := client.reserve(Q, 30)) is not None:
            assert client.ack(Q, found)
            seen.append(found.task_id)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(seen, key=int) == [str(i) for i in range(500)]


def test_heap_is_compacted_after_many_removals(client: Client) -> None:
    client.push_many(Q, [PushItem(str(i), b"x") for i in range(1000)])
    for i in range(990):
        client.get(Q, str(i))
    assert len(_locmem_driver.store("default").queues[Q].heap) < 200
    assert [reserve(client).task_id for _ in range(10)] == [str(i) for i in range(990, 1000)]


@pytest.mark.parametrize("dsn", ["redis://x", "locmem:", "sqlite://x.db"])
def test_bad_dsn_is_a_configuration_error(dsn: str) -> None:
    with pytest.raises(ConfigurationError):
        Client(dsn)
