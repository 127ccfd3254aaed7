"""Failures: retries with backoff, the on_error grant, burial, corrupt payloads.

The backend's clock is injected (``Gator(backend_class=...)``) so a retry's
delay is observed by moving the clock, never by sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from alligator import Backoff, Gator, Worker, codecs
from alligator.backends.locmem_backend import Client as LocmemClient
from alligator.backends.sqlite_backend import Client as SqliteClient
from alligator.constants import ENVELOPE_VERSION
from alligator.protocols import Client
from alligator.wire import Envelope
from tests import tasks
from tests.conftest import FakeClock

BASE = 100.0

Factory = Callable[[str, FakeClock], Client]


def _locmem(dsn: str, clock: FakeClock) -> Client:
    return LocmemClient(dsn, clock=clock)


def _sqlite(dsn: str, clock: FakeClock) -> Client:
    return SqliteClient(dsn, clock=clock)


@pytest.fixture(params=["locmem", "sqlite"])
def clocked(
    request: pytest.FixtureRequest, locmem_dsn: str, sqlite_dsn: str
) -> tuple[Gator, FakeClock]:
    """A Gator on a backend whose clock only moves when the test says so."""
    clock = FakeClock(time.time())
    factory: Factory = _locmem if request.param == "locmem" else _sqlite
    dsn = locmem_dsn if request.param == "locmem" else sqlite_dsn
    gator = Gator(
        dsn,
        queue_name="q",
        backend_class=lambda conn: factory(conn, clock),
        backoff=Backoff(base=BASE, factor=2, jitter=0),
    )
    return gator, clock


def _seconds_from_now(clock: FakeClock, seconds: float) -> None:
    """Set the backend clock relative to the wall clock.

    The Gator computes a retry's run-at time from the wall clock, so the fake
    clock is placed relative to it; the margins used (a quarter of BASE or
    more) dwarf the real time a test takes.
    """
    clock.now = time.time() + seconds


def _run_one(gator: Gator) -> bool:
    return Worker(gator, poll_timeout=0).check_and_run_task()


def test_failed_task_is_released_with_a_backoff_then_runs_again(
    clocked: tuple[Gator, FakeClock],
) -> None:
    gator, clock = clocked
    # Given a task that fails once, with retries left
    with gator.options(retries=2) as opts:
        opts.task(tasks.fail_times, "flaky", 1)
    # When a worker runs it and it fails
    assert _run_one(gator)
    # Then it is back in the queue, delayed, not reservable yet
    stats = gator.broker.stats("q")
    assert (stats.ready, stats.delayed, stats.reserved, stats.buried) == (0, 1, 0, 0)
    assert gator.len() == 1
    _seconds_from_now(clock, BASE * 0.75)
    assert not _run_one(gator)
    # And once the backoff has passed it is due and succeeds
    _seconds_from_now(clock, BASE * 1.25)
    assert _run_one(gator)
    assert tasks.CALLS["flaky"] == 2
    assert gator.len() == 0
    assert gator.broker.stats("q") == type(stats)()


def test_out_of_retries_is_buried_with_error_and_traceback(
    clocked: tuple[Gator, FakeClock],
) -> None:
    gator, clock = clocked
    # Given a task that always fails, with one retry
    with gator.options(retries=1) as opts:
        task = opts.task(tasks.fail, "always broken")
    # When it fails, waits its backoff, and fails again
    assert _run_one(gator)
    _seconds_from_now(clock, BASE * 1.25)
    assert _run_one(gator)
    # Then it is buried, never dropped, with the error and its traceback
    assert tasks.CALLS["always broken"] == 2
    assert gator.len() == 0
    buried = gator.broker.buried("q")
    assert [b.task_id for b in buried] == [task.task_id]
    reason = buried[0].reason
    assert "Traceback" in reason
    assert "ValueError: always broken" in reason
    assert "tests/tasks.py" in reason
    assert gator.broker.stats("q").buried == 1


def test_second_retry_waits_longer(clocked: tuple[Gator, FakeClock]) -> None:
    gator, clock = clocked
    with gator.options(retries=2) as opts:
        opts.task(tasks.fail_times, "twice", 2)
    assert _run_one(gator)
    _seconds_from_now(clock, BASE * 1.25)
    assert _run_one(gator)
    # The second backoff is BASE * 2: still delayed at 1.5 * BASE
    _seconds_from_now(clock, BASE * 1.5)
    assert not _run_one(gator)
    _seconds_from_now(clock, BASE * 2.25)
    assert _run_one(gator)
    assert tasks.CALLS["twice"] == 3
    assert gator.len() == 0


def test_on_error_hook_granting_a_retry_gives_one_more_try(
    clocked: tuple[Gator, FakeClock],
) -> None:
    gator, clock = clocked
    # Given a task with no retries whose on_error does task.retries += 1 once
    with gator.options(on_error=tasks.grant_one_more) as opts:
        opts.task(tasks.fail, "hooked")
    # When it fails, it is released instead of buried
    assert _run_one(gator)
    assert gator.broker.stats("q").delayed == 1
    # And the extra try runs; then, with no more grants, it is buried
    _seconds_from_now(clock, BASE * 1.25)
    assert _run_one(gator)
    assert tasks.CALLS["hooked"] == 2
    assert gator.broker.stats("q").buried == 1


def _payload(module: str, name: str) -> bytes:
    envelope = Envelope(version=ENVELOPE_VERSION, task_id="x", module=module, callable=name)
    return codecs.JSON.encode(envelope)


@pytest.mark.parametrize("dsn_fixture", ["locmem_dsn", "sqlite_dsn"])
def test_corrupt_payloads_are_buried_and_the_worker_keeps_going(
    request: pytest.FixtureRequest, dsn_fixture: str
) -> None:
    # Given corrupt payloads pushed raw, followed by a good task
    gator = Gator(request.getfixturevalue(dsn_fixture), queue_name="q")
    good = _payload("tests.tasks", "add")
    bad = {
        "random": b"\x8f\x00\xff\x13garbage\x01\x02",
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "unknown-module": _payload("no_such_module_zz", "f"),
        "unknown-callable": _payload("tests.tasks", "no_such_function"),
        "future-version": codecs.JSON.encode(
            Envelope(
                version=ENVELOPE_VERSION + 1, task_id="x", module="tests.tasks", callable="add"
            )
        ),
    }
    for task_id, data in bad.items():
        gator.broker.push("q", task_id, data)
    gator.task(tasks.add, 40, 2)
    # When a worker runs through them
    worker = Worker(gator, max_tasks=len(bad) + 1, poll_timeout=0.05)
    worker.run_forever()
    # Then every bad one is buried with a reason naming the problem
    reasons = {b.task_id: b.reason for b in gator.broker.buried("q")}
    assert set(reasons) == set(bad)
    for reason in reasons.values():
        assert reason.startswith("cannot decode payload")
    assert "no_such_module_zz" in reasons["unknown-module"]
    assert "no_such_function" in reasons["unknown-callable"]
    assert "version" in reasons["future-version"]
    assert "DecodeError" in reasons["truncated"]
    # And the good task queued after them ran
    assert tasks.EVENTS == [("add", 40, 2)]
    assert worker.tasks_complete == len(bad) + 1
    assert gator.len() == 0


def test_buried_payload_is_kept_as_pushed(locmem_gator: Gator) -> None:
    raw = b"\x00not a task\xff"
    locmem_gator.broker.push("q", "raw", raw)
    Worker(locmem_gator, max_tasks=1, poll_timeout=0.05).run_forever()
    [buried] = locmem_gator.broker.buried("q")
    assert buried.data == raw
