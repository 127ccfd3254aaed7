"""Small helpers shared by the contract tests and the state machines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alligator.protocols import ReliableClient
    from alligator.records import Reservation

__all__ = ["reserved_until_empty", "unique_queue_name"]

#: A lease no contract test outlives.
_LONG = 600.0


def unique_queue_name(prefix: str = "alligator-test") -> str:
    """A queue name no other test uses, valid for every built-in backend."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def reserved_until_empty(client: ReliableClient, queue: str, stored: int) -> Iterator[Reservation]:
    """Reserve from ``queue`` until nothing is due, failing past ``stored`` tasks.

    A client that hands a leased task out again never reports the queue empty;
    the bound turns that bug into an assertion instead of a loop that grows a
    list until the process runs out of memory.
    """
    for taken in range(stored + 1):
        held = client.reserve(queue, _LONG)
        if held is None:
            return
        assert taken < stored, (
            f"reserved more than the {stored} task(s) stored: a task is handed out twice"
        )
        yield held
