"""Task: option validation, 1.0 status values, and running with hooks."""

from __future__ import annotations

import datetime as dt
import os
import string
import time

import pytest

from alligator import Status, Task, constants
from alligator.exceptions import (
    ConfigurationError,
    InvalidTaskError,
    MultipleDelayError,
    MultipleDelaysError,
    NoResultError,
)
from alligator.utils import TASK_ID_LENGTH, new_task_id
from tests import tasks


def test_status_values_are_alligator_1_integers() -> None:
    # Given the 1.0 integers, stored values must keep their meaning
    expected = {"WAITING": 0, "SUCCESS": 1, "FAILED": 2, "DELAYED": 3, "RETRYING": 4, "CANCELED": 5}
    # Then the enum and the 1.0 module constants carry them (2.0 adds two after them)
    assert {s.name: int(s) for s in Status} == {**expected, "BLOCKED": 6, "RUNNING": 7}
    for name, value in expected.items():
        assert getattr(constants, name) == value
    assert constants.ALL == "all"


def test_both_delays_are_refused() -> None:
    # When a task is given both delay options
    with pytest.raises(MultipleDelaysError) as info:
        Task(delay_by=5, delay_until=time.time() + 5)
    # Then the error is the configuration family, under its 1.0 name too
    assert isinstance(info.value, ConfigurationError)
    assert MultipleDelayError is MultipleDelaysError


@pytest.mark.parametrize("delay", [-1, -0.001, float("nan"), float("inf")])
def test_negative_or_non_finite_delay_by_is_refused(delay: float) -> None:
    with pytest.raises(InvalidTaskError, match="delay_by"):
        Task(delay_by=delay)


def test_naive_datetime_is_refused() -> None:
    # Given a datetime without a timezone, whose meaning depends on the machine
    naive = dt.datetime(2030, 1, 1, 12, 0)
    # Then it is refused with a hint
    with pytest.raises(InvalidTaskError, match="timezone-aware"):
        Task(delay_until=naive)


def test_utc_datetime_becomes_a_timestamp() -> None:
    # Given a UTC run-at time
    when = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
    # When a task is made with it
    task: Task[int] = Task(delay_until=when)
    # Then it is delayed until exactly that instant
    assert task.delay_until == when.timestamp()
    assert task.status == Status.DELAYED


def test_delay_by_sets_a_future_run_at() -> None:
    before = time.time()
    task: Task[int] = Task(delay_by=60)
    assert task.delay_until is not None and task.delay_until >= before + 60
    assert task.status == Status.DELAYED


@pytest.mark.parametrize("retries", [-1, True, "3", 1.5])
def test_bad_retries_are_refused(retries: object) -> None:
    with pytest.raises(InvalidTaskError, match="retries"):
        Task(retries=retries)  # type: ignore[arg-type]


def test_a_new_task_waits_with_a_fresh_id() -> None:
    first: Task[int] = Task()
    second: Task[int] = Task()
    assert first.status == Status.WAITING
    assert first.task_id and first.task_id != second.task_id


def test_run_calls_hooks_in_order() -> None:
    # Given a task with start and success hooks
    task = Task(on_start=tasks.on_start, on_success=tasks.on_success).to_call(tasks.add, 1, 2)
    # When it runs
    ran = task.run()
    # Then it returns itself holding the result, as in 1.0
    assert ran is task and task.result == 3
    # And start, the function and success happen in that order
    assert [
        ("start", task.task_id),
        ("add", 1, 2),
        ("success", task.task_id, 3),
    ] == tasks.EVENTS
    assert task.status == Status.SUCCESS


def test_run_calls_on_error_then_reraises() -> None:
    # Given a failing task with start and error hooks
    task = Task(on_start=tasks.on_start, on_error=tasks.on_error).to_call(tasks.fail, "boom")
    # When it runs, the user's error propagates after on_error saw it
    with pytest.raises(ValueError, match="boom"):
        task.run()
    assert [
        ("start", task.task_id),
        ("fail", "boom"),
        ("error", task.task_id, "boom"),
    ] == tasks.EVENTS
    assert task.status == Status.FAILED


def test_a_hook_may_modify_the_task() -> None:
    # Given an on_start hook that replaces the arguments
    task = Task(on_start=tasks.swap_args).to_call(tasks.add, 1, 2)
    # Then the function runs with what the hook set
    assert task.run().result == 30


def test_running_without_a_function_is_a_clear_error() -> None:
    task: Task[int] = Task()
    with pytest.raises(InvalidTaskError, match="to_call"):
        task.run()


def test_generated_ids_are_short_unique_and_need_no_quoting() -> None:
    # When many ids are generated (several refills of the random draw)
    ids = [Task().task_id for _ in range(5_000)]
    # Then none repeats, each is 16 characters, and none needs quoting in a
    # URL path, a shell word or a Redis key, nor starts like a CLI option
    assert len(set(ids)) == len(ids)
    safe = set(string.ascii_letters + string.digits + "_.")
    for task_id in ids:
        assert len(task_id) == TASK_ID_LENGTH
        assert set(task_id) <= safe
        assert not task_id.startswith("-")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_repeats_its_parents_ids() -> None:
    # Given a parent that has drawn ids (so a buffer of unused ones exists)
    new_task_id()
    read_end, write_end = os.pipe()
    # When a child forked now draws ids, and so does the parent
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_end)
        os.write(write_end, " ".join(new_task_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child_ids = set(pipe.read().decode().split())
    os.waitpid(pid, 0)
    parent_ids = {new_task_id() for _ in range(100)}
    # Then they share none
    assert len(child_ids) == 100
    assert not child_ids & parent_ids


def test_every_option_survives_the_envelope() -> None:
    # Given a task with every option set
    task = Task(
        task_id="t-1",
        retries=2,
        is_async=False,
        on_start=tasks.on_start,
        on_success=tasks.on_success,
        on_error=tasks.on_error,
        depends_on=["a", "b"],
        delay_until=2_000_000_000,
        priority=7,
    ).to_call(tasks.add, 1, b=2)
    task.attempts = 3
    # When it goes to the wire form and back
    envelope = task.to_envelope()
    back = Task.from_envelope(envelope)
    # Then each field is where the envelope's schema says it is
    assert (envelope.module, envelope.callable) == ("tests.tasks", "add")
    assert envelope.on_error == "tests.tasks:on_error"
    assert (back.task_id, back.retries, back.attempts, back.is_async) == ("t-1", 2, 3, False)
    assert (back.on_start, back.on_success, back.on_error) == (
        tasks.on_start,
        tasks.on_success,
        tasks.on_error,
    )
    assert (back.depends_on, back.delay_until, back.priority) == (["a", "b"], 2e9, 7)
    assert (back.func, back.func_args, back.func_kwargs) == (tasks.add, (1,), {"b": 2})


def test_reading_the_result_before_a_successful_run_is_a_clear_error() -> None:
    # Given a task that has not run, and one whose function failed
    waiting = Task().to_call(tasks.add, 1, 2)
    failed = Task().to_call(tasks.fail, "no")
    with pytest.raises(ValueError):
        failed.run()
    # Then neither has a result: an AttributeError saying why, so getattr still works
    for task in (waiting, failed):
        with pytest.raises(NoResultError, match="has not run successfully"):
            _ = task.result
        assert getattr(task, "result", None) is None
    # And once it ran, the result is there
    assert waiting.run().result == 3
