"""Conformance kit: prove that a backend ``Client`` keeps Alligator's contract.

Every built-in backend passes this kit in Alligator's own test suite; run it
against your own backend the same way. It needs ``pytest`` and
``hypothesis``, and is imported only by test code (``import alligator`` never
imports it). Install them with the extra: ``pip install 'alligator[testing]'``.

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
isolated, and, when ``push`` takes ``delay_until`` (the Gator then hands it
delays), a delayed task is counted but not popped before it is due.
``ReliableClientContract`` adds delays, leases, ``ack``,
``release``, ``bury``, ``renew``, ``stats``, ``buried``, ``push_many`` and a
blocking ``reserve(timeout=...)``, plus the optional protocols when the client
offers them: ``requeue``/``purge`` (``FailedTasksClient``) and
``reserve_many``/``renew_many`` (``PrefetchClient``: leases oldest due first,
acks of ``done`` in the same call even when nothing is due, stale or forged
``done`` refused, per-task leases that renew and expire on their own),
``push(priority=...)`` (``PriorityClient``: lower priority first, first in
first out among equals, ``None`` as 0, each ``push_many`` item's own
priority, kept through release, delay, lease expiry and requeue, and out of
range refused with ``InvalidTaskError``), ``push_absent``/``mark``
(``AbsentPushClient``, what schedules need: an id stored once, taken while
its task waits, runs or lies buried and for ``ttl`` seconds after its push,
exactly one winner among concurrent pushes), and ``client.asyncio()``
(``AsyncioClient``: what its asyncio producer pushes, the client reads back
in order; a leased id refused with nothing stored), and ``buried_page``
(``BuriedPages``: pages concatenated are ``buried()``, an offset past the end
gives ``[]``, the limit is kept, the order is stable, a new burial comes
last and a requeued task leaves the pages). Those tests skip
themselves for a client without the protocol.

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

When the client declares priorities (its ``push`` takes ``priority``), the
reliable machine pushes with random priorities, the ends of the range
included, and holds every reserve, ``pop`` and ``reserve_many`` to the
lowest priority first.

``client_machine`` / ``run_client_machine`` do the same for a plain 1.0
client; when its ``push`` takes ``delay_until`` the machine pushes delayed
tasks and moves the clock too (``delays=`` overrides that). Every live task
carries a payload no other has, so the bytes ``pop`` returns always say which
task it took. Options: ``real_time=True`` (no clock moves; delays and leases are an
hour long), ``settings=`` (hypothesis settings replacing
:data:`DEFAULT_SETTINGS`, e.g. ``settings(DEFAULT_SETTINGS, max_examples=500)``
for a long soak), and the capability flags below.

Capability flags
----------------
By default the kit holds a backend to the built-in stores' full semantics. A
backend that legitimately differs declares it, as class attributes of a
contract subclass or keyword arguments of the machine factories; the kit then
still checks everything that stays meaningful:

``caller_ids`` (default ``True``)
    ``push``/``push_many`` store under the id they are given and return it.
    ``False`` for a backend that picks its own ids (beanstalkd's job ids): the
    kit keys every task by the id ``push`` *returned*, requires it to be a
    non-empty string no live task of the queue has, and checks that ``get``,
    ``Reservation.task_id`` and ``BuriedTask.task_id`` use exactly that id.
``replaces_on_push`` (default ``True``)
    Pushing an id the queue already holds replaces that task when it is
    waiting, delayed, buried or its lease expired, and is refused with
    :class:`~alligator.exceptions.TaskInProgressError` (changing nothing) while
    a worker holds its lease. ``False`` (implied by ``caller_ids=False``): the
    kit never pushes a duplicate id and skips those tests.
``release_with_data_keeps_id_and_attempts`` (default ``True``)
    ``release(data=...)`` with a new payload keeps the task's id and its
    ``attempts`` count. ``False`` for a backend that stores a new job instead
    (beanstalkd cannot change a job's body): the task must still come back
    exactly once, with the new payload, under whatever id the backend gave
    it, and ``attempts`` may restart; the old reservation is stale.
``strict_fifo`` (default ``True``)
    Due tasks are taken oldest due first, a released task going behind those
    already due. ``False`` for a backend with another order (beanstalkd goes
    by priority then job id, so a released job keeps its place): any due
    task is accepted.
``reserve_sets_lease`` (contracts only, default ``True``)
    ``reserve(lease=...)`` sets the lease. ``False`` when the lease is fixed
    at push (beanstalkd's TTR): lease-expiry tests are skipped and stale
    tokens are made by releasing. The real-time machine never lets a lease
    run out anyway.

For example, beanstalkd in this repository's tests::

    class TestBeanstalkd(ReliableClientContract):
        real_time = True
        strict_fifo = False
        caller_ids = False
        replaces_on_push = False
        release_with_data_keeps_id_and_attempts = False
        reserve_sets_lease = False

        def make_client(self, clock: Clock) -> Client:
            return Client(DSN, ttr=3600)

    run_reliable_client_machine(
        lambda clock: Client(DSN, ttr=3600),
        real_time=True,
        strict_fifo=False,
        caller_ids=False,
        replaces_on_push=False,
        release_with_data_keeps_id_and_attempts=False,
    )

The semantics the model holds a backend to are in
:mod:`alligator.testing.model`. In short: ``len`` counts ready and delayed
tasks; a task is not reservable before its ``delay_until`` and is at that
instant; reserve takes the earliest due task, ties going to the task whose due
time was set first (push, replace or release); tasks are known by the id
``push`` returned; pushing an id already in the queue replaces that task
whatever its state (unless ``replaces_on_push`` is off); ``get`` removes a waiting task
(or one whose lease expired) and leaves held and buried tasks alone; a stale
or forged reservation is refused by ``ack``/``release``/``bury``/``renew``
(``False``) and changes nothing; ``attempts`` counts reservations.
"""

