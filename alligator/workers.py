"""The consumer loop: claim a task, run it, settle it, until stopped.

:meth:`Worker.execute` reads as the route of one task: the claim's consumer
decodes it, the task runs, and the outcome settles it (a success acked, a
failure handed to :meth:`Worker.retry`, which releases it with a backoff or
buries it; an undecodable payload buried). Claiming and acking are left to a
claim strategy chosen when the loop starts (:mod:`alligator.claiming`): one
task per round trip, or, when the backend is a
:class:`~alligator.protocols.PrefetchClient` (locmem, SQLite, Redis), tasks
of the first queue leased in small batches and acked with the next claim.
The 1.0 hooks ``starting``, ``stopping``, ``result`` and ``interrupt`` are
kept, and overriding them without calling ``super()`` leaves the loop intact.

Called on their own (outside ``run_forever``), ``claim``, ``execute`` and
``check_and_run_task`` behave as in 1.0: one task, acked before they return.
A subclass that overrides ``claim`` turns prefetch off.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from alligator._limits import BeaconSlot, time_limit
from alligator._signals import stop_signals
from alligator.claiming import Claim, OneByOne, Prefetching
from alligator.consumer import Consumer, Outcome
from alligator.delivery import Delivery
from alligator.dsn import display_dsn
from alligator.events import Fanout, NullEvents
from alligator.exceptions import (
    AlligatorError,
    ConfigurationError,
)
from alligator.gator import Gator
from alligator.limits import limits_of
from alligator.metrics import Metrics
from alligator.protocols import Task, WorkerEvents
from alligator.reporting import Reporter
from alligator.tasks import Task as BuiltinTask

__all__ = ["Claim", "Worker"]

log = logging.getLogger("alligator.worker")

#: Longest pause between reconnection attempts after a backend error.
MAX_ERROR_BACKOFF = 5.0
#: Seconds a concurrent worker's running coroutines get to finish once asked to stop.
DEFAULT_GRACE = 30.0
#: Seconds the event loop may go without turning before the worker warns.
DEFAULT_LAG_WARNING = 0.5


class Worker(Delivery):
    """Consumes one queue, or several in priority order, until stopped.

    Args:
        gator: Where tasks come from (its backend, codec, lease, retry policy).
        max_tasks: Stop after this many tasks ran successfully (0: never), as
            in Alligator 1.0: a failure that is retried does not count, so a
            hook granting one more try gets it within the worker's life.
        to_consume: Queue to consume, or queues in priority order (the first
            is drained before the second is touched); the Gator's queue when
            ``None``.
        nap_time: Pause between polls for backends that cannot block, and the
            longest a multi-queue worker blocks on its first queue.
        lease: Seconds a claimed task is held before it is offered again;
            renewed while the task runs. The Gator's lease when ``None``.
        poll_timeout: Longest blocking wait for a task, which bounds how long
            a stop request waits while idle.
        events: Receives typed events for metrics (see :mod:`alligator.events`).
        prefetch: Lease tasks ahead and defer acks when the backend allows
            it (see the module notes); ``False`` claims one task per round trip.
        recycle_after: Stop after this many deliveries, whatever their
            outcome (0: never); a pool restarts a worker that stops this way,
            so a leak cannot grow without bound even when tasks keep failing.
        timeout: Seconds a task without a ``timeout`` of its own may run
            before it is stopped and fails ("timed out after N s"). Enforced
            with ``SIGALRM`` when the worker runs in the main thread; see
            :mod:`alligator._limits` for threads and C code.
        beacon: Where a pool child records the task it runs (set by the CLI).
        metrics: Prometheus metrics of this worker (see :mod:`alligator.metrics`),
            recorded straight into their series (no event is built for
            them), besides ``events``; its ``/metrics`` endpoint is served
            while the loop runs. A Gator with ``tracing`` on is heard too:
            each task runs in a ``process`` span (:mod:`alligator.tracing`),
            one at a time or, with ``concurrency``, many at once.
        concurrency: Run up to this many tasks at once on an event loop
            (``async def`` tasks on the loop, plain ones in ``threads``
            threads); see :mod:`alligator.concurrency`. ``None`` (the
            default): one task at a time, an ``async def`` one on a loop of
            its own.
        threads: With ``concurrency``: threads that run plain-function tasks.
        grace: With ``concurrency``: seconds running coroutines get to finish
            once a stop is asked for, before they are cancelled and released
            for another worker.
        lag_warning: With ``concurrency``: warn, naming the task, when the
            event loop has not turned for this many seconds (``0``: never).

    Attributes:
        tasks_complete: Tasks that ran successfully (what ``max_tasks``
            counts, as in 1.0).
        deliveries: Tasks claimed and settled, whatever the outcome (what
            ``recycle_after`` counts).
        hook_errors: Runs in which an ``on_success`` or ``on_error`` hook
            raised (logged; the task's outcome stood).
    """

    def __init__(
        self,
        gator: Gator,
        max_tasks: int = 0,
        to_consume: str | Sequence[str] | None = None,
        nap_time: float = 0.1,
        *,
        lease: float | None = None,
        poll_timeout: float = 1.0,
        events: WorkerEvents | None = None,
        prefetch: bool = True,
        recycle_after: int = 0,
        timeout: float | None = None,
        beacon: BeaconSlot | None = None,
        metrics: Metrics | None = None,
        concurrency: int | None = None,
        threads: int = 1,
        grace: float = DEFAULT_GRACE,
        lag_warning: float = DEFAULT_LAG_WARNING,
    ) -> None:
        if max_tasks < 0 or recycle_after < 0:
            raise ConfigurationError(
                f"max_tasks and recycle_after must be >= 0, got {max_tasks} and {recycle_after}"
            )
        _check_concurrency(concurrency, threads, grace, lag_warning)
        if concurrency is not None and beacon is not None:
            raise ConfigurationError(
                "a beacon records one task per thread: a concurrent worker cannot keep one"
            )
        self.concurrency = concurrency
        self.threads = threads
        self.grace = float(grace)
        self.lag_warning = float(lag_warning)
        #: Wakes a concurrent worker's loop (set while it runs).
        self._waker: Callable[[], None] | None = None
        queues = queue_names(to_consume, gator.queue_name)
        self.gator = gator
        self.lease = lease or gator.lease
        self.consumers = [
            gator.consumer(name, lease=self.lease, nap_time=nap_time) for name in queues
        ]
        self.queues = queues
        #: What the 1.0 API exposed: one name, or the names in priority order.
        self.to_consume: str | tuple[str, ...] = queues[0] if len(queues) == 1 else queues
        self.max_tasks = max_tasks
        self.recycle_after = recycle_after
        if timeout is not None and not timeout > 0:
            raise ConfigurationError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.timeout = timeout
        self.beacon = beacon
        self.nap_time = nap_time
        self.poll_timeout = poll_timeout
        self.metrics = metrics
        # Metrics record straight from the reporter, not as one more events listener.
        listeners = [e for e in (events, gator.tracing) if e is not None]
        self.events: WorkerEvents = (
            NullEvents()
            if not listeners
            else listeners[0]
            if len(listeners) == 1
            else Fanout(*listeners)
        )
        self.tasks_complete = 0
        self.deliveries = 0
        self.hook_errors = 0
        self.keep_running = False
        self._stop = threading.Event()
        atomic_results = gator.results is not None and gator.results.queue is not None
        self.prefetch = (
            prefetch
            and gator.capabilities.prefetch
            and (gator.capabilities.results_prefetch or not atomic_results)
            and type(self).claim is Worker.claim
        )
        self._strategy: OneByOne | Prefetching = self._one_by_one()
        self._reporter = Reporter(self.events, metrics)

    # -- 1.0 hooks -------------------------------------------------------------

    def starting(self) -> None:
        """Called once before the loop starts."""
        backend = display_dsn(self.gator.conn_string)
        log.info(
            "%s starting & consuming %s on %s (max tasks: %s)",
            self.ident(),
            ", ".join(repr(q) for q in self.queues),
            backend,
            self.max_tasks or "unlimited",
            extra={"queue": self.queues[0], "queues": list(self.queues), "backend": backend},
        )
        self._reporter.other_queues(self.ident(), self.gator, self.consumers)

    def stopping(self) -> None:
        """Called once after the loop ends."""
        log.info(
            "%s for %s shutting down; consumed %d tasks (%d deliveries)",
            self.ident(),
            ", ".join(repr(q) for q in self.queues),
            self.tasks_complete,
            self.deliveries,
            extra={"queue": self.queues[0], "queues": list(self.queues)},
        )

    # -- the steps ---------------------------------------------------------------

    def claim(self, consumers: Sequence[Consumer] | None = None) -> Claim | None:
        """Lease the next due task, trying ``consumers`` (default: all) in order.

        One queue blocks up to ``poll_timeout``. Several are first tried
        without waiting, highest priority first; then the first queue is
        waited on for at most ``nap_time``.
        """
        limit = self._may_start()
        found, settled = self._strategy.claim(1 if limit < 0 else limit, consumers)
        self._reporter.settled(settled)
        return found

    def execute(self, claim: Claim) -> Outcome:
        """Run a claimed task with its lease kept alive, then settle it.

        Success is acked; a failure goes to :meth:`retry`; a payload that
        cannot be decoded is buried.
        """
        started = time.perf_counter()
        consumer, reservation = claim
        try:
            task = consumer.decode(reservation)
        except Exception as exc:
            outcome = self.undecodable(claim, exc)
        else:
            deferred = consumer.admit(reservation, task)
            if deferred is not None:
                self._strategy.settle(claim, deferred)
                return deferred
            # Metrics count the run by plain calls around it; only an observer
            # (a tracing span) wraps it in a context.
            reporter = self._reporter
            series = reporter.begin(claim, task)
            try:
                with reporter.observed(claim, task):
                    result, error = self._run(task), None
            except BaseException as exc:
                result, error = None, exc
            if series is not None:
                series.end()
            outcome = self.conclude(claim, task, result, error)
        # A task under limits holds its slots until its ack: never let it wait for a claim.
        limited = outcome.task is not None and bool(limits_of(getattr(outcome.task, "func", None)))
        settled = self._strategy.settle(claim, outcome, now=limited)
        return self.report(claim, outcome, settled, started)

    def check_and_run_task(self) -> bool:
        """Claim and run at most one task; ``True`` if one was run."""
        claim = self.claim()
        if claim is None:
            return False
        self.count(self.execute(claim))
        return True

    def run_forever(self) -> int:
        """Run tasks until a signal, ``max_tasks``, ``recycle_after`` or ``keep_running = False``.

        SIGINT and SIGTERM (handled when running in the main thread) let the
        current task finish and settle; a second signal stops at once, and the
        interrupted task comes back when its lease expires.

        Returns:
            0, the exit status of a worker that stopped as asked
            (``latergator`` exits with it).
        """
        # A stop asked for before the loop began (a signal during set-up) holds.
        self.keep_running = not self._stop.is_set()
        if self.prefetch:
            self._strategy = Prefetching(
                self.consumers, poll_timeout=self.poll_timeout, nap_time=self.nap_time
            )
        if self.metrics is not None:
            self.metrics.attach(self.gator, self.queues)
        self.starting()
        self._reporter.worker_started(self.ident(), self.queues)
        try:
            if self.concurrency is None:
                self._run_one_by_one()
            else:
                from alligator.concurrency import serve

                self._strategy.concurrent = True
                serve(self)
        finally:
            self.keep_running = False
            self._close_strategy()
            self.stopping()
            self._reporter.worker_stopped(self.ident(), self.tasks_complete, self.deliveries)
            if self.metrics is not None:
                self.metrics.detach()
            self._stop.clear()
        return 0

    # -- internals ---------------------------------------------------------------

    def _run_one_by_one(self) -> None:
        errors = 0
        with stop_signals(self._on_signal, then="default"):
            while self.keep_running and self._may_start() >= 0:
                try:
                    self.check_and_run_task()
                    errors = 0
                except AlligatorError as exc:
                    errors += 1
                    self._pause_after_error(exc, errors)

    def _run(self, task: Task[Any]) -> Any:
        """Run ``task`` under its time limit, telling the pool (if any) what runs."""
        limit = self.timeout if task.timeout is None else task.timeout
        beacon = self.beacon
        if beacon is not None:
            beacon.running(task.task_id, limit)
        try:
            if isinstance(task, BuiltinTask) and task.needs_loop():
                # asyncio's own limit: SIGALRM would land in the middle of the loop.
                return asyncio.run(task.run_async(limit)).result
            with time_limit(limit, task.task_id):
                return task.run().result
        finally:
            if beacon is not None:
                beacon.idle()

    def _on_signal(self, signum: int) -> None:
        log.info("%s got signal %d; stopping after the current task", self.ident(), signum)
        self.interrupt()

    def _pause_after_error(self, exc: AlligatorError, errors: int) -> None:
        delay = min(MAX_ERROR_BACKOFF, 0.1 * 2 ** (errors - 1))
        self._reporter.backend_failed(self.ident(), self.gator, exc, delay, errors)
        self._stop.wait(delay)


def _check_concurrency(
    concurrency: int | None, threads: int, grace: float, lag_warning: float
) -> None:
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise ConfigurationError(
            f"concurrency must be a whole number >= 1 (tasks run at once), got {concurrency!r}; "
            "leave it out (None) to run one task at a time"
        )
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigurationError(f"threads must be a whole number >= 1, got {threads!r}")
    if not grace >= 0 or not lag_warning >= 0:
        raise ConfigurationError(
            f"grace and lag_warning must be >= 0 seconds, got {grace!r} and {lag_warning!r}"
        )


def queue_names(to_consume: str | Sequence[str] | None, default: str) -> tuple[str, ...]:
    """The queues a worker consumes, highest priority first, checked."""
    if to_consume is None:
        return (default,)
    if isinstance(to_consume, str):
        return (to_consume,)
    names = tuple(to_consume)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigurationError(f"to_consume needs one or more queue names, got {to_consume!r}")
    if len(set(names)) != len(names):
        raise ConfigurationError(f"to_consume names a queue twice: {names!r}")
    return names
