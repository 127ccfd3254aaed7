"""The compact Redis layout and the prefetch calls, on one server and a cluster.

The ready STREAM holds a due task as one entry (field: its id, value: its
payload) and an index bucket maps its id to that entry; these tests pin what
that layout must still do: replace, get and cancel by id anywhere in a long
queue, keep FIFO by due time when delayed tasks come due, carry any id, clean
up after itself, and settle plus claim tasks in one round trip.
"""

from __future__ import annotations

import redis

from alligator.backends import _redis_scripts as lua
from alligator.backends.redis_backend import Client
from alligator.records import PushItem, QueueStats
from tests.redis.conftest import MutableClock
from tests.servers import ServerProcess

Q = "q"


def drain_ids(client: Client) -> list[str]:
    got: list[str] = []
    while True:
        _, found = client.reserve_many(Q, 30, 50)
        if not found:
            return got
        got += [r.task_id for r in found]


def test_pushing_a_ready_id_again_replaces_it_deep_in_a_long_list(client: Client) -> None:
    # Given 2,500 ready tasks (more than one scan chunk)
    client.push_many(Q, [PushItem(f"{i:04}", b"old") for i in range(2500)])
    # When a task near the end is pushed again with a new payload
    client.push(Q, "2200", b"new")
    # Then it is stored once, with the new payload, behind the others
    assert client.len(Q) == 2500
    _, found = client.reserve_many(Q, 30, 2500)
    assert [r.task_id for r in found] == [f"{i:04}" for i in range(2500) if i != 2200] + ["2200"]
    assert found[-1].data == b"new"


def test_get_and_cancel_find_ready_tasks_anywhere_in_the_list(client: Client) -> None:
    # Given 2,500 ready tasks
    client.push_many(Q, [PushItem(f"{i:04}", f"p{i}".encode()) for i in range(2500)])
    # When tasks at the front, the middle and past the first scan chunk are taken
    assert client.get(Q, "0000") == b"p0"
    assert client.get(Q, "1700") == b"p1700"
    assert client.cancel(Q, "2499")
    # Then they are gone, unknown ids are None, and the rest keep their order
    assert client.get(Q, "1700") is None
    assert client.get(Q, "nope") is None
    assert drain_ids(client) == [f"{i:04}" for i in range(2500) if i not in (0, 1700, 2499)]


def test_long_and_unusual_ids_round_trip_through_the_ready_list(client: Client) -> None:
    # Given ids of 254, 255 and 1,000 bytes, with colons, NULs and non-ASCII
    ids = ["a" * 254, "b" * 255, "c:" * 500, "\x00x", "ünï:{q}", "\xff" * 3]
    client.push_many(Q, [PushItem(i, i.encode() + b"|payload") for i in ids])
    # Then each is reserved with its own id and payload, and can be found by id
    assert client.get(Q, "b" * 255) == ("b" * 255).encode() + b"|payload"
    _, found = client.reserve_many(Q, 30, 10)
    assert [(r.task_id, r.data) for r in found] == [
        (i, i.encode() + b"|payload") for i in ids if i != "b" * 255
    ]


def test_a_delayed_task_coming_due_goes_before_later_pushes(
    client: Client, clock: MutableClock
) -> None:
    # Given a task due in one second, and one pushed ready now
    client.push(Q, "delayed", b"x", delay_until=clock.now + 1)
    client.push(Q, "first", b"x")
    # When the delayed one comes due and more tasks are pushed after that
    clock.advance(2)
    client.push(Q, "later", b"x")
    # Then the order is by due time
    assert drain_ids(client) == ["first", "delayed", "later"]


def test_a_task_pushed_already_past_due_is_queued_as_due_now(
    client: Client, clock: MutableClock
) -> None:
    # Given a ready task, then a task whose due time had passed when pushed
    client.push(Q, "now", b"x")
    clock.advance(10)
    client.push(Q, "past", b"x", delay_until=clock.now - 5)
    # Then it is ready, behind the task pushed before it (documented)
    assert client.stats(Q) == QueueStats(ready=2)
    assert drain_ids(client) == ["now", "past"]


