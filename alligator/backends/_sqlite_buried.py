"""Failed-task operations of the SQLite backend, mixed into its client.

Buried tasks stay in the task table (``state = 2``) with their reason. Rows
may have been written by other code, so what a listing hands back is read
defensively: an id that is not UTF-8 is kept as escapes that :meth:`purge`
turns back into the same bytes, and a burial time that is not a number
reads as 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alligator.backends import _sqlite_sql as sql
from alligator.backends._checks import check_page, check_task_id
from alligator.records import BuriedTask

if TYPE_CHECKING:
    from alligator.backends._checks import QueueNames
    from alligator.backends._sqlite_driver import Database

__all__ = ["BuriedTasks"]


class BuriedTasks:
    """The :class:`~alligator.protocols.FailedTasksClient` methods of the SQLite client."""

    if TYPE_CHECKING:  # provided by the client
        _db: Database
        _clock: Callable[[], float]
        _names: QueueNames

    def buried(self, queue_name: str) -> list[BuriedTask]:
        """Buried tasks in the order they were buried (not by a clock that may jump)."""
        return _buried(self._db.all(sql.BURIED, (self._names.check(queue_name),)))

    def buried_page(self, queue_name: str, offset: int, limit: int) -> list[BuriedTask]:
        """A slice of :meth:`buried`: one SELECT, LIMIT/OFFSET over the buried index."""
        offset, limit = check_page(offset, limit)
        params = (self._names.check(queue_name), limit, offset)
        return _buried(self._db.all(sql.BURIED_PAGE, params)) if limit else []

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Make a buried task ready now (attempts from 0): one UPDATE, atomic."""
        params = (self._clock(), data, self._names.check(queue_name), task_id)
        try:
            check_task_id(task_id)
        except ValueError:
            return None
        return task_id if self._db.count(sql.REQUEUE, params) > 0 else None

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Delete one or every buried task in one DELETE (one transaction)."""
        queue_name = self._names.check(queue_name)
        params: tuple[object, ...]
        if task_id is None:
            statement, params = sql.PURGE_ALL, (queue_name,)
        else:
            try:
                statement, params = sql.PURGE_ONE, (queue_name, check_task_id(task_id))
            except ValueError:  # an id listed from bytes that are not UTF-8
                raw = task_id.encode("utf-8", "surrogateescape")
                statement, params = sql.PURGE_RAW, (queue_name, raw)
        return self._db.count(statement, params)


def _buried(rows: list[Any]) -> list[BuriedTask]:
    return [
        BuriedTask(
            # An id written by other code may not be UTF-8: kept as
            # escapes, which purge turns back into the same bytes.
            bytes(task_id).decode("utf-8", "surrogateescape"),
            bytes(data),
            bytes(reason or b"").decode("utf-8", "replace"),
            _seconds(buried_at),
        )
        for task_id, data, reason, buried_at in rows
    ]


def _seconds(value: object) -> float:
    """A time stored by whoever wrote the row; 0.0 when it is not a number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
