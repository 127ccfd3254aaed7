"""The Alligator 1.0 methods that run a task in this process.

``gator.pop()``, ``gator.get(task_id)``, ``gator.execute(task)``,
``gator.cancel(task_id)`` and eager (``is_async=False``) tasks: handy in
tests, scripts and the REPL, and kept from 1.0. They live apart from the
producer's enqueue path in :mod:`alligator.gator`, which mixes them in; a
task taken off the queue here goes through the same consumer steps a Worker
uses (``gator.consumer()``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from alligator import arguments, codecs
from alligator import results as outcomes
from alligator._typing import R
from alligator.consumer import Consumer, count_retry
from alligator.exceptions import CodecError, TaskImportError
from alligator.payloads import Payloads
from alligator.protocols import ReliableClient
from alligator.results import Results
from alligator.retry import Backoff
from alligator.tasks import Task

__all__ = ["InProcess"]


class InProcess:
    """Running tasks here: mixed into :class:`~alligator.Gator`."""

    if TYPE_CHECKING:  # provided by the Gator
        queue_name: str
        broker: ReliableClient
        payloads: Payloads
        results: Results | None
        task_class: type[Task[Any]]
        backoff: Backoff
        clock: Callable[[], float]

        def consumer(self, queue_name: str | None = None) -> Consumer: ...

    def run_eagerly(self, task: Task[R]) -> Task[R]:
        """Run an ``is_async=False`` task here, as a worker would see it.

        The task is encoded as for a real enqueue (the same checks), and its
        arguments are decoded back from those bytes, so it runs with exactly
        what a worker would get (a ``set`` argument of an unannotated
        parameter is refused here too; an annotated one is restored), and a
        test that passes in eager mode passes in production.
        """
        data = self.payloads.encode(task, self.queue_name)
        envelope = codecs.decode(self.payloads.verified(data, self.queue_name, task.task_id))
        if task.func is not None:
            task.func_args, task.func_kwargs = arguments.restore(
                task.func, envelope.args, envelope.kwargs
            )
        return self.execute(task)

    def execute(self, task: Task[R]) -> Task[R]:
        """Run ``task`` in this process, retrying as its ``retries`` allow.

        Returns the task, its :attr:`~alligator.Task.result` set, as in 1.0.
        A synchronous task is retried here at once and its last failure
        re-raised; an asynchronous one is pushed back to the queue with a
        backoff delay and returned with the status ``RETRYING`` (1.0 returned
        ``None`` there).
        """
        while True:
            try:
                return task.run()
            except Exception:
                if task.retries <= 0:
                    raise
                count_retry(task)
                if task.is_async:
                    task.delay_until = self.clock() + self.backoff.delay(task.attempts)
                    data = self.payloads.encode(task, self.queue_name)
                    self.broker.push(self.queue_name, task.task_id, data, task.delay_until)
                    return task

    def pop(self) -> Task[Any] | None:
        """Take the next due task, run it here, and return it (``None`` if none is due).

        The task comes back whatever happened to it: ``SUCCESS`` with its
        :attr:`~alligator.Task.result`, ``RETRYING`` when it failed and was
        released for a retry, ``FAILED`` when it was buried (a payload that
        could not be decoded comes back as a ``FAILED`` task with only its
        id). Nothing is raised for the task's own failure: like a worker,
        ``pop`` settles it.
        """
        consumer = self.consumer()
        reservation = consumer.reserve()
        if reservation is None:
            return None
        ran = consumer.process(reservation).task
        if ran is not None:
            return cast(Task[Any], ran)
        junk: Task[Any] = self.task_class(task_id=reservation.task_id or None)
        junk.to_failed()
        return junk

    def get(self, task_id: str) -> Task[Any] | None:
        """Take the task ``task_id`` off the queue, run it here and return it (``None``: absent)."""
        data = self.broker.get(self.queue_name, task_id)
        if data is None:
            return None
        task = self._decode(data, task_id)
        task.task_id = task_id
        return self.execute(task)

    def cancel(self, task_id: str) -> Task[Any] | None:
        """Remove a waiting task; returns it marked CANCELED, or ``None`` if absent.

        With results kept by the queue's backend, its canceled outcome is
        stored and the tasks that depend on it are buried, in the same step.
        """
        results = self.results
        if results is not None and results.queue is not None:
            why = f"dependency {task_id} was canceled"
            found = results.queue.cancel(
                self.queue_name, task_id, result=outcomes.canceled(), ttl=results.ttl,
                dependents_reason=why,
            )  # fmt: skip
            if found is None:
                return None
            data, dependents = found
            results.keep_dependents(dependents, why)
        else:
            got = self.broker.get(self.queue_name, task_id)
            if got is None:
                return None
            data = got
        try:
            task = self._decode(data, task_id)
        except (CodecError, TaskImportError):
            task = self.task_class(task_id=task_id)
        task.task_id = task_id
        task.to_canceled()
        return task

    def _decode(self, data: bytes, task_id: str) -> Task[Any]:
        # Decoded by this Gator's task_class, a subclass of Task.
        return cast(Task[Any], self.payloads.decode(data, self.queue_name, task_id))