from __future__ import annotations

try:
    import hypothesis  # noqa: F401
    import pytest
except ImportError as exc:  # pragma: no cover - exercised in a venv without the extra
    raise ImportError(
        f"alligator.testing needs pytest and hypothesis ({exc.name} is missing): "
        "pip install 'alligator[testing]'"
    ) from exc

# Before the kit's modules are imported, so a failed contract assertion
# shows the values it compared, as in the user's own tests.
_KIT = (
    "absent_contract",
    "buried_pages_contract",
    "contract",
    "draws",
    "failed_contract",
    "machine",
    "model",
    "plain_machine",
    "prefetch_contract",
    "priority_contract",
    "prefetch_machine",
    "reliable_contract",
    "reliable_machine",
    "results_contract",
    "support",
)
pytest.register_assert_rewrite(*(f"alligator.testing.{name}" for name in _KIT))

from alligator.testing.clock import Clock, FakeClock, RealClock  # noqa: E402
from alligator.testing.contract import BINARY_PAYLOADS, ClientContract  # noqa: E402
from alligator.testing.machine import (  # noqa: E402
    DEFAULT_SETTINGS,
    ClientMachine,
    ReliableClientMachine,
    client_machine,
    reliable_client_machine,
    run_client_machine,
    run_reliable_client_machine,
    unique_queue_name,
)
from alligator.testing.model import QueueModel  # noqa: E402
from alligator.testing.prefetch_contract import PrefetchContract  # noqa: E402
from alligator.testing.priority_contract import PriorityContract  # noqa: E402
from alligator.testing.reliable_contract import ReliableClientContract  # noqa: E402

__all__ = [  # noqa: RUF022 - grouped by heading, not sorted
    # clocks
    "Clock",
    "FakeClock",
    "RealClock",
    # contract tests
    "BINARY_PAYLOADS",
    "ClientContract",
    "PrefetchContract",
    "PriorityContract",
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
