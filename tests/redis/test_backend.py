"""The Redis backend's semantics, on one server and on a 3-node cluster.

The protocol's own contract runs in ``test_conformance.py``; these are the
Redis-specific promises. The ``client`` fixture is parametrized over a single
redis-server and a real Redis Cluster, with an injected clock.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import redis

from alligator.backends.redis_backend import Client
from alligator.records import PushItem, QueueStats, Reservation
from tests.redis.conftest import MutableClock
from tests.servers import ServerProcess

Q = "q"


def reserve(client: Client, lease: float = 30.0) -> Reservation:
    found = client.reserve(Q, lease)
    assert found is not None
    return found


def test_equal_due_times_keep_push_order_across_many_tasks(
    client: Client, clock: MutableClock
) -> None:
    # Given 300 tasks pushed at one frozen instant, in batches and one by one,
    # with a delayed task interleaved
    client.push_many(Q, [PushItem(f"{i:03}", b"x") for i in range(150)])
    client.push(Q, "later", b"x", delay_until=clock.now + 1)
    for i in range(150, 300):
        client.push(Q, f"{i:03}", b"x")
    # Then they are reserved in exactly push order, the delayed one last
    clock.advance(1)
    got = [reserve(client).task_id for _ in range(301)]
    assert got == [f"{i:03}" for i in range(300)] + ["later"]


def test_fractional_due_times_are_exact(client: Client, clock: MutableClock) -> None:
    # Given a task due a tenth of a millisecond from now
    due = clock.now + 0.0001
    client.push(Q, "t", b"x", delay_until=due)
    # Then it is not due a hair before, and is due exactly at that time
    clock.now = due - 1e-6
    assert client.reserve(Q, 5) is None
    clock.now = due
    assert reserve(client).task_id == "t"


def test_binary_payloads_round_trip(client: Client) -> None:
    payloads = [b"", b"\x00", b"\r\n", b"\xff\xfe\x00x", bytes(range(256)) * 40]
    client.push_many(Q, [PushItem(str(i), p) for i, p in enumerate(payloads)])
    assert [reserve(client).data for _ in payloads] == payloads


def test_two_namespaces_on_one_server_never_collide(
    dsn: str, clock: MutableClock, namespace: str
) -> None:
    # Given two applications on one server, each with a queue named "q"
    first = Client(dsn, clock=clock, namespace=namespace + "a")
    second = Client(f"{dsn}{'&' if '?' in dsn else '?'}namespace={namespace}b", clock=clock)
    first.push(Q, "t", b"first")
    second.push(Q, "t", b"second")
    # Then each sees only its own task
    assert first.pop(Q) == b"first"
    assert first.pop(Q) is None
    assert second.get(Q, "t") == b"second"
    first.close()
    second.close()


def test_keys_of_one_queue_hash_to_one_cluster_slot(client: Client) -> None:
    # Given any queue's keys
    for queue in ("q", "emails:high", "a}b", "{x}"):
        keys = client.keys(queue)
        # Then they share the queue's hash tag, hence one slot on a cluster
        slots = {redis.crc.key_slot(key.encode()) for key in keys}
        assert len(slots) == 1, f"{queue!r} keys spread over slots {slots}"
        assert len(set(keys)) == len(keys)


def test_cluster_runs_every_queue_on_its_own_slot(
    cluster_nodes: list[ServerProcess], namespace: str
) -> None:
    # Given a cluster client and queues spread over different slots
    dsn = f"redis+cluster://127.0.0.1:{cluster_nodes[0].port}"
    client = Client(dsn, namespace=namespace)
    queues = [f"queue{i}" for i in range(12)]
    slots = {redis.crc.key_slot(client.keys(q)[0].encode()) for q in queues}
    assert len(slots) > 1
    # When every queue gets tasks and is drained with acks
    for queue in queues:
        client.push_many(queue, [PushItem(f"{queue}-{i}", b"x") for i in range(3)])
    drained = []
    for queue in queues:
        while (held := client.reserve(queue, 30)) is not None:
            assert client.ack(queue, held)
            drained.append(held.task_id)
    # Then every task came back exactly once
    assert sorted(drained) == sorted(f"{q}-{i}" for q in queues for i in range(3))
    client.close()


def test_operations_work_after_script_flush(single_server: ServerProcess, namespace: str) -> None:
    # Given a client whose scripts are loaded on the server
    client = Client(f"redis://127.0.0.1:{single_server.port}", namespace=namespace)
    client.push(Q, "a", b"x")
    # When the server forgets every script
    with redis.Redis(port=single_server.port) as raw:
        raw.script_flush()
    # Then each operation reloads its script and works
    client.push(Q, "b", b"y")
    held = reserve(client)
    assert client.ack(Q, held)
    assert client.len(Q) == 1
    client.close()


def test_push_and_reserve_are_one_command_each(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given a client with its scripts loaded
    client = Client(f"redis://127.0.0.1:{single_server.port}", namespace=namespace)
    client.push(Q, "warm", b"x")
    client.ack(Q, reserve(client))
    with redis.Redis(port=single_server.port) as raw:
        raw.config_resetstat()
        # When it pushes one task and reserves it
        client.push(Q, "t", b"x")
        reserve(client)
        stats = raw.info("commandstats")
    # Then the server saw exactly two EVALSHAs (commandstats also counts the
    # commands run inside them, which cost no round trip) and no other call
    assert stats["cmdstat_evalsha"]["calls"] == 2
    assert not {"cmdstat_blpop", "cmdstat_eval", "cmdstat_script|load"} & set(stats)
    client.close()


def test_blocking_reserve_wakes_when_another_thread_pushes(dsn: str, namespace: str) -> None:
    # Given a worker blocked in reserve on an empty queue
    worker_client = Client(dsn, namespace=namespace)
    results: list[Reservation | None] = []
    worker = threading.Thread(
        target=lambda: results.append(worker_client.reserve(Q, 30, timeout=30))
    )
    worker.start()
    # When a producer pushes
    producer = Client(dsn, namespace=namespace)
    producer.push(Q, "t", b"x")
    # Then the worker returns that task well before its timeout
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert results[0] is not None and results[0].task_id == "t"
    worker_client.close()
    producer.close()


def test_blocking_reserve_wakes_when_a_delayed_task_comes_due(dsn: str, namespace: str) -> None:
    # Given a task due in a fifth of a second (real clock)
    client = Client(dsn, namespace=namespace)
    client.push(Q, "t", b"x", delay_until=time.time() + 0.2)
    # When a worker waits for up to 30 seconds
    found = client.reserve(Q, 30, timeout=30)
    # Then it gets the task once due, without anyone pushing
    assert found is not None and found.task_id == "t"
    client.close()


def test_blocked_reserve_takes_over_a_dead_workers_lease(dsn: str, namespace: str) -> None:
    # Given a task leased for a fifth of a second by a worker that never acks
    client = Client(dsn, namespace=namespace)
    client.push(Q, "t", b"x")
    lost = client.reserve(Q, 0.2)
    assert lost is not None
    # When another worker waits
    found = client.reserve(Q, 30, timeout=30)
    # Then it gets the task once the lease expires, as a second attempt
    assert found is not None and (found.task_id, found.attempts) == ("t", 2)
    assert not client.ack(Q, lost)
    client.close()


def test_blocking_reserve_returns_none_after_timeout(client: Client) -> None:
    assert client.reserve(Q, 30, timeout=0.05) is None


def test_four_threads_reserve_each_of_500_tasks_exactly_once(dsn: str, namespace: str) -> None:
    # Given 500 tasks
    producer = Client(dsn, namespace=namespace)
    producer.push_many(Q, [PushItem(str(i), b"x") for i in range(500)])
    producer.close()
    seen: list[str] = []

    def drain() -> None:
        own = Client(dsn, namespace=namespace)
        while (found := own.reserve(Q, 30)) is not None:
            assert own.ack(Q, found)
            seen.append(found.task_id)
        own.close()

    # When four threads with their own clients drain the queue
    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then each task was handed out exactly once
    assert sorted(seen, key=int) == [str(i) for i in range(500)]


def test_stats_count_every_state(client: Client, clock: MutableClock) -> None:
    client.push_many(Q, [PushItem(str(i), b"x") for i in range(4)])
    client.push(Q, "later", b"x", delay_until=clock.now + 9)
    client.bury(Q, reserve(client), "bad")
    reserve(client)
    assert client.stats(Q) == QueueStats(ready=2, delayed=1, reserved=1, buried=1)
    assert client.len(Q) == 3


def test_reserve_many_leases_several_in_one_call(client: Client) -> None:
    client.push_many(Q, [PushItem(str(i), b"x") for i in range(5)])
    _, got = client.reserve_many(Q, 30, 3)
    assert [r.task_id for r in got] == ["0", "1", "2"]
    assert len({r.token for r in got}) == 3
    assert all(client.ack(Q, r) for r in got)
    assert client.stats(Q) == QueueStats(ready=2)


def test_import_alligator_does_not_import_redis() -> None:
    code = "import sys, alligator; assert 'redis' not in sys.modules, 'redis imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_keys_are_removed_when_a_queue_empties(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given a queue used for every operation then drained
    client = Client(f"redis://127.0.0.1:{single_server.port}", namespace=namespace)
    client.push_many(Q, [PushItem("a", b"x"), PushItem("b", b"y")])
    client.ack(Q, reserve(client))
    assert client.pop(Q) == b"y"
    # Then no key but the sequence counter and notify tokens is left behind
    with redis.Redis(port=single_server.port) as raw:
        left = {k.decode().rsplit(":", 1)[1] for k in raw.scan_iter(f"{{{namespace}:*")}
    assert left <= {"seq", "notify"}
    client.close()
