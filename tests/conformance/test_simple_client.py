"""A user-style 1.0 client (no delays, no leases) passes the 1.0 kit."""

from __future__ import annotations

from alligator.capabilities import Capabilities
from alligator.protocols import Client
from alligator.testing import ClientContract, Clock, client_machine
from tests.machines import machine_settings
from tests.simple_client import SimpleClient


class TestSimpleClient(ClientContract):
    capabilities = Capabilities(reliable=False, delays=False)

    def make_client(self, clock: Clock) -> Client:
        return SimpleClient("simple://", clock=clock)


TestSimpleClientMachine = client_machine(
    lambda clock: SimpleClient(clock=clock), settings=machine_settings("simple")
).TestCase


def test_simple_client_is_a_plain_client() -> None:
    # The 1.0 protocol is all it offers: the kit must not need more.
    client: Client = SimpleClient()
    assert isinstance(client, Client)
    assert not hasattr(client, "reserve")
