"""What each built-in backend declares, pinned in one table.

The optional protocols decide what a Worker does (prefetch or not) and which
kit tests run (the rest skip). A backend that silently stopped offering one,
say a ``reserve_many`` whose signature drifted, would otherwise only turn
tests into skips and workers into slower ones, with CI still green.
"""

# ruff: noqa: F811  (fixtures imported from tests.fixtures are parameters here)
from __future__ import annotations

import pytest

from alligator import Gator
from alligator.capabilities import Capabilities, capabilities_of
from tests.fixtures import (  # noqa: F401
    DECLARED,
    any_dsn,
    shared_beanstalkd,
    shared_cluster,
    shared_redis,
)
from tests.seed.sqlite_backend import Client as SeedSQLiteClient
from tests.simple_client import SimpleClient


def test_each_builtin_backend_declares_what_it_offers(
    any_dsn: str, request: pytest.FixtureRequest
) -> None:
    backend = request.node.callspec.params["any_dsn"]
    with Gator(any_dsn) as gator:
        assert gator.capabilities == DECLARED[backend]


def test_a_1_0_client_is_driven_through_the_adapter_with_its_own_abilities() -> None:
    # A five-method client: no leases, no delays, no close
    assert capabilities_of(SimpleClient()) == Capabilities(reliable=False, delays=False)
    # Driven by a Gator, it gains the adapter's in-process graveyard
    gator = Gator("sqlite://unused.db", backend_class=lambda dsn: SimpleClient())
    assert gator.capabilities == Capabilities(reliable=False, delays=False, failed_tasks=True)


def test_the_seed_sqlite_client_declares_nothing_beyond_1_0() -> None:
    found = capabilities_of(SeedSQLiteClient("sqlite://:memory:"))
    assert (found.reliable, found.delays, found.prefetch) == (False, False, False)
