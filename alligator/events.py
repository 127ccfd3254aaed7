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

from collections.abc import Sequence

import msgspec

from alligator.consumer import Action
from alligator.protocols import WorkerEvents

__all__ = ["Action", "NullEvents", "TaskDone", "WorkerEvents", "WorkerStarted", "WorkerStopped"]


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
    """

    task_id: str
    queue: str
    action: Action
    duration: float
    attempt: int
    settled: bool = True
    error: str | None = None
    hook_error: str | None = None


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
