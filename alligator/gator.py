"""The producer side: ``Gator`` builds tasks and hands them to a backend.

It also holds the steps a consumer needs (reserve, decode, settle), so that
``gator.pop()`` and the ``Worker`` apply the same retry and bury rules.
"""

from __future__ import annotations

import inspect
import logging
import time
import traceback
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Self

import msgspec

from alligator import codecs, signing
from alligator._typing import P, R
from alligator.backends import backend_class_for
from alligator.backends.adapter import as_reliable
from alligator.constants import ALL, DEFAULT_LEASE, DEFAULT_MAX_PAYLOAD
from alligator.exceptions import (
    AlligatorError,
    CodecError,
    ConfigurationError,
    PayloadTooLarge,
    TaskImportError,
)
from alligator.options import Batch, Options
from alligator.protocols import Client, Codec
from alligator.records import Reservation
from alligator.retry import Backoff
from alligator.tasks import DelayUntil, Task

if TYPE_CHECKING:
    from alligator.failed import FailedTasks

__all__ = ["DEFAULT_DSN", "Gator", "Outcome"]

log = logging.getLogger("alligator.gator")

#: The embedded default: a SQLite file in the working directory.
DEFAULT_DSN = "sqlite:///alligator.db"

Action = Literal["ack", "retry", "bury"]


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
    """

    task: Task[Any] | None
    result: Any
    error: BaseException | None
    action: Action
    settled: bool


class Gator:
    """Enqueues tasks on one queue of one backend.

    Args:
        conn_string: A DSN whose scheme picks the backend
            (``sqlite:///path.db``, ``locmem://``, ``redis://...``,
            ``beanstalk://host:port``).
        queue_name: The queue tasks go to.
        task_class: Class used for new tasks and to decode payloads.
        backend_class: Overrides the class the scheme would pick; called with
            ``conn_string``.
        codec: Codec name (``"json"``, ``"msgpack"``, ``"json+bz2"``, ...) or object.
        lease: Seconds a worker holds a task before another may take it.
        backoff: Delay policy between retries.
        max_payload: Largest encoded task accepted at enqueue, in bytes.
        allowed_modules: When given, a decoded task (function and hooks) may
            only name callables from these modules and their submodules; any
            other payload is buried before anything is imported. ``None`` (the
            default) lets a payload name any importable callable.
        signing_key: Signs every payload this Gator writes (HMAC-SHA256) and
            makes it refuse, by burying, any payload it reads that is unsigned
            or not signed by a key it knows. See :mod:`alligator.signing`.
        verify_keys: Extra keys accepted when verifying, for key rotation.
        clock: Source of the epoch seconds retry delays count from; give the
            backend's injected clock in tests.
    """

    def __init__(
        self,
        conn_string: str = DEFAULT_DSN,
        *,
        queue_name: str = ALL,
        task_class: type[Task[Any]] = Task,
        backend_class: Callable[[str], Client] | None = None,
        codec: str | Codec = "json",
        lease: float = DEFAULT_LEASE,
        backoff: Backoff | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        allowed_modules: Iterable[str] | None = None,
        signing_key: bytes | str | None = None,
        verify_keys: Iterable[bytes | str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(queue_name, str) or not queue_name:
            raise ConfigurationError(f"queue_name must be a non-empty str, got {queue_name!r}")
        if not lease > 0:
            raise ConfigurationError(f"lease must be > 0 seconds, got {lease!r}")
        if max_payload <= 0:
            raise ConfigurationError(f"max_payload must be > 0 bytes, got {max_payload!r}")
        self.conn_string = conn_string
        self.queue_name = queue_name
        self.task_class = task_class
        self.backend_class = backend_class
        self.codec = codecs.get_codec(codec)
        self.lease = float(lease)
        self.backoff = backoff or Backoff()
        self.max_payload = max_payload
        self.allowed_modules = _check_allow_list(task_class, allowed_modules)
        verify_keys = tuple(verify_keys)
        if verify_keys and signing_key is None:
            raise ConfigurationError("verify_keys needs a signing_key as well")
        self.signer = signing.Signer(signing_key, verify_keys) if signing_key is not None else None
        self.clock = clock
        self.backend: Client = self.build_backend(conn_string)
        self.broker = as_reliable(self.backend)
        # Only beanstalkd orders by priority; other backends ignore it.
        self._push_takes_priority = "priority" in inspect.signature(self.broker.push).parameters
        validate = getattr(self.backend, "validate_queue_name", None)
        if callable(validate):
            validate(queue_name)

    def __repr__(self) -> str:
        return f"<Gator {self.conn_string!r} queue={self.queue_name!r} codec={self.codec.name}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the backend's connections; the Gator may not be used afterwards."""
        self.broker.close()

    def build_backend(self, conn_string: str) -> Client:
        """Instantiate the backend client for ``conn_string`` (1.0 hook)."""
        backend_class = self.backend_class or backend_class_for(conn_string)
        client: Client = backend_class(conn_string)
        return client

    # -- producer API -------------------------------------------------------

    def len(self) -> int:
        """Tasks waiting in this queue (ready and delayed)."""
        return self.broker.len(self.queue_name)

    def serialize(self, task: Task[Any]) -> bytes:
        """Encode ``task`` with this Gator's codec, enforcing ``max_payload``."""
        if task.codec is None:
            task.codec = self.codec
        data = task.serialize()
        if self.signer is not None:
            data = self.signer.sign(data)
        if len(data) > self.max_payload:
            raise PayloadTooLarge(
                f"task {task.task_id} encodes to {len(data):,} bytes, over the "
                f"{self.max_payload:,}-byte limit; pass smaller arguments (e.g. a key "
                "to data stored elsewhere), use a compressing codec such as "
                "'msgpack+zlib', or raise Gator(max_payload=...)"
            )
        return data

    def push(
        self, task: Task[R], func: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> Task[R]:
        """Enqueue ``task`` calling ``func(*args, **kwargs)``.

        With ``is_async=False`` the task runs here and now (hooks and retries
        included) instead, which is handy in tests.
        """
        task.to_call(func, *args, **kwargs)
        if not task.is_async:
            self.serialize(task)  # the same checks as a real enqueue
            self.execute(task)
            return task
        data = self.serialize(task)
        if task.priority is not None and self._push_takes_priority:
            push: Any = self.broker.push
            task.task_id = push(
                self.queue_name, task.task_id, data, task.delay_until, priority=task.priority
            )
        else:
            task.task_id = self.broker.push(self.queue_name, task.task_id, data, task.delay_until)
        return task

    def task(self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Task[R]:
        """Enqueue ``func(*args, **kwargs)`` with default options."""
        task: Task[R] = self.task_class()
        return self.push(task, func, *args, **kwargs)

    def options(
        self,
        *,
        task_id: str | None = None,
        retries: int = 0,
        is_async: bool = True,
        on_start: Callable[[Task[R]], object] | None = None,
        on_success: Callable[[Task[R], R], object] | None = None,
        on_error: Callable[[Task[R], Exception], object] | None = None,
        depends_on: Iterable[str] | None = None,
        delay_until: DelayUntil | None = None,
        delay_by: float | None = None,
        priority: int | None = None,
    ) -> Options[R]:
        """A context manager whose ``task(...)`` applies these options."""
        return Options(
            self,
            task_id=task_id,
            retries=retries,
            is_async=is_async,
            on_start=on_start,
            on_success=on_success,
            on_error=on_error,
            depends_on=depends_on,
            delay_until=delay_until,
            delay_by=delay_by,
            priority=priority,
        )

    def batch(self) -> Batch:
        """A context manager sending every task created in it in one round trip."""
        return Batch(self)

    def execute(self, task: Task[R]) -> R | None:
        """Run ``task`` in this process, retrying as its ``retries`` allow.

        A synchronous task is retried here at once; an asynchronous one is
        pushed back to the queue with a backoff delay, and ``None`` returned.
        The last failure is re-raised.
        """
        while True:
            try:
                return task.run()
            except Exception:
                if task.retries <= 0:
                    raise
                self._count_retry(task)
                if task.is_async:
                    task.delay_until = self.clock() + self.backoff.delay(task.attempts)
                    data = self.serialize(task)
                    self.broker.push(self.queue_name, task.task_id, data, task.delay_until)
                    return None

    def pop(self) -> Any:
        """Take the next due task, run it here and return its result (``None`` if idle)."""
        reservation = self.reserve()
        if reservation is None:
            return None
        outcome = self.process(reservation)
        return outcome.result

    def get(self, task_id: str) -> Any:
        """Take the task ``task_id`` off the queue and run it here; return its result."""
        data = self.broker.get(self.queue_name, task_id)
        if data is None:
            return None
        task = self.decode_payload(data)
        task.task_id = task_id
        return self.execute(task)

    def cancel(self, task_id: str) -> Task[Any] | None:
        """Remove a waiting task; returns it marked CANCELED, or ``None`` if absent."""
        data = self.broker.get(self.queue_name, task_id)
        if data is None:
            return None
        try:
            task = self.decode_payload(data)
        except (CodecError, TaskImportError):
            task = self.task_class(task_id=task_id)
        task.task_id = task_id
        task.to_canceled()
        return task

    # -- consumer steps (shared by pop() and Worker) --------------------------

    def reserve(self, lease: float | None = None, timeout: float = 0.0) -> Reservation | None:
        """Lease the next due task of this queue, waiting up to ``timeout`` seconds."""
        return self.broker.reserve(self.queue_name, lease or self.lease, timeout)

    def verified(self, data: bytes) -> bytes:
        """The payload inside ``data`` once its signature checks out.

        Without a ``signing_key`` a signature is stripped unchecked (so
        producers can start signing before workers hold the key).

        Raises:
            SignatureError: this Gator has a key and ``data`` is unsigned,
                altered, or signed with a key it does not know.
        """
        if self.signer is not None:
            return self.signer.verify(data)
        return signing.unwrap(data)

    def decode_payload(self, data: bytes) -> Task[Any]:
        """A task from a payload: size, signature, ``allowed_modules``, then imports."""
        if len(data) > self.max_payload:
            raise PayloadTooLarge(
                f"payload is {len(data):,} bytes, over this Gator's {self.max_payload:,}-byte "
                "limit; it was not written through a Gator with the same max_payload"
            )
        data = self.verified(data)
        if self.allowed_modules is not None:
            return self.task_class.from_envelope(codecs.decode(data), self.allowed_modules)
        return self.task_class.deserialize(data)

    @property
    def failed(self) -> FailedTasks:
        """Buried tasks of this queue: list, show, requeue, purge."""
        from alligator.failed import FailedTasks

        return FailedTasks(self)

    def process(
        self,
        reservation: Reservation,
        on_failure: Callable[[Reservation, Task[Any], Exception], Outcome] | None = None,
        *,
        ack: Callable[[Reservation], bool] | None = None,
    ) -> Outcome:
        """Decode, run and settle one reserved task.

        Args:
            reservation: The leased task.
            on_failure: Settles a task whose function raised; by default
                :meth:`settle_failure` (a Worker passes its ``retry`` step).
            ack: Settles a task that ran; by default the backend's ``ack``
                at once. A prefetching Worker passes one that defers the ack
                to its next claim (and reports a lost lease itself).
        """
        try:
            task = self.decode_payload(reservation.data)
        except Exception as exc:
            reason = f"cannot decode payload: {type(exc).__name__}: {exc}"
            log.error(
                "burying task %s: %s",
                reservation.task_id or "?",
                reason,
                extra={"task_id": reservation.task_id, "queue": self.queue_name},
            )
            settled = self.broker.bury(self.queue_name, reservation, reason)
            return Outcome(None, None, exc, "bury", settled)
        if reservation.task_id:
            task.task_id = reservation.task_id
        else:
            # A 1.0 client's pop gives no id: settle under the payload's own.
            reservation = msgspec.structs.replace(reservation, task_id=task.task_id)
        try:
            result = task.run()
        except Exception as exc:
            return (on_failure or self.settle_failure)(reservation, task, exc)
        if ack is not None:
            return Outcome(task, result, None, "ack", ack(reservation))
        settled = self.broker.ack(self.queue_name, reservation)
        if not settled:
            log.warning("lease of task %s was lost before its ack", task.task_id)
        return Outcome(task, result, None, "ack", settled)

    def settle_failure(
        self, reservation: Reservation, task: Task[Any], error: Exception
    ) -> Outcome:
        """Release a failed task for a retry, or bury it when out of retries."""
        if task.retries > 0:
            self._count_retry(task)
            task.delay_until = self.clock() + self.backoff.delay(task.attempts)
            try:
                data = self.serialize(task)
            except AlligatorError as exc:
                error = exc
            else:
                settled = self.broker.release(self.queue_name, reservation, data, task.delay_until)
                return Outcome(task, None, error, "retry", settled)
        task.to_failed()
        reason = "".join(traceback.format_exception(error)).rstrip()
        log.error("task %s failed for good: %s", task.task_id, error)
        settled = self.broker.bury(self.queue_name, reservation, reason)
        return Outcome(task, None, error, "bury", settled)

    @staticmethod
    def _count_retry(task: Task[Any]) -> None:
        task.retries -= 1
        task.attempts += 1
        task.to_retrying()


def _check_allow_list(
    task_class: type[Task[Any]], allowed_modules: Iterable[str] | None
) -> tuple[str, ...] | None:
    """The allow-list as a tuple, refused when ``task_class`` could bypass it.

    The list is enforced by ``Task.from_envelope``; a task class that
    overrides ``deserialize`` imports by its own rules, so promising an
    allow-list with it would be a lie.
    """
    if allowed_modules is None:
        return None
    if isinstance(allowed_modules, str):
        raise ConfigurationError("allowed_modules is a list of module names, not one str")
    allowed = tuple(allowed_modules)
    if any(not isinstance(m, str) or not m or m.startswith(".") for m in allowed):
        raise ConfigurationError(f"allowed_modules must be module names, got {allowed!r}")
    overridden = getattr(task_class.deserialize, "__func__", None) is not getattr(
        Task.deserialize, "__func__", None
    )
    if overridden or not hasattr(task_class, "from_envelope"):
        raise ConfigurationError(
            f"{task_class.__name__} overrides deserialize, so allowed_modules cannot be "
            "enforced on it; decode through Task.from_envelope instead"
        )
    return allowed
