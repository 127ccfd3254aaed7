"""The shared conformance kit on a single redis-server and on a 3-node cluster.

Each test gets a fresh namespace on the session's servers (the kit also uses
fresh queue names), and the fake clock the kit injects.
"""

from __future__ import annotations

import uuid

import pytest

from alligator.backends.redis_backend import Client
from alligator.testing.clock import Clock
from alligator.testing.machine import run_reliable_client_machine
from alligator.testing.reliable_contract import ReliableClientContract
from tests.fixtures import DECLARED
from tests.machines import machine_settings
from tests.servers import ServerProcess


class TestSingleRedis(ReliableClientContract):
    capabilities = DECLARED["redis"]
    #: Outcomes expire by the server's own clock (``PEXPIRE``), not the injected one.
    results_expire_in_real_time = True

    dsn = ""

    @pytest.fixture(autouse=True)
    def _server(self, single_server: ServerProcess) -> None:
        self.dsn = f"redis://127.0.0.1:{single_server.port}/0"

    def make_client(self, clock: Clock) -> Client:
        return Client(self.dsn, clock=clock)


class TestRedisCluster(ReliableClientContract):
    capabilities = DECLARED["redis-cluster"]
    #: Outcomes expire by the server's own clock (``PEXPIRE``), not the injected one.
    results_expire_in_real_time = True

    dsn = ""

    @pytest.fixture(autouse=True)
    def _server(self, cluster_nodes: list[ServerProcess]) -> None:
        self.dsn = "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in cluster_nodes)

    def make_client(self, clock: Clock) -> Client:
        return Client(self.dsn, clock=clock)


def test_state_machine_on_single_redis(single_server: ServerProcess) -> None:
    dsn = f"redis://127.0.0.1:{single_server.port}/0"
    run_reliable_client_machine(
        lambda clock: Client(dsn, clock=clock, namespace=f"m{uuid.uuid4().hex[:8]}"),
        settings=machine_settings("redis"),
    )


def test_state_machine_on_redis_cluster(cluster_nodes: list[ServerProcess]) -> None:
    dsn = f"redis+cluster://127.0.0.1:{cluster_nodes[1].port}"
    run_reliable_client_machine(
        lambda clock: Client(dsn, clock=clock, namespace=f"m{uuid.uuid4().hex[:8]}"),
        settings=machine_settings("redis-cluster"),
    )
