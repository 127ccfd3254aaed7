"""What the Redis layout of outcomes and dependencies must still do, on one server and a cluster.

Outcomes are one-element lists read with a blocking ``BLMOVE`` onto
themselves, expiring by ``PEXPIRE``; a dependency graph lives in the queue's
``blocked`` hash and ``edges`` sorted set. These tests pin what the kit's
contract cannot see: every waiter wakes, no waiter polls, a settled graph
leaves no keys behind, a replaced or canceled blocked task is never released
by its old parents, and a failed parent stays failed after it is purged.
"""

from __future__ import annotations

import threading

import pytest
import redis

from alligator.backends._redis_scripts import KEY_SUFFIXES
from alligator.backends.redis_backend import Client
from alligator.exceptions import ConfigurationError
from alligator.records import PushItem, TaskState
from tests.servers import ServerProcess

Q = "q"
LONG = 600.0


def raw(dsn: str) -> redis.Redis | redis.RedisCluster:
    """A plain redis-py client of the test's server or cluster."""
    if not dsn.startswith("redis+cluster://"):
        return redis.Redis.from_url(dsn)
    host, port = dsn.removeprefix("redis+cluster://").split(",")[0].split(":")
    return redis.RedisCluster(host=host, port=int(port))


def complete(client: Client, task_id: str) -> None:
    held = client.reserve(Q, LONG)
    assert held is not None and held.task_id == task_id, held
    assert client.complete(Q, held, result=task_id.encode(), ttl=LONG)


def test_every_waiter_wakes_when_the_outcome_is_written(client: Client) -> None:
    # Given three threads blocked on one task's outcome
    got: list[bytes | None] = []
    waiters = [
        threading.Thread(target=lambda: got.append(client.fetch_result(Q, "t", 30)))
        for _ in range(3)
    ]
    for waiter in waiters:
        waiter.start()
    # When it is written once
    client.store_result(Q, "t", b"done", LONG)
    for waiter in waiters:
        waiter.join(timeout=30)
    # Then all three have it, and it is still there for a fourth
    assert got == [b"done"] * 3
    assert client.fetch_result(Q, "t", 1) == b"done"


def test_a_waiting_fetch_blocks_on_the_server_without_polling(
    single_server: ServerProcess, namespace: str
) -> None:
    client = Client(f"redis://127.0.0.1:{single_server.port}/0", namespace=namespace)
    server = redis.Redis(port=single_server.port)
    try:
        before = server.info("commandstats").get("cmdstat_blmove", {}).get("calls", 0)
        # A one-second wait for an outcome nobody writes...
        assert client.fetch_result(Q, "never", 1.0) is None
        after = server.info("commandstats").get("cmdstat_blmove", {}).get("calls", 0)
        # ...is one blocking call, not a loop of them
        assert after - before == 1
    finally:
        server.close()
        client.close()


def test_an_outcome_is_one_list_with_a_ttl_under_the_queue_tag(
    client: Client, dsn: str, namespace: str
) -> None:
    client.push(Q, "t", b"x")
    complete(client, "t")
    key = client.result_key(Q, "t")
    assert key == f"{{{namespace}:{Q}}}:r:t"
    conn = raw(dsn)
    try:
        assert conn.type(key) == b"list" and conn.llen(key) == 1
        assert 0 < conn.pttl(key) <= LONG * 1000
    finally:
        conn.close()


def test_a_settled_diamond_leaves_no_dependency_keys(client: Client, dsn: str) -> None:
    # Given a diamond: a, then b and c on a, then d on b and c
    items = [PushItem(t, t.encode()) for t in "abcd"]
    client.push_after(Q, items, [[], ["a"], ["a"], ["b", "c"]])
    assert [client.task_state(Q, t) for t in "bcd"] == [TaskState("blocked")] * 3
    # When a completes, b and c are ready and d still waits
    complete(client, "a")
    assert [client.task_state(Q, t) for t in "bcd"] == [
        TaskState("ready"),
        TaskState("ready"),
        TaskState("blocked"),
    ]
    complete(client, "b")
    assert client.task_state(Q, "d") == TaskState("blocked")
    complete(client, "c")
    # Then d is ready once, and nothing of the graph is left
    assert client.stats(Q).ready == 1
    complete(client, "d")
    fixed = dict(zip(KEY_SUFFIXES, client.keys(Q), strict=True))
    conn = raw(dsn)
    try:
        assert conn.exists(fixed["blocked"]) == 0 and conn.exists(fixed["edges"]) == 0
    finally:
        conn.close()
    assert [client.fetch_result(Q, t) for t in "abcd"] == [b"a", b"b", b"c", b"d"]


