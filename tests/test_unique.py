"""Unique tasks through the Gator: which task wins, when the key is free again, who refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import DuplicateTaskError, Gator, Worker
from alligator.exceptions import ConfigurationError, InvalidTaskError
from alligator.records import QueueStats
from tests import flow_tasks, tasks
from tests.fixtures import BACKENDS, DECLARED

UNIQUE = [name for name in BACKENDS if DECLARED[name].unique]


@pytest.fixture
def gator(any_dsn: str) -> Iterator[Gator]:
    with Gator(any_dsn, queue_name="q") as producer:
        yield producer


def _run_one(gator: Gator) -> None:
    worker = Worker(gator, max_tasks=1, poll_timeout=0.1)
    assert worker.check_and_run_task() is True


@pytest.mark.parametrize("any_dsn", UNIQUE, indirect=True)
def test_the_first_task_wins_and_a_duplicate_names_it(gator: Gator, ledger: Path) -> None:
    # Given a task holding a key
    first = gator.options(unique_key="rebuild:42", retries=1).task(
        flow_tasks.keyless, str(ledger), 1
    )
    # When the same key is enqueued again with other arguments and options
    second = gator.options(unique_key="rebuild:42", retries=5).task(
        flow_tasks.keyless, str(ledger), 2
    )
    # Then nothing new is stored: the task names the first one, which runs as pushed
    assert (first.duplicate, second.duplicate) == (False, True)
    assert second.task_id == first.task_id
    assert gator.broker.stats("q") == QueueStats(ready=1)
    _run_one(gator)
    assert tasks.read_ledger(ledger) == ["1"]


@pytest.mark.parametrize("any_dsn", UNIQUE, indirect=True)
def test_on_duplicate_raise_names_the_holder(gator: Gator, ledger: Path) -> None:
    first = gator.options(unique_key="k").task(flow_tasks.keyless, str(ledger), 1)
    with pytest.raises(DuplicateTaskError) as caught:
        gator.options(unique_key="k", on_duplicate="raise").task(flow_tasks.keyless, str(ledger), 2)
    assert (caught.value.task_id, caught.value.unique_key) == (first.task_id, "k")
    assert gator.len() == 1


@pytest.mark.parametrize("any_dsn", UNIQUE, indirect=True)
def test_unique_true_keys_by_function_and_bound_arguments(gator: Gator, ledger: Path) -> None:
    with gator.options(unique=True) as opts:
        a = opts.task(flow_tasks.keyless, str(ledger), 1)
        b = opts.task(flow_tasks.keyless, ledger=str(ledger), n=1)  # the same call
        c = opts.task(flow_tasks.keyless, str(ledger), 2)  # another call
    assert (a.duplicate, b.duplicate, c.duplicate) == (False, True, False)
    assert b.task_id == a.task_id and c.task_id != a.task_id
    assert gator.len() == 2


@pytest.mark.parametrize("any_dsn", UNIQUE, indirect=True)
def test_the_key_is_free_once_the_task_finished(gator: Gator, ledger: Path) -> None:
    gator.options(unique_key="k").task(flow_tasks.keyless, str(ledger), 1)
    _run_one(gator)
    again = gator.options(unique_key="k").task(flow_tasks.keyless, str(ledger), 2)
    assert again.duplicate is False and gator.len() == 1


@pytest.mark.parametrize("any_dsn", UNIQUE, indirect=True)
def test_the_key_is_free_once_the_task_failed_for_good(gator: Gator, ledger: Path) -> None:
    gator.options(unique_key="k").task(tasks.fail, "boom")
    _run_one(gator)
    assert len(gator.broker.buried("q")) == 1
    assert gator.options(unique_key="k").task(tasks.fail, "again").duplicate is False


@pytest.mark.parametrize("any_dsn", UNIQUE, indirect=True)
def test_the_key_is_free_once_the_task_is_canceled(gator: Gator, ledger: Path) -> None:
    first = gator.options(unique_key="k").task(flow_tasks.keyless, str(ledger), 1)
    assert gator.cancel(first.task_id) is not None
    assert gator.options(unique_key="k").task(flow_tasks.keyless, str(ledger), 2).duplicate is False


@pytest.mark.parametrize("any_dsn", UNIQUE, indirect=True)
def test_unique_running_holds_the_key_while_it_runs(gator: Gator, ledger: Path) -> None:
    gator.options(unique_key="w").task(flow_tasks.keyless, str(ledger), 1)
    gator.options(unique_key="r", unique_running=True).task(flow_tasks.keyless, str(ledger), 2)
    consumer = gator.consumer()
    assert consumer.reserve() is not None and consumer.reserve() is not None
    # Both run: only the one pushed with unique_running still holds its key
    assert gator.options(unique_key="w").task(flow_tasks.keyless, str(ledger), 3).duplicate is False
    assert gator.options(unique_key="r").task(flow_tasks.keyless, str(ledger), 4).duplicate is True


@pytest.mark.parametrize("any_dsn", ["beanstalk"], indirect=True)
def test_a_backend_without_unique_keys_refuses_them(gator: Gator, ledger: Path) -> None:
    # (the shared beanstalkd may hold an earlier test's task: count what this one adds)
    before = gator.len()
    with pytest.raises(ConfigurationError, match="cannot enforce unique tasks"):
        gator.options(unique_key="k").task(flow_tasks.keyless, str(ledger), 1)
    assert gator.len() == before


def test_bad_unique_options_fail_where_written(locmem_gator: Gator) -> None:
    with pytest.raises(InvalidTaskError, match="unique_key must be"):
        locmem_gator.options(unique_key="")
    with pytest.raises(InvalidTaskError, match="not both"):
        locmem_gator.options(unique_key="k", unique=True)
    with pytest.raises(InvalidTaskError, match="need unique_key"):
        locmem_gator.options(unique_running=True)
    with pytest.raises(InvalidTaskError, match="on_duplicate"):
        locmem_gator.options(unique_key="k", on_duplicate="ignore")  # type: ignore[arg-type]
    with pytest.raises(InvalidTaskError, match="is_async=False"):
        locmem_gator.options(unique_key="k", is_async=False)
    with pytest.raises(InvalidTaskError, match="depends_on or priority"):
        locmem_gator.options(unique_key="k", priority=1).task(tasks.add, 1, 2)
    with pytest.raises(InvalidTaskError, match="batch"), locmem_gator.batch() as batch:
        batch.push(locmem_gator.task_class(unique_key="k"), tasks.add, 1, 2)
