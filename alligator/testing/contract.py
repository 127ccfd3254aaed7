"""The 1.0 client contract as a pytest base class."""

from __future__ import annotations

import abc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, cast

import pytest

from alligator.capabilities import Capabilities, capabilities_of
from alligator.protocols import Client
from alligator.testing.clock import Clock, FakeClock, RealClock
from alligator.testing.support import unique_queue_name

__all__ = ["BINARY_PAYLOADS", "ClientContract"]

#: Payloads a byte-oriented protocol is most likely to mangle.
BINARY_PAYLOADS = [
    b"\x00",
    b"line\r\nbreak\r\n",
    b"\xff\xfe\x00\x01",
    bytes(range(256)),
    "ünïcödé".encode(),
]


class ClientContract(abc.ABC):
    """Tests every Alligator 1.0 client must pass: len, drop_all, push, pop, get.

    A client whose ``push`` takes ``delay_until`` is given delays by the Gator,
    so it must honour them: a delayed task is counted but not popped until due.

    Subclass it in a module pytest collects (name starting with ``Test``) and
    implement :meth:`make_client`. Each test uses fresh queue names and drops
    them afterwards, so a shared server is safe.

    Attributes:
        real_time: The client cannot take an injected clock; the reliable
            tests then wait (on conditions, with timeouts) instead of
            advancing a :class:`FakeClock`.
        time_unit: Shortest delay or lease the backend honours, in seconds
            (beanstalkd counts whole seconds); only used in real-time mode.
        strict_fifo: ``pop``/``reserve`` take the oldest due task first;
            ``False`` for a backend that promises no order (order tests then
            check only which tasks come back).
        caller_ids: ``push`` stores under the id it is given and returns it.
            ``False`` for a backend that picks its own ids (beanstalkd): the
            tests then use the id ``push`` returned for ``get`` and compare
            it with ``Reservation.task_id`` and ``BuriedTask.task_id``.
        replaces_on_push: Pushing an id the queue holds replaces that task,
            unless its lease is held: that push raises ``TaskInProgressError``
            (only meaningful with ``caller_ids``); ``False`` skips those tests.
        release_with_data_keeps_id_and_attempts: ``release`` with a new
            payload keeps the task's id and ``attempts``. ``False`` for a
            backend that stores a new job instead: the task must still come
            back exactly once with the new payload, under any id.
        reserve_sets_lease: ``reserve(lease=...)`` sets the lease. ``False``
            for a backend that fixes it at push (beanstalkd's TTR): the tests
            that need a lease to run out are skipped, and stale tokens are
            made by releasing instead.
        capabilities: The :class:`~alligator.capabilities.Capabilities` the
            client must declare. Set it: tests of an optional protocol skip
            themselves for a client that does not offer it, so a client that
            stops offering one (a ``reserve_many`` whose signature drifted)
            would otherwise only turn tests into skips. With it set,
            :meth:`test_declares_the_expected_capabilities` fails instead.
            ``None`` skips that test (and says so).
        tmp_path: A fresh directory for this test, set before ``make_client``.

    Every test the kit skips names why in its reason; a test skipped for a
    missing capability says ``capability <name> is off``, so
    ``pytest -rs`` lists exactly what a client's capabilities left untested.
    """

    real_time: ClassVar[bool] = False
    time_unit: ClassVar[float] = 1.0
    strict_fifo: ClassVar[bool] = True
    caller_ids: ClassVar[bool] = True
    replaces_on_push: ClassVar[bool] = True
    release_with_data_keeps_id_and_attempts: ClassVar[bool] = True
    reserve_sets_lease: ClassVar[bool] = True
    capabilities: ClassVar[Capabilities | None] = None
    tmp_path: Path

    @abc.abstractmethod
    def make_client(self, clock: Clock) -> Client:
        """A client for the backend under test, using ``clock`` if it can.

        It may be called more than once in a test (for a second thread): all
        clients it makes must see the same queues.
        """

    @pytest.fixture
    def clock(self) -> Clock:
        """The injected clock: fake unless the backend keeps its own time."""
        return RealClock() if self.real_time else FakeClock()

    @pytest.fixture
    def client(self, clock: Clock, tmp_path: Path) -> Iterator[Client]:
        """The client under test; queues it used are dropped afterwards."""
        self.tmp_path = tmp_path
        self._queues: list[str] = []
        client = self.make_client(clock)
        yield client
        for queue in self._queues:
            client.drop_all(queue)
        if capabilities_of(client).closes:
            cast(Any, client).close()

    def require(self, client: Client, capability: str) -> Capabilities:
        """The client's capabilities; skip the test, naming ``capability``, when it is off."""
        found = capabilities_of(client)
        if not getattr(found, capability):
            pytest.skip(f"capability {capability} is off for {type(client).__name__}")
        return found

    def test_declares_the_expected_capabilities(self, client: Client) -> None:
        if self.capabilities is None:
            pytest.skip("the contract sets no expected capabilities (set capabilities = ...)")
        # The client offers exactly the optional protocols it is expected to
        assert capabilities_of(client) == self.capabilities

    def new_queue(self) -> str:
        """A queue name unique to this test, dropped at teardown."""
        name = unique_queue_name()
        self._queues.append(name)
        return name

    def check_ids(self, requested: list[str], returned: list[str]) -> None:
        """The ids ``push`` returned: the requested ones, or distinct ones of its own."""
        if self.caller_ids:
            assert returned == requested
        else:
            assert all(isinstance(task_id, str) and task_id for task_id in returned), returned
            assert len(set(returned)) == len(returned), f"ids are not distinct: {returned}"

    def in_order(self, got: list[bytes | None]) -> list[bytes | None]:
        """``got`` as an order test compares it: unchanged unless ``strict_fifo`` is off."""
        if self.strict_fifo:
            return got
        return sorted((d for d in got if d is not None), key=repr) + [d for d in got if d is None]

    def pop_after(self, client: Client, queue: str, clock: Clock, seconds: float) -> bytes | None:
        """Pop once ``seconds`` have passed: advance a fake clock, else poll until due."""
        if isinstance(clock, FakeClock):
            clock.advance(seconds)
            return client.pop(queue)
        deadline = time.monotonic() + seconds + 5.0 * self.time_unit
        while (data := client.pop(queue)) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return data

    @pytest.fixture
    def queue(self, client: Client) -> str:
        return self.new_queue()

    @pytest.fixture
    def other_queue(self, client: Client) -> str:
        return self.new_queue()

    def test_an_unused_queue_is_empty(self, client: Client, queue: str) -> None:
        # Given a queue nobody pushed to / Then it looks empty every way
        assert client.len(queue) == 0
        assert client.pop(queue) is None
        assert client.get(queue, "missing") is None

    def test_push_returns_the_task_id_and_counts(self, client: Client, queue: str) -> None:
        # When two tasks are pushed
        ids = [client.push(queue, "t1", b"one"), client.push(queue, "t2", b"two")]
        # Then each push returns its id (the one asked for, or its own) and both are counted
        self.check_ids(["t1", "t2"], ids)
        assert client.len(queue) == 2
        # And the returned ids are what get takes
        assert client.get(queue, ids[1]) == b"two"
        assert client.get(queue, ids[0]) == b"one"

    def test_pop_is_first_in_first_out(self, client: Client, queue: str) -> None:
        # Given three tasks pushed in order
        for n in range(3):
            client.push(queue, f"t{n}", f"data{n}".encode())
        # When they are popped / Then they come back in push order, then None
        got = [client.pop(queue) for _ in range(4)]
        assert self.in_order(got) == self.in_order([b"data0", b"data1", b"data2", None])
        assert client.len(queue) == 0

    def test_an_empty_payload_is_a_task_not_an_empty_queue(
        self, client: Client, queue: str
    ) -> None:
        # Given a task whose payload is empty
        client.push(queue, "empty", b"")
        assert client.len(queue) == 1
        # When it is popped / Then b"" comes back, and only then None
        assert client.pop(queue) == b""
        assert client.pop(queue) is None

    @pytest.mark.parametrize("payload", BINARY_PAYLOADS, ids=repr)
    def test_payloads_are_binary_safe(self, client: Client, queue: str, payload: bytes) -> None:
        # Given tasks carrying awkward bytes
        client.push(queue, "by-pop", payload)
        by_get = client.push(queue, "by-get", payload)
        # Then both pop and get return them byte for byte
        assert client.get(queue, by_get) == payload
        assert client.pop(queue) == payload

    def test_a_delayed_task_waits_until_due(self, client: Client, queue: str, clock: Clock) -> None:
        # A 1.0 client whose push takes delay_until is handed delays by the Gator.
        self.require(client, "delays")
        # Given a task delayed by two units, then one due now
        push: Any = client.push  # the 1.0 protocol's push has no delay_until
        push(queue, "later", b"later", delay_until=clock() + 2 * self.time_unit)
        push(queue, "now", b"now")
        # Then only the due one can be taken, while the delayed one is still counted
        assert client.pop(queue) == b"now"
        assert client.pop(queue) is None
        assert client.len(queue) == 1
        # When its time comes / Then it is popped
        assert self.pop_after(client, queue, clock, 2 * self.time_unit) == b"later"
        assert client.len(queue) == 0

    def test_get_removes_the_task_it_returns(self, client: Client, queue: str) -> None:
        # Given three tasks
        ids = [client.push(queue, name, name.encode()) for name in ("a", "b", "c")]
        # When the middle one is fetched by id
        assert client.get(queue, ids[1]) == b"b"
        # Then it is gone and the others keep their order
        assert client.get(queue, ids[1]) is None
        assert client.len(queue) == 2
        got = [client.pop(queue), client.pop(queue)]
        assert self.in_order(got) == self.in_order([b"a", b"c"])

    def test_queues_are_isolated(self, client: Client, queue: str, other_queue: str) -> None:
        # Given a task in one queue
        mine = client.push(queue, "mine", b"data")
        # Then the other queue neither counts, pops, gets nor drops it
        assert client.len(other_queue) == 0
        assert client.pop(other_queue) is None
        assert client.get(other_queue, mine) is None
        client.drop_all(other_queue)
        assert client.len(queue) == 1
        assert client.get(queue, mine) == b"data"

    def test_drop_all_empties_the_queue(self, client: Client, queue: str) -> None:
        # Given a few tasks
        for n in range(3):
            client.push(queue, f"t{n}", b"x")
        # When the queue is dropped / Then nothing is left
        client.drop_all(queue)
        assert client.len(queue) == 0
        assert client.pop(queue) is None
