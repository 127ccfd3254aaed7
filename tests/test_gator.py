"""Gator: DSN errors, enqueue-time checks, in-process execution, the 1.0 API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alligator import Gator, Status, Task
from alligator.backends import BUILTIN_SCHEMES
from alligator.exceptions import (
    EncodeError,
    NotImportableError,
    PayloadTooLarge,
    UnknownBackendError,
)
from tests import tasks

ROOT = Path(__file__).resolve().parent.parent


# -- configuration ---------------------------------------------------------------


def test_unknown_scheme_names_the_known_schemes() -> None:
    # When a DSN names a scheme nobody handles
    with pytest.raises(UnknownBackendError) as info:
        Gator("nosuch://localhost/0")
    # Then the message names it, lists every built-in scheme and the extension point
    message = str(info.value)
    assert "'nosuch'" in message
    for scheme in BUILTIN_SCHEMES:
        assert scheme in message
    assert "entry-point" in message
    assert isinstance(info.value, ValueError)


def test_a_string_without_scheme_is_not_a_dsn() -> None:
    with pytest.raises(UnknownBackendError, match="not a DSN"):
        Gator("just-a-path.db")


def test_missing_driver_names_the_extra_to_install() -> None:
    # Given a Python where the redis package cannot be imported
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from alligator import Gator\n"
        "from alligator.exceptions import MissingDriverError\n"
        "try:\n"
        "    Gator('redis://127.0.0.1:1/0')\n"
        "except MissingDriverError as exc:\n"
        "    print(exc)\n"
    )
    # When a redis DSN is used
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then the error says which extra to install
    assert done.returncode == 0, done.stderr
    assert "pip install 'alligator[redis]'" in done.stdout


def test_missing_sqlite_directory_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "q.db"
    with pytest.raises(ValueError, match="does not exist"):
        Gator(f"sqlite:///{missing}")


# -- enqueue-time checks ------------------------------------------------------------


def test_lambdas_are_refused_at_enqueue(locmem_gator: Gator) -> None:
    with pytest.raises(NotImportableError, match="lambda"):
        locmem_gator.task(lambda: 1)
    assert locmem_gator.len() == 0


def test_nested_functions_are_refused_at_enqueue(locmem_gator: Gator) -> None:
    def nested() -> int:
        return 1

    with pytest.raises(NotImportableError, match="inside another function"):
        locmem_gator.task(nested)
    assert locmem_gator.len() == 0


def test_bound_methods_are_refused_at_enqueue(locmem_gator: Gator) -> None:
    with pytest.raises(NotImportableError, match="does not resolve"):
        locmem_gator.task(tasks.Thing().method, 1)
    assert locmem_gator.len() == 0


def test_main_module_functions_are_refused_at_enqueue(locmem_gator: Gator) -> None:
    # Given a function defined in a script run as __main__
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec("def main_task():\n    return 1\n", namespace)
    main_task = namespace["main_task"]
    assert callable(main_task)
    # Then it is refused: a worker's __main__ is another program
    with pytest.raises(NotImportableError, match="__main__"):
        locmem_gator.task(main_task)


def test_non_importable_hooks_are_refused_at_enqueue(locmem_gator: Gator) -> None:
    with (
        pytest.raises(NotImportableError, match="lambda"),
        locmem_gator.options(on_start=lambda task: None) as opts,
    ):
        opts.task(tasks.add, 1, 2)
    assert locmem_gator.len() == 0


def test_unencodable_arguments_fail_at_enqueue(locmem_gator: Gator) -> None:
    with pytest.raises(EncodeError, match="json cannot encode"):
        locmem_gator.task(tasks.record, "ledger", object())  # type: ignore[call-overload]
    assert locmem_gator.len() == 0


def test_payload_too_large_says_what_to_do(locmem_dsn: str) -> None:
    # Given a Gator with a small payload limit
    gator = Gator(locmem_dsn, queue_name="q", max_payload=200)
    # When a task encodes larger than that
    with pytest.raises(PayloadTooLarge) as info:
        gator.task(tasks.record, "ledger", "x" * 1000)
    # Then the message gives the sizes and the ways out, and nothing was queued
    message = str(info.value)
    assert "200-byte limit" in message
    assert "max_payload" in message
    assert gator.len() == 0


# -- is_async=False -----------------------------------------------------------------


def test_sync_task_runs_in_process_with_hooks(locmem_gator: Gator) -> None:
    # When a synchronous task is enqueued
    with locmem_gator.options(
        is_async=False, on_start=tasks.on_start, on_success=tasks.on_success
    ) as opts:
        task = opts.task(tasks.add, 2, 3)
    # Then it ran here, hooks included, and nothing was queued
    assert task.status == Status.SUCCESS
    assert [
        ("start", task.task_id),
        ("add", 2, 3),
        ("success", task.task_id, 5),
    ] == tasks.EVENTS
    assert locmem_gator.len() == 0


def test_sync_task_is_retried_in_process(locmem_gator: Gator) -> None:
    # Given a synchronous task failing twice, with two retries
    with locmem_gator.options(is_async=False, retries=2, on_error=tasks.on_error) as opts:
        task = opts.task(tasks.fail_times, "k", 2)
    # Then the third try succeeded here
    assert task.status == Status.SUCCESS
    assert tasks.CALLS["k"] == 3
    assert [e[0] for e in tasks.EVENTS] == ["error", "error"]


def test_sync_task_out_of_retries_reraises_the_original_error(locmem_gator: Gator) -> None:
    with (
        pytest.raises(ValueError, match="nope"),
        locmem_gator.options(is_async=False, retries=1) as opts,
    ):
        opts.task(tasks.fail, "nope")
    assert tasks.CALLS["nope"] == 2
    assert locmem_gator.len() == 0


def test_sync_on_error_hook_grants_one_more_try(locmem_gator: Gator) -> None:
    # Given the seed's hook that does task.retries += 1 on the first error
    with (
        pytest.raises(ValueError),
        locmem_gator.options(is_async=False, on_error=tasks.grant_one_more) as opts,
    ):
        opts.task(tasks.fail, "again")
    # Then the task ran twice instead of once
    assert tasks.CALLS["again"] == 2


# -- the 1.0 producer API ------------------------------------------------------------


def test_the_returned_task_id_is_what_get_accepts(locmem_gator: Gator) -> None:
    # Given two queued tasks
    locmem_gator.task(tasks.add, 1, 1)
    task = locmem_gator.task(tasks.add, 20, 22)
    # When the second is fetched by its id
    ran = locmem_gator.get(task.task_id)
    # Then it, and only it, ran and left the queue, and comes back with its result
    assert ran is not None and ran.task_id == task.task_id
    assert ran.status == Status.SUCCESS and ran.result == 42
    assert tasks.EVENTS == [("add", 20, 22)]
    assert locmem_gator.len() == 1
    assert locmem_gator.get(task.task_id) is None


def test_cancel_returns_the_canceled_task_and_removes_it(locmem_gator: Gator) -> None:
    task = locmem_gator.task(tasks.add, 1, 2)
    assert locmem_gator.len() == 1
    # When it is canceled
    canceled = locmem_gator.cancel(task.task_id)
    # Then the decoded task comes back CANCELED and the queue is empty
    assert canceled is not None
    assert canceled.task_id == task.task_id
    assert canceled.status == Status.CANCELED
    assert canceled.func is tasks.add and canceled.func_args == (1, 2)
    assert locmem_gator.len() == 0
    assert locmem_gator.cancel(task.task_id) is None
    assert tasks.EVENTS == []


def test_pop_runs_the_next_task_and_returns_its_result(locmem_gator: Gator) -> None:
    locmem_gator.task(tasks.add, 1, 2)
    locmem_gator.task(tasks.add, 3, 4)
    assert tasks.result_of(locmem_gator.pop()) == 3
    assert tasks.result_of(locmem_gator.pop()) == 7
    assert locmem_gator.pop() is None
    assert locmem_gator.len() == 0


def test_custom_task_id_is_kept(locmem_gator: Gator) -> None:
    with locmem_gator.options(task_id="my-id") as opts:
        task = opts.task(tasks.add, 1, 2)
    assert task.task_id == "my-id"
    assert tasks.result_of(locmem_gator.get("my-id")) == 3


def test_push_with_a_prepared_task(locmem_gator: Gator) -> None:
    task: Task[int] = Task(retries=2)
    pushed = locmem_gator.push(task, tasks.add, 5, 6)
    assert pushed is task
    assert locmem_gator.len() == 1
    assert tasks.result_of(locmem_gator.pop()) == 11


def test_batch_sends_everything_on_exit(locmem_gator: Gator) -> None:
    # When tasks are created in a batch
    with locmem_gator.batch() as batch:
        made = [batch.task(tasks.add, i, i) for i in range(3)]
        # Then nothing is sent before the block ends
        assert locmem_gator.len() == 0
    # And everything is sent after, under the ids the tasks carry
    assert locmem_gator.len() == 3
    assert tasks.result_of(locmem_gator.get(made[2].task_id)) == 4


def test_batch_sends_nothing_if_the_block_raises(locmem_gator: Gator) -> None:
    with pytest.raises(RuntimeError), locmem_gator.batch() as batch:
        batch.task(tasks.add, 1, 2)
        raise RuntimeError("changed my mind")
    assert locmem_gator.len() == 0


def test_options_apply_to_every_task(locmem_gator: Gator) -> None:
    # Given options with retries and a delay
    with locmem_gator.options(retries=3, delay_by=3600, on_error=tasks.on_error) as opts:
        first = opts.task(tasks.add, 1, 2)
        second = opts.task(tasks.add, 3, 4)
    # Then both tasks carry them and wait, delayed, in the queue
    for task in (first, second):
        assert task.retries == 3
        assert task.status == Status.DELAYED
        assert task.on_error is tasks.on_error
    stats = locmem_gator.broker.stats("q")
    assert (stats.ready, stats.delayed) == (0, 2)
    assert locmem_gator.len() == 2
    assert locmem_gator.pop() is None


def test_bad_options_fail_where_they_are_written(locmem_gator: Gator) -> None:
    with pytest.raises(ValueError):
        locmem_gator.options(delay_by=-5)
