"""Issue 13 on locmem: entries put into a store by other code, and names it cannot hold.

The store is plain Python objects: whatever ends up in a queue's tasks or
heap without going through the client (a task of the wrong shape, a due time
that is ``nan`` or not a number) must be buried when a reserve meets it, and
must neither be handed out, nor block the tasks behind it, nor crash a worker.
"""

from __future__ import annotations

import heapq
import math

import pytest

from alligator.backends import _locmem_driver
from alligator.backends._locmem_store import Task
from alligator.backends.locmem_backend import Client
from alligator.exceptions import ConfigurationError, InvalidTaskError
from alligator.records import PushItem, QueueStats
from tests.test_locmem_backend import FakeClock

Q = "q"
NAME = "hardening"


def inject(key: object, data: object, run_at: object, *, heap: bool = True) -> Task:
    """Put a task straight into the store's structures, as no client would."""
    queue = _locmem_driver.store(NAME).queue(Q)
    task = Task(key, data, run_at, next(queue.seq))  # type: ignore[arg-type]
    queue.tasks[key] = task  # type: ignore[index]
    queue.waiting += 1
    if heap:
        queue.heap.append((run_at, task.seq, task))  # type: ignore[arg-type]
    return task


def drain(client: Client) -> list[str]:
    got: list[str] = []
    while True:
        _, leased = client.reserve_many(Q, 30, 3)
        if not leased:
            return got
        got += [r.task_id for r in leased]
        assert all(client.reserve_many(Q, 30, 0, done=leased)[0])


@pytest.mark.parametrize(
    ("key", "data", "run_at", "why"),
    [
        ("str-data", "not bytes", 0.0, "payload is str"),
        ("none-data", None, 0.0, "payload is NoneType"),
        (b"bytes-id", b"x", 0.0, "task id b'bytes-id'"),
        ("", b"x", 0.0, "task id ''"),
        ("nan-due", b"x", math.nan, "due time nan"),
        ("text-due", b"x", "soon", "due time 'soon'"),
        ("inf-due", b"x", math.inf, "due time inf"),
    ],
)
def test_a_malformed_task_in_the_store_is_buried_and_the_rest_run(
    key: object, data: object, run_at: object, why: str
) -> None:
    # Given good tasks around a task put into the store by other code
    clock = FakeClock()
    client = Client(f"locmem://{NAME}", clock=clock)
    client.push_many(Q, [PushItem(f"a{i}", b"x") for i in range(3)])
    inject(key, data, run_at)
    client.push_many(Q, [PushItem(f"b{i}", b"x") for i in range(3)])
    # When workers drain the queue
    got = drain(client)
    # Then every good task ran once and the bad one is buried with the reason
    assert sorted(got) == ["a0", "a1", "a2", "b0", "b1", "b2"]
    [buried] = client.buried(Q)
    assert buried.reason.startswith(f"malformed task: {why}")
    assert isinstance(buried.task_id, str) and buried.task_id
    assert isinstance(buried.data, bytes)
    assert client.stats(Q) == QueueStats(buried=1)
    assert client.purge(Q) == 1


def test_a_heap_that_cannot_be_ordered_is_rebuilt_without_the_bad_task() -> None:
    # Given a heap holding a due time of the wrong type among good ones
    clock = FakeClock()
    client = Client(f"locmem://{NAME}", clock=clock)
    client.push_many(Q, [PushItem(f"t{i}", b"x") for i in range(5)])
    bad = inject("text-due", b"x", "soon")
    queue = _locmem_driver.store(NAME).queue(Q)
    queue.heap.remove((bad.run_at, bad.seq, bad))
    queue.heap.insert(0, (bad.run_at, bad.seq, bad))  # breaks the heap order too
    # When tasks are pushed and reserved / Then nothing raises and every good task runs
    client.push(Q, "late", b"x")
    assert sorted(drain(client)) == ["late", "t0", "t1", "t2", "t3", "t4"]
    assert [b.task_id for b in client.buried(Q)] == ["text-due"]
    heapq.heapify(queue.heap)  # still orderable


@pytest.mark.parametrize("name", ["bad\udcffname", "\ud800"])
def test_a_queue_name_with_surrogates_is_a_configuration_error(name: str) -> None:
    client = Client(f"locmem://{NAME}")
    with pytest.raises(ConfigurationError, match="queue name"):
        client.push(name, "t", b"x")
    with pytest.raises(ConfigurationError, match="queue name"):
        client.reserve(name, 30)
    with pytest.raises(ConfigurationError, match="queue name"):
        client.len(name)


@pytest.mark.parametrize("due", [math.nan, math.inf, -math.inf])
def test_a_due_time_that_is_not_finite_is_refused(due: float) -> None:
    client = Client(f"locmem://{NAME}")
    with pytest.raises(InvalidTaskError, match="delay_until"):
        client.push(Q, "t", b"x", delay_until=due)
    with pytest.raises(InvalidTaskError, match="delay_until"):
        client.push_many(Q, [PushItem("ok", b"x"), PushItem("t", b"x", due)])
    with pytest.raises(InvalidTaskError, match="task id"):
        client.push(Q, "bad\ud800", b"x")
    assert client.stats(Q) == QueueStats()
