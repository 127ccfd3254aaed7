"""Hypothesis state machines that run a client against the reference model.

Each step calls the client and :class:`~alligator.testing.model.QueueModel`
with the same operation and compares results; invariants compare ``len``,
``stats`` and ``buried`` after every step. Hypothesis shrinks a failure to the
shortest sequence of calls that shows it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from alligator.protocols import Client, ReliableClient
from alligator.records import PushItem, Reservation
from alligator.testing.clock import Clock, FakeClock, RealClock
from alligator.testing.model import ModelTask, QueueModel
from alligator.testing.prefetch_machine import LEASES, QUEUES, Held, PrefetchRules

__all__ = [
    "DEFAULT_SETTINGS",
    "ClientMachine",
    "ReliableClientMachine",
    "client_machine",
    "reliable_client_machine",
    "run_client_machine",
    "run_reliable_client_machine",
]

#: Modest defaults: one backend's run takes seconds, not minutes.
DEFAULT_SETTINGS = settings(
    max_examples=50,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

#: Clock steps and delays are multiples of 0.5 s (exact in floating point), so
#: a task becomes due exactly when the clock reaches its time; leases end on a
#: quarter second the clock never shows, as the protocol leaves that instant open.
ADVANCES = (0.5, 1.0, 1.5, 2.5, 6.0)
DELAYS = (None, None, 0.0, 0.5, 1.5, 4.0)
#: Real-time mode never waits: delays and leases are too long to end in a run.
FAR = 3600.0

TASK_IDS = st.sampled_from(["a", "b", "c", "d", "e"])
PAYLOADS = st.one_of(
    st.sampled_from([b"", b"\x00", b"\r\n", b"\xff\xfe", b"x"]), st.binary(max_size=24)
)
REASONS = st.sampled_from(["boom", "Traceback (most recent call last):\nValueError: x", "ünï"])


def unique_queue_name(prefix: str = "alligator-test") -> str:
    """A queue name no other test uses, valid for every built-in backend."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


class ClientMachine(RuleBasedStateMachine):
    """The Alligator 1.0 contract: push, pop, get, len, drop_all over two queues."""

    real_time = False
    strict_fifo = True
    caller_ids = True
    replaces_on_push = True

    def __init__(self) -> None:
        super().__init__()
        self.clock: Clock = RealClock() if self.real_time else FakeClock()
        self.client = self.new_client(self.clock)
        self.queues = [unique_queue_name(), unique_queue_name()]
        self.model = QueueModel(strict_fifo=self.strict_fifo)
        self.fresh = 0
        self.seen: list[str] = []  # every id a push returned, for get() to try

    def new_client(self, clock: Clock) -> Client:
        """Build the client under test; the factories override this."""
        raise TypeError("use client_machine(make_client) to build a runnable machine")

    def teardown(self) -> None:
        for queue in self.queues:
            self.client.drop_all(queue)
        close: Callable[[], object] | None = getattr(self.client, "close", None)
        if close is not None:
            close()

    def now(self) -> float:
        return self.clock()

    def fresh_id(self, queue: str, task_id: str) -> str:
        """``task_id`` if the queue lacks it, else a new id (1.0 leaves replacing open)."""
        if task_id not in self.model.tasks(queue):
            return task_id
        self.fresh += 1
        return f"{task_id}{self.fresh}"

    def check_id(self, queue: str, requested: str, returned: object, taken: set[str]) -> str:
        """The id ``push`` returned: the requested one, or with server ids a new one."""
        if self.caller_ids:
            assert returned == requested, (
                f"push of {requested!r} returned {returned!r}; "
                "a backend that picks its own ids declares caller_ids=False"
            )
        else:
            assert isinstance(returned, str) and returned, f"push returned {returned!r}"
            assert returned not in taken, (
                f"push returned {returned!r}, the id of a task still in the queue"
            )
        if returned not in self.seen:
            self.seen.append(returned)
        return returned

    def id_to_get(self, task_id: str, pick: int) -> str:
        """With server ids, an id some push returned (live, gone, other queue) or none."""
        if self.caller_ids:
            return task_id
        known = [*self.seen, "no-such-task"]
        return known[-1 - pick % len(known)]

    @rule(q=QUEUES, task_id=TASK_IDS, data=PAYLOADS)
    def push_new(self, q: int, task_id: str, data: bytes) -> None:
        queue = self.queues[q]
        task_id = self.fresh_id(queue, task_id)
        now = self.now()
        returned = self.client.push(queue, task_id, data)
        task_id = self.check_id(queue, task_id, returned, set(self.model.tasks(queue)))
        self.model.push(queue, task_id, data, now)

    @rule(q=QUEUES)
    def pop(self, q: int) -> None:
        queue = self.queues[q]
        now = self.now()
        choices = self.model.acceptable(queue, now)
        if len({t.data for t in choices}) < len(choices):
            return  # equal payloads: the popped bytes would not say which task went
        data = self.client.pop(queue)
        if not choices:
            assert data is None, f"pop returned {data!r} from a queue with nothing due"
            return
        assert data is not None, f"pop returned None, expected one of {_ids(choices)}"
        by_data = {t.data: t for t in choices}
        assert data in by_data, f"pop returned {data!r}, expected one of {_ids(choices)}"
        self.model.remove(queue, by_data[data].task_id)

    @rule(q=QUEUES, task_id=TASK_IDS, pick=st.integers(0, 15))
    def get(self, q: int, task_id: str, pick: int) -> None:
        queue = self.queues[q]
        task_id = self.id_to_get(task_id, pick)
        now = self.now()
        task = self.model.gettable(queue, task_id, now)
        data = self.client.get(queue, task_id)
        if task is None:
            assert data is None, f"get({task_id!r}) returned {data!r}, expected None"
            return
        if task.rekeyed and data is None:
            return  # released as a new job under a new id: the old one is gone
        assert data == task.data, f"get({task_id!r}) returned {data!r}, expected {task.data!r}"
        self.model.remove(queue, task_id)

    @rule(q=QUEUES, roll=st.integers(0, 3))
    def drop_all(self, q: int, roll: int) -> None:
        if roll:
            return  # rarely: emptying the queue throws away the history that finds bugs
        self.client.drop_all(self.queues[q])
        self.model.drop_all(self.queues[q])

    @invariant()
    def lengths_match(self) -> None:
        now = self.now()
        for queue in self.queues:
            expected = self.model.len(queue, now)
            assert self.client.len(queue) == expected, f"len({queue!r}) != {expected}"


