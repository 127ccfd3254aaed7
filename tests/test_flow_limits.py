"""Limits through the worker: deferred spending no retry or delivery; refused if uncounted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alligator import Gator, Limit, Worker, limited
from alligator.exceptions import ConfigurationError, InvalidTaskError
from alligator.limits import slots_for
from alligator.protocols import LimitClient
from alligator.records import LimitSlot, Reservation
from tests import flow_tasks
from tests.tasks import read_ledger


def _hold_the_only_slot(gator: Gator) -> Reservation:
    """Lease a charge for merchant 1 and take its slot, as a worker that runs it would."""
    held = gator.consumer().reserve()
    assert held is not None
    limiter: LimitClient = gator.broker  # type: ignore[assignment]
    key = "tests.flow_tasks:charge:running[merchant_id=1]"
    assert limiter.acquire("q", held, [LimitSlot(key, concurrency=1)]) == 0.0
    return held


def test_a_task_over_its_limit_goes_back_unstarted_spending_nothing(
    locmem_dsn: str, ledger: Path
) -> None:
    # Given a running charge holding merchant 1's only slot, and another charge
    gator = Gator(locmem_dsn, queue_name="q", max_deliveries=1)
    gator.task(flow_tasks.charge, str(ledger), 1, 1, 0.0)
    holder = _hold_the_only_slot(gator)
    second = gator.options(retries=2).task(flow_tasks.charge, str(ledger), 1, 2, 0.0)
    worker = Worker(gator, poll_timeout=2.0)
    # When a worker claims it three times
    for _ in range(3):
        claim = worker.claim()
        assert claim is not None and claim.reservation.task_id == second.task_id
        outcome = worker.execute(claim)
        # Then it did not run, and went back delayed with its retries and attempts whole
        assert outcome.action == "defer" and outcome.settled
        assert outcome.task is not None
        assert (outcome.task.retries, outcome.task.attempts) == (2, 0)
        assert read_ledger(ledger) == []
    # And once the slot is free it runs: three deliveries with no settled
    # failure did not bury it (max_deliveries=1), as deferrals are not losses
    assert gator.broker.ack("q", holder) is True
    claim = worker.claim()
    assert claim is not None and worker.execute(claim).action == "ack"
    assert [line.split()[:2] for line in read_ledger(ledger)] == [["1", "2"]]
    assert gator.broker.buried("q") == []


def test_a_key_per_argument_lets_other_keys_run(locmem_dsn: str, ledger: Path) -> None:
    gator = Gator(locmem_dsn, queue_name="q")
    gator.task(flow_tasks.charge, str(ledger), 1, 1, 0.0)
    _hold_the_only_slot(gator)
    gator.task(flow_tasks.charge, str(ledger), 2, 2, 0.0)  # another merchant
    worker = Worker(gator, poll_timeout=0.01)
    claim = worker.claim()
    assert claim is not None and worker.execute(claim).action == "ack"
    assert [line.split()[:2] for line in read_ledger(ledger)] == [["2", "2"]]


def test_limits_show_their_current_use(locmem_dsn: str, ledger: Path) -> None:
    gator = Gator(locmem_dsn, queue_name="q")
    gator.task(flow_tasks.charge, str(ledger), 1, 1, 0.0)
    _hold_the_only_slot(gator)
    limiter: LimitClient = gator.broker  # type: ignore[assignment]
    [usage] = limiter.limit_usage("q")
    assert (usage.key, usage.concurrency, usage.running) == (
        "tests.flow_tasks:charge:running[merchant_id=1]",
        1,
        1,
    )


@pytest.mark.parametrize("any_dsn", ["beanstalk"], indirect=True)
def test_a_backend_that_cannot_count_refuses_limited_tasks(any_dsn: str, ledger: Path) -> None:
    with Gator(any_dsn, queue_name="q") as gator:
        with pytest.raises(ConfigurationError, match="cannot count"):
            gator.task(flow_tasks.two_at_once, str(ledger), 1, 0.0)
        assert gator.len() == 0
        gator.task(flow_tasks.keyless, str(ledger), 1)  # unlimited tasks still go


def test_limits_are_checked_where_declared() -> None:
    with pytest.raises(ConfigurationError, match="exactly one"):
        Limit(concurrency=1, rate=1)
    with pytest.raises(ConfigurationError, match="exactly one"):
        Limit()
    with pytest.raises(ConfigurationError, match="period"):
        Limit(rate=1, period=0)
    with pytest.raises(ConfigurationError, match="no such parameter"):
        limited(Limit(concurrency=1, per="nope"))(flow_tasks.keyless)
    with pytest.raises(ConfigurationError, match="Limit objects"):
        limited()


def test_slots_are_keyed_by_function_kind_and_argument() -> None:
    assert slots_for(flow_tasks.charge, ("l", 7, 1, 0.0), {}) == [
        LimitSlot("tests.flow_tasks:charge:running[merchant_id=7]", concurrency=1)
    ]
    assert slots_for(flow_tasks.twenty_a_second, ("l", 1), {}) == [
        LimitSlot("tests.flow_tasks:twenty_a_second:rate", rate=20, period=1.0)
    ]
    assert slots_for(flow_tasks.keyless, ("l", 1), {}) == []
    with pytest.raises(InvalidTaskError):
        slots_for(flow_tasks.charge, ("l",), {})


def test_info_shows_limits_and_their_use(sqlite_dsn: str, ledger: Path) -> None:
    # Given a charge running under merchant 1's limit
    with Gator(sqlite_dsn, queue_name="q") as gator:
        gator.task(flow_tasks.charge, str(ledger), 1, 1, 0.0)
        _hold_the_only_slot(gator)
        # When info looks at the queue
        table = _info(sqlite_dsn, "-q", "q")
        lines = _info(sqlite_dsn, "-q", "q", "--json")
    # Then the limit key shows with its use, for people and for scripts
    key = "tests.flow_tasks:charge:running[merchant_id=1]"
    assert f"  {key}  1/1 running" in table.splitlines()
    [row] = [json.loads(line) for line in lines.splitlines()]
    assert row["limits"] == [{"key": key, "concurrency": 1, "running": 1}]


def _info(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "alligator", "info", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout
