"""Failed-task operations (list, show, requeue, purge) on every built-in backend.

The same scenarios run on locmem, SQLite, Redis, Redis Cluster and beanstalkd,
through the Python API (``gator.failed``) and the CLI (``failed ...``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alligator import Gator
from alligator.cli import main
from alligator.codecs import decode
from alligator.exceptions import TaskNotFoundError
from alligator.retry import Backoff
from tests import tasks


@pytest.fixture
def gator(any_dsn: str, queue_name: str) -> Iterator[Gator]:
    made = Gator(any_dsn, queue_name=queue_name, backoff=Backoff(base=0, jitter=0))
    made.len()  # a store that exists: `failed` refuses a SQLite file that does not
    try:
        yield made
    finally:
        made.broker.drop_all(queue_name)
        made.close()


def run_one(gator: Gator) -> str:
    """Reserve and process one task; returns what happened to it."""
    reservation = gator.consumer().reserve(3)
    assert reservation is not None, "no task became ready"
    return gator.consumer().process(reservation).action


def bury_failing_task(gator: Gator, retries: int = 0, message: str = "boom") -> str:
    with gator.options(retries=retries) as opts:
        opts.task(tasks.fail, message)
    actions = [run_one(gator) for _ in range(retries + 1)]
    assert actions[-1] == "bury"
    return gator.failed.list()[-1].task_id


def test_list_and_show_give_the_reason_and_traceback(gator: Gator) -> None:
    # Given two tasks that failed for good
    first = bury_failing_task(gator, message="first failure")
    second = bury_failing_task(gator, message="second failure")
    # When the buried tasks are listed and one is shown
    listed = gator.failed.list()
    shown = gator.failed.show(second)
    # Then both are listed oldest first, with the traceback as the reason
    assert [b.task_id for b in listed] == [first, second]
    assert "Traceback" in shown.reason
    assert "ValueError: second failure" in shown.reason
    assert len(gator.failed) == 2


def test_requeue_gives_back_the_original_retry_budget(gator: Gator) -> None:
    # Given a task with one retry that failed twice and was buried
    task_id = bury_failing_task(gator, retries=1)
    # When it is requeued
    new_id = gator.failed.requeue(task_id)
    # Then it is ready again, nothing is buried, and it has its retry again
    stats = gator.broker.stats(gator.queue_name)
    assert (stats.ready, stats.buried) == (1, 0)
    reservation = gator.consumer().reserve(3)
    assert reservation is not None and reservation.task_id == new_id
    envelope = decode(reservation.data)
    assert (envelope.retries, envelope.attempts) == (1, 0)
    # And it runs (and fails) through its retries again before being buried
    assert gator.consumer().process(reservation).action == "retry"
    assert run_one(gator) == "bury"
    assert len(gator.failed.list()) == 1


def test_requeue_with_an_explicit_retry_budget(gator: Gator) -> None:
    task_id = bury_failing_task(gator)
    gator.failed.requeue(task_id, retries=3)
    reservation = gator.consumer().reserve(3)
    assert reservation is not None
    assert decode(reservation.data).retries == 3


def test_undecodable_payload_is_requeued_unchanged(gator: Gator) -> None:
    # Given junk that a worker buried as undecodable
    gator.broker.push(gator.queue_name, "junk", b"\x00not a task")
    assert run_one(gator) == "bury"
    [buried] = gator.failed.list()
    # When it is requeued (say, after deploying the codec it needed)
    new_id = gator.failed.requeue(buried.task_id)
    # Then the very same bytes are ready again
    reservation = gator.consumer().reserve(3)
    assert reservation is not None
    assert (reservation.task_id, reservation.data) == (new_id, b"\x00not a task")


def test_unknown_task_cannot_be_requeued_or_shown(gator: Gator) -> None:
    gator.task(tasks.add, 1, 2)  # a ready task is not a buried one
    with pytest.raises(TaskNotFoundError):
        gator.failed.requeue("12345")
    with pytest.raises(TaskNotFoundError):
        gator.failed.show("12345")
    assert gator.failed.purge("12345") == 0
    assert gator.len() == 1


def test_purge_one_then_all_touches_only_buried_tasks(gator: Gator) -> None:
    # Given three buried tasks and one ready task
    ids = [bury_failing_task(gator) for _ in range(3)]
    gator.task(tasks.add, 1, 2)
    # When one is purged, then all
    assert gator.failed.purge(ids[0]) == 1
    assert [b.task_id for b in gator.failed.list()] == ids[1:]
    assert gator.failed.purge() == 2
    # Then nothing is buried and the ready task is still there
    assert gator.failed.list() == []
    assert gator.broker.stats(gator.queue_name).buried == 0
    assert gator.len() == 1


def test_cli_list_show_requeue_purge(
    gator: Gator, any_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two buried tasks
    first = bury_failing_task(gator, message="cli one")
    second = bury_failing_task(gator, message="cli two")
    queue = ["--queue", gator.queue_name]
    # When listed and shown from the command line (positionals first: the DSN is optional)
    assert main(["failed", "list", any_dsn, *queue]) == 0
    listing = capsys.readouterr().out
    assert main(["failed", "show", any_dsn, second, *queue]) == 0
    shown = capsys.readouterr().out
    # Then each appears with its error
    assert first in listing and "ValueError: cli one" in listing
    assert "Traceback" in shown and "ValueError: cli two" in shown
    # When one is requeued and the other purged
    assert main(["failed", "requeue", any_dsn, first, *queue]) == 0
    assert "requeued" in capsys.readouterr().out
    assert main(["failed", "purge", any_dsn, second, *queue]) == 0
    assert "purged 1" in capsys.readouterr().out
    # Then nothing is buried and one task is ready
    stats = gator.broker.stats(gator.queue_name)
    assert (stats.ready, stats.buried) == (1, 0)


def test_cli_requeue_all_and_purge_all(
    gator: Gator, any_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):
        bury_failing_task(gator)
    queue = ["--queue", gator.queue_name]
    assert main(["failed", "requeue", any_dsn, "--all", *queue]) == 0
    assert gator.broker.stats(gator.queue_name).ready == 2
    for _ in range(2):
        assert run_one(gator) == "bury"
    assert main(["failed", "purge", any_dsn, "--all", *queue]) == 0
    assert "purged 2" in capsys.readouterr().out
    assert gator.broker.stats(gator.queue_name).buried == 0


def test_cli_refuses_ambiguous_or_unknown_selection(
    gator: Gator, any_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = ["--queue", gator.queue_name]
    assert main(["failed", "purge", any_dsn, *queue]) == 2
    assert "TASK_ID(s) or --all" in capsys.readouterr().err
    assert main(["failed", "purge", any_dsn, "999999", *queue]) == 2
    assert "no buried task" in capsys.readouterr().err
    assert main(["failed", "show", any_dsn, "999999", *queue]) == 2