class ReliableClientMachine(PrefetchRules, ClientMachine):
    """Adds delays, leases, ack/release/bury/renew, stats and a moving clock.

    With :class:`PrefetchRules`: ``reserve_many`` and ``renew_many`` too, for a
    client that is a :class:`~alligator.protocols.PrefetchClient`.
    """

    release_with_data_keeps_id_and_attempts = True
    reservations = Bundle("reservations")

    def new_client(self, clock: Clock) -> ReliableClient:
        raise TypeError("use reliable_client_machine(make_client) to build a runnable machine")

    @property
    def reliable(self) -> ReliableClient:
        assert isinstance(self.client, ReliableClient)
        return self.client

    def delay(self, offset: float | None) -> float | None:
        if offset is None:
            return None
        return self.now() + (FAR if self.real_time else offset)

    def lease(self, lease: float) -> float:
        return FAR if self.real_time else lease

    @property
    def replacing(self) -> bool:
        """Whether pushing an id the queue holds replaces that task (else never done)."""
        return self.caller_ids and self.replaces_on_push

    @rule(q=QUEUES, task_id=TASK_IDS, data=PAYLOADS, offset=st.sampled_from(DELAYS))
    def push(self, q: int, task_id: str, data: bytes, offset: float | None) -> None:
        queue = self.queues[q]
        if not self.replacing:
            task_id = self.fresh_id(queue, task_id)
        now = self.now()
        delay_until = self.delay(offset)
        taken = set() if self.replacing else set(self.model.tasks(queue))
        returned = self.reliable.push(queue, task_id, data, delay_until)
        task_id = self.check_id(queue, task_id, returned, taken)
        self.model.push(queue, task_id, data, now if delay_until is None else delay_until)

    @rule(
        q=QUEUES,
        items=st.lists(
            st.tuples(TASK_IDS, PAYLOADS, st.sampled_from(DELAYS)),
            max_size=3,
            unique_by=lambda item: item[0],
        ),
    )
    def push_many(self, q: int, items: list[tuple[str, bytes, float | None]]) -> None:
        queue = self.queues[q]
        now = self.now()
        batch = [
            PushItem(
                task_id if self.replacing else self.fresh_id(queue, task_id), data, self.delay(off)
            )
            for task_id, data, off in items
        ]
        returned = self.reliable.push_many(queue, batch)
        assert isinstance(returned, list) and len(returned) == len(batch), (
            f"push_many of {len(batch)} tasks returned {returned!r}"
        )
        taken = set() if self.replacing else set(self.model.tasks(queue))
        for item, got in zip(batch, returned, strict=True):
            task_id = self.check_id(queue, item.task_id, got, taken)
            taken.add(task_id)
            due = now if item.delay_until is None else item.delay_until
            self.model.push(queue, task_id, item.data, due)

    @rule(target=reservations, q=QUEUES, lease=st.sampled_from(LEASES))
    def reserve(self, q: int, lease: float) -> Held | MultipleResults[Held]:
        queue = self.queues[q]
        lease = self.lease(lease)
        now = self.now()
        choices = self.model.acceptable(queue, now)
        got = self.reliable.reserve(queue, lease)
        if not choices:
            assert got is None, f"reserve returned {got!r} from a queue with nothing due"
            return multiple()
        assert got is not None, f"reserve returned None, expected one of {_ids(choices)}"
        self.check_leased(queue, got, now, lease)
        return queue, got

    def check_leased(self, queue: str, got: Reservation, now: float, lease: float) -> None:
        """Check one task a reserve call leased against the model, then record it."""
        choices = self.model.acceptable(queue, now)
        task = {t.task_id: t for t in choices}.get(got.task_id)
        if task is None and got.task_id not in self.model.tasks(queue):
            # A task released with new data as a new job: known by its payload.
            task = next((t for t in choices if t.rekeyed and t.data == got.data), None)
        assert task is not None, f"reserve took {got.task_id!r}, expected one of {_ids(choices)}"
        assert got.data == task.data, f"reserve gave {got.data!r}, expected {task.data!r}"
        if task.rekeyed:
            assert got.attempts >= 1, f"attempts {got.attempts} of a new job"
            self.model.rekey(queue, task, got.task_id, got.attempts)
        else:
            assert got.attempts == task.attempts + 1, (
                f"attempts {got.attempts}, not {task.attempts + 1}"
            )
        self.model.reserve(queue, got.task_id, got.token, now + lease)

    @rule(held=reservations, elsewhere=st.integers(0, 5))
    def ack(self, held: Held, elsewhere: int) -> None:
        queue, res = held
        if elsewhere == 0:  # a token is only good in its own queue
            queue = self.queues[1 - self.queues.index(queue)]
        task = self.model.holder(queue, res.task_id, res.token, self.now())
        assert self.reliable.ack(queue, res) is (task is not None), _stale_msg("ack", task)
        if task is not None:
            self.model.remove(queue, res.task_id)

    @rule(
        held=reservations,
        data=st.none() | PAYLOADS,
        offset=st.sampled_from(DELAYS),
    )
    def release(self, held: Held, data: bytes | None, offset: float | None) -> None:
        queue, res = held
        now = self.now()
        task = self.model.holder(queue, res.task_id, res.token, now)
        delay_until = self.delay(offset)
        ok = self.reliable.release(queue, res, data=data, delay_until=delay_until)
        assert ok is (task is not None), _stale_msg("release", task)
        if task is not None:
            due = now if delay_until is None else delay_until
            new_job = not self.release_with_data_keeps_id_and_attempts
            self.model.release(queue, task, data, due, new_job=new_job)

    @rule(held=reservations, reason=REASONS)
    def bury(self, held: Held, reason: str) -> None:
        queue, res = held
        now = self.now()
        task = self.model.holder(queue, res.task_id, res.token, now)
        assert self.reliable.bury(queue, res, reason) is (task is not None), _stale_msg(
            "bury", task
        )
        if task is not None:
            self.model.bury(task, reason)
            task.deadline = now  # remembered as the burial time

    @rule(held=reservations, lease=st.sampled_from(LEASES))
    def renew(self, held: Held, lease: float) -> None:
        queue, res = held
        lease = self.lease(lease)
        now = self.now()
        task = self.model.holder(queue, res.task_id, res.token, now)
        assert self.reliable.renew(queue, res, lease) is (task is not None), _stale_msg(
            "renew", task
        )
        if task is not None:
            self.model.renew(task, now + lease)

    @precondition(lambda self: not self.real_time)
    @rule(seconds=st.sampled_from(ADVANCES))
    def advance(self, seconds: float) -> None:
        assert isinstance(self.clock, FakeClock)
        self.clock.advance(seconds)

    @invariant()
    def stats_match(self) -> None:
        now = self.now()
        for queue in self.queues:
            expected = self.model.stats(queue, now)
            got = self.reliable.stats(queue)
            assert got == expected, f"stats({queue!r}) = {got!r}, expected {expected!r}"

    @invariant()
    def buried_match(self) -> None:
        for queue in self.queues:
            expected = [(t.task_id, t.data, t.reason) for t in self.model.buried(queue)]
            listed = self.reliable.buried(queue)
            got = [(b.task_id, b.data, b.reason) for b in listed]
            assert got == expected, f"buried({queue!r}) = {got!r}, expected {expected!r}"
            if not self.real_time:
                times = [t.deadline for t in self.model.buried(queue)]
                assert [b.buried_at for b in listed] == times, "buried_at is not the clock's time"


