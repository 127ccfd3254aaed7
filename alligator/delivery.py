"""The steps of one delivery, whichever loop drives them: a Worker's, mixed in.

A :class:`~alligator.Worker` takes each task through the same steps whether
it runs one task at a time (its own loop) or many at once on an event loop
(:mod:`alligator.concurrency`): conclude the run into an
:class:`~alligator.Outcome` (a success, or a failure retried or buried),
settle it with the claim strategy, report and count it. They live here, below
both loops, so that the concurrent loop calls down into them and never back
up into the module that starts it. The Alligator 1.0 hooks ``ident``,
``interrupt`` and ``result`` are here too, overridable as before.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alligator.claiming import Claim, OneByOne, Prefetching
from alligator.consumer import Consumer, Outcome, Settlement
from alligator.exceptions import AlligatorError, TaskExitError
from alligator.protocols import Task
from alligator.reporting import Reporter

__all__ = ["Delivery"]

log = logging.getLogger("alligator.worker")


class Delivery:
    """What a :class:`~alligator.Worker` does with each claimed task (mixed into it)."""

    if TYPE_CHECKING:  # provided by the Worker
        consumers: list[Consumer]
        deliveries: int
        hook_errors: int
        keep_running: bool
        max_tasks: int
        nap_time: float
        poll_timeout: float
        recycle_after: int
        tasks_complete: int
        _reporter: Reporter
        _stop: threading.Event
        _strategy: OneByOne | Prefetching
        _waker: Callable[[], None] | None

    def ident(self) -> str:
        """A name for log lines."""
        return f"Alligator Worker (#{os.getpid()})"

    def interrupt(self) -> None:
        """Ask the loop to stop after the current task (before it began: not to start).

        A concurrent worker stops claiming and gives its running tasks
        ``grace`` seconds (see :mod:`alligator.concurrency`).
        """
        self.keep_running = False
        self._stop.set()
        waker = self._waker
        if waker is not None:
            waker()

    def result(self, result: Any) -> None:
        """Called with each successful task's return value."""
        log.debug("result: %r", result)

    def undecodable(self, claim: Claim, error: Exception) -> Outcome:
        """Bury a payload that could not be decoded, with the reason."""
        outcome = claim.consumer.bury_undecodable(claim.reservation, error)
        self._reporter.undecodable(self.ident(), error)
        return outcome

    def conclude(
        self, claim: Claim, task: Task[Any], result: Any, error: BaseException | None
    ) -> Outcome:
        """The outcome of a task that ran: ``result``, or ``error`` (retried or buried).

        Raises:
            KeyboardInterrupt: ``error`` is the second SIGINT: stop at once
                (the task comes back by lease).
        """
        if error is None:
            return claim.consumer.succeeded(claim.reservation, task, result)
        if isinstance(error, Exception):
            return self.retry(claim, task, error)
        if isinstance(error, KeyboardInterrupt) and self._stop.is_set():
            raise error
        failure = TaskExitError(f"the task raised {type(error).__name__}{error.args!r}")
        failure.__cause__ = error
        return self.retry(claim, task, failure)

    def report(
        self, claim: Claim, outcome: Outcome, settled: list[Settlement], started: float
    ) -> Outcome:
        """Log and count a settled task (a deferred ack is reported once it is known)."""
        duration = time.perf_counter() - started
        if outcome.action == "ack":
            if not settled:  # deferred: reported once the ack is known
                self._reporter.deferred(claim, outcome, duration)
                return outcome
            outcome = outcome._replace(settled=settled[0].acked)
        self._reporter.done(claim, outcome, duration)
        return outcome

    def retry(self, claim: Claim, task: Task[Any], error: Exception) -> Outcome:
        """Settle a failed task: released with a backoff while it has retries, else buried."""
        return claim.consumer.retry_or_bury(claim.reservation, task, error)

    def count(self, outcome: Outcome) -> None:
        """Count one delivery (and a success, handing its value to :meth:`result`).

        A task put back unstarted because it was over a limit is no delivery.
        """
        if outcome.action == "defer":
            return
        self.deliveries += 1
        if outcome.task is not None and outcome.task.hook_error is not None:
            self.hook_errors += 1
        if outcome.action == "ack":
            self.tasks_complete += 1
            self.result(outcome.result)

    def _may_start(self) -> int:
        """How many more tasks the limits allow: -1 none, 0 no limit, else that many."""
        left = [
            limit - done
            for limit, done in (
                (self.max_tasks, self.tasks_complete),
                (self.recycle_after, self.deliveries),
            )
            if limit
        ]
        if not left:
            return 0
        least = min(left)
        return least if least > 0 else -1

    def _one_by_one(self) -> OneByOne:
        return OneByOne(self.consumers, poll_timeout=self.poll_timeout, nap_time=self.nap_time)

    def _close_strategy(self) -> None:
        strategy, self._strategy = self._strategy, self._one_by_one()
        try:
            self._reporter.settled(strategy.close())
        except AlligatorError as exc:  # leases expire and the tasks run elsewhere
            log.warning("%s: could not settle prefetched tasks: %s", self.ident(), exc)
