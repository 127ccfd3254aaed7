"""Tasks of the fan-out/fan-in example in the "Results and workflows" page.

A dependency orders tasks; it does not pass values. The fan-in task is
given the ids of its parts and reads their outcomes itself, through a Gator
on the same store (here the app's queue file, relative to the working
directory the worker runs in).
"""

from __future__ import annotations

from alligator import Gator

#: Where the app's queue, and so the parts' outcomes, are kept.
QUEUE_DSN = "sqlite://queue.db"


def count_words(page: str) -> int:
    """Fan-out: one part per page."""
    if not page.strip():
        raise ValueError("an empty page")
    return len(page.split())


def total(part_ids: list[str]) -> int:
    """Fan-in: runs once every part succeeded, and adds up what they returned."""
    with Gator(QUEUE_DSN, results=True) as gator:
        return sum(int(gator.wait(part_id, timeout=0)) for part_id in part_ids)
