"""The state machine of the Alligator 1.0 contract: push, pop, get, len, drop_all.

Each step calls the client and :class:`~alligator.testing.model.QueueModel`
with the same operation and compares results; an invariant compares ``len``
after every step. Use it through :func:`~alligator.testing.client_machine`.
"""

from __future__ import annotations

from typing import Any, cast

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from alligator.capabilities import capabilities_of
from alligator.protocols import Client
from alligator.testing.clock import Clock, FakeClock, RealClock
from alligator.testing.draws import ADVANCES, DELAYS, FAR, PAYLOADS, TASK_IDS
from alligator.testing.model import ModelTask, QueueModel
from alligator.testing.prefetch_machine import QUEUES
from alligator.testing.support import unique_queue_name

__all__ = ["ClientMachine"]

#: ``drop_all`` runs only once the queues hold this many tasks between them:
#: emptying a near-empty queue checks little and throws away the history that
#: finds bugs, while every ``drop_all`` step that does run calls the client.
DROP_WHEN = 3


class ClientMachine(RuleBasedStateMachine):
    """The Alligator 1.0 contract: push, pop, get, len, drop_all over two queues.

    When the client takes ``delay_until`` (its capability ``delays``: the
    Gator then delays tasks on it), pushes carry delays and the clock moves too.
    """

    real_time = False
    strict_fifo = True
    caller_ids = True
    replaces_on_push = True
    #: Whether ``push`` is given delays: ``None`` decides as the Gator does.
    delays: bool | None = None

    def __init__(self) -> None:
        super().__init__()
        self.clock: Clock = RealClock() if self.real_time else FakeClock()
        self.client = self.new_client(self.clock)
        self.queues = [unique_queue_name(), unique_queue_name()]
        self.model = QueueModel(strict_fifo=self.strict_fifo)
        self.fresh = 0
        self.seen: list[str] = []  # every id a push returned, for get() to try
        self.delaying = capabilities_of(self.client).delays if self.delays is None else self.delays

    def new_client(self, clock: Clock) -> Client:
        """Build the client under test; the factories override this."""
        raise TypeError("use client_machine(make_client) to build a runnable machine")

    def teardown(self) -> None:
        for queue in self.queues:
            self.client.drop_all(queue)
        if capabilities_of(self.client).closes:
            cast(Any, self.client).close()

    def said(self, call: str, result: object) -> None:
        """Print the call as made, with the ids and payloads actually used.

        Hypothesis prints each step with its drawn arguments, but a step
        rewrites them (a fresh id, a unique payload, an id taken from an
        earlier push), so a failing run is replayed by hand from these lines.
        """
        note(f"client.{call} -> {result!r}")

    def now(self) -> float:
        return self.clock()

    def delay(self, offset: float | None) -> float | None:
        """The ``delay_until`` for a drawn offset (an hour away in real time)."""
        if offset is None or not self.delaying:
            return None
        return self.now() + (FAR if self.real_time else offset)

    def fresh_id(self, queue: str, task_id: str) -> str:
        """``task_id`` if the queue lacks it, else a new id (1.0 leaves replacing open)."""
        if task_id not in self.model.tasks(queue):
            return task_id
        self.fresh += 1
        return f"{task_id}{self.fresh}"

    def unique(self, data: bytes, also: set[bytes] | None = None) -> bytes:
        """``data``, suffixed if a task of the model (or ``also``) already carries it.

        Unique payloads make every ``pop`` checkable: the bytes it returns
        name the one task it took. (Equal payloads in one queue are still
        covered, by the contract tests.)
        """
        taken = {t.data for queue in self.queues for t in self.model.tasks(queue).values()}
        taken |= also or set()
        while data in taken:
            self.fresh += 1
            data += b"#%d" % self.fresh
        return data

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

    @rule(q=QUEUES, task_id=TASK_IDS, data=PAYLOADS, offset=st.sampled_from(DELAYS))
    def push_new(self, q: int, task_id: str, data: bytes, offset: float | None) -> None:
        queue = self.queues[q]
        task_id = self.fresh_id(queue, task_id)
        data = self.unique(data)
        now = self.now()
        delay_until = self.delay(offset)
        if delay_until is None:
            returned = self.client.push(queue, task_id, data)
        else:  # the 1.0 protocol has no delay_until; this client's push takes it
            push: Any = self.client.push
            returned = push(queue, task_id, data, delay_until=delay_until)
        self.said(f"push({queue!r}, {task_id!r}, {data!r}, delay_until={delay_until!r})", returned)
        task_id = self.check_id(queue, task_id, returned, set(self.model.tasks(queue)))
        self.model.push(queue, task_id, data, now if delay_until is None else delay_until)

    @rule(q=QUEUES)
    def pop(self, q: int) -> None:
        queue = self.queues[q]
        choices = self.model.acceptable(queue, self.now())
        data = self.client.pop(queue)
        self.said(f"pop({queue!r})", data)
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
        self.said(f"get({queue!r}, {task_id!r})", data)
        if task is None:
            assert data is None, f"get({task_id!r}) returned {data!r}, expected None"
            return
        if task.rekeyed and data is None:
            return  # released as a new job under a new id: the old one is gone
        assert data == task.data, f"get({task_id!r}) returned {data!r}, expected {task.data!r}"
        self.model.remove(queue, task_id)

    @precondition(lambda self: sum(len(self.model.tasks(q)) for q in self.queues) >= DROP_WHEN)
    @rule(q=QUEUES)
    def drop_all(self, q: int) -> None:
        self.client.drop_all(self.queues[q])
        self.said(f"drop_all({self.queues[q]!r})", None)
        self.model.drop_all(self.queues[q])
        self.dropped(self.queues[q])

    def dropped(self, queue: str) -> None:
        """``drop_all`` emptied ``queue``: rules mixed in forget what they kept of it."""

    @precondition(lambda self: self.delaying and not self.real_time)
    @rule(seconds=st.sampled_from(ADVANCES))
    def advance(self, seconds: float) -> None:
        assert isinstance(self.clock, FakeClock)
        self.clock.advance(seconds)

    @invariant()
    def lengths_match(self) -> None:
        now = self.now()
        for queue in self.queues:
            expected = self.model.len(queue, now)
            got = self.client.len(queue)
            assert got == expected, f"len({queue!r}) = {got}, expected {expected}"


def _ids(tasks: list[ModelTask]) -> list[str]:
    return [t.task_id for t in tasks]
