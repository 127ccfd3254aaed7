"""State-machine rules for the optional :class:`~alligator.protocols.ResultClient`.

Mixed into :class:`~alligator.testing.ReliableClientMachine`; every rule has
a precondition on the client's ``results`` capability, so other clients see
no difference. What the rules expect (outcomes, blocked tasks, the orders
left open) is kept by :class:`~alligator.testing.results_model.ResultBook`.

Dependents get ids (``dep-<n>``) that the other rules never draw, so a
blocked task is never replaced by a plain push (which the protocol leaves
open).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, TypeAlias, cast

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, MultipleResults, multiple, precondition, rule

from alligator.capabilities import capabilities_of, results_view
from alligator.exceptions import TaskNotFoundError
from alligator.protocols import ReliableClient, ResultClient, ResultPrefetchClient
from alligator.records import PushItem, Reservation
from alligator.testing.draws import DELAYS, PAYLOADS, REASONS
from alligator.testing.results_model import UNKNOWN, Blocked, ResultBook

if TYPE_CHECKING:
    from alligator.testing.model import ModelTask

__all__ = ["ResultRules"]

#: Outcomes are kept far longer than a run's clock moves.
TTL = 86_400.0

Held: TypeAlias = tuple[str, Reservation]

PICKS_MAX = 63
PICKS = st.integers(0, PICKS_MAX)


def _results_of(machine: object) -> ResultClient | None:
    found: ResultClient | None = getattr(machine, "_result_client", None)
    return found


def _fused_of(machine: object) -> ResultPrefetchClient | None:
    found: ResultPrefetchClient | None = getattr(machine, "_fused_client", None)
    return found


class ResultRules(ResultBook):
    """``push_after``, ``complete``, ``fail``, ``cancel``, the store and ``task_state``."""

    reservations = Bundle("reservations")
    # Provided by the machine these rules are mixed into.
    queues: list[str]

    if TYPE_CHECKING:

        def now(self) -> float: ...
        def lease(self, lease: float) -> float: ...
        def delay(self, offset: float | None) -> float | None: ...
        def unique(self, data: bytes, also: set[bytes] | None = None) -> bytes: ...
        def check_leased(self, queue: str, got: Reservation, now: float, lease: float) -> None: ...

    def __init__(self) -> None:
        super().__init__()
        self._dependents = itertools.count(1)
        client = getattr(self, "client", None)
        self._result_client: ResultClient | None = None
        self._fused_client: ResultPrefetchClient | None = None
        if isinstance(client, ReliableClient):
            found = capabilities_of(client)
            self._result_client = results_view(client, found)
            if self._result_client is not None and found.results_prefetch:
                self._fused_client = cast(ResultPrefetchClient, client)

    @property
    def results(self) -> ResultClient:
        found = _results_of(self)
        assert found is not None
        return found

    # -- rules -----------------------------------------------------------------

    @precondition(lambda self: _results_of(self) is not None)
    @rule(
        q=st.sampled_from([0, 0, 0, 1]),
        items=st.lists(
            st.tuples(PAYLOADS, st.sampled_from(DELAYS), st.lists(PICKS, max_size=2)),
            min_size=1,
            max_size=3,
        ),
    )
    def push_after(self, q: int, items: list[tuple[bytes, float | None, list[int]]]) -> None:
        queue = self.queues[q]
        now = self.now()
        # Mostly the tasks due first, then the other live ones: their outcomes
        # are still to come, and soon.
        first = sorted(t.task_id for t in self.model.acceptable(queue, now))
        live = sorted(t.task_id for t in self.model.tasks(queue).values() if not t.buried)
        candidates = 6 * first + 2 * live + self._known(queue)
        batch: list[PushItem] = []
        depends_on: list[list[str]] = []
        for data, offset, picks in items:
            pool = candidates + [item.task_id for item in batch] or [UNKNOWN]
            # The last pick names a task never pushed: refused, all or nothing.
            depends_on.append([UNKNOWN if p == PICKS_MAX else pool[p % len(pool)] for p in picks])
            unique = self.unique(data, {item.data for item in batch})
            batch.append(PushItem(f"dep-{next(self._dependents)}", unique, self.delay(offset)))
        plans = self._plans(queue, batch, depends_on)
        try:
            returned = self.results.push_after(queue, batch, depends_on)
        except TaskNotFoundError:
            assert plans is None, f"push_after refused {depends_on}, whose tasks are all known"
            return
        assert plans is not None, f"push_after accepted {depends_on}, which names {UNKNOWN!r}"
        assert returned == [item.task_id for item in batch], f"push_after returned {returned!r}"
        for item, (pending, failed) in zip(batch, plans, strict=True):
            due = now if item.delay_until is None else item.delay_until
            if failed is not None:
                self._buried(queue, item.task_id, item.data, f"dependency {failed} failed", now)
            elif pending:
                self.blocked.setdefault(queue, {})[item.task_id] = Blocked(item.data, due, pending)
            else:
                self.model.push(queue, item.task_id, item.data, due)

    @precondition(lambda self: _results_of(self) is not None)
    @rule(held=reservations, data=PAYLOADS)
    def complete(self, held: Held, data: bytes) -> None:
        self._complete(*held, data)

    @precondition(lambda self: _results_of(self) is not None)
    @rule(
        q=st.sampled_from([0, 0, 0, 1]),
        runs=st.lists(st.sampled_from([True, True, True, False]), min_size=1, max_size=3),
        data=PAYLOADS,
        reason=REASONS,
        why=REASONS,
    )
    def run_some(self, q: int, runs: list[bool], data: bytes, reason: str, why: str) -> None:
        """Reserve the next tasks one by one and settle each at once, as a worker does."""
        queue = self.queues[q]
        lease = self.lease(1.25)
        for succeeds in runs:
            now = self.now()
            choices = self.model.acceptable(queue, now)
            got = self.results.reserve(queue, lease)
            if not choices:
                assert got is None, f"reserve returned {got!r} from a queue with nothing due"
                return
            assert got is not None, "reserve returned None with a task due"
            self.check_leased(queue, got, now, lease)
            if succeeds:
                self._complete(queue, got, data)
            else:
                self._fail(queue, got, reason, why, data)

    def _complete(self, queue: str, res: Reservation, data: bytes) -> None:
        now = self.now()
        task = self.model.holder(queue, res.task_id, res.token, now)
        done = self.results.complete(queue, res, result=data, ttl=TTL)
        assert done is (task is not None), _stale("complete", task)
        if task is not None:
            self.model.remove(queue, res.task_id)
            self._succeeded(queue, res.task_id, data, now, None)

    @precondition(lambda self: _fused_of(self) is not None)
    @rule(
        target=reservations,
        q=st.sampled_from([0, 0, 0, 1]),
        count=st.integers(0, 3),
        done=st.lists(reservations, max_size=3),
        data=PAYLOADS,
    )
    def reserve_many_completing(
        self, q: int, count: int, done: list[Held], data: bytes
    ) -> MultipleResults[Held]:
        queue = self.queues[q]
        lease = self.lease(1.25)
        now = self.now()
        fused = _fused_of(self)
        assert fused is not None
        expected = []
        group: list[int] = []  # one release group for the whole call
        for _, res in done:
            task = self.model.holder(queue, res.task_id, res.token, now)
            expected.append(task is not None)
            if task is not None:
                self.model.remove(queue, res.task_id)
                self._succeeded(queue, res.task_id, data, now, group)
        records = [data] * len(done)
        flags, leased = fused.reserve_many(
            queue, lease, count, 0.0, [r for _, r in done], results=records, ttl=TTL
        )
        assert flags == expected, f"reserve_many completed {flags}, expected {expected}"
        for got in leased:
            self.check_leased(queue, got, now, lease)
        if len(leased) < count:
            left = self.model.acceptable(queue, now)
            assert not left, f"reserve_many left {[t.task_id for t in left]} due"
        return multiple(*[(queue, got) for got in leased])

    @precondition(lambda self: _results_of(self) is not None)
    @rule(held=reservations, reason=REASONS, why=REASONS, data=PAYLOADS)
    def fail(self, held: Held, reason: str, why: str, data: bytes) -> None:
        self._fail(*held, reason, why, data)

    def _fail(self, queue: str, res: Reservation, reason: str, why: str, data: bytes) -> None:
        now = self.now()
        task = self.model.holder(queue, res.task_id, res.token, now)
        buried = self.results.fail(queue, res, reason, result=data, ttl=TTL, dependents_reason=why)
        if task is None:
            assert buried is None, _stale("fail", task)
            return
        assert buried is not None, _stale("fail", task)
        self.model.bury(task, reason)
        task.deadline = now
        self.outcomes[(queue, res.task_id)] = (data, False)
        expected = self._bury_dependents(queue, res.task_id, why, now)
        assert sorted(buried) == sorted(expected), f"fail buried {buried}, expected {expected}"

    @precondition(lambda self: _results_of(self) is not None)
    @rule(q=st.sampled_from([0, 0, 0, 1]), pick=PICKS, why=REASONS, data=PAYLOADS)
    def cancel(self, q: int, pick: int, why: str, data: bytes) -> None:
        queue = self.queues[q]
        now = self.now()
        task_id = self._pick_known(queue, pick)
        waiting = self.blocked.get(queue, {}).get(task_id)
        task = self.model.gettable(queue, task_id, now)
        found = self.results.cancel(queue, task_id, result=data, ttl=TTL, dependents_reason=why)
        if waiting is None and task is None:
            assert found is None, f"cancel({task_id!r}) removed a task that was not waiting"
            return
        assert found is not None, f"cancel({task_id!r}) left a waiting task"
        if waiting is not None:
            expected_data = self.blocked[queue].pop(task_id).data
        else:
            expected_data = self.model.remove(queue, task_id).data
        self.outcomes[(queue, task_id)] = (data, False)
        expected = self._bury_dependents(queue, task_id, why, now)
        assert found[0] == expected_data, f"cancel gave {found[0]!r}, expected {expected_data!r}"
        assert sorted(found[1]) == sorted(expected), f"cancel buried {found[1]}, not {expected}"

    @precondition(lambda self: _results_of(self) is not None)
    @rule(q=st.sampled_from([0, 0, 0, 1]), pick=PICKS, data=PAYLOADS)
    def store_result(self, q: int, pick: int, data: bytes) -> None:
        queue = self.queues[q]
        task_id = self._pick_known(queue, pick)
        self.results.store_result(queue, task_id, data, TTL)
        old = self.outcomes.get((queue, task_id))
        self.outcomes[(queue, task_id)] = (data, None if old is None else old[1])

    @precondition(lambda self: _results_of(self) is not None)
    @rule(q=st.sampled_from([0, 0, 0, 1]), pick=PICKS)
    def fetch_result(self, q: int, pick: int) -> None:
        queue = self.queues[q]
        task_id = self._pick_known(queue, pick)
        expected = self.outcomes.get((queue, task_id), (None, None))[0]
        got = self.results.fetch_result(queue, task_id)
        assert got == expected, f"fetch_result({task_id!r}) = {got!r}, expected {expected!r}"

    @precondition(lambda self: _results_of(self) is not None)
    @rule(q=st.sampled_from([0, 0, 0, 1]), pick=PICKS)
    def task_state(self, q: int, pick: int) -> None:
        queue = self.queues[q]
        task_id = self._pick_known(queue, pick)
        expected = self._state(queue, task_id, self.now())
        got = self.results.task_state(queue, task_id)
        assert got == expected, f"task_state({task_id!r}) = {got!r}, expected {expected!r}"


def _stale(op: str, task: ModelTask | None) -> str:
    if task is None:
        return f"{op} accepted a stale reservation (expired, finished, or another queue's)"
    return f"{op} refused a reservation whose lease is held"
