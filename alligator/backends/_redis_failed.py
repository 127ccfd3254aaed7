"""Reading the buried tasks of a Redis queue: all of them, or one page.

Both are the one read-only script ``redis_lua/buried.lua`` over the queue's
``buried`` ZSET (id -> sequence number at burial), so a page and the whole
list share one order and one decoding. A page is a rank range of that ZSET
(``ZRANGE first last``): Redis walks its skip list to the first rank and
reads only the page's payloads and reasons, one round trip, atomic like any
script, on a single server and on a Cluster alike (every key shares the
queue's hash tag).
"""

from __future__ import annotations

from alligator.backends._redis_driver import Reply, as_bytes, as_float, as_list
from alligator.exceptions import AlligatorError
from alligator.records import BuriedTask

__all__ = ["buried_tasks", "page_ranks"]


def page_ranks(offset: int, limit: int) -> tuple[str, str]:
    """The script's ``first`` and ``last`` ranks (inclusive) for a checked, non-empty page."""
    return str(offset), str(offset + limit - 1)


def buried_tasks(reply: Reply) -> list[BuriedTask]:
    """The script's flat reply (id, payload, reason, buried-at) as records."""
    rows = as_list(reply)
    return [
        BuriedTask(
            # An id written by hand may not be UTF-8: kept as escapes,
            # which requeue and purge turn back into the same bytes.
            task_id=as_bytes(rows[i]).decode("utf-8", "surrogateescape"),
            data=as_bytes(rows[i + 1]),
            reason=as_bytes(rows[i + 2]).decode("utf-8", "replace"),
            buried_at=_seconds(rows[i + 3]),
        )
        for i in range(0, len(rows), 4)
    ]


def _seconds(reply: Reply) -> float:
    """A time stored as text; 0.0 when it is not a number (written by hand)."""
    try:
        return as_float(reply) or 0.0
    except (ValueError, AlligatorError):
        return 0.0
