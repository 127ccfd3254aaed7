"""State-machine rules for the optional :class:`~alligator.protocols.PrefetchClient`.

Mixed into :class:`~alligator.testing.ReliableClientMachine`; the rules only
run when the client under test offers ``reserve_many``/``renew_many``, so other
clients see no difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, MultipleResults, multiple, precondition, rule

from alligator.capabilities import capabilities_of, prefetch_view
from alligator.protocols import PrefetchClient, ReliableClient
from alligator.records import Reservation

if TYPE_CHECKING:
    from alligator.testing.model import QueueModel

__all__ = ["LEASES", "QUEUES", "Held", "PrefetchRules"]

#: Leases end on a quarter second the (half-second) fake clock never shows.
LEASES = (1.25, 3.75)
QUEUES = st.sampled_from([0, 0, 0, 1])  # mostly one queue: longer histories per queue

Held: TypeAlias = tuple[str, Reservation]


def _prefetch_of(machine: object) -> PrefetchClient | None:
    client = getattr(machine, "client", None)
    if not isinstance(client, ReliableClient):
        return None
    return prefetch_view(client, capabilities_of(client))


class PrefetchRules:
    """``reserve_many`` (acks of held, stale and foreign leases, then leases) and ``renew_many``."""

    reservations = Bundle("reservations")
    # Provided by the machine these rules are mixed into.
    queues: list[str]
    model: QueueModel

    if TYPE_CHECKING:

        def now(self) -> float: ...
        def lease(self, lease: float) -> float: ...
        def check_leased(self, queue: str, got: Reservation, now: float, lease: float) -> None: ...
        def said(self, call: str, result: object) -> None: ...

    @property
    def prefetch(self) -> PrefetchClient:
        found = _prefetch_of(self)
        assert found is not None
        return found

    @precondition(lambda self: _prefetch_of(self) is not None)
    @rule(
        target=reservations,
        q=QUEUES,
        count=st.integers(0, 3),
        done=st.lists(reservations, max_size=3),
        lease=st.sampled_from(LEASES),
    )
    def reserve_many(
        self, q: int, count: int, done: list[Held], lease: float
    ) -> MultipleResults[Held]:
        queue = self.queues[q]
        lease = self.lease(lease)
        now = self.now()
        expected = []
        for _, res in done:  # in order: a reservation given twice is acked once
            task = self.model.holder(queue, res.task_id, res.token, now)
            expected.append(task is not None)
            if task is not None:
                self.model.remove(queue, res.task_id)
        acks = [r for _, r in done]
        flags, leased = self.prefetch.reserve_many(queue, lease, count, 0.0, acks)
        self.said(f"reserve_many({queue!r}, {lease!r}, {count!r}, 0.0, {acks!r})", (flags, leased))
        assert flags == expected, f"reserve_many acked {flags}, expected {expected}"
        assert len(leased) <= count, f"reserve_many leased {len(leased)} > count {count}"
        for got in leased:
            self.check_leased(queue, got, now, lease)
        if len(leased) < count:
            left = self.model.acceptable(queue, now)
            assert not left, f"reserve_many left {[t.task_id for t in left]} due"
        return multiple(*[(queue, got) for got in leased])

    @precondition(lambda self: _prefetch_of(self) is not None)
    @rule(q=QUEUES, held=st.lists(reservations, max_size=3), lease=st.sampled_from(LEASES))
    def renew_many(self, q: int, held: list[Held], lease: float) -> None:
        queue = self.queues[q]
        lease = self.lease(lease)
        now = self.now()
        tasks = [self.model.holder(queue, res.task_id, res.token, now) for _, res in held]
        renewing = [r for _, r in held]
        flags = self.prefetch.renew_many(queue, renewing, lease)
        self.said(f"renew_many({queue!r}, {renewing!r}, {lease!r})", flags)
        expected = [task is not None for task in tasks]
        assert flags == expected, f"renew_many renewed {flags}, expected {expected}"
        for task in tasks:
            if task is not None:
                self.model.renew(task, now + lease)
