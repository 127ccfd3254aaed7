"""Asking after a task: waiting on its outcome, its status, and its dependencies.

Mixed into :class:`~alligator.Gator`; the outcomes themselves are kept by a
:class:`~alligator.results.Results` (``Gator(results=...)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alligator.constants import Status
from alligator.exceptions import ConfigurationError, InvalidTaskError
from alligator.results import Results
from alligator.tasks import Task

__all__ = ["Waiting"]


class Waiting:
    """``wait``, ``status`` and the check of ``depends_on``: mixed into the Gator."""

    if TYPE_CHECKING:  # provided by the Gator
        results: Results | None

    def wait(self, task_id: str, timeout: float | None = None) -> Any:
        """The result of the task ``task_id`` once a worker stored it.

        Blocks on the backend's own mechanism (a blocking pop on Redis, a
        condition on locmem; SQLite and PostgreSQL poll with a short
        back-off). Prefer ``task.wait()`` on the task ``gator.task`` returned:
        it is typed, and converts the value into the function's return type.

        Args:
            task_id: A task of this Gator's queue.
            timeout: Seconds to wait at most; ``None`` waits as long as it takes.

        Raises:
            ConfigurationError: results are off, or a negative timeout.
            TaskFailed: the task failed for good, lost a dependency, or was
                canceled.
            ResultTimeout: no outcome within ``timeout`` (also a ``TimeoutError``).
            TaskNotFoundError: the queue holds no such task and no outcome is
                stored (never pushed here, or its outcome expired).
        """
        return self._results_or_refuse().wait(task_id, timeout)

    def status(self, task_id: str) -> Status | None:
        """Where the task stands, without waiting; ``None`` for an id the queue does not know.

        ``SUCCESS``, ``FAILED`` or ``CANCELED`` once its outcome is stored;
        before that ``WAITING``, ``DELAYED``, ``RETRYING``, ``RUNNING`` or
        ``BLOCKED`` (waiting on dependencies).
        """
        return self._results_or_refuse().status(task_id)

    def _results_or_refuse(self) -> Results:
        if self.results is None:
            raise ConfigurationError(
                "this Gator keeps no task outcomes: make it with Gator(..., results=True) "
                "(or results='<dsn of another backend>') to wait on tasks and ask their status"
            )
        return self.results

    def dependencies_of(self, task: Task[Any]) -> list[str]:
        """The ids ``task`` depends on, once checked that this Gator can honour them."""
        depends_on = task.depends_on
        if not depends_on:
            return []
        if self.results is None or self.results.queue is None:
            raise ConfigurationError(
                "depends_on needs results kept by the queue's own backend: make the Gator "
                "with results=True (beanstalkd, and results kept elsewhere, cannot run "
                "dependencies)"
            )
        if task.task_id in depends_on:
            raise InvalidTaskError(f"task {task.task_id} depends on itself")
        if not task.is_async or task.priority is not None:
            raise InvalidTaskError(
                "depends_on cannot be combined with is_async=False (the task would run "
                "before its dependencies) or with priority (not ordered among released tasks)"
            )
        return list(depends_on)
