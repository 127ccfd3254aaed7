"""The conformance kit and its state machine on a private PostgreSQL.

Each contract test gets a fresh schema (the kit also uses fresh queue names)
and the fake clock the kit injects: the backend then takes every due time
and lease deadline from that clock instead of the server's.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import settings

from alligator.backends.postgresql_backend import Client
from alligator.testing import DEFAULT_SETTINGS, Clock, ReliableClientContract
from alligator.testing.machine import run_reliable_client_machine
from tests.fixtures import DECLARED
from tests.postgresql.cluster import PostgresCluster

#: About 8 s of examples on the 2-core runner (~190 ms each), as the other backends get.
MACHINE_EXAMPLES = 40


class TestPostgresContract(ReliableClientContract):
    capabilities = DECLARED["postgresql"]

    dsn = ""

    @pytest.fixture(autouse=True)
    def _server(self, pg_dsn: str) -> None:
        self.dsn = pg_dsn

    def make_client(self, clock: Clock) -> Client:
        return Client(self.dsn, clock=clock)


def test_state_machine(shared_postgres: PostgresCluster) -> None:
    dsn = f"{shared_postgres.dsn}?schema=m{uuid.uuid4().hex[:8]}"
    run_reliable_client_machine(
        lambda clock: Client(dsn, clock=clock),
        settings=settings(DEFAULT_SETTINGS, max_examples=MACHINE_EXAMPLES),
    )
