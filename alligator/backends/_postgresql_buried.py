"""Failed-task operations of the PostgreSQL backend, mixed into its client.

Buried tasks stay in the task table (state 2) with their reason, so listing,
requeueing and purging them are each one statement on that table, and a
requeue wakes the queue's workers in its own transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alligator.backends._checks import check_page
from alligator.backends._postgresql_sql import BURIED_PAGE
from alligator.backends._postgresql_state import ClientState
from alligator.records import BuriedTask

if TYPE_CHECKING:
    from alligator.backends._checks import QueueNames
    from alligator.backends._postgresql_pool import Database
    from alligator.backends._postgresql_sql import Statements

__all__ = ["BuriedTasks"]


class BuriedTasks(ClientState):
    """The :class:`~alligator.protocols.FailedTasksClient` methods of the PostgreSQL client."""

    if TYPE_CHECKING:  # provided by the client
        _db: Database
        _sql: Statements
        _names: QueueNames

    def buried(self, queue_name: str) -> list[BuriedTask]:
        """Buried tasks in the order they were buried."""
        rows = self._db.rows(self._sql.buried, {"queue": self._names.check(queue_name)})
        return [BuriedTask(task_id, data, reason, at) for task_id, data, reason, at in rows]

    def buried_page(self, queue_name: str, offset: int, limit: int) -> list[BuriedTask]:
        """A slice of :meth:`buried`: one SELECT, LIMIT/OFFSET over the buried index."""
        offset, limit = check_page(offset, limit)
        params = {"queue": self._names.check(queue_name), "limit": limit, "offset": offset}
        rows = self._db.rows(self._sql.buried + BURIED_PAGE, params) if limit else []
        return [BuriedTask(task_id, data, reason, at) for task_id, data, reason, at in rows]

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Make a buried task ready now (attempts from 0): one UPDATE, atomic."""
        params = {
            "queue": self._names.check(queue_name),
            "task_id": task_id,
            "data": data,
            "now": self._now(),
            "channel": self._channel(queue_name),
        }
        if self._db.count(self._sql.requeue, params) == 0:
            return None
        self._changed(queue_name)
        return task_id

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Delete one or every buried task in one DELETE (one transaction)."""
        if task_id is None:
            return self._db.count(self._sql.purge_all, {"queue": self._names.check(queue_name)})
        return self._db.count(
            self._sql.purge_one, {"queue": self._names.check(queue_name), "task_id": task_id}
        )
