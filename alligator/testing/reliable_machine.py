"""The state machine of the at-least-once contract (:class:`ReliableClient`).

Adds delays, leases, ``ack``/``release``/``bury``/``renew``, ``push_many``,
``stats`` and ``buried`` to :class:`~alligator.testing.plain_machine.ClientMachine`,
priorities on ``push`` and ``push_many`` for a client that declares them (a
:class:`~alligator.protocols.PriorityClient`: every reserve, ``pop`` and
``reserve_many`` is then checked to take the lowest priority first),
plus the :class:`~alligator.testing.prefetch_machine.PrefetchRules`. Use it
through :func:`~alligator.testing.reliable_client_machine`.
"""

from __future__ import annotations

import functools

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, MultipleResults, invariant, multiple, rule

from alligator.capabilities import capabilities_of, priority_view
from alligator.exceptions import TaskInProgressError
from alligator.protocols import PriorityClient, ReliableClient
from alligator.records import PushItem, Reservation
from alligator.testing.clock import Clock
from alligator.testing.draws import DELAYS, FAR, PAYLOADS, PRIORITIES, REASONS, TASK_IDS
from alligator.testing.flow_machine import FlowRules
from alligator.testing.model import ModelTask
from alligator.testing.plain_machine import ClientMachine
from alligator.testing.prefetch_machine import LEASES, QUEUES, Held, PrefetchRules
from alligator.testing.results_machine import ResultRules

__all__ = ["ReliableClientMachine"]


