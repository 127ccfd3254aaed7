"""State-machine rules for the optional unique keys and limits.

Mixed into :class:`~alligator.testing.ReliableClientMachine`; each rule runs
only when the client under test offers
:class:`~alligator.protocols.UniqueClient` (``push_unique``) or
:class:`~alligator.protocols.LimitClient` (``acquire``, ``limit_usage``), so
other clients see no difference.

The model: a key is held by the task it was pushed with while that task is in
the queue, not buried, and not running under a held lease (unless pushed to
hold it while running). A concurrency slot counts while the lease it was
taken under is held; a rate limit counts the starts of its window (the
machine's windows outlast a run, so every start counts). ``drop_all``
forgets a queue's keys and counters with its tasks.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, invariant, precondition, rule

from alligator.capabilities import capabilities_of
from alligator.protocols import Client, LimitClient, ReliableClient, UniqueClient
from alligator.records import LimitSlot
from alligator.testing.draws import DELAYS, FAR, PAYLOADS
from alligator.testing.prefetch_machine import QUEUES, Held

if TYPE_CHECKING:
    from alligator.testing.model import QueueModel

__all__ = ["FlowRules"]

#: Few keys, so held keys are met often.
KEYS = st.sampled_from(["k1", "k2"])
#: The limits a task is admitted under: each alone, or two at once.
LIMITS = st.sampled_from(
    [
        (LimitSlot("one", concurrency=1),),
        (LimitSlot("two", concurrency=2),),
        (LimitSlot("rate", rate=2, period=FAR),),
        (LimitSlot("one", concurrency=1), LimitSlot("rate", rate=2, period=FAR)),
    ]
)


def _can(machine: object, capability: str) -> bool:
    client = getattr(machine, "client", None)
    return isinstance(client, ReliableClient) and getattr(capabilities_of(client), capability)


class FlowRules:
    """``push_unique``, ``acquire`` and ``limit_usage`` against the model."""

    reservations = Bundle("reservations")
    # Provided by the machine these rules are mixed into.
    queues: list[str]
    model: QueueModel
    client: Client

    if TYPE_CHECKING:

        def now(self) -> float: ...
        def delay(self, offset: float | None) -> float | None: ...
        def unique(self, data: bytes, also: set[bytes] | None = None) -> bytes: ...

    def _flow(self) -> None:
        """Start the model's keys and counters on first use (machines build no state early)."""
        if not hasattr(self, "_keys"):
            #: (queue, key) -> the id holding it, and whether it holds it while running.
            self._keys: dict[tuple[str, str], tuple[str, bool]] = {}
            #: (queue, limit key) -> the (id, token) pairs admitted, the starts, the limit.
            self._slots: dict[tuple[str, str], set[tuple[str, str]]] = {}
            self._starts: dict[tuple[str, str], int] = {}
            self._limits: dict[tuple[str, str], LimitSlot] = {}
            self._ids = itertools.count()

    def _holds(self, queue: str, key: str, now: float) -> str | None:
        self._flow()
        found = self._keys.get((queue, key))
        if found is None:
            return None
        task = self.model.tasks(queue).get(found[0])
        if task is None or task.buried or (task.held(now) and not found[1]):
            return None
        return found[0]

    @precondition(lambda self: _can(self, "unique"))
    @rule(q=QUEUES, key=KEYS, data=PAYLOADS, offset=st.sampled_from(DELAYS), running=st.booleans())
    def push_unique(
        self, q: int, key: str, data: bytes, offset: float | None, running: bool
    ) -> None:
        queue = self.queues[q]
        # Ids of their own: the plain rules never push them, so a key's holder
        # is always the task it was pushed with.
        task_id = f"u{next(self._ids)}"
        data = self.unique(data)
        now = self.now()
        delay_until = self.delay(offset)
        holder = self._holds(queue, key, now)
        client: UniqueClient = self.client  # type: ignore[assignment]
        got = client.push_unique(
            queue, task_id, data, delay_until, unique_key=key, while_running=running
        )
        if holder is not None:
            assert got == (holder, False), f"push_unique gave {got!r}; {holder!r} holds {key!r}"
            return
        assert got == (task_id, True), f"push_unique gave {got!r}; {key!r} is free"
        self.model.push(queue, task_id, data, now if delay_until is None else delay_until)
        self._keys[(queue, key)] = (task_id, running)

    @precondition(lambda self: _can(self, "limits"))
    @rule(held=reservations, limits=LIMITS)
    def acquire(self, held: Held, limits: tuple[LimitSlot, ...]) -> None:
        queue, res = held
        self._flow()
        now = self.now()
        live = self.model.holder(queue, res.task_id, res.token, now) is not None
        fits = live
        for limit in limits:
            where = (queue, limit.key)
            if live:  # a stale reservation is refused before anything is counted
                self._limits[where] = limit
            if limit.concurrency:
                holders = self._slots.setdefault(where, set())
                holders -= {h for h in holders if self.model.holder(queue, h[0], h[1], now) is None}
                mine = any(h[0] == res.task_id for h in holders)
                fits = fits and (mine or len(holders) < limit.concurrency)
            else:
                fits = fits and self._starts.get(where, 0) < limit.rate
        client: LimitClient = self.client  # type: ignore[assignment]
        wait = client.acquire(queue, res, list(limits))
        assert (wait == 0.0) is fits, f"acquire gave {wait!r}, expected admitted={fits}"
        assert wait >= 0.0, f"acquire gave a negative wait {wait!r}"
        if fits:
            for limit in limits:
                where = (queue, limit.key)
                if limit.concurrency:
                    self._slots[where] = {h for h in self._slots[where] if h[0] != res.task_id}
                    self._slots[where].add((res.task_id, res.token))
                else:
                    self._starts[where] = self._starts.get(where, 0) + 1

    @precondition(lambda self: _can(self, "limits"))
    @invariant()
    def limit_usage_matches(self) -> None:
        self._flow()
        now = self.now()
        client: LimitClient = self.client  # type: ignore[assignment]
        for queue in self.queues:
            got = {u.key: (u.running, u.recent) for u in client.limit_usage(queue)}
            expected: dict[str, tuple[int, int]] = {}
            for (name, key), limit in self._limits.items():
                if name != queue:
                    continue
                if limit.concurrency:
                    slots = self._slots.get((name, key), set())
                    running = [h for h in slots if self.model.holder(name, *h, now) is not None]
                    expected[key] = (len(running), 0)
                else:
                    expected[key] = (0, self._starts.get((name, key), 0))
            assert got == expected, f"limit_usage({queue!r}) = {got!r}, expected {expected!r}"

    def dropped(self, queue: str) -> None:
        """``drop_all`` forgot the queue's keys and counters with its tasks."""
        self._flow()
        for table in (self._keys, self._slots, self._starts, self._limits):
            for where in [where for where in table if where[0] == queue]:
                del table[where]
