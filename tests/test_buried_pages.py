"""Operators page through buried tasks without the backend reading them all.

Issue 19: the dashboard and ``alligator failed list`` must stay fast on a
queue with a million tasks. On a backend that pages
(:class:`~alligator.protocols.BuriedPages`) they never call ``buried()``,
which reads every buried task; a client without it still works, through
``buried()`` sliced.
"""

from __future__ import annotations

import json

import pytest

from alligator import Gator, failed
from alligator.backends import locmem_backend
from alligator.cli import main
from alligator.protocols import ReliableClient
from alligator.web.data import PAGE_SIZE, Dashboard
from tests import tasks
from tests.simple_client import SimpleClient


def _bury(gator: Gator, count: int) -> list[str]:
    """Enqueue ``count`` real tasks and bury each straight from its lease; ``buried()``'s ids."""
    for i in range(count):
        gator.task(tasks.fail, f"m{i}")
        held = gator.broker.reserve(gator.queue_name, 60.0)
        assert held is not None
        assert gator.broker.bury(gator.queue_name, held, f"ValueError: m{i}") is True
    return [task.task_id for task in gator.broker.buried(gator.queue_name)]


def _forbid_full_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``buried()`` of the locmem backend fail the test if anything calls it."""

    def buried(self: ReliableClient, queue_name: str) -> list[object]:
        raise AssertionError(f"buried({queue_name!r}) read every buried task")

    monkeypatch.setattr(locmem_backend.Client, "buried", buried)


def test_the_dashboard_never_reads_every_buried_task_of_a_backend_that_pages(
    locmem_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a paging backend with two and a half pages of buried tasks
    with Gator(locmem_dsn, queue_name="q") as gator:
        assert gator.capabilities.pages_buried
        ids = _bury(gator, 2 * PAGE_SIZE + 20)
        # And a buried() that fails the test when called
        _forbid_full_listing(monkeypatch)
        dashboard = Dashboard(gator, ["q"], hide_args=False)
        # When each page is read
        pages = [dashboard.buried_page("q", page) for page in (1, 2, 3)]
        # Then the page count comes from stats and the rows are the burials, in order
        assert {count for _, count in pages} == {3}
        assert [row.task_id for rows, _ in pages for row in rows] == ids
        assert [len(rows) for rows, _ in pages] == [PAGE_SIZE, PAGE_SIZE, 20]
        assert pages[0][0][0].function == "tests.tasks:fail"
        # And a page past the end shows the last one
        assert dashboard.buried_page("q", 99) == pages[2]
        # And a task's detail, a requeue and a requeue of all never list them all either
        assert dashboard.task("q", ids[-1]).state == "buried"
        assert dashboard.requeue("q", ids[0]) == ids[0]
        assert dashboard.requeue_all("q") == len(ids) - 1
        assert gator.broker.stats("q").buried == 0


def test_failed_list_prints_page_by_page_without_reading_them_all(
    locmem_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 20 buried tasks, walked 7 at a time, and a buried() that fails the test
    with Gator(locmem_dsn, queue_name="q") as gator:
        ids = _bury(gator, 20)
    monkeypatch.setattr(failed, "WALK_PAGE", 7)
    _forbid_full_listing(monkeypatch)
    # When they are listed, as text and as JSON lines
    assert main(["failed", "list", locmem_dsn, "--queue", "q"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert main(["failed", "list", locmem_dsn, "--queue", "q", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # Then every one is printed once, oldest burial first
    assert [line.split()[0] for line in text] == ids
    assert [row["task_id"] for row in rows] == ids
    assert rows[3]["reason"] == "ValueError: m3"


def test_a_client_without_pages_is_listed_through_buried() -> None:
    # Given a 1.0 client (no BuriedPages) whose Gator keeps buried tasks in its adapter
    with Gator("sqlite://unused.db", backend_class=lambda dsn: SimpleClient()) as gator:
        assert not gator.capabilities.pages_buried
        _bury(gator, 3)
        reasons = ["ValueError: m0", "ValueError: m1", "ValueError: m2"]
        dashboard = Dashboard(gator, [gator.queue_name], hide_args=False)
        # When a page is read, through the dashboard and FailedTasks
        rows, pages = dashboard.buried_page(gator.queue_name, 1)
        # Then it is buried() sliced, in the same order
        assert ([row.reason for row in rows], pages) == (reasons, 1)
        assert [t.reason for t in gator.failed.page(1, 1)] == reasons[1:2]
        assert gator.failed.page(3, 10) == []
        assert [t.reason for t in gator.failed.walk(page_size=2)] == reasons
        with pytest.raises(ValueError, match="offset must be an int >= 0"):
            gator.failed.page(-1, 10)
