"""The consumer side: a loop that claims, executes and settles tasks.

Each step is a method a subclass may override: :meth:`Worker.claim` leases a
task, :meth:`Worker.execute` runs it under a renewed lease and settles it
(ack, retry, bury). The 1.0 hooks ``starting``, ``stopping``, ``result`` and
``interrupt`` are kept, and overriding them without calling ``super()``
leaves the loop intact.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

from alligator.backends.adapter import SimpleClientAdapter
from alligator.exceptions import AlligatorError, BackendError
from alligator.gator import Gator, Outcome
from alligator.heartbeat import Heartbeat
from alligator.records import Reservation

__all__ = ["Worker"]

log = logging.getLogger("alligator.worker")

#: Longest pause between reconnection attempts after a backend error.
MAX_ERROR_BACKOFF = 5.0


class Worker:
    """Consumes one queue until stopped.

    Args:
        gator: Where tasks come from (its backend, codec, lease, retry policy).
        max_tasks: Stop after this many tasks (0: never).
        to_consume: Queue to consume; the Gator's queue when ``None``.
        nap_time: Pause between polls for backends that cannot block.
        lease: Seconds a claimed task is held before it is offered again;
            renewed while the task runs. The Gator's lease when ``None``.
        poll_timeout: Longest blocking wait for a task, which bounds how long
            a stop request waits while idle.
    """

    def __init__(
        self,
        gator: Gator,
        max_tasks: int = 0,
        to_consume: str | None = None,
        nap_time: float = 0.1,
        *,
        lease: float | None = None,
        poll_timeout: float = 1.0,
    ) -> None:
        if to_consume is not None and to_consume != gator.queue_name:
            gator = copy.copy(gator)
            gator.queue_name = to_consume
        self.gator = gator
        self.max_tasks = max_tasks
        self.to_consume = gator.queue_name
        self.nap_time = nap_time
        self.lease = lease or gator.lease
        self.poll_timeout = poll_timeout
        self.tasks_complete = 0
        self.keep_running = False
        self._stop = threading.Event()
        if isinstance(gator.broker, SimpleClientAdapter):
            gator.broker.nap_time = nap_time
            self._heartbeat: Heartbeat | None = None
        else:
            self._heartbeat = Heartbeat(gator.broker, gator.queue_name, self.lease)

    # -- 1.0 hooks -------------------------------------------------------------

    def ident(self) -> str:
        """A name for log lines."""
        return f"Alligator Worker (#{os.getpid()})"

    def starting(self) -> None:
        """Called once before the loop starts."""
        log.info(
            "%s starting & consuming %r (max tasks: %s)",
            self.ident(),
            self.to_consume,
            self.max_tasks or "unlimited",
            extra={"queue": self.to_consume},
        )

    def stopping(self) -> None:
        """Called once after the loop ends."""
        log.info(
            "%s for %r shutting down; consumed %d tasks",
            self.ident(),
            self.to_consume,
            self.tasks_complete,
            extra={"queue": self.to_consume},
        )

    def interrupt(self) -> None:
        """Ask the loop to stop after the current task."""
        self.keep_running = False
        self._stop.set()

    def result(self, result: Any) -> None:
        """Called with each successful task's return value."""
        log.debug("result: %r", result)

    # -- the steps ---------------------------------------------------------------

    def claim(self) -> Reservation | None:
        """Lease the next due task, blocking up to ``poll_timeout``."""
        return self.gator.reserve(self.lease, timeout=self.poll_timeout)

    def execute(self, reservation: Reservation) -> Outcome:
        """Run a claimed task with its lease kept alive, then settle it."""
        started = time.perf_counter()
        if self._heartbeat is not None:
            self._heartbeat.watch(reservation)
        try:
            outcome = self.gator.process(reservation)
        finally:
            if self._heartbeat is not None:
                self._heartbeat.clear()
        task_id = outcome.task.task_id if outcome.task is not None else reservation.task_id
        log.debug(
            "task %s: %s",
            task_id,
            outcome.action,
            extra={
                "task_id": task_id,
                "queue": self.to_consume,
                "duration": time.perf_counter() - started,
                "attempt": reservation.attempts,
                "action": outcome.action,
            },
        )
        return outcome

    def check_and_run_task(self) -> bool:
        """Claim and run at most one task; ``True`` if one was run."""
        reservation = self.claim()
        if reservation is None:
            return False
        outcome = self.execute(reservation)
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
        self.starting()
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
            if self._heartbeat is not None:
                self._heartbeat.close()
                self._heartbeat = Heartbeat(self.gator.broker, self.to_consume, self.lease)
            self.stopping()

    def _pause_after_error(self, exc: AlligatorError, errors: int) -> None:
        delay = min(MAX_ERROR_BACKOFF, 0.1 * 2 ** (errors - 1))
        level = logging.WARNING if isinstance(exc, BackendError) else logging.ERROR
        log.log(level, "%s: %s; retrying in %.1fs", self.ident(), exc, delay, exc_info=exc)
        self._stop.wait(delay)

    @contextlib.contextmanager
    def _signal_handlers(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.getsignal(sig) for sig in signals}

        def handle(signum: int, frame: FrameType | None) -> None:
            log.info("%s got signal %d; stopping after the current task", self.ident(), signum)
            # A second signal acts at once.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self.interrupt()

        for sig in signals:
            signal.signal(sig, handle)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
