"""Private redis-servers for the Redis backend tests, on free loopback ports.

One plain server and one real 3-node Redis Cluster live for the whole
session (starting a cluster takes a second or two); every test gets a fresh
key namespace on them, so tests never see each other's keys and nothing is
flushed. Tests that restart or stop a server get their own, with AOF on.
Never the user's Redis: every server here is started by these fixtures.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from alligator.backends.redis_backend import Client
from tests.servers import ServerProcess, free_port, port_open, require_binary, wait_until

#: Keeps the servers lean and diskless unless a test asks for durability.
_DISKLESS = ("--save", "", "--appendonly", "no")


class MutableClock:
    """Epoch seconds a test sets or advances by hand (``.now`` is writable)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def cluster_port() -> int:
    """A free port a cluster node can use: its bus port (+10000) must be free too."""
    for _ in range(200):
        port = free_port()
        if port <= 55535 and not port_open(port + 10000):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def redis_server(
    workdir: Path, *extra: str, name: str = "redis", port: int | None = None
) -> ServerProcess:
    """A redis-server (not yet started) on a free port under ``workdir``."""
    binary = require_binary("redis-server")
    port = port or free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), *extra]
    return ServerProcess(argv, port, workdir, name)


@pytest.fixture(scope="session")
def single_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = redis_server(tmp_path_factory.mktemp("redis"), *_DISKLESS)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cluster_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Three primaries joined into one cluster covering all 16384 slots."""
    workdir = tmp_path_factory.mktemp("cluster")
    nodes = []
    for i in range(3):
        node_dir = workdir / f"n{i}"
        node_dir.mkdir()
        node = redis_server(
            node_dir,
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(node_dir / "nodes.conf"),
            *_DISKLESS,
            name=f"cluster{i}",
            port=cluster_port(),
        )
        node.start()
        nodes.append(node)
    try:
        # Hand each node a third of the slots and introduce them: what
        # `redis-cli --cluster create` does, minus its one-second waits.
        ports = [n.port for n in nodes]
        bounds = [0, 5461, 10923, 16384]
        for i, port in enumerate(ports):
            with redis.Redis(port=port) as conn:
                conn.execute_command("CLUSTER", "ADDSLOTS", *range(bounds[i], bounds[i + 1]))
                if i:
                    conn.execute_command("CLUSTER", "MEET", "127.0.0.1", str(ports[0]))
        wait_until(lambda: all(_cluster_ok(p) for p in ports), 30, message="cluster_state:ok")
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def _cluster_ok(port: int) -> bool:
    with redis.Redis(port=port) as conn:
        info = conn.execute_command("CLUSTER", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text


@pytest.fixture(params=["single", "cluster"])
def dsn(
    request: pytest.FixtureRequest,
) -> str:
    """The DSN of the shared single server or of the shared cluster."""
    if request.param == "single":
        server: ServerProcess = request.getfixturevalue("single_server")
        return f"redis://127.0.0.1:{server.port}/0"
    nodes: list[ServerProcess] = request.getfixturevalue("cluster_nodes")
    return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in nodes)


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses: isolation without flushing."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
def client(dsn: str, clock: MutableClock, namespace: str) -> Iterator[Client]:
    made = Client(dsn, clock=clock, namespace=namespace)
    yield made
    made.close()


@pytest.fixture
def aof_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A private server with AOF fsynced on every write, for restart tests."""
    server = redis_server(
        tmp_path, "--save", "", "--appendonly", "yes", "--appendfsync", "always", name="redis-aof"
    )
    server.start()
    yield server
    server.stop()
