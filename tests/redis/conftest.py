"""Private redis-servers for the Redis backend tests, on free loopback ports.

One plain server and one real 3-node Redis Cluster live for the whole
session (starting a cluster takes a second or two; both come from
``tests/fixtures.py``, shared with the cross-backend suites); every test gets
a fresh key namespace on them, so tests never see each other's keys and nothing is
flushed. Tests that restart or stop a server get their own, with AOF on.
Never the user's Redis: every server here is started by these fixtures.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator.backends.redis_backend import Client
from tests.fixtures import cluster_dsn, redis_server
from tests.servers import ServerProcess


class MutableClock:
    """Epoch seconds a test sets or advances by hand (``.now`` is writable)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def single_server(shared_redis: ServerProcess) -> ServerProcess:
    """The session's diskless redis-server (shared with the cross-backend suites)."""
    return shared_redis


@pytest.fixture(scope="session")
def cluster_nodes(shared_cluster: list[ServerProcess]) -> list[ServerProcess]:
    """The session's three primaries covering all 16384 slots (shared as well)."""
    return shared_cluster


@pytest.fixture(params=["single", "cluster"])
def dsn(
    request: pytest.FixtureRequest,
) -> str:
    """The DSN of the shared single server or of the shared cluster."""
    if request.param == "single":
        server: ServerProcess = request.getfixturevalue("single_server")
        return f"redis://127.0.0.1:{server.port}/0"
    nodes: list[ServerProcess] = request.getfixturevalue("cluster_nodes")
    return cluster_dsn(nodes)


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
