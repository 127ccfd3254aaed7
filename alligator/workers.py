"""The consumer side: a loop that claims, executes and settles tasks.

Each step is a method a subclass may override: :meth:`Worker.claim` leases a
task from the first of its queues that has one, :meth:`Worker.execute` runs
it under a renewed lease and settles it, handing failures to
:meth:`Worker.retry` (release with a backoff, or bury). The 1.0 hooks
``starting``, ``stopping``, ``result`` and ``interrupt`` are kept, and
overriding them without calling ``super()`` leaves the loop intact.

Several queues are consumed in strict priority order: a task of the second
queue is claimed only when the first has none due. No backend can yet block
on several queues at once, so a multi-queue worker checks them all without
waiting, then blocks on the first for at most ``nap_time``; a task pushed to
a lower-priority queue of an idle worker is therefore picked up within about
``nap_time`` seconds.

Prefetch: when the backend is a :class:`~alligator.protocols.PrefetchClient`
(locmem, SQLite, Redis), ``run_forever`` leases tasks of the first queue in
small batches and acks finished ones with the next claim (see
:mod:`alligator.prefetch`): one round trip per batch instead of two per task,
leases and at-least-once delivery unchanged. Lower-priority queues are
claimed one task at a time, and only when the first queue has nothing due.
Called on their own (outside ``run_forever``), ``claim``, ``execute`` and
``check_and_run_task`` behave as in 1.0: one task, acked before they return.
A subclass that overrides ``claim`` turns prefetch off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from alligator._worker_support import for_queue, queue_names, signal_handlers
from alligator.backends.adapter import SimpleClientAdapter, as_prefetch
from alligator.events import NullEvents, TaskDone, WorkerEvents, WorkerStarted, WorkerStopped
from alligator.exceptions import AlligatorError, BackendError
from alligator.gator import Gator, Outcome
from alligator.heartbeat import Heartbeat
from alligator.prefetch import Prefetcher
from alligator.records import Reservation
from alligator.tasks import Task

__all__ = ["Claim", "Worker"]

log = logging.getLogger("alligator.worker")

#: Longest pause between reconnection attempts after a backend error.
MAX_ERROR_BACKOFF = 5.0


class Claim(NamedTuple):
    """A leased task and the Gator of the queue it came from."""

    gator: Gator
    reservation: Reservation

    @property
    def queue(self) -> str:
        return self.gator.queue_name


class Worker:
    """Consumes one queue, or several in priority order, until stopped.

    Args:
        gator: Where tasks come from (its backend, codec, lease, retry policy).
        max_tasks: Stop after this many tasks (0: never).
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
    ) -> None:
        queues = queue_names(to_consume, gator.queue_name)
        self.gators = [for_queue(gator, name) for name in queues]
        self.gator = self.gators[0]
        self.queues = queues
        #: What the 1.0 API exposed: one name, or the names in priority order.
        self.to_consume: str | tuple[str, ...] = queues[0] if len(queues) == 1 else queues
        self.max_tasks = max_tasks
        self.nap_time = nap_time
        self.lease = lease or gator.lease
        self.poll_timeout = poll_timeout
        self.events: WorkerEvents = events or NullEvents()
        self.tasks_complete = 0
        self.keep_running = False
        self._stop = threading.Event()
        self._heartbeats: dict[str, Heartbeat] = {}
        # Capabilities are decided once: runtime protocol checks are slow.
        self._simple = isinstance(gator.broker, SimpleClientAdapter)
        if isinstance(gator.broker, SimpleClientAdapter):
            gator.broker.nap_time = nap_time
        own_claim = type(self).claim is Worker.claim
        self._prefetch_client = as_prefetch(gator.broker) if prefetch and own_claim else None
        self._prefetcher: Prefetcher | None = None
        self._looping = False
        self._on_failure: dict[
            int, tuple[Gator, Callable[[Reservation, Task[Any], Exception], Outcome]]
        ] = {}

    # -- 1.0 hooks -------------------------------------------------------------

    def ident(self) -> str:
        """A name for log lines."""
        return f"Alligator Worker (#{os.getpid()})"

    def starting(self) -> None:
        """Called once before the loop starts."""
        log.info(
            "%s starting & consuming %s (max tasks: %s)",
            self.ident(),
            ", ".join(repr(q) for q in self.queues),
            self.max_tasks or "unlimited",
            extra={"queue": self.queues[0], "queues": list(self.queues)},
        )

    def stopping(self) -> None:
        """Called once after the loop ends."""
        log.info(
            "%s for %s shutting down; consumed %d tasks",
            self.ident(),
            ", ".join(repr(q) for q in self.queues),
            self.tasks_complete,
            extra={"queue": self.queues[0], "queues": list(self.queues)},
        )

    def interrupt(self) -> None:
        """Ask the loop to stop after the current task."""
        self.keep_running = False
        self._stop.set()

    def result(self, result: Any) -> None:
        """Called with each successful task's return value."""
        log.debug("result: %r", result)

    # -- the steps ---------------------------------------------------------------

    def claim(self, gators: Sequence[Gator] | None = None) -> Claim | None:
        """Lease the next due task, trying ``gators`` (default: all) in order.

        One queue blocks up to ``poll_timeout``. Several are first tried
        without waiting, highest priority first; then the first queue is
        waited on for at most ``nap_time``.
        """
        gators = self.gators if gators is None else gators
        prefetcher = self._prefetcher
        if prefetcher is not None and self._looping and gators and gators[0] is self.gator:
            return self._claim_ahead(prefetcher, gators)
        if len(gators) == 1:
            found = gators[0].reserve(self.lease, timeout=self.poll_timeout)
            return None if found is None else Claim(gators[0], found)
        for gator in gators:
            found = gator.reserve(self.lease)
            if found is not None:
                return Claim(gator, found)
        wait = min(self.nap_time, self.poll_timeout)
        found = gators[0].reserve(self.lease, timeout=wait)
        return None if found is None else Claim(gators[0], found)

    def execute(self, claim: Claim) -> Outcome:
        """Run a claimed task with its lease kept alive, then settle it.

        Success is acked; a failure goes to :meth:`retry`; a payload that
        cannot be decoded is buried.
        """
        gator, reservation = claim
        started = time.perf_counter()
        prefetcher = self._prefetcher
        if prefetcher is not None and self._looping and gator is self.gator:
            return self._execute_ahead(prefetcher, claim, started)
        heartbeat = self._heartbeat(gator)
        if heartbeat is not None:
            heartbeat.watch(reservation)
        try:
            outcome = self._run(gator, reservation)
        finally:
            if heartbeat is not None:
                heartbeat.clear()
        if self._listening():
            self._report(claim, outcome, time.perf_counter() - started)
        return outcome

    def retry(self, claim: Claim, task: Task[Any], error: Exception) -> Outcome:
        """Settle a failed task: released with a backoff while it has retries, else buried."""
        return claim.gator.settle_failure(claim.reservation, task, error)

    def check_and_run_task(self) -> bool:
        """Claim and run at most one task; ``True`` if one was run."""
        claim = self.claim()
        if claim is None:
            return False
        outcome = self.execute(claim)
        self.tasks_complete += 1
        if outcome.action == "ack":
            self.result(outcome.result)
        return True

    def run_forever(self) -> None:
        """Run tasks until a signal, ``max_tasks``, or ``keep_running = False``.

        SIGINT and SIGTERM (handled when running in the main thread) let the
        current task finish and settle; a second signal stops at once, and the
        interrupted task comes back when its lease expires.
        """
        self.keep_running = True
        self._stop.clear()
        self._start_prefetch()
        self.starting()
        self._emit("on_worker_start", WorkerStarted(self.ident(), self.queues, os.getpid()))
        errors = 0
        try:
            with self._signal_handlers():
                while self.keep_running:
                    if self.max_tasks and self.tasks_complete >= self.max_tasks:
                        break
                    try:
                        self.check_and_run_task()
                        errors = 0
                    except AlligatorError as exc:
                        errors += 1
                        self._pause_after_error(exc, errors)
        finally:
            self.keep_running = False
            self._stop_prefetch()
            heartbeats, self._heartbeats = self._heartbeats, {}
            for heartbeat in heartbeats.values():
                heartbeat.close()
            self.stopping()
            self._emit("on_worker_stop", WorkerStopped(self.ident(), self.tasks_complete))

    # -- internals ---------------------------------------------------------------

    def _start_prefetch(self) -> None:
        client = self._prefetch_client
        if client is None:
            return
        heartbeat = self._heartbeat(self.gator)
        assert heartbeat is not None  # a prefetch client is never the 1.0 adapter
        self._prefetcher = Prefetcher(
            client, self.gator.queue_name, self.lease, heartbeat, self._settled
        )
        self._looping = True

    def _stop_prefetch(self) -> None:
        prefetcher, self._prefetcher = self._prefetcher, None
        self._looping = False
        if prefetcher is not None:
            try:
                prefetcher.stop()
            except AlligatorError as exc:  # leases expire and the tasks run elsewhere
                log.warning("%s: could not settle prefetched tasks: %s", self.ident(), exc)

    def _claim_ahead(self, prefetcher: Prefetcher, gators: Sequence[Gator]) -> Claim | None:
        """:meth:`claim` for a prefetching loop: the first queue in batches."""
        found = prefetcher.take()
        if found is not None:
            return Claim(gators[0], found)
        limit = self.max_tasks - self.tasks_complete if self.max_tasks else prefetcher.max_batch
        if len(gators) == 1:
            found = prefetcher.fetch(limit, self.poll_timeout)
            return None if found is None else Claim(gators[0], found)
        found = prefetcher.fetch(limit, 0.0)
        if found is not None:
            return Claim(gators[0], found)
        for gator in gators[1:]:
            other = gator.reserve(self.lease)
            if other is not None:
                return Claim(gator, other)
        found = prefetcher.fetch(limit, min(self.nap_time, self.poll_timeout))
        return None if found is None else Claim(gators[0], found)

    def _execute_ahead(self, prefetcher: Prefetcher, claim: Claim, started: float) -> Outcome:
        """:meth:`execute` for a prefetched task: its ack rides on the next claim."""
        gator, reservation = claim
        if not self._listening():
            outcome = self._run(gator, reservation, prefetcher.defer_ack)
            prefetcher.observe(time.perf_counter() - started)
            if outcome.action != "ack":
                prefetcher.forget(reservation)  # released or buried: no longer ours to renew
            return outcome
        note: list[Any] = []  # filled below, read when the ack's fate is known
        outcome = self._run(gator, reservation, lambda held: prefetcher.defer_ack(held, note))
        duration = time.perf_counter() - started
        prefetcher.observe(duration)
        if outcome.action != "ack":
            prefetcher.forget(reservation)
            self._report(claim, outcome, duration)
        else:
            note.extend((claim, outcome, duration))
        return outcome

    def _settled(self, reservation: Reservation, acked: bool, note: object) -> None:
        """The fate of a deferred ack: warn if the lease was lost, then report."""
        if not acked:
            log.warning("lease of task %s was lost before its ack", reservation.task_id)
        if isinstance(note, list) and note:
            claim, outcome, duration = note
            self._report(claim, outcome._replace(settled=acked), duration)

    def _listening(self) -> bool:
        """Whether anyone wants per-task events or DEBUG lines (else skip building them)."""
        return type(self.events) is not NullEvents or log.isEnabledFor(logging.DEBUG)

    def _run(
        self,
        gator: Gator,
        reservation: Reservation,
        ack: Callable[[Reservation], bool] | None = None,
    ) -> Outcome:
        """:meth:`Gator.process` with this worker's :meth:`retry` step for failures."""
        return gator.process(reservation, self._failure_handler(gator), ack=ack)

    def _failure_handler(
        self, gator: Gator
    ) -> Callable[[Reservation, Task[Any], Exception], Outcome]:
        """``gator``'s hand-off to :meth:`retry`, built once per Gator (not per task)."""
        cached = self._on_failure.get(id(gator))
        if cached is not None and cached[0] is gator:
            return cached[1]

        def on_failure(held: Reservation, task: Task[Any], error: Exception) -> Outcome:
            return self.retry(Claim(gator, held), task, error)

        self._on_failure[id(gator)] = (gator, on_failure)
        return on_failure

    def _heartbeat(self, gator: Gator) -> Heartbeat | None:
        if self._simple:
            return None  # nothing to renew: a 1.0 client's pop already removed the task
        heartbeat = self._heartbeats.get(gator.queue_name)
        if heartbeat is None:
            heartbeat = Heartbeat(gator.broker, gator.queue_name, self.lease, self._prefetch_client)
            self._heartbeats[gator.queue_name] = heartbeat
        return heartbeat

    def _report(self, claim: Claim, outcome: Outcome, duration: float) -> None:
        task_id = outcome.task.task_id if outcome.task is not None else claim.reservation.task_id
        error = outcome.error
        event = TaskDone(
            task_id=task_id,
            queue=claim.queue,
            action=outcome.action,
            duration=duration,
            attempt=claim.reservation.attempts,
            settled=outcome.settled,
            error=None if error is None else f"{type(error).__name__}: {error}",
        )
        log.debug(
            "task %s from %r: %s in %.3fs (attempt %d)",
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
        self._emit("on_task_done", event)

    def _emit(self, method: str, event: object) -> None:
        try:
            getattr(self.events, method)(event)
        except Exception:
            log.exception("metrics hook %s failed; ignored", method)

    def _pause_after_error(self, exc: AlligatorError, errors: int) -> None:
        delay = min(MAX_ERROR_BACKOFF, 0.1 * 2 ** (errors - 1))
        level = logging.WARNING if isinstance(exc, BackendError) else logging.ERROR
        log.log(level, "%s: %s; retrying in %.1fs", self.ident(), exc, delay, exc_info=exc)
        self._stop.wait(delay)

    def _signal_handlers(self) -> contextlib.AbstractContextManager[None]:
        return signal_handlers(self.ident, self.interrupt)
