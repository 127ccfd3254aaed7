"""The conformance kit on beanstalkd, in real time (its clock cannot be injected).

The beanstalk ``Client`` is tested as it is, through the kit's capability
flags for the ways beanstalkd legitimately differs from the built-in stores:

* ``caller_ids=False``: beanstalkd picks job ids; the id ``push`` returns is
  the one ``get``, ``Reservation.task_id`` and ``buried`` use.
* ``replaces_on_push=False``: a job cannot be replaced, so the kit never
  pushes a duplicate id.
* ``release_with_data_keeps_id_and_attempts=False``: a job's body cannot
  change, so ``release`` with a new payload puts a new job (new id, attempts
  from 1); it must still come back exactly once with the new payload.
* ``strict_fifo=False`` in the state machine: ready jobs go by (priority, job
  id), so a released job keeps its place ahead of newer ones.
* ``reserve_sets_lease=False``: the lease is the TTR fixed at push (an hour
  here); lease expiry is tested in ``test_leases.py`` with a 1 s TTR.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alligator.backends.beanstalk_backend import Client
from alligator.testing import (
    ClientContract,
    Clock,
    ReliableClientContract,
    run_client_machine,
    run_reliable_client_machine,
)
from tests.fixtures import DECLARED
from tests.machines import machine_settings

TTR = 3600  # longer than any run: nothing expires unless a test says so

CAPABILITIES = {"caller_ids": False, "replaces_on_push": False, "real_time": True}


class _OnBeanstalkd:
    """Contract settings shared by the plain and the reliable contract."""

    real_time = True
    time_unit = 1.0
    caller_ids = False
    replaces_on_push = False
    release_with_data_keeps_id_and_attempts = False
    reserve_sets_lease = False
    dsn = ""

    @pytest.fixture(autouse=True)
    def _server(self, dsn: str) -> Iterator[None]:
        self.dsn = dsn
        yield

    def make_client(self, clock: Clock) -> Client:
        return Client(self.dsn, ttr=TTR)


class TestPlainContract(_OnBeanstalkd, ClientContract):
    capabilities = DECLARED["beanstalk"]

    pass


class TestReliableContract(_OnBeanstalkd, ReliableClientContract):
    capabilities = DECLARED["beanstalk"]

    pass


def test_reliable_machine_in_real_time(dsn: str) -> None:
    run_reliable_client_machine(
        lambda clock: Client(dsn, ttr=TTR),
        strict_fifo=False,
        release_with_data_keeps_id_and_attempts=False,
        settings=machine_settings("beanstalk"),
        **CAPABILITIES,
    )


def test_plain_machine_in_real_time(dsn: str) -> None:
    run_client_machine(
        lambda clock: Client(dsn, ttr=TTR),
        settings=machine_settings("beanstalk-plain"),
        **CAPABILITIES,
    )
