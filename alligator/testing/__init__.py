"""Conformance kit: prove that a backend ``Client`` keeps Alligator's contract.

Every built-in backend passes this kit in Alligator's own test suite; run it
against your own backend the same way. It needs ``pytest`` and
``hypothesis``, and is imported only by test code (``import alligator`` never
imports it).

Plain contract tests
--------------------
Subclass a contract in a test module and say how to build your client::

    from alligator.testing import Clock, ReliableClientContract

    class TestMyClient(ReliableClientContract):
        def make_client(self, clock: Clock) -> MyClient:
            return MyClient("my://localhost/", clock=clock)

``ClientContract`` checks the Alligator 1.0 methods (``len``, ``drop_all``,
``push``, ``pop``, ``get``): FIFO order, ``get`` removes, an empty payload
``b""`` is a task and not an empty queue, payloads are binary-safe, queues are
isolated. ``ReliableClientContract`` adds delays, leases, ``ack``,
``release``, ``bury``, ``renew``, ``stats``, ``buried``, ``push_many`` and a
blocking ``reserve(timeout=...)``.

Each test uses fresh, unique queue names and drops them afterwards, so the
kit is safe on a shared server. ``self.tmp_path`` is a fresh directory when
``make_client`` runs (for file-based backends). ``make_client`` may be called
twice in one test (a second client pushes from another thread); both clients
must see the same queues.

The clock
---------
A client takes ``clock=``, a callable returning epoch seconds, and uses it for
due times, leases and burial times. The kit injects a :class:`FakeClock` that
only moves on ``clock.advance(seconds)``, so delays and lease expiry are
tested without sleeping. ``reserve(timeout=...)`` must still wait in real
(monotonic) time. A backend that keeps time on its server (beanstalkd) sets
``real_time = True`` and ``time_unit`` (its shortest delay or lease); the
tests then wait for conditions with timeouts instead.

The state machine
-----------------
A hypothesis ``RuleBasedStateMachine`` drives random sequences of operations
against the client and against a reference model (:class:`QueueModel`), and
shrinks any disagreement to the shortest failing sequence::

    from alligator.testing import reliable_client_machine

    TestMyClientMachine = reliable_client_machine(
        lambda clock: MyClient("my://localhost/", clock=clock)
    ).TestCase

Or, to use pytest fixtures, run it inside a test::

    def test_machine(tmp_path: Path) -> None:
        run_reliable_client_machine(lambda clock: MyClient(f"my://{tmp_path}", clock=clock))

``client_machine`` / ``run_client_machine`` do the same for a plain 1.0
client. Options: ``real_time=True`` (no clock moves; delays and leases are an
hour long), ``strict_fifo=False`` (accept any due task, for a backend that
promises no order), ``settings=`` (hypothesis settings replacing
:data:`DEFAULT_SETTINGS`, e.g. ``settings(DEFAULT_SETTINGS, max_examples=500)``
for a long soak).

The semantics the model holds a backend to are in
:mod:`alligator.testing.model`. In short: ``len`` counts ready and delayed
tasks; a task is not reservable before its ``delay_until`` and is at that
instant; reserve takes the earliest due task, ties going to the task whose due
time was set first (push, replace or release); pushing an id already in the
queue replaces that task whatever its state; ``get`` removes a waiting task
(or one whose lease expired) and leaves held and buried tasks alone; a stale
or forged reservation is refused by ``ack``/``release``/``bury``/``renew``
(``False``) and changes nothing; ``attempts`` counts reservations.
"""

from __future__ import annotations

from alligator.testing.clock import Clock, FakeClock, RealClock
from alligator.testing.contract import BINARY_PAYLOADS, ClientContract
from alligator.testing.machine import (
    DEFAULT_SETTINGS,
    ClientMachine,
    ReliableClientMachine,
    client_machine,
    reliable_client_machine,
    run_client_machine,
    run_reliable_client_machine,
    unique_queue_name,
)
from alligator.testing.model import QueueModel
from alligator.testing.reliable_contract import ReliableClientContract

__all__ = [  # noqa: RUF022 - grouped by heading, not sorted
    # clocks
    "Clock",
    "FakeClock",
    "RealClock",
    # contract tests
    "BINARY_PAYLOADS",
    "ClientContract",
    "ReliableClientContract",
    "unique_queue_name",
    # state machines
    "DEFAULT_SETTINGS",
    "ClientMachine",
    "QueueModel",
    "ReliableClientMachine",
    "client_machine",
    "reliable_client_machine",
    "run_client_machine",
    "run_reliable_client_machine",
]