def _ids(tasks: list[ModelTask]) -> list[str]:
    return [t.task_id for t in tasks]


def _stale_msg(op: str, task: ModelTask | None) -> str:
    if task is None:
        return f"{op} accepted a stale reservation (expired, finished, or another queue's)"
    return f"{op} refused a reservation whose lease is held"


def client_machine(
    make_client: Callable[[Clock], Client],
    *,
    real_time: bool = False,
    strict_fifo: bool = True,
    caller_ids: bool = True,
    replaces_on_push: bool = True,
    settings: settings | None = None,
) -> type[ClientMachine]:
    """A machine for a plain 1.0 :class:`~alligator.protocols.Client`.

    Args:
        make_client: Called once per example with the clock to inject.
        real_time: The client cannot take a clock (a :class:`RealClock` is passed).
        strict_fifo: Check that ``pop`` returns the oldest due task.
        caller_ids: ``push`` stores under the id it is given and returns it;
            ``False`` for a backend that picks ids (the returned one is then
            what ``get`` is checked with).
        replaces_on_push: Accepted for symmetry with
            :func:`reliable_client_machine`; this machine never pushes an id
            the queue holds, as 1.0 leaves replacing open.
        settings: Replaces :data:`DEFAULT_SETTINGS`; derive from it to change
            one option: ``settings(DEFAULT_SETTINGS, max_examples=200)``.

    Returns:
        A machine class; its ``TestCase`` attribute is a collectable test.
    """

    class Machine(ClientMachine):
        def new_client(self, clock: Clock) -> Client:
            return make_client(clock)

    Machine.real_time = real_time
    Machine.strict_fifo = strict_fifo
    Machine.caller_ids = caller_ids
    Machine.replaces_on_push = replaces_on_push
    Machine.TestCase.settings = settings or DEFAULT_SETTINGS
    return Machine


