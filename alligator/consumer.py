"""The consumer side of one queue: reserve, decode, and settle tasks.

A :class:`Consumer` is built from a Gator's settings (``gator.consumer()``)
and holds everything a worker needs to take a task off one queue and decide
its fate: the backend, the payload rules, the retry policy and the clock.
Each step returns a value and leaves the next decision to its caller: the
worker (or ``gator.pop()``) runs the task between :meth:`Consumer.decode`
and one of :meth:`Consumer.ack`, :meth:`Consumer.retry_or_bury` or
:meth:`Consumer.bury_undecodable`, and gets an :class:`Outcome` back. Nothing
here calls back into the caller.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import msgspec

from alligator import results as outcomes
from alligator.capabilities import Capabilities, limit_view
from alligator.constants import DEFAULT_MAX_DELIVERIES
from alligator.exceptions import (
    AlligatorError,
    ConfigurationError,
    DeliveryLimitError,
    EncodeError,
)
from alligator.limits import MAX_DEFER, limits_of, slots_for
from alligator.payloads import Payloads
from alligator.protocols import ReliableClient, Task
from alligator.records import Reservation
from alligator.results import Results
from alligator.retry import Backoff

__all__ = ["Action", "Consumer", "Outcome", "Settlement"]

log = logging.getLogger("alligator.worker")

#: How a task was settled: done, released for a later retry, kept aside, or
#: put back unstarted because it was over a limit.
Action = Literal["ack", "retry", "bury", "defer"]


class Outcome(NamedTuple):
    """What happened to one reserved task.

    Attributes:
        task: The decoded task, or ``None`` when the payload could not be decoded.
        result: The function's return value on success.
        error: The exception that failed the task or its decoding.
        action: ``"ack"`` (done), ``"retry"`` (released with a delay) or
            ``"bury"`` (kept aside with the reason).
        settled: ``False`` when the lease had been lost, so the backend refused
            the settlement and another worker may run the task again.
        record: A success's outcome record, to be stored with its ack
            (results on), else ``None``.
    """

    task: Task[Any] | None
    result: Any
    error: BaseException | None
    action: Action
    settled: bool
    record: bytes | None = None


class Settlement(NamedTuple):
    """How the ack of one successful task went, once it is known.

    Attributes:
        reservation: The task's reservation.
        acked: ``False`` when its lease had been lost before the ack, so
            another worker may run it again.
    """

    reservation: Reservation
    acked: bool


class Consumer:
    """Takes tasks off one queue and settles them.

    Args:
        broker: The backend.
        queue_name: The queue consumed.
        capabilities: What ``broker`` offers.
        payloads: Decodes payloads, and encodes a task released for a retry.
        backoff: Delay policy between retries.
        clock: Epoch seconds that retry delays count from.
        lease: Seconds a reserved task is held before another worker may take it.
        nap_time: Pause between polls of a backend that cannot wait for a
            task (an Alligator 1.0 client).
        max_deliveries: How many deliveries of a task may end without a
            settlement (its worker died: ``os._exit``, a segfault, the OOM
            killer, a kill -9; or its lease ran out) before the next one
            buries it instead of running it. ``0`` turns the cap off.
        results: Where the queue's outcomes are kept (``None``: nowhere).
    """

    def __init__(
        self,
        broker: ReliableClient,
        queue_name: str,
        *,
        capabilities: Capabilities,
        payloads: Payloads,
        backoff: Backoff,
        clock: Callable[[], float],
        lease: float,
        nap_time: float = 0.1,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        results: Results | None = None,
    ) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.capabilities = capabilities
        self.payloads = payloads
        self.backoff = backoff
        self.clock = clock
        self.lease = lease
        self.nap_time = nap_time
        self.max_deliveries = max_deliveries
        self.results = results
        self._limiter = limit_view(broker, capabilities)

    def __repr__(self) -> str:
        return f"<Consumer {type(self.broker).__name__} queue={self.queue_name!r}>"

    def reserve(self, timeout: float = 0.0) -> Reservation | None:
        """Lease the next due task, waiting up to ``timeout`` seconds for one.

        A 1.0 client cannot wait, so it is polled every ``nap_time``.
        """
        if self.capabilities.reliable or timeout <= 0:
            return self.broker.reserve(self.queue_name, self.lease, timeout)
        deadline = time.monotonic() + timeout
        while True:
            found = self.broker.reserve(self.queue_name, self.lease)
            remaining = deadline - time.monotonic()
            if found is not None or remaining <= 0:
                return found
            time.sleep(min(self.nap_time, remaining))

    def decode(self, reservation: Reservation) -> Task[Any]:
        """The task a reservation carries, under the id it was reserved by.

        Raises:
            DeliveryLimitError: it was delivered ``max_deliveries`` times
                before without a settlement (each time, its worker died or
                lost the lease): a task that kills its worker is buried
                rather than handed out forever.
            Exception: anything decoding raised (bad codec, signature,
                allow-list, missing callable); the caller buries the task
                with :meth:`bury_undecodable`.
        """
        task = self.payloads.decode(reservation.data, self.queue_name, reservation.task_id)
        if reservation.task_id:
            task.task_id = reservation.task_id
        # Deliveries before this one that no settlement accounts for: each
        # settled failure released the task with ``attempts`` one higher.
        # Deferrals (over a limit, put back unstarted) are settled deliveries too.
        lost = reservation.attempts - 1 - task.attempts - getattr(task, "deferrals", 0)
        if self.max_deliveries and lost >= self.max_deliveries:
            raise DeliveryLimitError(
                f"the worker died (or lost the lease) {lost} times running it: buried "
                f"instead of delivered again (max_deliveries={self.max_deliveries})"
            )
        return task

    def succeeded(self, reservation: Reservation, task: Task[Any], value: Any) -> Outcome:
        """The outcome of a task that returned ``value``, its ack still to come.

        With results on, the record to store with the ack is made here; a
        value that cannot be stored fails the task (buried with that reason,
        no retry: it would fail the same way).
        """
        if self.results is None:
            return Outcome(task, value, None, "ack", True)
        try:
            record = outcomes.success(value)
        except EncodeError as exc:
            return self._bury(_with_id(reservation, task), task, exc, _reason(exc))
        return Outcome(task, value, None, "ack", True, record)

    def ack(self, reservation: Reservation, record: bytes | None = None) -> bool:
        """Delete a task that ran, keeping its outcome ``record`` if there is one.

        Where the backend keeps the outcomes itself, the record is stored and
        the task's dependents released in the same atomic step as the ack.
        Returns ``False`` (and warns) if the lease was lost.
        """
        results = self.results
        if record is None or results is None:
            settled = self.broker.ack(self.queue_name, reservation)
        elif results.queue is not None:
            settled = results.queue.complete(
                self.queue_name, reservation, result=record, ttl=results.ttl
            )
        else:  # a store apart: the outcome first, so a lost ack never loses it
            results.keep(reservation.task_id, record)
            settled = self.broker.ack(self.queue_name, reservation)
        if not settled:
            log.warning("lease of task %s was lost before its ack", reservation.task_id)
        return settled

    def retry_or_bury(self, reservation: Reservation, task: Task[Any], error: Exception) -> Outcome:
        """Release a failed task for a retry after a backoff, or bury it when out of retries."""
        reservation = _with_id(reservation, task)
        if task.retries > 0:
            count_retry(task)
            delay = self.backoff.delay(task.attempts)
            task.delay_until = self.clock() + delay
            try:
                data = self.payloads.encode(task, self.queue_name)
            except AlligatorError as exc:
                error = exc
            else:
                settled = self.broker.release(self.queue_name, reservation, data, task.delay_until)
                log.info(
                    "task %s (%s) failed on attempt %d: %s: %s; retrying in %.2fs "
                    "(retries left: %d)",
                    task.task_id,
                    _function_name(task),
                    task.attempts,
                    type(error).__name__,
                    error,
                    delay,
                    task.retries,
                    extra={"task_id": task.task_id, "queue": self.queue_name, "delay": delay},
                )
                return Outcome(task, None, error, "retry", settled)
        task.to_failed()
        log.error("task %s failed for good: %s", task.task_id, error)
        return self._bury(reservation, task, error, _reason(error))

    def bury_undecodable(self, reservation: Reservation, error: Exception) -> Outcome:
        """Bury a payload that could not be decoded (or may not run again), with the reason."""
        if isinstance(error, DeliveryLimitError):
            reason = f"{type(error).__name__}: {error}"
        else:
            reason = f"cannot decode payload: {type(error).__name__}: {error}"
        log.error(
            "burying task %s: %s",
            reservation.task_id or "?",
            reason,
            extra={"task_id": reservation.task_id, "queue": self.queue_name},
        )
        return self._bury(reservation, None, error, reason)

    def _bury(
        self, reservation: Reservation, task: Task[Any] | None, error: Exception, reason: str
    ) -> Outcome:
        """Bury a task for good, with its failed outcome (and its dependents) where kept."""
        results = self.results
        task_id = reservation.task_id
        if results is None or not task_id:
            settled = self.broker.bury(self.queue_name, reservation, reason)
        elif results.queue is not None:
            why = f"dependency {task_id} failed: {type(error).__name__}: {error}"
            buried = results.queue.fail(
                self.queue_name,
                reservation,
                reason,
                result=outcomes.failure(error),
                ttl=results.ttl,
                dependents_reason=why,
            )
            settled = buried is not None
            results.keep_dependents(buried or [], why)
        else:
            settled = self.broker.bury(self.queue_name, reservation, reason)
            results.keep(task_id, outcomes.failure(error))
        return Outcome(task, None, error, "bury", settled)

    def admit(self, reservation: Reservation, task: Task[Any]) -> Outcome | None:
        """``None`` when the task may start now; else how it was put back (or buried).

        A task whose function declares limits (:mod:`alligator.limits`) is
        admitted by the backend under all of them at once, or released
        unstarted with a short delay, its ``deferrals`` (not its attempts)
        counted: no retry or delivery is spent. On a backend that cannot
        count limits, or when the call lacks the argument a limit is keyed
        by, it is buried with the reason.
        """
        func = getattr(task, "func", None)  # alligator.Task's; the protocol names none
        if func is None or not limits_of(func):
            return None
        try:
            slots = slots_for(func, task.func_args, task.func_kwargs)  # type: ignore[attr-defined]
            if self._limiter is None:
                raise ConfigurationError(
                    f"{_function_name(task)} declares limits, which this backend cannot count"
                )
        except AlligatorError as exc:
            return self._bury(_with_id(reservation, task), task, exc, _reason(exc))
        wait = self._limiter.acquire(self.queue_name, reservation, slots)
        if wait <= 0:
            return None
        task.deferrals = getattr(task, "deferrals", 0) + 1  # type: ignore[attr-defined]
        # Jitter: tasks told the same hint do not all come back at once.
        task.delay_until = self.clock() + min(wait, MAX_DEFER) * random.uniform(1.0, 1.5)
        data = self.payloads.encode(task, self.queue_name)
        settled = self.broker.release(self.queue_name, reservation, data, task.delay_until)
        return Outcome(task, None, None, "defer", settled)

    def process(self, reservation: Reservation) -> Outcome:
        """Decode, run and settle one reserved task here (``gator.pop()``'s path)."""
        try:
            task = self.decode(reservation)
        except Exception as exc:
            return self.bury_undecodable(reservation, exc)
        deferred = self.admit(reservation, task)
        if deferred is not None:
            return deferred
        try:
            result = task.run().result
        except Exception as exc:
            return self.retry_or_bury(reservation, task, exc)
        outcome = self.succeeded(reservation, task, result)
        if outcome.action != "ack":
            return outcome
        settled = self.ack(_with_id(reservation, task), outcome.record)
        return outcome._replace(settled=settled)


def count_retry(task: Task[Any]) -> None:
    """Spend one retry of ``task`` on a new attempt."""
    task.retries -= 1
    task.attempts += 1
    task.to_retrying()


def _reason(error: BaseException) -> str:
    """A burial reason: the error's whole traceback."""
    return "".join(traceback.format_exception(error)).rstrip()


def _function_name(task: Task[Any]) -> str:
    """``module.qualname`` of the task's function, for log lines (``?`` if it names none)."""
    func = getattr(task, "func", None)  # alligator.Task's; the Task protocol has no name
    if func is None:
        return "?"
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}"


def _with_id(reservation: Reservation, task: Task[Any]) -> Reservation:
    # A 1.0 client's pop gives no id: settle under the payload's own.
    if reservation.task_id:
        return reservation
    return msgspec.structs.replace(reservation, task_id=task.task_id)
