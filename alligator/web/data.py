"""What the dashboard shows and does, through the backend protocols only.

Counts come from ``stats`` (one call per queue, whatever its size), queues
from :class:`~alligator.protocols.QueueLister`, buried tasks a page at a
time (:meth:`~alligator.failed.FailedTasks.page`), outcomes from a
:class:`~alligator.protocols.ResultStore`, a task's place from
:class:`~alligator.protocols.ResultClient`, and the actions from
:class:`~alligator.failed.FailedTasks`: no page is specific to a backend.
Payloads are decoded to be shown, never imported or run: the function is
its module and name as written, the arguments their ``repr``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

from alligator import codecs, signing
from alligator import results as outcomes
from alligator.capabilities import queue_lister_view, result_store_view, results_view
from alligator.constants import Status
from alligator.exceptions import AlligatorError, ConfigurationError, TaskNotFoundError
from alligator.failed import FailedTasks
from alligator.gator import Gator
from alligator.records import BuriedTask
from alligator.wire import Envelope

__all__ = ["PAGE_SIZE", "BuriedRow", "Dashboard", "QueueCounts", "TaskView", "read_envelope"]

#: Buried tasks per page.
PAGE_SIZE = 50
#: Longest ``repr`` of one argument shown.
MAX_REPR = 500


class QueueCounts(NamedTuple):
    queue: str
    ready: int
    delayed: int
    reserved: int
    buried: int


class BuriedRow(NamedTuple):
    task_id: str
    function: str
    buried_at: str
    reason: str


class ResultView(NamedTuple):
    status: str
    value: str
    error: str
    traceback: str
    finished_at: str


class TaskView(msgspec.Struct, kw_only=True):
    """One task as the detail page shows it (every field already text, or absent)."""

    task_id: str
    queue: str
    state: str | None = None
    function: str = "?"
    args: list[str] | None = None
    kwargs: list[tuple[str, str]] | None = None
    retries: int | None = None
    attempts: int | None = None
    enqueued_at: str = ""
    delay_until: str = ""
    timeout: float | None = None
    priority: int | None = None
    depends_on: list[str] = msgspec.field(default_factory=list)
    buried_at: str = ""
    reason: str = ""
    payload_error: str = ""
    result: ResultView | None = None


def when(timestamp: float | None) -> str:
    """An epoch time as ISO 8601 UTC, to the second ("" for none)."""
    if timestamp is None or not math.isfinite(timestamp):
        return ""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def read_envelope(data: bytes) -> Envelope:
    """The envelope a payload carries, decoded to be shown: nothing is imported.

    A signature is stripped unchecked (showing is not running; ``requeue``
    verifies before it signs again).

    Raises:
        AlligatorError: the payload cannot be decoded.
    """
    inner = signing.unwrap(data)
    return codecs.sniff(inner).decode(inner)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_REPR else text[: MAX_REPR - 3] + "..."


class Dashboard:
    """The read model and the actions of ``alligator web``.

    Args:
        gator: The backend, its payload rules (signing keys for requeue)
            and its default queue.
        queues: The queues shown (``-q``); every queue the backend lists
            when ``None``.
        hide_args: Never show arguments or results (sensitive queues).
    """

    def __init__(self, gator: Gator, queues: Sequence[str] | None, *, hide_args: bool) -> None:
        self.gator = gator
        self.queues = None if queues is None else list(queues)
        self.hide_args = hide_args
        self._lister = queue_lister_view(gator.backend, gator.capabilities)
        self._store = result_store_view(gator.backend, gator.capabilities)
        self._states = results_view(gator.broker, gator.capabilities)

    @property
    def can_act(self) -> bool:
        """Whether the backend can requeue and purge buried tasks."""
        return self.gator.capabilities.failed_tasks

    def queue_names(self) -> list[str]:
        if self.queues is not None:
            return self.queues
        if self._lister is not None:
            return self._lister.queues() or [self.gator.queue_name]
        return [self.gator.queue_name]

    def check_queue(self, queue: str) -> str:
        """``queue`` if the dashboard may show it, else a ``ConfigurationError``."""
        if self.queues is not None and queue not in self.queues:
            raise ConfigurationError(f"queue {queue!r} is not one this dashboard shows")
        self.gator.check_queue_name(queue)
        return queue

    def counts(self, queues: Sequence[str] | None = None) -> list[QueueCounts]:
        """Each queue's counts by state: one ``stats`` call per queue."""
        found = []
        for queue in self.queue_names() if queues is None else queues:
            stats = self.gator.broker.stats(queue)
            found.append(
                QueueCounts(queue, stats.ready, stats.delayed, stats.reserved, stats.buried)
            )
        return found

    def buried_page(self, queue: str, page: int) -> tuple[list[BuriedRow], int]:
        """One page of the queue's buried tasks (oldest first), and how many pages there are.

        The count comes from ``stats`` and the page from
        :meth:`FailedTasks.page <alligator.failed.FailedTasks.page>`: one
        page's worth of reads on a backend that pages, however many tasks
        are buried (a third-party client without
        :class:`~alligator.protocols.BuriedPages` has ``buried`` read them all).
        """
        failed = self._failed(queue)
        pages = max(1, math.ceil(len(failed) / PAGE_SIZE))
        start = (min(max(page, 1), pages) - 1) * PAGE_SIZE
        return [self._row(task) for task in failed.page(start, PAGE_SIZE)], pages

    def _row(self, task: BuriedTask) -> BuriedRow:
        try:
            envelope = read_envelope(task.data)
            function = f"{envelope.module}:{envelope.callable}"
        except AlligatorError:
            function = "(undecodable payload)"
        lines = task.reason.strip().splitlines()
        return BuriedRow(task.task_id, function, when(task.buried_at), lines[-1] if lines else "")

    def task(self, queue: str, task_id: str) -> TaskView:
        """What is known of one task: its burial, its place in the queue, its outcome.

        Raises:
            TaskNotFoundError: it is neither buried, nor known to the queue,
                nor has a stored outcome.
        """
        queue = self.check_queue(queue)
        view = TaskView(task_id=task_id, queue=queue)
        state = None if self._states is None else self._states.task_state(queue, task_id)
        # A backend that knows the task's state spares the walk of the buried
        # tasks for one that is not buried.
        buried = None
        if state is None or state.state == "buried":
            buried = next((t for t in self._failed(queue).walk() if t.task_id == task_id), None)
        if buried is not None:
            view.state = "buried"
            view.buried_at = when(buried.buried_at)
            view.reason = buried.reason
            self._fill(view, buried.data)
        elif state is not None:
            view.state, view.attempts = state.state, state.attempts
        view.result = self._result(queue, task_id)
        if view.state is None and view.result is None:
            raise TaskNotFoundError(f"no task {task_id!r} is known on queue {queue!r}")
        return view

    def _fill(self, view: TaskView, data: bytes) -> None:
        try:
            envelope = read_envelope(data)
        except AlligatorError as exc:
            view.payload_error = f"{type(exc).__name__}: {exc}"
            return
        view.function = f"{envelope.module}:{envelope.callable}"
        if not self.hide_args:
            view.args = [_short(arg) for arg in envelope.args]
            view.kwargs = [(name, _short(value)) for name, value in envelope.kwargs.items()]
        view.retries, view.attempts = envelope.retries, envelope.attempts
        view.enqueued_at = when(envelope.enqueued_at)
        view.delay_until = when(envelope.delay_until)
        view.timeout, view.priority = envelope.timeout, envelope.priority
        view.depends_on = list(envelope.depends_on)

    def _result(self, queue: str, task_id: str) -> ResultView | None:
        if self._store is None:
            return None
        data = self._store.fetch_result(queue, task_id)
        if data is None:
            return None
        try:
            record = outcomes.decode(data)
        except AlligatorError as exc:
            return ResultView("?", "", f"unreadable outcome: {exc}", "", "")
        value = "(hidden)" if self.hide_args else _short(record.value)
        error = f"{record.error_type}: {record.message}" if record.error_type else ""
        try:
            status = Status(record.status).name
        except ValueError:
            status = str(record.status)
        return ResultView(status, value, error, record.traceback, when(record.finished_at))

    # -- actions ---------------------------------------------------------------

    def _failed(self, queue: str) -> FailedTasks:
        return FailedTasks(self.gator.consumer(self.check_queue(queue)))

    def requeue(self, queue: str, task_id: str) -> str:
        return self._failed(queue).requeue(task_id)

    def requeue_all(self, queue: str) -> int:
        return len(self._failed(queue).requeue_all())

    def purge(self, queue: str, task_id: str | None) -> int:
        return self._failed(queue).purge(task_id)
