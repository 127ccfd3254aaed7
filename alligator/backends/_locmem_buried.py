"""Buried tasks of ``locmem://``: the :class:`~alligator.protocols.FailedTasksClient` methods.

Mixed into :class:`alligator.backends.locmem_backend.Client`. A buried task
stays in its queue's task table (state ``BURIED``, out of every heap), so
listing, requeueing and purging are lookups under the store's lock.
"""

from __future__ import annotations

import itertools

from alligator.backends._checks import check_page
from alligator.backends._locmem_access import StoreAccess
from alligator.backends._locmem_store import BURIED, Task
from alligator.records import BuriedTask

__all__ = ["BuriedTasks"]


class BuriedTasks(StoreAccess):
    """List, requeue and purge the tasks a worker buried."""

    def buried(self, queue_name: str) -> list[BuriedTask]:
        """Buried tasks in the order they were buried (not by a clock that may jump)."""
        with self._lock:
            queue = self._existing(queue_name)
            if queue is None:
                return []
            return [_record(task) for task in queue.buried.values()]

    def buried_page(self, queue_name: str, offset: int, limit: int) -> list[BuriedTask]:
        """A slice of :meth:`buried`: walks ``offset`` index entries, copies ``limit`` tasks."""
        offset, limit = check_page(offset, limit)
        with self._lock:
            queue = self._existing(queue_name)
            if queue is None:
                return []
            page = itertools.islice(queue.buried.values(), offset, offset + limit)
            return [_record(task) for task in page]

    # -- failed-task operations ------------------------------------------

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Make a buried task ready now (attempts from 0), under the store's lock."""
        with self._lock:
            queue = self._existing(queue_name)
            task = None if queue is None else queue.tasks.get(task_id)
            if queue is None or task is None or task.state != BURIED:
                return None
            if data is not None:
                task.data = data
            task.attempts = 0
            task.reason = ""
            task.buried_at = 0.0
            queue.to_waiting(task, self._clock())
            queue.cond.notify()
            return task_id

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Delete one or every buried task, under the store's lock."""
        with self._lock:
            queue = self._existing(queue_name)
            if queue is None:
                return 0
            if task_id is None:
                doomed = [t for t in queue.tasks.values() if t.state == BURIED]
            else:
                found = queue.tasks.get(task_id)
                doomed = [found] if found is not None and found.state == BURIED else []
            for task in doomed:
                queue.unlink(task)
            return len(doomed)


def _record(task: Task) -> BuriedTask:
    return BuriedTask(task.task_id, task.data, task.reason, task.buried_at)