def reliable_client_machine(
    make_client: Callable[[Clock], ReliableClient],
    *,
    real_time: bool = False,
    strict_fifo: bool = True,
    caller_ids: bool = True,
    replaces_on_push: bool = True,
    release_with_data_keeps_id_and_attempts: bool = True,
    settings: settings | None = None,
) -> type[ReliableClientMachine]:
    """A machine for a :class:`~alligator.protocols.ReliableClient`.

    Args are those of :func:`client_machine`, plus:

    Args:
        replaces_on_push: Pushing an id the queue holds replaces that task;
            ``False`` (or ``caller_ids=False``): the machine never does it.
        release_with_data_keeps_id_and_attempts: ``release`` with a new
            payload keeps the task's id and ``attempts``; ``False`` for a
            backend that stores it as a new job, which must then come back
            exactly once with the new payload, under any id, attempts restarting.

    In real-time mode the clock is never advanced: delays and leases are an
    hour long, so the run checks everything except expiry.
    """

    class Machine(ReliableClientMachine):
        def new_client(self, clock: Clock) -> ReliableClient:
            return make_client(clock)

    Machine.real_time = real_time
    Machine.strict_fifo = strict_fifo
    Machine.caller_ids = caller_ids
    Machine.replaces_on_push = replaces_on_push
    Machine.release_with_data_keeps_id_and_attempts = release_with_data_keeps_id_and_attempts
    Machine.TestCase.settings = settings or DEFAULT_SETTINGS
    return Machine


def run_client_machine(make_client: Callable[[Clock], Client], **options: Any) -> None:
    """Run :func:`client_machine` now, e.g. inside a test that has fixtures."""
    machine = client_machine(make_client, **options)
    run_state_machine_as_test(machine, settings=machine.TestCase.settings)


def run_reliable_client_machine(
    make_client: Callable[[Clock], ReliableClient], **options: Any
) -> None:
    """Run :func:`reliable_client_machine` now, e.g. inside a test that has fixtures."""
    machine = reliable_client_machine(make_client, **options)
    run_state_machine_as_test(machine, settings=machine.TestCase.settings)
