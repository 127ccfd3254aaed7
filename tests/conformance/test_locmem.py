"""The in-process backend passes the whole kit."""

from __future__ import annotations

from alligator.backends.locmem_backend import Client
from alligator.testing import Clock, ReliableClientContract, client_machine, reliable_client_machine
from tests.fixtures import DECLARED
from tests.machines import machine_settings


class TestLocmemContract(ReliableClientContract):
    capabilities = DECLARED["locmem"]

    def make_client(self, clock: Clock) -> Client:
        return Client("locmem://conformance", clock=clock)


TestLocmemMachine = reliable_client_machine(
    lambda clock: Client("locmem://machine", clock=clock), settings=machine_settings("locmem")
).TestCase

TestLocmemPlainMachine = client_machine(
    lambda clock: Client("locmem://plain-machine", clock=clock),
    settings=machine_settings("locmem-plain"),
).TestCase

TestLocmemRealTimeMachine = reliable_client_machine(
    lambda clock: Client("locmem://real-time"),
    real_time=True,
    settings=machine_settings("locmem-real-time"),
).TestCase
