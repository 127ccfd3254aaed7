"""What a worker tells people and metrics: events, per-task log lines, and advice.

Kept apart from :mod:`alligator.workers` so the loop reads as claim, run,
settle. A :class:`Reporter` builds per-task records only when someone listens
(an events object, or the DEBUG level), holds a success whose ack was
deferred until the ack's fate is known, and says, once each, the things a new
user most often gets wrong: a module the worker cannot import, a queue
nobody consumes, a backend that went away.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, Final

from alligator.capabilities import queue_lister_view
from alligator.claiming import Claim
from alligator.consumer import Consumer, Outcome, Settlement
from alligator.dsn import display_dsn
from alligator.events import NullEvents, TaskDone, TaskStarted, WorkerStarted, WorkerStopped
from alligator.exceptions import AlligatorError, BackendError, UnknownModuleError
from alligator.gator import Gator
from alligator.protocols import Task, TaskRecorder, TaskRunObserver, TaskSeries, WorkerEvents

__all__ = ["Reporter", "queue_wait", "task_name"]

log = logging.getLogger("alligator.worker")


class Reporter:
    """The voice of one worker.

    Its methods take the worker's name for log lines as ``ident`` (the
    worker's overridable ``ident()``, asked by the worker, never called back).

    Args:
        events: Receives the typed events (:mod:`alligator.events`).
        metrics: Records each task into its series directly, building no
            event (a worker's ``metrics=``): a few calls per task where the
            events path cost a no-op task a third of its speed.
    """

    def __init__(self, events: WorkerEvents, metrics: TaskRecorder | None = None) -> None:
        self.events = events
        self._recorder = metrics
        #: Each queue's consumer and task function's series, looked up once (a
        #: reporter is its worker's, whose loop runs in one thread: no thread in the key).
        self._series: dict[tuple[Consumer, object], TaskSeries] = {}
        #: The last series found, and by what: a drain of one function checks two identities.
        self._last_consumer: Consumer | None = None
        self._last_func: object = None
        self._last_series: TaskSeries | None = None
        #: The claim :meth:`begin` last counted, and its series: settled with no lookup.
        self._begun: Claim | None = None
        self._begun_series: TaskSeries | None = None
        #: Successes whose ack is deferred, by reservation, kept only when reported.
        self._unreported: dict[int, tuple[Claim, Outcome, float]] = {}
        #: Modules the worker could not import, each explained once.
        self._missing_modules: set[str] = set()
        #: Who wraps each run (metrics in progress, a tracing span), read once.
        self._observer = events if isinstance(events, TaskRunObserver) else None
        #: ``module:qualname`` by function, built once each.
        self._names: dict[object, str] = {}
        self._heard = type(events) is not NullEvents

    def listening(self) -> bool:
        """Whether anyone wants per-task events or DEBUG lines (else skip building them)."""
        return self._heard or log.isEnabledFor(logging.DEBUG)

    # -- per task --------------------------------------------------------------

    def begin(self, claim: Claim, task: Task[Any]) -> TaskSeries | None:
        """A task starts running in this thread now: its queue wait counted, and in progress.

        A one-at-a-time worker's plain calls (this, and ``end()`` on the series
        returned, ``None`` without metrics) where :meth:`running`'s context costs two more.
        """
        if self._recorder is None:
            return None
        # _series_of()'s first lines and queue_wait() inline, the attributes
        # of alligator.Task read without getattr() calls: this runs once per task.
        run: Any = task
        try:
            func, wait = run.func, run.enqueued_at
        except AttributeError:  # a task class of its own
            func, wait = getattr(run, "func", None), getattr(run, "enqueued_at", None)
        series, consumer = self._last_series, claim.consumer
        if series is None or func is not self._last_func or consumer is not self._last_consumer:
            series = self._series_of(consumer, task)
        if wait is not None:
            until = run.delay_until
            wait = time.time() - (until if until is not None and until > wait else wait)
            wait = wait if wait > 0.0 else 0.0
        series.begin(wait)
        self._begun, self._begun_series = claim, series
        return series

    def observed(self, claim: Claim, task: Task[Any]) -> contextlib.AbstractContextManager[object]:
        """The observer's context a task runs in (a :class:`TaskRunObserver`: a span), if any."""
        observer = self._observer
        if observer is None:
            return _NOTHING
        return _Guarded(observer, self._started(claim, task, queue_wait(task)))

    def running(self, claim: Claim, task: Task[Any]) -> contextlib.AbstractContextManager[object]:
        """The context a task runs in: its series' and the observer's (:class:`TaskRunObserver`).

        Built where a concurrent worker claims the task, entered where it runs.
        """
        if self._recorder is None:
            return self.observed(claim, task)
        wait = queue_wait(task)
        counted = self._series_of(claim.consumer, task).start(wait)
        observer = self._observer
        if observer is None:
            return counted
        return _both(counted, _Guarded(observer, self._started(claim, task, wait)))

    def _started(self, claim: Claim, task: Task[Any], wait: float | None) -> TaskStarted:
        # Positional, in field order: this runs once per task.
        return TaskStarted(
            task.task_id,
            claim.queue,
            self._name(task),
            claim.reservation.attempts,
            wait,
            getattr(task, "trace", None),
        )

    def _series_of(self, consumer: Consumer, task: Task[Any] | None) -> TaskSeries:
        func = getattr(task, "func", None)  # None for an undecodable payload
        series = self._last_series
        if series is not None and func is self._last_func and consumer is self._last_consumer:
            return series
        series = self._series.get((consumer, func))
        if series is None:
            assert self._recorder is not None
            name = "?" if task is None else self._name(task)
            series = self._series[consumer, func] = self._recorder.series(consumer.queue_name, name)
        self._last_consumer, self._last_func, self._last_series = consumer, func, series
        return series

    def _finish(self, claim: Claim, outcome: Outcome, duration: float) -> None:
        series = self._begun_series  # the series begin() counted the claim in, else looked up
        if claim is not self._begun or series is None:
            series = self._series_of(claim.consumer, outcome.task)
        series.finish(outcome.action, duration)

    def _name(self, task: Task[Any]) -> str:
        func = getattr(task, "func", None)
        name = self._names.get(func)
        if name is None:
            name = self._names[func] = task_name(task)
        return name

    def deferred(self, claim: Claim, outcome: Outcome, duration: float) -> None:
        """A success whose ack rides on a later claim: recorded now, reported once the ack is known.

        Metrics take no notice of the ack (a lost lease still counts a
        success), so the series is updated at once and the task shows up
        without waiting for the next claim.
        """
        if self._recorder is not None:
            self._finish(claim, outcome, duration)
        if self.listening():
            self._unreported[id(claim.reservation)] = (claim, outcome, duration)

    def settled(self, settled: list[Settlement]) -> None:
        """Report the successes whose deferred acks are now known."""
        if not self._unreported:
            return
        for reservation, acked in settled:
            found = self._unreported.pop(id(reservation), None)
            if found is not None:
                claim, outcome, duration = found
                self._tell(claim, outcome._replace(settled=acked), duration)

    def done(self, claim: Claim, outcome: Outcome, duration: float) -> None:
        """One task settled: recorded, a DEBUG line with structured fields, and a TaskDone event."""
        if self._recorder is not None:
            self._finish(claim, outcome, duration)
        self._tell(claim, outcome, duration)

    def _tell(self, claim: Claim, outcome: Outcome, duration: float) -> None:
        if not self.listening():
            return
        task = outcome.task
        task_id = task.task_id if task is not None else claim.reservation.task_id
        error, hook_error = outcome.error, None if task is None else task.hook_error
        event = TaskDone(  # positional, in field order: this runs once per task
            task_id,
            claim.queue,
            outcome.action,
            duration,
            claim.reservation.attempts,
            outcome.settled,
            None if error is None else f"{type(error).__name__}: {error}",
            None if hook_error is None else f"{type(hook_error).__name__}: {hook_error}",
            "?" if task is None else self._name(task),
        )
        if log.isEnabledFor(logging.DEBUG):
            # The duration is how long the task ran; a retry's delay is in the consumer's line.
            log.debug(
                "task %s from %r: %s (ran %.3fs, attempt %d)",
                task_id,
                claim.queue,
                outcome.action,
                duration,
                event.attempt,
                extra={
                    "task_id": task_id,
                    "queue": claim.queue,
                    "duration": duration,
                    "attempt": event.attempt,
                    "action": outcome.action,
                },
            )
        if not self._heard:
            return
        try:
            self.events.on_task_done(event)
        except Exception:
            log.exception("metrics hook on_task_done failed; ignored")

    # -- the worker's life -----------------------------------------------------

    def worker_started(self, ident: str, queues: Sequence[str]) -> None:
        try:
            self.events.on_worker_start(WorkerStarted(ident, queues, os.getpid()))
        except Exception:
            log.exception("metrics hook on_worker_start failed; ignored")

    def worker_stopped(self, ident: str, tasks_complete: int, deliveries: int) -> None:
        try:
            self.events.on_worker_stop(WorkerStopped(ident, tasks_complete, deliveries))
        except Exception:
            log.exception("metrics hook on_worker_stop failed; ignored")

    def backend_failed(
        self, ident: str, gator: Gator, exc: AlligatorError, delay: float, errors: int
    ) -> None:
        if isinstance(exc, BackendError):
            # An outage is expected weather, not a bug: one line per back-off
            # step, no traceback (a down Redis once logged 18 in 6 s).
            log.warning(
                "%s: backend %s failed (%s); retrying in %.1fs",
                ident,
                display_dsn(gator.conn_string),
                exc,
                delay,
                extra={"delay": delay, "errors": errors},
            )
        else:
            log.error("%s: %s; retrying in %.1fs", ident, exc, delay, exc_info=exc)

    # -- advice, once each -----------------------------------------------------

    def other_queues(self, ident: str, gator: Gator, consumers: Sequence[Consumer]) -> None:
        """Say once, at start-up, when this worker's queues are empty but others are not.

        A task sent to a queue no worker consumes looks like an idle worker;
        this line names the queues that do hold tasks. Backends that cannot
        list their queues say nothing, and so does one that cannot be reached.
        """
        lister = queue_lister_view(gator.backend, gator.capabilities)
        if lister is None:
            return
        mine = [c.queue_name for c in consumers]
        try:
            if any(c.broker.len(c.queue_name) for c in consumers):
                return
            waiting = {name: gator.broker.len(name) for name in lister.queues() if name not in mine}
        except AlligatorError as exc:
            log.debug("%s: could not look at other queues: %s", ident, exc)
            return
        named = [f"{name!r} ({count} waiting)" for name, count in waiting.items() if count]
        if not named:
            return
        shown = ", ".join(named[:5]) + (f" and {len(named) - 5} more" if len(named) > 5 else "")
        log.info(
            "%s: no task waits on %s, but other queues of this backend have tasks: %s. "
            "A worker consumes only the queues it is given: -q/--queue NAME on the command "
            "line, to_consume= in Python",
            ident,
            ", ".join(repr(q) for q in mine),
            shown,
            extra={"queues": mine, "waiting": waiting},
        )

    def undecodable(self, ident: str, error: Exception) -> None:
        """Say once per module that the worker cannot import it, and how to fix that.

        Without this line a worker started where the application is not
        importable buries a whole queue, one terse line per task.
        """
        if not isinstance(error, UnknownModuleError):
            return
        cause = error.__cause__
        if isinstance(cause, ModuleNotFoundError) and cause.name:
            missing = cause.name
        else:  # an ImportError raised inside the module itself
            missing = str(error)
        if missing in self._missing_modules:
            return
        self._missing_modules.add(missing)
        log.error(
            "%s cannot import module %r (%s), so every task that needs it is buried, not run. "
            "Start the worker where your application is importable: from its directory "
            "(working directory now: %s), with PYTHONPATH set, or in the virtualenv that has "
            "it; --import MODULE checks that at start-up. Then put the buried tasks back: "
            "alligator failed requeue DSN --all",
            ident,
            missing,
            cause if cause is not None else error,
            os.getcwd(),
            extra={"missing_module": missing},
        )


