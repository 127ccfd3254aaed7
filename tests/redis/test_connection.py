"""DSNs, error translation, and losing the server mid-run."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import redis

from alligator.backends import backend_class_for
from alligator.backends._redis_driver import parse_dsn
from alligator.backends.redis_backend import Client
from alligator.exceptions import BackendConnectionError, BackendError, ConfigurationError
from alligator.records import PushItem, QueueStats
from tests.fixtures import cluster_dsn, redis_server
from tests.servers import ServerProcess

Q = "q"


def test_server_loss_is_a_connection_error_and_nothing_is_lost_on_restart(
    aof_server: ServerProcess,
) -> None:
    # Given tasks on an AOF server, one of them leased
    client = Client(f"redis://127.0.0.1:{aof_server.port}/0")
    client.push_many(Q, [PushItem(str(i), b"x") for i in range(3)])
    held = client.reserve(Q, 600)
    assert held is not None
    # When the server goes away
    aof_server.stop()
    # Then producers and workers get our connection error, chained to redis-py's
    with pytest.raises(BackendConnectionError) as caught:
        client.push(Q, "lost?", b"x")
    assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)
    with pytest.raises(BackendConnectionError):
        client.reserve(Q, 30, timeout=1)
    # When it comes back, the same client carries on and every task is there
    aof_server.start()
    client.push(Q, "3", b"x")
    assert client.stats(Q) == QueueStats(ready=3, reserved=1)
    assert client.ack(Q, held)
    client.close()


def test_a_redis_error_inside_a_script_is_a_backend_error(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given a queue key clobbered by someone else with the wrong type
    client = Client(f"redis://127.0.0.1:{single_server.port}", namespace=namespace)
    with redis.Redis(port=single_server.port) as raw:
        raw.set(client.keys(Q)[0], "not a zset")
    # Then the failure surfaces as our BackendError, not redis-py's
    with pytest.raises(BackendError) as caught:
        client.push(Q, "t", b"x")
    assert not isinstance(caught.value, BackendConnectionError)
    assert isinstance(caught.value.__cause__, redis.exceptions.ResponseError)
    client.close()


def test_unix_socket_dsn_with_database_and_namespace(tmp_path: Path) -> None:
    # Given a server listening on a Unix socket
    sock = tmp_path / "redis.sock"
    server = redis_server(tmp_path, "--save", "", "--unixsocket", str(sock))
    server.start()
    try:
        # When a client connects through it to database 3
        client = Client(f"unix://{sock}?db=3&namespace=app")
        client.push(Q, "t", b"x")
        # Then the task lives in database 3 under the app namespace
        with redis.Redis(unix_socket_path=str(sock), db=3) as raw:
            assert raw.exists("{app:q}:ready")
        assert client.pop(Q) == b"x"
        client.close()
    finally:
        server.stop()


def test_cluster_dsn_lists_startup_nodes_and_keeps_credentials() -> None:
    target = parse_dsn("redis+cluster://u:p@10.0.0.1:7000,10.0.0.2:7001/?namespace=app&ssl=x")
    assert target.cluster
    assert target.url == "redis://u:p@10.0.0.1:7000?ssl=x"
    assert target.extra_nodes == (("10.0.0.2", 7001),)
    assert target.namespace == "app"


def test_tls_cluster_dsn_uses_rediss() -> None:
    assert parse_dsn("rediss+cluster://h:7000").url == "rediss://h:7000"


@pytest.mark.parametrize(
    "dsn",
    [
        "http://localhost:6379",
        "redis+cluster://",
        "redis+cluster://host",
        "redis+cluster://host:7000/2",
        "redis://localhost:6379/0?namespace=a:b",
        "redis://localhost:6379/0?namespace={a}",
    ],
)
def test_unusable_dsn_is_a_configuration_error(dsn: str) -> None:
    with pytest.raises(ConfigurationError):
        Client(dsn)


@pytest.mark.parametrize("scheme", ["redis", "rediss", "unix", "redis+cluster", "rediss+cluster"])
def test_every_redis_scheme_finds_this_backend(scheme: str) -> None:
    assert backend_class_for(f"{scheme}://localhost:6379") is Client


def test_passwords_never_appear_in_configuration_errors() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Client("redis+cluster://user:s3cret@host:7000/5")
    assert "s3cret" not in str(caught.value)


def test_a_wait_longer_than_the_socket_timeout_is_not_a_lost_connection(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given a client whose socket reads time out after half a second
    client = Client(
        f"redis://127.0.0.1:{single_server.port}/0?socket_timeout=0.5", namespace=namespace
    )
    # When it waits longer than that for a task / Then it just finds none
    assert client.reserve(Q, 30, timeout=1.2) is None
    client.close()


def test_a_forked_child_uses_its_own_connection(
    single_server: ServerProcess, namespace: str
) -> None:
    # Given a client that has talked to the server from the parent
    client = Client(f"redis://127.0.0.1:{single_server.port}/0", namespace=namespace)
    client.push(Q, "parent-1", b"x")
    # When a forked child pushes and reserves through the same client object
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            client.push(Q, "child", b"y")
            code = 0 if client.stats(Q) == QueueStats(ready=2) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    # Then the child succeeded and the parent's connection is still in step
    assert os.waitstatus_to_exitcode(status) == 0
    client.push(Q, "parent-2", b"z")
    assert [client.pop(Q) for _ in range(3)] == [b"x", b"y", b"z"]
    client.close()


def test_threads_that_end_give_their_connection_back(tmp_path: Path) -> None:
    # Given one client of a private server, used by 30 short-lived threads in turn
    server = redis_server(tmp_path, "--save", "")
    server.start()
    try:
        client = Client(f"redis://127.0.0.1:{server.port}/0")
        for i in range(30):
            thread = threading.Thread(target=client.push, args=(Q, str(i), b"x"))
            thread.start()
            thread.join(timeout=10)
        # Then the server sees a couple of connections from it, not 30
        with redis.Redis(port=server.port) as raw:
            assert len(raw.client_list()) - 1 <= 3
        assert client.len(Q) == 30
        client.close()
    finally:
        server.stop()


def test_closing_a_cluster_client_closes_every_nodes_sockets(
    cluster_nodes: list[ServerProcess],
) -> None:
    # Given a cluster client that talked to every node
    client = Client(cluster_dsn(cluster_nodes), namespace="closing")
    for i in range(30):
        client.push(f"q{i}", "t", b"x")  # queues hash to the three nodes
    cluster = client._redis._client
    assert isinstance(cluster, redis.RedisCluster)
    nodes = cluster.get_nodes()  # type: ignore[no-untyped-call]
    pools = [node.redis_connection.connection_pool for node in nodes]
    opened = [c for pool in pools for c in pool._available_connections]
    assert len(opened) >= 3
    for i in range(30):
        client.drop_all(f"q{i}")
    # When it is closed
    client.close()
    # Then no node's connection keeps a socket (redis-py's cluster close()
    # alone left them to the garbage collector, which warned)
    assert [c for c in opened if c._sock is not None] == []
