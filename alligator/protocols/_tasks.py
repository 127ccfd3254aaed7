"""The consumer side's parts: codecs, tasks, task classes, workers and their observers.

Apart from the backend protocols because none of them touches a store: they
turn tasks into payloads and back, and run them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from alligator._typing import R_co
from alligator.constants import Status

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from alligator.events import TaskDone, TaskStarted, WorkerStarted, WorkerStopped
    from alligator.wire import Envelope

__all__ = [
    "Codec",
    "Task",
    "TaskClass",
    "TaskRecorder",
    "TaskRunObserver",
    "TaskSeries",
    "Worker",
    "WorkerEvents",
]


class Codec(Protocol):
    """Turns the wire envelope into bytes and back.

    ``matches`` lets a worker pick the codec from the payload's leading bytes,
    so producers can switch codecs without draining the queue.
    """

    @property
    def name(self) -> str:
        """The registered name, e.g. ``"json"`` or ``"msgpack+bz2"``."""
        ...

    def encode(self, envelope: Envelope) -> bytes:
        """Raises ``EncodeError`` for values the format cannot carry."""
        ...

    def decode(self, data: bytes) -> Envelope:
        """Raises ``DecodeError`` (keeping ``data``) for anything malformed."""
        ...

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` looks like this codec's output."""
        ...


class Task(Protocol[R_co]):
    """What the consumer path needs of a decoded task.

    ``alligator.Task`` is the built-in implementation; a custom class (such as
    the ``SkinnyTask`` of the extending guide) only has to offer this to be
    run, retried and buried by a Worker. Producing tasks with ``gator.task``
    needs ``alligator.Task``'s constructor and ``to_call`` as well, which a
    subclass inherits.
    """

    task_id: str
    retries: int
    attempts: int
    is_async: bool
    delay_until: float | None
    status: Status
    codec: Codec | None
    #: What an ``on_success``/``on_error`` hook raised in the last run (logged, not fatal).
    hook_error: Exception | None
    #: Seconds the task may run (``None``: the worker's default).
    timeout: float | None

    def serialize(self) -> bytes:
        """The payload pushed to the backend (the consumer re-encodes it for a retry)."""
        ...

    @property
    def result(self) -> R_co:
        """The function's return value, once :meth:`run` succeeded."""
        ...

    def run(self) -> Self:
        """Call the hooks and the function, keep its :attr:`result`; re-raise its error."""
        ...

    def to_retrying(self) -> None:
        """Mark the task as released for another try."""
        ...

    def to_failed(self) -> None:
        """Mark the task as failed for good."""
        ...


class TaskClass(Protocol):
    """A task class as the consumer uses it: payload in, task out.

    ``from_envelope`` is what enforces ``allowed_modules``; a class whose
    ``deserialize`` decodes by its own rules cannot promise an allow-list,
    and a Gator given both refuses to start.
    """

    def deserialize(self, data: bytes) -> Task[Any]:
        """Rebuild a task from a payload, importing its callable."""
        ...

    def from_envelope(
        self, envelope: Envelope, allowed_modules: Iterable[str] | None = None
    ) -> Task[Any]:
        """Rebuild a task from a decoded envelope, checking the allow-list first."""
        ...


class Worker(Protocol):
    """A consumer loop; ``alligator.Worker`` is the built-in one.

    A pool runs any object of this shape in its threads
    (:func:`alligator.pool.run_threads`).
    """

    keep_running: bool
    tasks_complete: int

    def check_and_run_task(self) -> bool:
        """Run at most one task; ``True`` if one was run."""
        ...

    def run_forever(self) -> int:
        """Run tasks until stopped by a signal, ``max_tasks`` or ``keep_running``; 0 when done."""
        ...

    def interrupt(self) -> None:
        """Ask the loop to stop after the current task (thread-safe)."""
        ...


class WorkerEvents(Protocol):
    """What a worker calls for metrics; implement all three (no-ops are fine).

    The records are in :mod:`alligator.events`. The methods run in the
    worker's thread, between tasks: keep them quick. An exception they raise
    is logged and swallowed, never allowed to stop the worker or leave a
    task unsettled.
    """

    def on_worker_start(self, event: WorkerStarted) -> None:
        """The loop is about to claim its first task."""
        ...

    def on_task_done(self, event: TaskDone) -> None:
        """A task was settled; called once per claimed task."""
        ...

    def on_worker_stop(self, event: WorkerStopped) -> None:
        """The loop ended (signal, ``max_tasks``, ``keep_running = False``)."""
        ...


@runtime_checkable
class TaskRunObserver(Protocol):
    """Optional, beside :class:`~alligator.protocols.WorkerEvents`: wraps each run of a task.

    A metrics object counts a task in progress for exactly as long as it
    runs, and a tracer opens its span around it (the span is current while
    the function runs, and sees the exception it raises). Whether an events
    object offers it is read once, when the worker is built.
    """

    def running(self, event: TaskStarted) -> AbstractContextManager[object]:
        """A context entered just before the task's hooks and function, exited after.

        An exception the task raises passes through it (and is re-raised
        whatever the context returns); one the context itself raises is
        logged and ignored.
        """


class TaskSeries(Protocol):
    """The counts of one queue and task, updated by a worker without events.

    Per-task metrics cost a fast backend a third of its throughput when each
    task builds event records and calls through a fan-out; a worker given a
    :class:`TaskRecorder` looks its series up once per queue and task and
    calls these methods directly. Only the thread of the worker that asked
    for a series calls them, so that they need no lock; the context
    :meth:`start` returns may be entered in another thread (a concurrent
    worker's pool).
    """

    def start(self, queue_wait: float | None) -> AbstractContextManager[object]:
        """A task of the series is about to run: its queue wait (if known) is counted.

        Returns:
            A context entered around the run: the task is in progress while inside.
        """

    def begin(self, queue_wait: float | None) -> None:
        """A task starts running in this thread now: :meth:`start` and its context entered.

        Two plain calls (this and :meth:`end`) where a context costs a
        one-at-a-time worker two more per task.
        """

    def end(self) -> None:
        """The task :meth:`begin` counted stopped running: no longer in progress."""

    def finish(self, action: str, duration: float) -> None:
        """A task was settled: ``"ack"``, ``"retry"`` or ``"bury"``, ``duration`` s from claim."""


class TaskRecorder(Protocol):
    """What records per-task metrics for a worker (``Worker(metrics=...)``)."""

    def series(self, queue: str, task: str) -> TaskSeries:
        """A series of ``task`` (``"module:qualname"``, ``"?"`` if unknown) from ``queue``.

        Called once per queue and task by each worker, which keeps the
        answer and updates it from its own thread (a worker runs its loop
        in one); the recorder adds up the series of the same queue and task.
        """