def test_reserve_many_acks_and_claims_in_one_call_with_fresh_tokens(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given a worker holding two tasks of five
    client = Client(f"redis://127.0.0.1:{single_server.port}", namespace=namespace)
    client.push_many(Q, [PushItem(str(i), b"x") for i in range(5)])
    _, held = client.reserve_many(Q, 30, 2)
    with redis.Redis(port=single_server.port) as raw:
        raw.config_resetstat()
        # When it settles them and claims the next three
        acks, nxt = client.reserve_many(Q, 30, 3, done=held)
        stats = raw.info("commandstats")
    # Then that was one EVALSHA, both acks held, and every lease has its own token
    assert stats["cmdstat_evalsha"]["calls"] == 1
    assert acks == [True, True]
    assert [r.task_id for r in nxt] == ["2", "3", "4"]
    assert len({r.token for r in [*held, *nxt]}) == 5
    # And a second settle of the same tasks is refused
    assert client.reserve_many(Q, 30, 1, done=held) == ([False, False], [])
    assert client.renew_many(Q, [*held, *nxt], 60) == [False, False, True, True, True]
    client.close()


def test_only_a_replacing_push_costs_a_second_call(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given a client with its scripts loaded
    client = Client(f"redis://127.0.0.1:{single_server.port}", namespace=namespace)
    client.push(Q, "warm", b"x")
    client.push(Q, "warm", b"x")
    with redis.Redis(port=single_server.port) as raw:
        raw.config_resetstat()
        # When it pushes a fresh id, then that id again
        client.push(Q, "t", b"1")
        fresh = raw.info("commandstats")["cmdstat_evalsha"]["calls"]
        client.push(Q, "t", b"2")
        total = raw.info("commandstats")["cmdstat_evalsha"]["calls"]
    # Then the fresh push was one call and the replacement two
    assert (fresh, total - fresh) == (1, 2)
    assert client.get(Q, "t") == b"2"
    client.close()


def test_a_waiting_ready_task_is_one_stream_entry_and_one_index_entry(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given ready tasks that were never reserved
    client = Client(f"redis://127.0.0.1:{single_server.port}", namespace=namespace)
    client.push_many(Q, [PushItem(f"id{i}", b"payload") for i in range(3)])
    with redis.Redis(port=single_server.port) as raw:
        tag = f"{{{namespace}:{Q}}}"
        suffixes = {k.decode().removeprefix(tag + ":") for k in raw.scan_iter(f"{tag}:*")}
        # Then only the ready stream, index buckets, the sequence and wake-up tokens exist
        assert {s for s in suffixes if not s.startswith("i:")} == {"ready", "seq", "notify"}
        entries = raw.xrange(f"{tag}:ready")
        assert [fields for _, fields in entries] == [
            {f"id{i}".encode(): b"payload"} for i in range(3)
        ]
        # And each index entry names its task's stream entry (0-<n> by its n)
        index: dict[bytes, bytes] = {}
        for s in suffixes:
            if s.startswith("i:"):
                index.update(raw.hgetall(f"{tag}:{s}"))
        assert {id_: b"0-" + n for id_, n in index.items()} == {
            f"id{i}".encode(): sid for i, (sid, _) in enumerate(entries)
        }
        # And drop_all deletes every key, index buckets included
        client.drop_all(Q)
        assert list(raw.scan_iter(f"{tag}:*")) == []
    client.close()


def test_index_buckets_spread_ids_and_stay_in_the_queues_slot(client: Client) -> None:
    buckets = {client._bucket(Q, f"task-{i}") for i in range(5000)}
    assert len(buckets) > lua.INDEX_BUCKETS * 0.9
    slots = {redis.crc.key_slot(k.encode()) for k in [*buckets, *client.keys(Q)]}
    assert len(slots) == 1


def test_reserve_many_after_script_flush_reloads(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given a client whose scripts were flushed from the server
    client = Client(f"redis://127.0.0.1:{single_server.port}", namespace=namespace)
    client.push_many(Q, [PushItem("a", b"x"), PushItem("b", b"y")])
    _, held = client.reserve_many(Q, 30, 1)
    with redis.Redis(port=single_server.port) as raw:
        raw.script_flush()
    # Then settling and claiming, renewing and acking all still work
    acks, nxt = client.reserve_many(Q, 30, 5, done=held)
    assert acks == [True] and [r.task_id for r in nxt] == ["b"]
    with redis.Redis(port=single_server.port) as raw:
        raw.script_flush()
    assert client.renew_many(Q, nxt, 30) == [True]
    assert client.ack(Q, nxt[0])
    client.close()


def test_many_leases_in_flight_are_kept_in_hash_tables_without_a_trace(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given 400 ready tasks with small payloads (each would fit a flat list)
    client = Client(f"redis://127.0.0.1:{single_server.port}", namespace=namespace)
    client.push_many(Q, [PushItem(f"t{i}", b"x") for i in range(400)])
    tag = f"{{{namespace}:{Q}}}"
    with redis.Redis(port=single_server.port) as raw:
        # When a concurrent worker's batches lease 200 and then ack them with the next 200
        _, first = client.reserve_many(Q, 30, 200)
        _, second = client.reserve_many(Q, 30, 200, 0.0, first)
        # Then the hashes of the leased tasks are hash tables, not lists scanned on each write
        assert raw.object("encoding", f"{tag}:meta") == b"hashtable"
        assert raw.object("encoding", f"{tag}:data") == b"hashtable"
        # And they hold nothing but the 200 leased tasks (two extras each, and the payloads)
        assert raw.hlen(f"{tag}:meta") == 400
        assert raw.hlen(f"{tag}:data") == 200
        assert not raw.hexists(f"{tag}:meta", b"\xff")
        # And once all are acked, neither hash is left behind
        flags, _ = client.reserve_many(Q, 30, 0, 0.0, second)
        assert flags == [True] * 200
        assert raw.exists(f"{tag}:meta", f"{tag}:data") == 0
        assert client.stats(Q) == QueueStats()
    client.close()
