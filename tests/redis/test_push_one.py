"""The plain push (``push_one.lua``) stores exactly what the full push script stores.

A single task due now with priority 0 (the common enqueue) is sent to a lean
script without the batch loop and the due/priority branches; these tests run
the same pushes through it and through ``push.lua`` in two namespaces of a
real server and compare every key the two leave behind, byte for byte.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import pytest
import redis

from alligator.backends import _redis_scripts as lua
from alligator.backends._redis_driver import Reply
from alligator.backends.redis_backend import Client
from alligator.exceptions import OutcomeUnknownError
from alligator.records import PushItem
from tests.redis.conftest import MutableClock
from tests.servers import ServerProcess

Q = "q"

Value = object


def content(raw: redis.Redis, kind: str, key: bytes) -> Value:
    """The whole content of one key of type ``kind``."""
    if kind == "stream":
        return raw.xrange(key)
    if kind == "hash":
        return raw.hgetall(key)
    if kind == "zset":
        return raw.zrange(key, 0, -1, withscores=True)
    if kind == "list":
        return raw.lrange(key, 0, -1)
    if kind == "set":
        return raw.smembers(key)
    return raw.get(key)


def dump(raw: redis.Redis, namespace: str) -> dict[str, tuple[str, Value]]:
    """Every key of the namespace (named without the namespace), with its type and content."""
    found: dict[str, tuple[str, Value]] = {}
    for key in raw.scan_iter(f"*{namespace}*"):
        found_type = raw.type(key)
        kind = found_type.decode() if isinstance(found_type, bytes) else found_type
        found[key.decode().replace(namespace, "NS")] = (kind, content(raw, kind, key))
    return found


def server_time(raw: redis.Redis) -> float:
    seconds, micros = raw.time()
    return seconds + micros / 1e6


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def full_push(client: Client, task_id: str, data: bytes) -> Reply:
    """One task through push.lua, as a batch of one would be sent."""
    return client._run(lua.PUSH, Q, [client._now(), task_id, data, "", ""], [task_id])


def plain_push(client: Client, task_id: str, data: bytes) -> Reply:
    """One task through push_one.lua, as ``Client.push`` sends a plain task."""
    return client._run(lua.PUSH_ONE, Q, [client._now(), task_id, data], [task_id])


@pytest.mark.parametrize("injected_clock", [True, False], ids=["client clock", "server clock"])
def test_the_plain_push_stores_what_the_full_push_stores(
    single_server: ServerProcess, injected_clock: bool
) -> None:
    # Given two empty namespaces, each with a delayed task and a task already ready
    now = MutableClock(1_700_000_000.0) if injected_clock else None
    url = f"redis://127.0.0.1:{single_server.port}"
    spaces = {"full": "tfullpush" + str(injected_clock), "one": "tonepush" + str(injected_clock)}
    clients = {name: Client(url, clock=now, namespace=ns) for name, ns in spaces.items()}
    with redis.Redis(port=single_server.port) as raw:
        for ns in spaces.values():
            for key in raw.scan_iter(f"*{ns}*"):
                raw.delete(key)
        due_soon = (now.now if now else server_time(raw)) + 0.05
        for client in clients.values():
            client.push_many(Q, [PushItem("first", b"f"), PushItem("later", b"l", due_soon)])
        if now is not None:
            now.advance(1.0)
        else:
            wait_for(lambda: server_time(raw) > due_soon)  # the delayed task comes due
        # When the same tasks are pushed one at a time, by each script
        results: dict[str, list[Reply]] = {}
        for name, push in (("full", full_push), ("one", plain_push)):
            client = clients[name]
            results[name] = [push(client, f"t{i}", f"payload {i}".encode()) for i in range(5)]
            # (an id the queue holds is refused, storing nothing)
            results[name].append(push(client, "t3", b"again"))
        # Then both answer the same, and leave the same keys with the same contents
        assert results["one"] == results["full"] == [1] * 5 + [-1]
        dumps = {name: dump(raw, ns) for name, ns in spaces.items()}
        assert dumps["one"] == dumps["full"]
        # And the delayed task came due before the plain pushes (FIFO by due time)
        ready = dumps["one"][f"{{NS:{Q}}}:ready"][1]
        assert isinstance(ready, list)
        order = [next(iter(fields)).decode() for _, fields in ready]
        assert order == ["first", "later", "t0", "t1", "t2", "t3", "t4"]
    for client in clients.values():
        client.drop_all(Q)
        client.close()


def test_a_single_plain_push_is_sent_to_the_lean_script(
    single_server: ServerProcess, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a client whose script calls are recorded
    client = Client(f"redis://127.0.0.1:{single_server.port}", namespace=namespace)
    sent: list[str] = []
    run = client._redis.run

    def recording(
        source: str, keys: Sequence[str], args: Sequence[bytes | str], *, resend: bool = False
    ) -> Reply:
        sent.append(next(n for n, s in lua.SCRIPTS.items() if s.source == source))
        return run(source, keys, args, resend=resend)

    monkeypatch.setattr(client._redis, "run", recording)
    # When it pushes a plain task, a delayed one, one with a priority, two at once, and replaces
    client.push(Q, "plain", b"x")
    client.push(Q, "delayed", b"x", delay_until=4_000_000_000.0)
    client.push_many(Q, [PushItem("ranked", b"x", priority=-1)])
    client.push_many(Q, [PushItem("a", b"x"), PushItem("b", b"x")])
    client.push(Q, "plain", b"y")
    # Then only the plain single tasks go to push_one (a held id then to push_replace)
    assert sent == ["push_one", "push", "push", "push", "push_one", "push_replace"]
    assert client.get(Q, "plain") == b"y"
    client.drop_all(Q)
    client.close()


def test_an_asyncio_push_whose_reply_is_late_is_not_sent_again(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given an asyncio producer with a short socket timeout, its script loaded
    url = f"redis://127.0.0.1:{single_server.port}/0?socket_timeout=0.3&namespace={namespace}"
    client = Client(url)
    producer = client.asyncio()

    async def push_while_paused() -> BaseException | None:
        await producer.push_many(Q, [PushItem("warm", b"x")])
        with redis.Redis(port=single_server.port) as raw:
            raw.client_pause(1000, all=False)  # write commands wait a second for their reply
        try:
            await producer.push_many(Q, [PushItem("t", b"x")])
        except Exception as exc:
            return exc
        finally:
            await producer.aclose()
        return None

    # When a push is sent while the server holds writes past the timeout
    error = asyncio.run(push_while_paused())
    # Then the caller is told its outcome is unknown (the push is not sent twice)
    assert isinstance(error, OutcomeUnknownError)
    # And it was sent once: the server drops a held request whose connection
    # closed, so nothing of it is stored (a second send would have stored it)
    with redis.Redis(port=single_server.port) as raw:
        raw.set(f"{namespace}:after-pause", 1)  # answered once the pause is over
        raw.delete(f"{namespace}:after-pause")
    assert client.stats(Q).ready == 1
    assert client.get(Q, "t") is None
    client.drop_all(Q)
    client.close()
