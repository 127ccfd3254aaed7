"""Every built-in backend as a pytest fixture, for suites that run on all of them.

This module serves the cross-backend suites (poison payloads, failed-task
operations, retries, prefetch, chaos). ``tests/conftest.py`` registers its
fixtures once for the whole suite, so every module shares one Redis, one
cluster and one beanstalkd per session (``tests/redis`` reuses them too):

* ``any_dsn``: the DSN of each backend in turn (with ``queue_name``; on
  PostgreSQL also a schema of the test's own);
* ``any_backend``: a :class:`Backend` with a fresh store, whose clients take
  an injected clock where the backend allows it, and whose capabilities are
  declared here rather than detected.

Servers are private, on free loopback ports (PostgreSQL: a throw-away
cluster made by ``initdb`` in a temp directory, never the one on 5432); each
test gets a fresh queue name (and a fresh Redis namespace or PostgreSQL
schema), so nothing leaks between tests and nothing is flushed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from alligator import Gator
from alligator.capabilities import Capabilities
from alligator.protocols import Client
from tests.postgresql.cluster import PostgresCluster, find_pg_bin
from tests.servers import (
    IN_CI,
    ServerProcess,
    free_port,
    port_open,
    redis_ready,
    require_binary,
    wait_until,
)

__all__ = [
    "BACKENDS",
    "DECLARED",
    "DISKLESS",
    "PREFETCHING",
    "Backend",
    "any_backend",
    "any_dsn",
    "beanstalkd_server",
    "cluster_dsn",
    "postgres_cluster",
    "queue_name",
    "redis_server",
    "shared_beanstalkd",
    "shared_cluster",
    "shared_postgres",
    "shared_redis",
    "start_cluster",
]

#: Backend names the ``any_dsn`` fixture is parametrized over.
BACKENDS = ("locmem", "sqlite", "redis", "redis-cluster", "beanstalk", "postgresql")

#: Everything a built-in backend may offer, for the ones that offer it all.
FAST = Capabilities(
    reliable=True,
    delays=True,
    prefetch=True,
    failed_tasks=True,
    priority=True,
    closes=True,
    lists_queues=True,
    absent_push=True,
    pages_buried=True,
)

#: What a backend that keeps outcomes itself declares.
RESULTS = {"result_store": True, "results": True, "results_prefetch": True}

#: Each built-in backend's capabilities, by the name ``any_dsn`` gives it.
DECLARED = {
    "locmem": msgspec.structs.replace(
        FAST,
        in_process=True,
        result_store=True,
        results=True,
        results_prefetch=True,
        unique=True,
        limits=True,
    ),
    "sqlite": msgspec.structs.replace(FAST, **RESULTS, unique=True, limits=True),
    "redis": msgspec.structs.replace(FAST, **RESULTS, unique=True, limits=True, asyncio=True),
    "redis-cluster": msgspec.structs.replace(
        FAST, **RESULTS, unique=True, limits=True, asyncio=True
    ),
    "beanstalk": Capabilities(
        reliable=True,
        delays=True,
        prefetch=False,
        failed_tasks=True,
        priority=True,
        queue_names=True,
        closes=True,
        assigns_ids=True,
        lists_queues=True,
        schedule_ledger=True,
    ),
    "postgresql": msgspec.structs.replace(
        FAST, transactional=True, **RESULTS, unique=True, limits=True
    ),
}

#: The backends declared to lease ahead in batches (``reserve_many``, a
#: ``PrefetchClient``): tests that count on it run on these, and check that
#: the others hold one task at a time, so a drift fails instead of skipping.
PREFETCHING = tuple(name for name in BACKENDS if DECLARED[name].prefetch)

#: Keeps the servers lean and diskless unless a test asks for durability.
DISKLESS = ("--save", "", "--appendonly", "no")


def redis_server(workdir: Path, *extra: str, name: str = "redis", port: int = 0) -> ServerProcess:
    """A redis-server (not started) on a free loopback port."""
    binary = require_binary("redis-server")
    port = port or free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), *extra]
    return ServerProcess(argv, port, workdir, name, ready=redis_ready)


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


#: Settings of the test clusters: no fsync (a crash-restart of the server
#: keeps every commit all the same; only an OS crash would not).
PG_TEST_SETTINGS = ("fsync=off",)


def postgres_cluster(workdir: Path | None = None) -> PostgresCluster:
    """A started private PostgreSQL; skipped locally, failed in CI, when it cannot run."""
    bindir = find_pg_bin()
    if bindir is None:
        message = "PostgreSQL (initdb, pg_ctl) is not installed (make servers installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    cluster = PostgresCluster(bindir, workdir, settings=PG_TEST_SETTINGS)
    try:
        cluster.start()
    except Exception as exc:
        cluster.destroy()
        if IN_CI:
            pytest.fail(f"PostgreSQL did not start: {exc}")
        pytest.skip(f"PostgreSQL did not start: {exc}")
    return cluster


@pytest.fixture(scope="session")
def shared_postgres() -> Iterator[PostgresCluster]:
    """One private PostgreSQL for the session; tests isolate by schema or queue name."""
    cluster = postgres_cluster()
    yield cluster
    cluster.destroy()


def postgres_dsn(cluster: PostgresCluster) -> str:
    """A DSN of ``cluster`` with a schema no other test uses."""
    return f"{cluster.dsn}?schema=t{uuid.uuid4().hex[:12]}"


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
    if name == "postgresql":
        return postgres_dsn(request.getfixturevalue("shared_postgres"))
    beanstalkd: ServerProcess = request.getfixturevalue("shared_beanstalkd")
    return f"beanstalk://127.0.0.1:{beanstalkd.port}"


@dataclass
class Backend:
    """One built-in backend with a store of its own, for a cross-backend test.

    Attributes:
        name: One of :data:`BACKENDS`.
        dsn: Its DSN (a fresh locmem name, SQLite file, Redis namespace, or a
            beanstalkd of this test's own).
        clocked: Its client takes an injected clock (not beanstalkd, which
            keeps time on its server).
        prefetch: It leases ahead in batches (see :data:`PREFETCHING`).
        made: The Gators :meth:`gator` built, closed when the test ends.
    """

    name: str
    dsn: str
    clocked: bool
    prefetch: bool
    made: list[Gator] = field(default_factory=list)

    def client(self, clock: Callable[[], float] | None = None) -> Client:
        """A client of the store, on ``clock`` (the wall clock if ``None``)."""
        kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        if self.name == "locmem":
            from alligator.backends.locmem_backend import Client as Locmem

            return Locmem(self.dsn, **kwargs)
        if self.name == "sqlite":
            from alligator.backends.sqlite_backend import Client as Sqlite

            return Sqlite(self.dsn, **kwargs)
        if self.name in ("redis", "redis-cluster"):
            from alligator.backends.redis_backend import Client as Redis

            return Redis(self.dsn, **kwargs)
        if self.name == "postgresql":
            from alligator.backends.postgresql_backend import Client as Postgres

            return Postgres(self.dsn, **kwargs)
        from alligator.backends.beanstalk_backend import Client as Beanstalk

        assert clock is None, "beanstalkd keeps its own time: no clock can be injected"
        return Beanstalk(self.dsn)

    def gator(self, clock: Callable[[], float] | None = None, **kwargs: Any) -> Gator:
        """A Gator (on queue ``q`` unless told) whose backend and retry delays use ``clock``."""
        kwargs.setdefault("queue_name", "q")
        if clock is None:
            gator = Gator(self.dsn, **kwargs)
        else:
            gator = Gator(
                self.dsn, backend_class=lambda dsn: self.client(clock), clock=clock, **kwargs
            )
        self.made.append(gator)  # closed when the test ends
        return gator

    def close(self) -> None:
        """Close every Gator :meth:`gator` made (their connections)."""
        for gator in self.made:
            gator.close()
        self.made.clear()


@pytest.fixture(params=BACKENDS)
def any_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each built-in backend in turn, with a fresh store (queue ``q`` is free)."""
    name: str = request.param
    prefetch = DECLARED[name].prefetch
    if name == "beanstalk":  # a server of its own: starting one takes milliseconds
        server = beanstalkd_server(tmp_path, binlog=False)
        server.start()
        backend = Backend(name, f"beanstalk://127.0.0.1:{server.port}", False, prefetch)
        try:
            yield backend
        finally:
            backend.close()
            server.stop()
        return
    namespace = f"t{uuid.uuid4().hex[:12]}"
    if name == "locmem":
        dsn = f"locmem://{namespace}"
    elif name == "sqlite":
        dsn = f"sqlite:///{tmp_path / 'queue.db'}"
    elif name == "redis":
        redis_node: ServerProcess = request.getfixturevalue("shared_redis")
        dsn = f"redis://127.0.0.1:{redis_node.port}/0?namespace={namespace}"
    elif name == "postgresql":
        dsn = postgres_dsn(request.getfixturevalue("shared_postgres"))
    else:
        nodes: list[ServerProcess] = request.getfixturevalue("shared_cluster")
        dsn = cluster_dsn(nodes) + f"/?namespace={namespace}"
    backend = Backend(name, dsn, True, prefetch)
    try:
        yield backend
    finally:
        backend.close()