_NOTHING: Final = contextlib.nullcontext()


def task_name(task: Task[Any]) -> str:
    """``module:qualname`` of the task's function (``?`` for a task class that names none)."""
    func = getattr(task, "func", None)  # alligator.Task's; the Task protocol has no name
    if func is None:
        return "?"
    return f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', '?')}"


def queue_wait(task: Task[Any], now: float | None = None) -> float | None:
    """Seconds since ``task`` became due: enqueued, or its delay (or retry backoff) ended.

    ``None`` when its payload carries no enqueue time (written by an older
    producer, or a task class without one).
    """
    due: float | None = getattr(task, "enqueued_at", None)  # alligator.Task's
    if due is None:
        return None
    delay_until = task.delay_until
    if delay_until is not None and delay_until > due:
        due = delay_until
    waited = (time.time() if now is None else now) - due
    return waited if waited > 0.0 else 0.0  # once per task: no max() calls


@contextlib.contextmanager
def _both(
    first: contextlib.AbstractContextManager[object],
    second: contextlib.AbstractContextManager[object],
) -> Iterator[None]:
    """A task's series and its observer's context, entered in that order and left in reverse."""
    with first, second:
        yield


class _Guarded:
    """An observer's context whose own failures are logged, never the task's business."""

    __slots__ = ("_context", "_event", "_observer")

    def __init__(self, observer: TaskRunObserver, event: TaskStarted) -> None:
        self._observer = observer
        self._event = event
        self._context: contextlib.AbstractContextManager[object] | None = None

    def __enter__(self) -> None:
        try:
            context = self._observer.running(self._event)
            context.__enter__()
        except Exception:
            log.exception("metrics hook running() failed on entry; ignored")
        else:
            self._context = context

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        context, self._context = self._context, None
        if context is not None:
            try:
                context.__exit__(exc_type, exc, traceback)
            except Exception as failure:
                if failure is not exc:
                    log.exception("metrics hook running() failed on exit; ignored")
        # None: the task's own exception always goes on.
