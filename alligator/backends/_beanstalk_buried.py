"""Buried tasks on beanstalkd: the :class:`~alligator.protocols.FailedTasksClient` methods.

Mixed into :class:`alligator.backends.beanstalk_backend.Client`. Burial is
native; the reasons live in the companion tube ``<queue>.buried``, and
:mod:`alligator.backends._beanstalk_records` pairs them with the jobs, kicks
and deletes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alligator.backends import _beanstalk_records as records
from alligator.backends._beanstalk_names import (
    format_task_id,
    parse_task_id,
    validate_queue_name,
)
from alligator.records import BuriedTask

if TYPE_CHECKING:
    from alligator.backends._beanstalk_driver import Connection

__all__ = ["BuriedTasks"]


class BuriedTasks:
    """List, requeue and purge the jobs a worker buried."""

    if TYPE_CHECKING:  # provided by the client
        _conn: Connection

    def buried(self, queue_name: str) -> list[BuriedTask]:
        """Buried jobs of the tube with their reasons, oldest burial first."""
        tube = validate_queue_name(queue_name)
        with self._conn.session() as client:
            return records.list_buried(self._conn, client, tube)

    # -- failed-task operations ------------------------------------------

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Kick a buried job back to ready (same id), or replace it when ``data`` is new.

        ``kick-job`` keeps the id and beanstalkd's ``reserves`` count; a new
        body is put first and the buried job deleted after (at-least-once),
        under a new id. Its bury records are deleted last.
        """
        tube = validate_queue_name(queue_name)
        found = parse_task_id(task_id)
        if found is None:
            return None
        with self._conn.session() as client:
            new_id = records.requeue(self._conn, client, tube, found, data)
        return None if new_id is None else format_task_id(new_id, found[1])

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Delete one or every buried job of the tube, then their bury records."""
        tube = validate_queue_name(queue_name)
        found = None if task_id is None else parse_task_id(task_id)
        with self._conn.session() as client:
            if task_id is not None and found is None:
                return 0
            return records.purge(self._conn, client, tube, found)
