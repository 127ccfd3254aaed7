"""Every built-in backend as a pytest fixture, for suites that run on all of them.

``tests/redis`` and ``tests/beanstalk`` keep their own conftest fixtures; this
module serves the cross-backend suites (poison payloads, failed-task
operations, chaos). Import the fixtures into a test module or conftest::

    from tests.fixtures import any_dsn, shared_beanstalkd, shared_cluster, shared_redis

Servers are private, on free loopback ports, and shared for the session;
each test gets a fresh queue name (and a fresh Redis namespace), so nothing
leaks between tests and nothing is flushed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from alligator.capabilities import Capabilities
from tests.servers import ServerProcess, free_port, port_open, require_binary, wait_until

__all__ = [
    "BACKENDS",
    "DISKLESS",
    "any_dsn",
    "beanstalkd_server",
    "cluster_dsn",
    "queue_name",
    "redis_server",
    "shared_beanstalkd",
    "shared_cluster",
    "shared_redis",
    "start_cluster",
]

#: Backend names the ``any_dsn`` fixture is parametrized over.
BACKENDS = ("locmem", "sqlite", "redis", "redis-cluster", "beanstalk")

#: Everything a built-in backend may offer, for the ones that offer it all.
FAST = Capabilities(
    reliable=True, delays=True, prefetch=True, failed_tasks=True, priority=False, closes=True
)

#: Each built-in backend's capabilities, by the name ``any_dsn`` gives it.
DECLARED = {
    "locmem": FAST,
    "sqlite": FAST,
    "redis": FAST,
    "redis-cluster": FAST,
    "beanstalk": Capabilities(
        reliable=True,
        delays=True,
        prefetch=False,
        failed_tasks=True,
        priority=True,
        queue_names=True,
        closes=True,
    ),
}


#: Keeps the servers lean and diskless unless a test asks for durability.
DISKLESS = ("--save", "", "--appendonly", "no")


def redis_server(workdir: Path, *extra: str, name: str = "redis", port: int = 0) -> ServerProcess:
    """A redis-server (not started) on a free loopback port."""
    binary = require_binary("redis-server")
    port = port or free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), *extra]
    return ServerProcess(argv, port, workdir, name)


def beanstalkd_server(workdir: Path, *, binlog: bool = True) -> ServerProcess:
    """A beanstalkd (not started) on a free loopback port, with a binlog by default."""
    binary = require_binary("beanstalkd")
    port = free_port()
    argv = [binary, "-l", "127.0.0.1", "-p", str(port)]
    if binlog:
        (workdir / "binlog").mkdir(exist_ok=True)
        argv += ["-b", str(workdir / "binlog")]
    return ServerProcess(argv, port, workdir, "beanstalkd")


def _cluster_port() -> int:
    for _ in range(200):
        port = free_port()
        if port <= 55535 and not port_open(port + 10000):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def _cluster_ok(port: int) -> bool:
    with redis.Redis(port=port) as conn:
        info = conn.execute_command("CLUSTER", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text


def start_cluster(workdir: Path) -> list[ServerProcess]:
    """Three started primaries sharing all 16384 slots (stop them when done)."""
    nodes: list[ServerProcess] = []
    try:
        for i in range(3):
            node_dir = workdir / f"n{i}"
            node_dir.mkdir()
            node = redis_server(
                node_dir,
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(node_dir / "nodes.conf"),
                *DISKLESS,
                name=f"cluster{i}",
                port=_cluster_port(),
            )  # fmt: skip
            node.start()
            nodes.append(node)
        ports = [n.port for n in nodes]
        bounds = [0, 5461, 10923, 16384]
        for i, port in enumerate(ports):
            with redis.Redis(port=port) as conn:
                conn.execute_command("CLUSTER", "ADDSLOTS", *range(bounds[i], bounds[i + 1]))
                if i:
                    conn.execute_command("CLUSTER", "MEET", "127.0.0.1", str(ports[0]))
        wait_until(lambda: all(_cluster_ok(p) for p in ports), 30, message="cluster_state:ok")
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def cluster_dsn(nodes: list[ServerProcess]) -> str:
    return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in nodes)


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = redis_server(tmp_path_factory.mktemp("xredis"), *DISKLESS)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    nodes = start_cluster(tmp_path_factory.mktemp("xcluster"))
    yield nodes
    for node in nodes:
        node.stop()


@pytest.fixture(scope="session")
def shared_beanstalkd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = beanstalkd_server(tmp_path_factory.mktemp("xbeanstalkd"), binlog=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def queue_name() -> str:
    """A queue no other test uses (also a valid beanstalkd tube)."""
    return f"q{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=BACKENDS)
def any_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The DSN of one built-in backend; each test uses its own ``queue_name``."""
    name = request.param
    namespace = f"t{uuid.uuid4().hex[:12]}"
    if name == "locmem":
        return f"locmem://{namespace}"
    if name == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    if name == "redis":
        server: ServerProcess = request.getfixturevalue("shared_redis")
        return f"redis://127.0.0.1:{server.port}/0?namespace={namespace}"
    if name == "redis-cluster":
        nodes: list[ServerProcess] = request.getfixturevalue("shared_cluster")
        return cluster_dsn(nodes) + f"/?namespace={namespace}"
    beanstalkd: ServerProcess = request.getfixturevalue("shared_beanstalkd")
    return f"beanstalk://127.0.0.1:{beanstalkd.port}"