def test_a_blocked_task_replaced_by_a_plain_push_is_not_released_again(client: Client) -> None:
    # Given a child blocked on a parent
    client.push(Q, "p", b"p")
    client.push_after(Q, [PushItem("child", b"old")], [["p"]])
    # When the child is pushed again without dependencies
    client.push(Q, "child", b"new")
    assert client.task_state(Q, "child") == TaskState("ready")
    # Then the parent's completion releases nothing: the child is there once
    complete(client, "p")
    _, found = client.reserve_many(Q, LONG, 10)
    assert [(r.task_id, r.data) for r in found] == [("child", b"new")]


def test_canceling_a_blocked_task_detaches_it_from_its_parents(client: Client) -> None:
    client.push(Q, "p", b"p")
    client.push_after(Q, [PushItem("child", b"c")], [["p"]])
    assert client.cancel(Q, "child", result=b"canceled", ttl=LONG, dependents_reason="x") == (
        b"c",
        [],
    )
    complete(client, "p")
    assert client.task_state(Q, "child") is None and client.len(Q) == 0
    assert client.fetch_result(Q, "child") == b"canceled"


def test_a_failed_parent_stays_failed_after_it_is_purged(client: Client) -> None:
    # Given a parent that failed for good, then was purged from the buried list
    client.push(Q, "p", b"p")
    held = client.reserve(Q, LONG)
    assert held is not None
    assert client.fail(Q, held, "boom", result=b"f", ttl=LONG, dependents_reason="x") == []
    assert client.purge(Q, "p") == 1
    # When a task is pushed depending on it
    client.push_after(Q, [PushItem("late", b"l")], [["p"]])
    # Then its outcome (flagged failed) buries the new task at once
    assert client.task_state(Q, "late") == TaskState("buried")
    assert {b.task_id: b.reason for b in client.buried(Q)} == {"late": "dependency p failed"}


def test_a_dependents_outcome_written_apart_keeps_it_failed(client: Client) -> None:
    # Given a child buried by its parent's failure, its outcome written apart
    client.push(Q, "p", b"p")
    client.push_after(Q, [PushItem("child", b"c")], [["p"]])
    held = client.reserve(Q, LONG)
    assert held is not None
    assert client.fail(Q, held, "boom", result=b"f", ttl=LONG, dependents_reason="gone") == [
        "child"
    ]
    client.store_result(Q, "child", b"dependency failed", LONG)
    assert client.purge(Q) == 2
    # Then a task depending on the child is buried too
    client.push_after(Q, [PushItem("grandchild", b"g")], [["child"]])
    assert client.task_state(Q, "grandchild") == TaskState("buried")


def test_a_fused_ack_releases_a_dependent_and_leases_it_in_the_same_call(client: Client) -> None:
    # Given a parent leased by a prefetching worker, and a task depending on it
    client.push(Q, "p", b"p")
    client.push_after(Q, [PushItem("child", b"c")], [["p"]])
    _, held = client.reserve_many(Q, LONG, 5)
    assert [r.task_id for r in held] == ["p"]
    # When its ack (with its outcome) goes with the next claim
    flags, leased = client.reserve_many(Q, LONG, 5, 0.0, held, results=[b"ok"], ttl=LONG)
    # Then the child was released and leased by that one call
    assert flags == [True] and [r.task_id for r in leased] == ["child"]
    assert client.fetch_result(Q, "p") == b"ok"


def test_an_id_no_outcome_can_be_stored_under_has_none(client: Client) -> None:
    assert client.fetch_result(Q, "bad\udcffid", 0.05) is None
    assert client.fetch_result(Q, "") is None
    assert client.task_state(Q, "bad\udcffid") is None


def test_a_queue_name_redis_cannot_store_is_a_configuration_error(client: Client) -> None:
    with pytest.raises(ConfigurationError, match="queue name"):
        client.fetch_result("bad\udcffname", "t", 0.05)
    with pytest.raises(ConfigurationError, match="queue name"):
        client.store_result("bad\udcffname", "t", b"x", LONG)
