"""The SQLite backend passes the whole kit, on a fresh file per test."""

from __future__ import annotations

from pathlib import Path

from alligator.backends.sqlite_backend import Client
from alligator.testing import Clock, ReliableClientContract, run_reliable_client_machine
from tests.fixtures import DECLARED
from tests.machines import machine_settings


class TestSqliteContract(ReliableClientContract):
    capabilities = DECLARED["sqlite"]

    def make_client(self, clock: Clock) -> Client:
        return Client(f"sqlite:///{self.tmp_path}/queue.db", clock=clock)


def test_sqlite_state_machine(tmp_path: Path) -> None:
    # One file for the whole run: each example uses its own unique queue names.
    run_reliable_client_machine(
        lambda clock: Client(f"sqlite:///{tmp_path}/machine.db", clock=clock),
        settings=machine_settings("sqlite"),
    )
