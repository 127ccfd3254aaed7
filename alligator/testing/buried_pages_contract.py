"""The optional :class:`~alligator.protocols.BuriedPages` contract, as pytest tests.

Mixed into :class:`~alligator.testing.ReliableClientContract`: every test here
skips itself (naming the capability ``pages_buried``) when the client reads
no page of buried tasks. A page is a slice of ``buried()``: the same tasks in
the same order, so the dashboard and ``alligator failed list`` show what
they would show reading them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import pytest

from alligator.capabilities import Capabilities
from alligator.protocols import BuriedPages, Client, FailedTasksClient, ReliableClient

__all__ = ["BuriedPagesContract"]

#: Lease for a task the test means to keep holding.
LONG = 600.0


class BuriedPagesContract:
    """Tests of ``buried_page(queue, offset, limit)`` against ``buried(queue)``."""

    if TYPE_CHECKING:

        def require(self, client: Client, capability: str) -> Capabilities: ...

    def paging(self, client: ReliableClient) -> BuriedPages:
        """``client`` as a :class:`BuriedPages`; skip when it reads no pages."""
        self.require(client, "pages_buried")
        return cast(BuriedPages, client)

    def bury(self, client: ReliableClient, queue: str, *payloads: bytes) -> list[str]:
        """Push, reserve and bury each payload in turn; the ids, in burial order."""
        ids = []
        for data in payloads:
            pushed = client.push(queue, "b-" + data.decode(), data)
            held = client.reserve(queue, LONG)
            assert held is not None and held.task_id == pushed
            assert client.bury(queue, held, f"broken {data.decode()}") is True
            ids.append(pushed)
        return ids

    def test_pages_concatenated_are_the_buried_list(
        self, client: ReliableClient, queue: str
    ) -> None:
        pages = self.paging(client)
        # Given seven buried tasks and a ready one
        ids = self.bury(client, queue, *(f"{n}".encode() for n in range(7)))
        client.push(queue, "ready", b"ready")
        everything = client.buried(queue)
        assert [task.task_id for task in everything] == ids
        # When they are read three at a time
        got = [pages.buried_page(queue, offset, 3) for offset in (0, 3, 6)]
        # Then each page holds at most three, and together they are buried(), in order
        assert [len(page) for page in got] == [3, 3, 1]
        assert [task for page in got for task in page] == everything
        # And a page can start anywhere, and may be larger than what is left
        assert pages.buried_page(queue, 2, 100) == everything[2:]
        assert pages.buried_page(queue, 0, 7) == everything

    def test_an_offset_past_the_end_or_a_zero_limit_gives_nothing(
        self, client: ReliableClient, queue: str, other_queue: str
    ) -> None:
        pages = self.paging(client)
        self.bury(client, queue, b"a", b"b")
        assert pages.buried_page(queue, 2, 10) == []
        assert pages.buried_page(queue, 1_000_000, 10) == []
        assert pages.buried_page(queue, 0, 0) == []
        # And a queue with nothing buried (never used) has no page at all
        assert pages.buried_page(other_queue, 0, 10) == []

    def test_a_negative_offset_or_limit_is_refused(
        self, client: ReliableClient, queue: str
    ) -> None:
        pages = self.paging(client)
        self.bury(client, queue, b"a")
        for offset, limit in ((-1, 10), (0, -1)):
            with pytest.raises(ValueError, match="must be an int >= 0"):
                pages.buried_page(queue, offset, limit)

    def test_the_order_is_stable_and_new_burials_come_last(
        self, client: ReliableClient, queue: str
    ) -> None:
        pages = self.paging(client)
        # Given three buried tasks, read as a first page of two
        first_ids = self.bury(client, queue, b"a", b"b", b"c")
        first = pages.buried_page(queue, 0, 2)
        # When the page is read again, and after another task is buried
        assert pages.buried_page(queue, 0, 2) == first
        [late] = self.bury(client, queue, b"d")
        # Then the first page is unchanged and the new burial ends the last one
        assert pages.buried_page(queue, 0, 2) == first
        assert [t.task_id for t in pages.buried_page(queue, 2, 2)] == [first_ids[2], late]

    def test_a_requeued_task_leaves_its_page_and_the_rest_move_up(
        self, client: ReliableClient, queue: str
    ) -> None:
        pages = self.paging(client)
        self.require(client, "failed_tasks")
        failed = cast(FailedTasksClient, client)
        # Given three buried tasks
        a, b, c = self.bury(client, queue, b"a", b"b", b"c")
        # When the first is requeued
        assert failed.requeue(queue, a) is not None
        # Then the pages hold the other two, in their order, like buried()
        assert [t.task_id for t in pages.buried_page(queue, 0, 2)] == [b, c]
        assert pages.buried_page(queue, 0, 10) == client.buried(queue)
