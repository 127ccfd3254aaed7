"""A typed hook for metrics: what a worker reports besides its log lines.

Logging stays the one place a worker *talks* (``alligator.worker`` logger,
structured ``extra=`` fields). Metrics want numbers, not parsed log lines, so a
worker also hands small immutable event records to an object that follows the
:class:`~alligator.protocols.WorkerEvents` protocol (re-exported here)::

    class Prometheus:
        def on_worker_start(self, event: WorkerStarted) -> None: ...
        def on_task_done(self, event: TaskDone) -> None:
            TASKS.labels(event.queue, event.action).inc()
            DURATION.labels(event.queue).observe(event.duration)
        def on_worker_stop(self, event: WorkerStopped) -> None: ...

    Worker(gator, events=Prometheus()).run_forever()

The methods run in the worker's thread, between tasks: keep them quick and
let them not raise (an exception is logged and swallowed, never allowed to
stop the worker or leave a task unsettled).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import msgspec

from alligator import protocols
from alligator.consumer import Action
from alligator.protocols import TaskRunObserver, WorkerEvents

__all__ = [
    "Action",
    "Fanout",
    "NullEvents",
    "TaskDone",
    "TaskRunObserver",
    "TaskStarted",
    "WorkerEvents",
    "WorkerStarted",
    "WorkerStopped",
]


class WorkerStarted(msgspec.Struct, frozen=True, gc=False):
    """A worker loop began.

    Attributes:
        worker: The worker's ``ident()``.
        queues: The queues it consumes, highest priority first.
        pid: Its process id (a pool has one worker per child and thread).
    """

    worker: str
    queues: Sequence[str]
    pid: int


class TaskDone(msgspec.Struct, frozen=True, gc=False):
    """One reserved task was run (or found undecodable) and settled.

    Attributes:
        task_id: The id the task was pushed under.
        queue: The queue it came from.
        action: ``"ack"``, ``"retry"`` or ``"bury"``.
        duration: Seconds from claim to settlement (decode, hooks, the call).
        attempt: Which reservation of this task this was (1 the first time).
        settled: ``False`` when the lease had been lost, so another worker
            may run the task again.
        error: ``"TypeName: message"`` of the failure, ``None`` on success.
        hook_error: ``"TypeName: message"`` of what an ``on_success`` or
            ``on_error`` hook raised (logged, and not the task's failure).
        task: The function, as ``"module:qualname"`` (``"?"`` when the
            payload could not be decoded).
    """

    task_id: str
    queue: str
    action: Action
    duration: float
    attempt: int
    settled: bool = True
    error: str | None = None
    hook_error: str | None = None
    task: str = "?"


class TaskStarted(msgspec.Struct, frozen=True, gc=False):
    """A decoded task is about to run (given to :class:`TaskRunObserver` objects).

    Attributes:
        task_id: The id the task was pushed under.
        queue: The queue it came from.
        task: The function, as ``"module:qualname"``.
        attempt: Which reservation of this task this is (1 the first time).
        queue_wait: Seconds from when it became due (enqueued, or its delay
            or retry backoff ended, whichever is later) to now; ``None`` when
            its payload carries no enqueue time (an older producer).
        trace: The producer's trace context carried by the payload, if any.
    """

    task_id: str
    queue: str
    task: str
    attempt: int
    queue_wait: float | None = None
    trace: dict[str, str] | None = None


class WorkerStopped(msgspec.Struct, frozen=True, gc=False):
    """A worker loop ended.

    Attributes:
        worker: The worker's ``ident()``.
        tasks_complete: Tasks that ran successfully (what ``max_tasks`` counts).
        deliveries: Tasks it claimed and settled, whatever their outcome.
    """

    worker: str
    tasks_complete: int
    deliveries: int = 0


class NullEvents:
    """The default: no metrics."""

    def on_worker_start(self, event: WorkerStarted) -> None:
        pass

    def on_task_done(self, event: TaskDone) -> None:
        pass

    def on_worker_stop(self, event: WorkerStopped) -> None:
        pass


class Fanout:
    """Several events objects as one: each hears every event, in the order given.

    ``Worker(events=..., metrics=...)`` builds one, so user events, metrics
    and tracing all listen to the same worker.
    """

    def __init__(self, *receivers: protocols.WorkerEvents) -> None:
        self.receivers = receivers
        self._observers = [r for r in receivers if isinstance(r, TaskRunObserver)]

    def on_worker_start(self, event: WorkerStarted) -> None:
        for receiver in self.receivers:
            receiver.on_worker_start(event)

    def on_task_done(self, event: TaskDone) -> None:
        for receiver in self.receivers:
            receiver.on_task_done(event)

    def on_worker_stop(self, event: WorkerStopped) -> None:
        for receiver in self.receivers:
            receiver.on_worker_stop(event)

    @contextlib.contextmanager
    def running(self, event: TaskStarted) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for observer in self._observers:
                stack.enter_context(observer.running(event))
            yield
