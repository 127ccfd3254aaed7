"""Prefetching worker: batches of leases, deferred acks, nothing hoarded or lost.

Runs on every built-in backend. Those in :data:`~tests.fixtures.PREFETCHING`
lease ahead; beanstalkd does not, and the same tests check that its worker
holds one task at a time instead. Lease tests run on an injected clock.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from alligator import Consumer, Gator, Worker
from alligator.backends.locmem_backend import Client as LocmemClient
from alligator.capabilities import capabilities_of
from alligator.events import TaskDone, WorkerStarted, WorkerStopped
from alligator.prefetch import Prefetcher
from alligator.records import QueueStats, Reservation
from tests import tasks
from tests.conftest import FakeClock, spawn_worker, stop_process
from tests.fixtures import PREFETCHING, Backend
from tests.renewals import RenewalSpy, hold_through
from tests.servers import wait_until


@pytest.fixture
def gator(any_backend: Backend) -> Gator:
    return any_backend.gator()


#: For tests that count on leasing ahead and on an injected clock: the
#: backends that do both (all but beanstalkd, which does neither).
prefetching = pytest.mark.parametrize("any_backend", PREFETCHING, indirect=True)


def ran() -> Counter[tuple[Any, ...]]:
    return Counter(tasks.EVENTS)


class StopAfter(Worker):
    """Interrupts itself after ``stop_after`` results; records queue stats at each."""

    def __init__(self, gator: Gator, stop_after: int, **kwargs: Any) -> None:
        super().__init__(gator, **kwargs)
        self.stop_after = stop_after
        self.seen: list[QueueStats] = []

    def result(self, result: Any) -> None:
        self.seen.append(self.gator.broker.stats("q"))
        if len(self.seen) >= self.stop_after:
            self.interrupt()


class Recorder:
    def __init__(self) -> None:
        self.done: list[TaskDone] = []

    def on_worker_start(self, event: WorkerStarted) -> None:
        pass

    def on_task_done(self, event: TaskDone) -> None:
        self.done.append(event)

    def on_worker_stop(self, event: WorkerStopped) -> None:
        pass


def test_a_prefetching_worker_runs_each_task_once_and_leaves_nothing_held(gator: Gator) -> None:
    # Given 300 tasks
    with gator.batch() as batch:
        for i in range(300):
            batch.task(tasks.add, i, 0)
    recorder = Recorder()
    # When one worker drains them
    worker = Worker(gator, max_tasks=300, poll_timeout=0.05, events=recorder)
    worker.run_forever()
    # Then each ran exactly once, in order, every ack landed, and nothing is held
    assert [("add", i, 0) for i in range(300)] == tasks.EVENTS
    assert gator.broker.stats("q") == QueueStats()
    assert len(recorder.done) == 300
    assert all(e.action == "ack" and e.settled for e in recorder.done)


def test_acks_are_deferred_to_the_next_claim(gator: Gator, any_backend: Backend) -> None:
    # Given three tasks and a worker that looks at the queue after each result
    for i in range(3):
        gator.task(tasks.add, i, 1)
    worker = StopAfter(gator, stop_after=3, poll_timeout=0.05)
    # When it runs them
    worker.run_forever()
    # Then with prefetch each finished task was still held when its result was
    # handed over (its ack rides on the next claim); without, it was acked already
    if any_backend.prefetch:
        assert all(stats.reserved >= 1 for stats in worker.seen)
    else:
        assert [stats.reserved for stats in worker.seen] == [0, 0, 0]
    # And once the worker stopped every ack had landed
    assert gator.broker.stats("q") == QueueStats()


def test_a_subclass_with_its_own_claim_settles_each_task_at_once(gator: Gator) -> None:
    class OwnClaim(StopAfter):
        def claim(self, consumers: Sequence[Consumer] | None = None) -> Any:
            return super().claim(consumers)

    for i in range(3):
        gator.task(tasks.add, i, 1)
    worker = OwnClaim(gator, stop_after=3, poll_timeout=0.05)
    worker.run_forever()
    assert [stats.reserved for stats in worker.seen] == [0, 0, 0]
    assert [stats.ready for stats in worker.seen] == [2, 1, 0]


def test_prefetch_false_claims_one_task_per_round_trip(gator: Gator) -> None:
    for i in range(3):
        gator.task(tasks.add, i, 1)
    worker = StopAfter(gator, stop_after=3, poll_timeout=0.05, prefetch=False)
    worker.run_forever()
    assert [stats.reserved for stats in worker.seen] == [0, 0, 0]
    assert [("add", i, 1) for i in range(3)] == tasks.EVENTS


def test_a_stopped_worker_gives_back_the_tasks_it_had_not_started(
    gator: Gator, any_backend: Backend
) -> None:
    # Given 40 tasks and a worker that stops itself after 20 (by then it leases ahead)
    for i in range(40):
        gator.task(tasks.add, i, 2)
    worker = StopAfter(gator, stop_after=20, poll_timeout=0.05)
    worker.run_forever()
    if any_backend.prefetch:
        assert any(stats.reserved > 1 for stats in worker.seen), "nothing was leased ahead"
    else:
        assert max(stats.reserved for stats in worker.seen) <= 1, "leased ahead"
    # Then the other 20 are ready again at once: none held, none delayed
    assert gator.broker.stats("q") == QueueStats(ready=20)
    # And a second worker runs exactly those
    Worker(gator, max_tasks=20, poll_timeout=0.05).run_forever()
    assert ran() == Counter(("add", i, 2) for i in range(40))
    assert gator.broker.stats("q") == QueueStats()


def test_max_tasks_never_leases_more_than_it_will_run(gator: Gator) -> None:
    for i in range(50):
        gator.task(tasks.add, i, 3)
    worker = StopAfter(gator, stop_after=1000, max_tasks=30, poll_timeout=0.05)
    worker.run_forever()
    assert worker.tasks_complete == 30
    # Then the 20 beyond its limit were never leased, not even for a moment
    assert min(stats.ready for stats in worker.seen) == 20
    assert gator.broker.stats("q") == QueueStats(ready=20)


@prefetching
def test_tasks_leased_ahead_keep_their_leases_while_a_long_task_runs(
    any_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(1_000_000.0)
    lease = 0.3  # of fake time; the heartbeat renews every 0.1 s of real time
    gator = any_backend.gator(clock, lease=lease)
    renewals = RenewalSpy(gator.broker, clock, monkeypatch)
    # Batches double (1, 2, 4, 8) with no cap from measured run times: on a
    # slow machine a 0.03 s window cut the fourth batch short and left the last
    # tasks ready for the other consumer, which is no failure of the heartbeat.
    defaults = Prefetcher.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "window", 60.0)
    # Given fast tasks, then one that blocks, then more fast ones
    for i in range(7):
        gator.task(tasks.add, i, 4)
    gate = tasks.GATES["long"] = threading.Event()
    gator.task(tasks.block_on_event, "long")
    for i in range(7, 14):
        gator.task(tasks.add, i, 4)
    worker = Worker(gator, max_tasks=15, poll_timeout=0.05)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    try:
        wait_until(lambda: ("blocked", "long") in tasks.EVENTS, message="the long task")
        # (it was leased together with every task after it)
        assert gator.broker.stats("q") == QueueStats(reserved=8)
        # When the clock moves four lease periods on while another consumer asks for work
        other = any_backend.gator(clock, lease=lease)
        stolen = hold_through(
            renewals, clock.advance, lambda: other.broker.reserve("q", lease), lease
        )
        # Then the heartbeat kept every lease held, started or not
        assert stolen == []
        gate.set()
        wait_until(lambda: worker.tasks_complete == 15, message="the rest to run")
    finally:
        gate.set()
        worker.interrupt()
        thread.join(timeout=10)
    assert Counter(e for e in tasks.EVENTS if e[0] == "add") == Counter(
        ("add", i, 4) for i in range(14)
    )
    assert gator.broker.stats("q") == QueueStats()


def test_priority_holds_with_prefetch(any_backend: Backend) -> None:
    # Given tasks on a low queue, then on a high one
    low = any_backend.gator(queue_name="low")
    high = any_backend.gator(queue_name="high")
    for i in range(5):
        low.task(tasks.add, i, 5)
    for i in range(5):
        high.task(tasks.add, i, 6)
    # When one worker consumes high before low
    Worker(high, max_tasks=10, to_consume=["high", "low"], poll_timeout=0.05).run_forever()
    # Then all of high ran before any of low
    assert [e[2] for e in tasks.EVENTS] == [6] * 5 + [5] * 5
    assert high.broker.stats("high") == high.broker.stats("low") == QueueStats()


def test_a_reserve_many_without_done_is_not_used_for_prefetch() -> None:
    class OldStyle(LocmemClient):
        def reserve_many(  # type: ignore[override]
            self, queue_name: str, lease: float, count: int, timeout: float = 0.0
        ) -> list[Reservation]:
            return []

    assert not capabilities_of(OldStyle("locmem://old")).prefetch
    assert capabilities_of(LocmemClient("locmem://new")).prefetch


@pytest.mark.parametrize("flags", [(), ("--no-prefetch",)])
def test_a_worker_process_with_and_without_prefetch(
    sqlite_dsn: str, ledger: Path, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    # Given five tasks on SQLite
    gator = Gator(sqlite_dsn, queue_name="q")
    for i in range(5):
        gator.task(tasks.record, str(ledger), f"t{i}")
    # When a worker process runs three of them and exits
    proc = spawn_worker(sqlite_dsn, tmp_path / "worker.log", "--max-tasks", "3", *flags)
    try:
        assert proc.wait(timeout=30) == 0, (tmp_path / "worker.log").read_text()
    finally:
        stop_process(proc)
    # Then it ran the first three once each and left the other two ready
    assert tasks.read_ledger(ledger) == ["t0", "t1", "t2"]
    assert gator.broker.stats("q") == QueueStats(ready=2)


@prefetching
def test_a_lease_lost_before_its_deferred_ack_is_reported(
    any_backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two tasks on a store whose clock the test moves
    clock = FakeClock(1_000.0)
    gator = any_backend.gator(clock)
    gator.task(tasks.add, 1, 1)
    gator.task(tasks.add, 2, 2)

    class SlowToSettle(Worker):
        def result(self, result: Any) -> None:
            if result == 2:  # the first task: its lease runs out before the ack goes
                clock.advance(10 * self.lease)

    recorder = Recorder()
    # When a worker runs both, the first one's deferred ack arriving too late
    with caplog.at_level(logging.WARNING, logger="alligator.worker"):
        worker = SlowToSettle(gator, max_tasks=2, poll_timeout=0.05, events=recorder)
        worker.run_forever()
    # Then that ack is reported as not settled, with a warning, and the task is back
    assert [(e.action, e.settled) for e in recorder.done] == [("ack", False), ("ack", True)]
    assert "lost before its ack" in caplog.text
    assert gator.broker.stats("q") == QueueStats(ready=1)


@prefetching
def test_a_stopping_worker_acks_its_finished_tasks_in_one_call(
    gator: Gator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 5 tasks, and a backend whose acks and batch calls are recorded
    with gator.batch() as batch:
        for i in range(5):
            batch.task(tasks.add, i, 0)
    broker: Any = gator.broker
    acks: list[str] = []
    batches: list[tuple[int, int]] = []
    ack, reserve_many = broker.ack, broker.reserve_many

    def one_ack(queue_name: str, reservation: Reservation) -> bool:
        acks.append(reservation.task_id)
        return bool(ack(queue_name, reservation))

    def batch_call(queue_name: str, lease: float, count: int, *args: Any, **kwargs: Any) -> Any:
        done: Sequence[Reservation] = args[1] if len(args) > 1 else kwargs.get("done", ())
        batches.append((count, len(done)))
        return reserve_many(queue_name, lease, count, *args, **kwargs)

    monkeypatch.setattr(broker, "ack", one_ack)
    monkeypatch.setattr(broker, "reserve_many", batch_call)
    # When a concurrent worker runs all 5 in one batch and stops at max_tasks
    worker = Worker(gator, max_tasks=5, concurrency=5, poll_timeout=0.05)
    worker.run_forever()
    # Then the 5 acks went in one last call that leased nothing, none on its own
    assert worker.tasks_complete == 5
    assert batches[-1] == (0, 5)
    assert acks == []
    assert gator.broker.stats("q") == QueueStats()
