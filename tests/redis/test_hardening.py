"""Issue 13 on Redis: malformed entries, lost replies, lookups at scale, clocks.

Each test reproduces a hole an adversarial review found:

* one malformed storage entry made a script fail half-way, leasing tasks
  under tokens nobody received and dropping the rest of the batch;
* a task id that is not UTF-8 escaped ``reserve_many`` as ``UnicodeDecodeError``;
* ``get`` re-sent its script after a read timeout and lost the task it removed;
* ``get``/``cancel``/a replacing push scanned the ready queue;
* a worker whose clock ran ahead took a running task and a delayed one.

A queue name or task id with surrogates (which raised a raw
``UnicodeEncodeError``) is checked on every backend by
``tests/test_backend_inputs.py``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from alligator.backends.redis_backend import Client
from alligator.exceptions import (
    OutcomeUnknownError,
    TaskInProgressError,
)
from alligator.records import PushItem, QueueStats
from tests.fixtures import redis_server
from tests.redis.conftest import MutableClock
from tests.servers import ServerProcess

Q = "q"
ROOT = Path(__file__).resolve().parents[2]


def raw_ready(client: Client, raw: redis.Redis, fields: dict[bytes, bytes]) -> None:
    """Append an entry written by hand (not by Alligator) to the queue's ready stream.

    Alligator's own entries have one field, the task id, whose value is the payload.
    """
    raw.xadd(client.keys(Q)[0], fields)  # type: ignore[arg-type]


def good(n: int, prefix: str = "g") -> list[PushItem]:
    return [PushItem(f"{prefix}{i}", f"payload {prefix}{i}".encode()) for i in range(n)]


@pytest.fixture
def raw(dsn: str) -> redis.Redis | redis.RedisCluster:
    if dsn.startswith("redis+cluster://"):
        host, port = dsn.removeprefix("redis+cluster://").split(",")[0].split(":")
        return redis.RedisCluster(host=host, port=int(port))
    return redis.Redis.from_url(dsn)


@pytest.mark.parametrize(
    "fields",
    [
        {b"i": b"an id", b"p": b"a payload"},
        {b"a": b"1", b"b": b"2", b"c": b"3"},
        {b"": b"an empty id"},
        {b"\xff\xfe not utf-8": b"payload"},
        {b"\xed\xa0\x80 a surrogate": b"payload"},
        {b"\xc0\xaf overlong": b"payload"},
    ],
    ids=["two-fields", "three-fields", "empty-id", "non-utf8-id", "surrogate-id", "overlong-id"],
)
def test_a_malformed_ready_entry_is_buried_and_every_good_task_is_handed_out(
    client: Client, raw: redis.Redis, fields: dict[bytes, bytes]
) -> None:
    # Given good tasks before and after an entry Alligator did not write
    client.push_many(Q, good(5, "a"))
    raw_ready(client, raw, fields)
    client.push_many(Q, good(5, "b"))
    # When a worker leases a batch bigger than the queue
    _, leased = client.reserve_many(Q, 30, 20)
    # Then every good task comes out once, with its payload and a working lease
    assert sorted(r.task_id for r in leased) == sorted(
        [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)]
    )
    assert all(r.data == f"payload {r.task_id}".encode() for r in leased)
    # And the bad entry is buried with a reason saying what was wrong
    [buried] = client.buried(Q)
    assert buried.reason.startswith("malformed ready entry")
    assert client.stats(Q) == QueueStats(reserved=10, buried=1)
    assert client.reserve_many(Q, 30, 20, done=leased) == ([True] * 10, [])
    assert client.stats(Q) == QueueStats(buried=1)
    # And it can be purged like any buried task
    assert client.purge(Q) == 1
    assert client.stats(Q) == QueueStats()


def test_a_non_utf8_id_never_escapes_as_a_decode_error(client: Client, raw: redis.Redis) -> None:
    # Given a well-formed entry whose id is not UTF-8, between good tasks
    client.push_many(Q, good(3))
    raw_ready(client, raw, {b"\xc3\x28bad": b"payload"})
    client.push_many(Q, good(3, "h"))
    # When workers lease one by one / Then only good tasks come out, no exception
    got = []
    while (held := client.reserve(Q, 30)) is not None:
        got.append(held.task_id)
        assert client.ack(Q, held)
    assert sorted(got) == sorted([f"g{i}" for i in range(3)] + [f"h{i}" for i in range(3)])
    # And the entry is buried under a printable id, its reason naming the raw bytes
    [buried] = client.buried(Q)
    assert buried.task_id.isprintable()
    assert "c328" in buried.reason and buried.data == b"payload"


def test_an_entry_for_an_id_the_queue_holds_elsewhere_is_buried(
    client: Client, raw: redis.Redis, clock: MutableClock
) -> None:
    # Given a delayed task, and a ready entry written by hand under its id
    client.push(Q, "later", b"the real one", delay_until=clock.now + 60)
    raw_ready(client, raw, {b"later": b"an impostor"})
    client.push(Q, "now", b"x")
    # When the queue is worked / Then the impostor is buried and the real one waits
    _, leased = client.reserve_many(Q, 30, 5)
    assert [r.task_id for r in leased] == ["now"]
    [buried] = client.buried(Q)
    assert "already in the queue" in buried.reason and buried.data == b"an impostor"
    assert client.ack(Q, leased[0])
    clock.advance(61)
    _, leased = client.reserve_many(Q, 30, 5)
    assert [(r.task_id, r.data) for r in leased] == [("later", b"the real one")]


def test_malformed_delayed_and_leased_entries_are_buried(
    client: Client, raw: redis.Redis, clock: MutableClock
) -> None:
    # Given a delayed member and a lease that name no stored task, and good tasks
    keys = dict(zip(("ready", "delayed", "data", "leased"), client.keys(Q), strict=False))
    client.push_many(Q, good(2))
    raw.zadd(keys["delayed"], {b"000000000001ghost": clock.now - 1, b"short": clock.now - 1})
    raw.zadd(keys["leased"], {b"phantom": clock.now - 1})
    client.push(Q, "later", b"payload later", delay_until=clock.now + 5)
    # When the good tasks are worked off
    clock.advance(10)
    got = []
    while (held := client.reserve(Q, 30)) is not None:
        got.append(held.task_id)
        assert client.ack(Q, held)
    # Then each good task ran once and each bad entry is buried with a reason
    assert sorted(got) == ["g0", "g1", "later"]
    reasons = sorted(b.reason.split(":")[0] for b in client.buried(Q))
    assert reasons == ["malformed delayed entry"] * 2 + ["malformed lease entry"]
    assert client.stats(Q) == QueueStats(buried=3)


def test_a_corrupt_attempt_counter_does_not_break_a_reserve(
    client: Client, raw: redis.Redis
) -> None:
    # Given a task whose attempt counter someone overwrote with text
    client.push_many(Q, good(3))
    raw.hset(client.keys(Q)[4], "a:g1", "many")
    # When the tasks are leased / Then all three are, the bad counter restarting
    _, leased = client.reserve_many(Q, 30, 5)
    assert [(r.task_id, r.attempts) for r in leased] == [("g0", 1), ("g1", 1), ("g2", 1)]


def test_get_does_not_lose_a_task_whose_reply_timed_out(tmp_path: Path) -> None:
    # Given a server that will stall, and a client with a short socket timeout
    server = redis_server(tmp_path, "--save", "", "--appendonly", "no",
                          "--enable-debug-command", "local")  # fmt: skip
    server.start()
    try:
        client = Client(f"redis://127.0.0.1:{server.port}/0?socket_timeout=0.3")
        client.push(Q, "t", b"the payload")
        assert client.get(Q, "missing") is None  # its scripts are loaded, its connection open

        # When the server sleeps while get's script is on its way
        def stall() -> None:
            with redis.Redis(port=server.port) as other:
                other.execute_command("DEBUG", "SLEEP", "1")

        sleeper = threading.Thread(target=stall)
        sleeper.start()
        time.sleep(0.1)
        got: bytes | Exception | None
        try:
            got = client.get(Q, "t")
        except Exception as exc:
            got = exc
        sleeper.join()
        # Then get either returned the task, or failed and the task is still there
        if isinstance(got, bytes):
            assert got == b"the payload"
            assert client.stats(Q) == QueueStats()
        else:
            assert client.get(Q, "t") == b"the payload", f"get gave {got!r} and lost the task"
        client.close()
    finally:
        server.stop()


def test_an_ack_whose_reply_is_lost_is_not_sent_again(tmp_path: Path) -> None:
    # Given a held task, and a server that will stall while its ack is on the way
    server = redis_server(tmp_path, "--save", "", "--appendonly", "no",
                          "--enable-debug-command", "local")  # fmt: skip
    server.start()
    try:
        client = Client(f"redis://127.0.0.1:{server.port}/0?socket_timeout=0.3")
        client.push_many(Q, [PushItem("t", b"x"), PushItem("warm", b"x")])
        warm = client.reserve(Q, 60)
        assert warm is not None and client.ack(Q, warm)  # the ack script is loaded
        held = client.reserve(Q, 60)
        assert held is not None

        def stall() -> None:
            with redis.Redis(port=server.port) as other:
                other.execute_command("DEBUG", "SLEEP", "1")

        sleeper = threading.Thread(target=stall)
        sleeper.start()
        time.sleep(0.1)
        # When the ack's reply times out / Then the caller is told the outcome is unknown
        with pytest.raises(OutcomeUnknownError):
            client.ack(Q, held)
        sleeper.join()
        # And the ack ran once: the task is gone, and was not reported as a lost lease
        assert client.stats(Q) == QueueStats()
        client.close()
    finally:
        server.stop()


def test_get_cancel_and_replace_never_walk_the_ready_queue(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given 5,000 ready tasks
    client = Client(f"redis://127.0.0.1:{single_server.port}", namespace=namespace)
    client.push_many(Q, [PushItem(f"t{i}", b"x") for i in range(5000)])
    with redis.Redis(port=single_server.port) as raw:
        raw.config_resetstat()
        # When tasks deep in the queue are fetched, cancelled and replaced
        assert client.get(Q, "t4000") == b"x"
        assert client.cancel(Q, "t4999")
        client.push(Q, "t2500", b"new")
        stats = raw.info("commandstats")
    # Then no command that walks a list or a range of it ran
    walking = {"cmdstat_lrange", "cmdstat_lrem", "cmdstat_lpos", "cmdstat_lindex"}
    assert walking.isdisjoint(stats), sorted(walking & set(stats))
    assert client.stats(Q) == QueueStats(ready=4998)
    client.close()


def test_pushing_the_id_of_a_running_task_is_refused(client: Client, clock: MutableClock) -> None:
    # Given a task a worker is running, and another waiting
    client.push_many(Q, [PushItem("running", b"v1"), PushItem("waiting", b"w1")])
    held = client.reserve(Q, 30)
    assert held is not None and held.task_id == "running"
    # When either is pushed again
    with pytest.raises(TaskInProgressError) as caught:
        client.push(Q, "running", b"v2")
    assert caught.value.task_id == "running"
    with pytest.raises(TaskInProgressError):
        client.push_many(Q, [PushItem("fresh", b"f"), PushItem("running", b"v2")])
    client.push(Q, "waiting", b"w2")
    # Then the running one is untouched, the batch stored nothing, the waiting one replaced
    assert client.stats(Q) == QueueStats(ready=1, reserved=1)
    assert client.ack(Q, held)
    assert client.get(Q, "waiting") == b"w2"
    # And once its lease has expired it may be replaced
    client.push(Q, "slow", b"s1")
    slow = client.reserve(Q, 30)
    assert slow is not None
    clock.advance(31)
    client.push(Q, "slow", b"s2")
    assert client.get(Q, "slow") == b"s2"


SKEWED_WORKER = """
import sys, time
real = time.time
time.time = lambda: real() + 45.0          # this machine's clock runs 45 s ahead
from alligator.backends.redis_backend import Client
client = Client(sys.argv[1])
held = client.reserve("q", 30)
print("took", held.task_id if held else None, flush=True)
"""


def test_a_worker_whose_clock_runs_ahead_takes_neither_running_nor_delayed_tasks(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given a task held by a worker, and one delayed by 30 s, on the server's clock
    dsn = f"redis://127.0.0.1:{single_server.port}/0?namespace={namespace}"
    client = Client(dsn)
    client.push(Q, "running", b"x")
    assert client.reserve(Q, 30) is not None
    client.push(Q, "delayed", b"x", delay_until=time.time() + 30)
    # When a worker whose clock is 45 s ahead reserves
    done = subprocess.run(
        [sys.executable, "-c", SKEWED_WORKER, dsn], capture_output=True, text=True, cwd=ROOT,
        timeout=60, check=True,
    )  # fmt: skip
    # Then it gets nothing: the lease and the due time are judged by the server's clock
    assert done.stdout.strip() == "took None", done.stderr
    assert client.stats(Q) == QueueStats(delayed=1, reserved=1)
    client.close()
