"""Priorities through the Gator: one scale on every backend, refused where it cannot work.

The backends' own order is proven by the conformance kit (``PriorityContract``
and the state machine); here the producer side is checked (validation, the
refusal of a client that would ignore ``priority``, batches carrying it), and
a real worker process drains a mixed queue in priority order on every
backend.
"""

# ruff: noqa: F811  (fixtures imported from tests.fixtures are parameters here)
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alligator import Gator, Task, Worker
from alligator.exceptions import ConfigurationError, InvalidTaskError
from alligator.priority import PRIORITY_MAX, PRIORITY_MIN
from tests import tasks
from tests.conftest import spawn_worker, stop_process
from tests.fixtures import (  # noqa: F401
    any_dsn,
    shared_beanstalkd,
    shared_cluster,
    shared_postgres,
    shared_redis,
)
from tests.servers import wait_until
from tests.simple_client import SimpleClient

#: Priorities of the drained queue, cycled: ends of the range, ties, 0 and none.
MIX = (3, -2, 0, None, 7, -2, PRIORITY_MIN, None, PRIORITY_MAX, 3)
TASKS = 60


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop_process(proc)


@pytest.mark.parametrize("bad", [PRIORITY_MAX + 1, PRIORITY_MIN - 1, True, 1.0, "1"], ids=repr)
def test_a_priority_outside_the_range_is_refused_where_it_is_written(bad: Any) -> None:
    gator = Gator("locmem://priorities-range", queue_name="q")
    with pytest.raises(InvalidTaskError, match="priority"):
        gator.options(priority=bad)
    with pytest.raises(InvalidTaskError, match="priority"):
        Task(priority=bad)
    assert gator.len() == 0


def test_a_client_that_cannot_order_by_priority_is_refused_at_enqueue() -> None:
    # Given a Gator on a 1.0 client (its push takes no priority)
    gator = Gator("sqlite://unused.db", backend_class=lambda dsn: SimpleClient(), queue_name="q")
    assert not gator.capabilities.priority
    # When a task is given a priority, by options, by hand or in a batch
    with pytest.raises(ConfigurationError, match="cannot order tasks by priority"):
        gator.options(priority=1)
    with pytest.raises(ConfigurationError, match="cannot order tasks by priority"):
        gator.push(Task(priority=0), tasks.record, "/dev/null", "x")
    with (
        pytest.raises(ConfigurationError, match="cannot order tasks by priority"),
        gator.batch() as batch,
    ):
        batch.push(Task(priority=-1), tasks.record, "/dev/null", "x")
    # Then nothing was stored, and tasks without one still go
    assert gator.len() == 0
    gator.task(tasks.record, "/dev/null", "plain")
    assert gator.len() == 1


def test_a_batch_carries_each_tasks_priority(tmp_path: Path) -> None:
    # Given one batch mixing priorities and one outside it
    ledger = tmp_path / "ledger"
    gator = Gator("locmem://priorities-batch", queue_name="q")
    gator.task(tasks.record, str(ledger), "plain-first")
    with gator.batch() as batch:
        batch.push(Task(priority=5), tasks.record, str(ledger), "lazy")
        batch.task(tasks.record, str(ledger), "plain-second")
        batch.push(Task(priority=-5), tasks.record, str(ledger), "urgent")
    # When a worker drains the queue
    Worker(gator, max_tasks=4).run_forever()
    # Then priority decided the order, push order among equals
    assert tasks.read_ledger(ledger) == ["urgent", "plain-first", "plain-second", "lazy"]


def test_a_batch_does_not_mix_dependencies_and_priorities() -> None:
    # Given a Gator whose queue runs dependencies
    gator = Gator("locmem://priorities-deps", queue_name="q", results=True)
    parent = gator.task(tasks.record, "/dev/null", "parent")
    # When one batch holds a dependent task and a prioritised one, in either order
    for first, second in (
        (Task[str](depends_on=[parent]), Task[str](priority=1)),
        (Task[str](priority=1), Task[str](depends_on=[parent])),
    ):
        with pytest.raises(InvalidTaskError, match="cannot mix"), gator.batch() as batch:
            batch.push(first, tasks.record, "/dev/null", "a")
            batch.push(second, tasks.record, "/dev/null", "b")
    # Then neither batch stored anything (push_after would drop the priority)
    assert gator.len() == 1


def test_priorities_are_drained_in_order_on_every_backend(
    any_dsn: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
) -> None:
    backend = request.node.callspec.params["any_dsn"]
    ledger = tmp_path / "ledger"
    # Given a queue of mixed priorities, half pushed one by one, half in one batch
    with Gator(any_dsn, queue_name="q") as gator:
        keys = [f"{i:03}" for i in range(TASKS)]
        priorities = [MIX[i % len(MIX)] for i in range(TASKS)]
        for key, priority in list(zip(keys, priorities, strict=True))[: TASKS // 2]:
            with gator.options(priority=priority) as opts:
                opts.task(tasks.record, str(ledger), key)
        with gator.batch() as batch:
            for key, priority in list(zip(keys, priorities, strict=True))[TASKS // 2 :]:
                batch.push(Task(priority=priority), tasks.record, str(ledger), key)
        assert gator.len() == TASKS
        # When one worker drains it (a process of its own, but on locmem, whose
        # queues live in this process)
        if backend == "locmem":
            Worker(gator, max_tasks=TASKS).run_forever()
        else:
            procs.append(spawn_worker(any_dsn, tmp_path / "worker.log"))
            wait_until(
                lambda: len(tasks.read_ledger(ledger)) >= TASKS,
                timeout=60,
                interval=0.05,
                message=f"{TASKS} tasks to run",
            )
        # Then they ran lowest priority first, in push order among equals
        expected = sorted(keys, key=lambda k: (priorities[keys.index(k)] or 0, k))
        assert tasks.read_ledger(ledger) == expected
