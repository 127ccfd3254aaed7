"""Buried tasks on Redis: the :class:`~alligator.protocols.FailedTasksClient` methods.

Mixed into :class:`alligator.backends.redis_backend.Client`. Listing, all of
them or one page, is the one read-only script ``redis_lua/buried.lua`` over
the queue's ``buried`` ZSET (id -> sequence number at burial), so a page and
the whole list share one order and one decoding. A page is a rank range of
that ZSET (``ZRANGE first last``): Redis walks its skip list to the first
rank and reads only the page's payloads and reasons, one round trip, atomic
like any script, on a single server and on a Cluster alike (every key shares
the queue's hash tag). A requeue or a purge is one script per call, each task
moved or deleted atomically.
"""

from __future__ import annotations

from alligator.backends import _redis_scripts as lua
from alligator.backends._checks import check_page
from alligator.backends._redis_calls import ScriptCalls
from alligator.backends._redis_driver import Reply, as_bytes, as_float, as_int, as_list
from alligator.exceptions import AlligatorError
from alligator.records import BuriedTask

__all__ = ["BuriedTasks"]


class BuriedTasks(ScriptCalls):
    """List, requeue and purge the tasks a worker buried."""

    def buried(self, queue_name: str) -> list[BuriedTask]:
        """Buried tasks with their reasons, oldest first."""
        return _buried_tasks(self._run(lua.BURIED, queue_name, ()))

    def buried_page(self, queue_name: str, offset: int, limit: int) -> list[BuriedTask]:
        """A slice of :meth:`buried`: one script reading one rank range of the buried ZSET."""
        offset, limit = check_page(offset, limit)
        if not limit:
            return []
        ranks = (str(offset), str(offset + limit - 1))  # inclusive, as ZRANGE takes them
        return _buried_tasks(self._run(lua.BURIED, queue_name, ranks))

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Make a buried task ready now (attempts from 0): one atomic script."""
        flag = "0" if data is None else "1"
        args = (self._now(), task_id, flag, data or b"")
        reply = self._run(lua.REQUEUE, queue_name, args, (task_id,))
        return task_id if as_int(reply) == 1 else None

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Delete one or every buried task; each task is deleted atomically.

        Purging all lists the buried ids first, then deletes them in one call:
        a task buried in between is kept.
        """
        ids = [b.task_id for b in self.buried(queue_name)] if task_id is None else [task_id]
        if not ids:
            return 0
        return as_int(self._run(lua.PURGE, queue_name, ids, ids))


def _buried_tasks(reply: Reply) -> list[BuriedTask]:
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