class ReliableClientMachine(FlowRules, ResultRules, PrefetchRules, ClientMachine):
    """Adds delays, leases, ack/release/bury/renew, stats and a moving clock.

    With :class:`PrefetchRules`: ``reserve_many`` and ``renew_many`` too, for a
    client that is a :class:`~alligator.protocols.PrefetchClient`; with
    :class:`ResultRules`: outcomes and dependencies, for a
    :class:`~alligator.protocols.ResultClient`. With :class:`FlowRules`:
    ``push_unique``, ``acquire`` and ``limit_usage`` for a
    :class:`~alligator.protocols.UniqueClient` or ``LimitClient``.
    """

    release_with_data_keeps_id_and_attempts = True
    delays = True
    reservations = Bundle("reservations")

    def new_client(self, clock: Clock) -> ReliableClient:
        raise TypeError("use reliable_client_machine(make_client) to build a runnable machine")

    @property
    def reliable(self) -> ReliableClient:
        assert isinstance(self.client, ReliableClient)
        return self.client

    def lease(self, lease: float) -> float:
        return FAR if self.real_time else lease

    def dropped(self, queue: str) -> None:
        # Each rule set forgets its own state of the queue (neither calls the other).
        FlowRules.dropped(self, queue)
        ResultRules.dropped(self, queue)

    @property
    def replacing(self) -> bool:
        """Whether pushing an id the queue holds replaces that task (else never done)."""
        return self.caller_ids and self.replaces_on_push

    @functools.cached_property
    def prioritized(self) -> PriorityClient | None:
        """The client as a :class:`PriorityClient` when it orders by priority, else ``None``."""
        return priority_view(self.reliable, capabilities_of(self.client))

    @rule(
        q=QUEUES,
        task_id=TASK_IDS,
        data=PAYLOADS,
        offset=st.sampled_from(DELAYS),
        priority=st.sampled_from(PRIORITIES),
    )
    def push(
        self, q: int, task_id: str, data: bytes, offset: float | None, priority: int | None
    ) -> None:
        queue = self.queues[q]
        if not self.replacing:
            task_id = self.fresh_id(queue, task_id)
        data = self.unique(data)
        now = self.now()
        delay_until = self.delay(offset)
        taken = set() if self.replacing else set(self.model.tasks(queue))
        busy = self.model.in_progress(queue, task_id, now)
        prioritized = self.prioritized
        if prioritized is None:
            priority = None
        try:
            if prioritized is not None and priority is not None:
                returned = prioritized.push(queue, task_id, data, delay_until, priority=priority)
            else:
                returned = self.reliable.push(queue, task_id, data, delay_until)
        except TaskInProgressError as exc:
            self.said(f"push({queue!r}, {task_id!r}, {data!r}, {delay_until!r})", exc)
            assert busy, f"push of {task_id!r} was refused, but no lease on it is held"
            assert exc.task_id == task_id, f"the refusal names {exc.task_id!r}, not {task_id!r}"
            return
        self.said(f"push({queue!r}, {task_id!r}, {data!r}, {delay_until!r})", returned)
        assert not busy, f"push of {task_id!r} replaced a task whose lease is held"
        task_id = self.check_id(queue, task_id, returned, taken)
        due = now if delay_until is None else delay_until
        self.model.push(queue, task_id, data, due, priority)

    @rule(
        q=QUEUES,
        items=st.lists(
            st.tuples(TASK_IDS, PAYLOADS, st.sampled_from(DELAYS), st.sampled_from(PRIORITIES)),
            max_size=3,
            unique_by=lambda item: item[0],
        ),
    )
    def push_many(self, q: int, items: list[tuple[str, bytes, float | None, int | None]]) -> None:
        queue = self.queues[q]
        now = self.now()
        ranks = self.prioritized is not None
        batch: list[PushItem] = []
        for task_id, data, offset, priority in items:
            unique = self.unique(data, {item.data for item in batch})
            fresh = task_id if self.replacing else self.fresh_id(queue, task_id)
            batch.append(PushItem(fresh, unique, self.delay(offset), priority if ranks else None))
        busy = [i.task_id for i in batch if self.model.in_progress(queue, i.task_id, now)]
        try:
            returned = self.reliable.push_many(queue, batch)
        except TaskInProgressError as exc:
            self.said(f"push_many({queue!r}, {batch!r})", exc)
            assert busy, f"push_many of {_ids_of(batch)} was refused, but no lease on them is held"
            assert exc.task_id in busy, f"the refusal names {exc.task_id!r}, not one of {busy}"
            return  # and nothing was stored: the invariants compare every count
        self.said(f"push_many({queue!r}, {batch!r})", returned)
        assert not busy, f"push_many replaced {busy}, whose leases are held"
        assert isinstance(returned, list) and len(returned) == len(batch), (
            f"push_many of {len(batch)} tasks returned {returned!r}"
        )
        taken = set() if self.replacing else set(self.model.tasks(queue))
        for item, got in zip(batch, returned, strict=True):
            task_id = self.check_id(queue, item.task_id, got, taken)
            taken.add(task_id)
            due = now if item.delay_until is None else item.delay_until
            self.model.push(queue, task_id, item.data, due, item.priority)

    @rule(target=reservations, q=QUEUES, lease=st.sampled_from(LEASES))
    def reserve(self, q: int, lease: float) -> Held | MultipleResults[Held]:
        queue = self.queues[q]
        lease = self.lease(lease)
        now = self.now()
        choices = self.model.acceptable(queue, now)
        got = self.reliable.reserve(queue, lease)
        self.said(f"reserve({queue!r}, {lease!r})", got)
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
            # A task released with new data as a new job: known by its (unique) payload.
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
        acked = self.reliable.ack(queue, res)
        self.said(f"ack({queue!r}, {res!r})", acked)
        assert acked is (task is not None), _stale_msg("ack", task)
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
        if data is not None:
            data = self.unique(data)
        ok = self.reliable.release(queue, res, data=data, delay_until=delay_until)
        self.said(f"release({queue!r}, {res!r}, data={data!r}, delay_until={delay_until!r})", ok)
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
        buried = self.reliable.bury(queue, res, reason)
        self.said(f"bury({queue!r}, {res!r}, {reason!r})", buried)
        assert buried is (task is not None), _stale_msg("bury", task)
        if task is not None:
            self.model.bury(task, reason)
            task.deadline = now  # remembered as the burial time

    @rule(held=reservations, lease=st.sampled_from(LEASES))
    def renew(self, held: Held, lease: float) -> None:
        queue, res = held
        lease = self.lease(lease)
        now = self.now()
        task = self.model.holder(queue, res.task_id, res.token, now)
        renewed = self.reliable.renew(queue, res, lease)
        self.said(f"renew({queue!r}, {res!r}, {lease!r})", renewed)
        assert renewed is (task is not None), _stale_msg("renew", task)
        if task is not None:
            self.model.renew(task, now + lease)

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
            model = self.model.buried(queue)
            expected = [(t.task_id, t.data, t.reason) for t in model]
            listed = self.reliable.buried(queue)
            got: list[tuple[str, bytes, str | None]] = [
                (b.task_id, b.data, b.reason) for b in listed
            ]
            # Tasks buried by one step (a failure's dependents) may be listed in any order.
            got = _in_model_order(got, [t.bury_seq for t in model], expected)
            assert got == expected, f"buried({queue!r}) = {got!r}, expected {expected!r}"
            if not self.real_time:
                times = [t.deadline for t in self.model.buried(queue)]
                assert [b.buried_at for b in listed] == times, "buried_at is not the clock's time"


def _in_model_order(
    got: list[tuple[str, bytes, str | None]],
    groups: list[int],
    expected: list[tuple[str, bytes, str | None]],
) -> list[tuple[str, bytes, str | None]]:
    """``got`` with each run of tasks the model buried together put in the model's order."""
    if len(got) != len(expected):
        return got
    ordered = list(got)
    start = 0
    while start < len(groups):
        end = start
        while end < len(groups) and groups[end] == groups[start]:
            end += 1
        if sorted(got[start:end], key=repr) == sorted(expected[start:end], key=repr):
            ordered[start:end] = expected[start:end]
        start = end
    return ordered


def _ids(tasks: list[ModelTask]) -> list[str]:
    return [t.task_id for t in tasks]


def _ids_of(items: list[PushItem]) -> list[str]:
    return [item.task_id for item in items]


def _stale_msg(op: str, task: ModelTask | None) -> str:
    if task is None:
        return f"{op} accepted a stale reservation (expired, finished, or another queue's)"
    return f"{op} refused a reservation whose lease is held"
