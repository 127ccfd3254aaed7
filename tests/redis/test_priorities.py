"""Priorities in the Redis layout: a sorted set beside the stream, only when used.

A task of priority 0 is a ``ready`` stream entry, as ever; any other waits in
``<tag>:prio`` scored by its priority, with its payload in ``data``. These
tests pin that a FIFO queue never gets the extra key, that a prioritised
task keeps its priority as it is leased, released with a delay, buried and
requeued, or replaced, and that ``get`` finds it by id.
"""

from __future__ import annotations

import redis

from alligator.backends.redis_backend import Client
from alligator.records import PushItem, QueueStats
from tests.redis.conftest import MutableClock
from tests.servers import ServerProcess

Q = "q"


def keys_of(raw: redis.Redis, namespace: str) -> set[str]:
    tag = f"{{{namespace}:{Q}}}:"
    found = [k if isinstance(k, str) else k.decode() for k in raw.keys(tag + "*")]
    return {k.removeprefix(tag) for k in found if ":i:" not in k}


def test_a_fifo_queue_never_has_the_prio_key(single_server: ServerProcess, namespace: str) -> None:
    client = Client(f"redis://127.0.0.1:{single_server.port}", namespace=namespace)
    with redis.Redis(port=single_server.port) as raw:
        # Given tasks pushed without a priority, and with priority 0
        client.push(Q, "a", b"a")
        client.push(Q, "b", b"b", priority=0)
        # Then both are stream entries and nothing else was made
        assert keys_of(raw, namespace) == {"ready", "seq", "notify"}
        # When one with a priority is pushed / Then it waits in prio, scored by it
        client.push(Q, "c", b"c", priority=-7)
        assert raw.zrange(f"{{{namespace}:{Q}}}:prio", 0, -1, withscores=True)[0][1] == -7
        assert raw.xlen(f"{{{namespace}:{Q}}}:ready") == 2
        assert client.stats(Q) == QueueStats(ready=3)
        # And once drained, no key of either kind is left
        _, got = client.reserve_many(Q, 30, 5)
        assert [r.task_id for r in got] == ["c", "a", "b"]
        client.reserve_many(Q, 30, 0, done=got)
        assert keys_of(raw, namespace) <= {"seq", "notify"}
    client.close()


def test_a_prioritised_task_keeps_its_priority_through_its_life(
    client: Client, clock: MutableClock
) -> None:
    # Given an urgent task and two ordinary ones
    client.push_many(Q, [PushItem("urgent", b"u", None, -1), PushItem("plain", b"p")])
    held = client.reserve(Q, 30)
    assert held is not None and held.task_id == "urgent"
    # When it is released with a delay, comes due behind a later ordinary push
    assert client.release(Q, held, delay_until=clock() + 5)
    clock.advance(6)
    client.push(Q, "later", b"l")
    # Then it is taken first again, and when its lease runs out it is still first
    again = client.reserve(Q, 2)
    assert again is not None and again.task_id == "urgent"
    clock.advance(3)
    third = client.reserve(Q, 30)
    assert third is not None and (third.task_id, third.attempts) == ("urgent", 3)
    # When it is buried and requeued / Then it goes ahead of the others once more
    assert client.bury(Q, third, "boom")
    assert client.requeue(Q, "urgent") == "urgent"
    _, got = client.reserve_many(Q, 30, 5)
    assert [r.task_id for r in got] == ["urgent", "plain", "later"]


def test_get_and_a_replacing_push_find_a_prioritised_task_by_id(client: Client) -> None:
    client.push_many(Q, [PushItem(f"t{i}", f"{i}".encode(), None, i % 3 - 1) for i in range(9)])
    # A replacing push may change the priority: t4 (priority 0) becomes the most urgent
    client.push(Q, "t4", b"new", priority=-5)
    assert client.get(Q, "t2") == b"2"  # priority 1, in prio
    assert client.get(Q, "t2") is None
    assert client.stats(Q) == QueueStats(ready=8)
    _, got = client.reserve_many(Q, 30, 9)
    assert [r.task_id for r in got] == ["t4", "t0", "t3", "t6", "t1", "t7", "t5", "t8"]
