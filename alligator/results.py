"""What became of a task: the outcome record a result store keeps, and reading it back.

A worker writes one :class:`Result` per task that finished for good: its
return value on success, or the remote error (type name, message, traceback)
when it failed, was buried undecodable, lost a dependency, or was canceled.
A store keeps the record's bytes by queue and task id for ``result_ttl``
seconds. The record is msgpack, whatever codec the tasks use, so a producer
on another codec can read it, and versioned like the task envelope.

Reading it back, :func:`value_of` turns a success into the value (converted
into the task function's declared return type when the reader knows the
function, so ``wait()`` on a ``Task[date]`` gives a ``date``) and a failure
into :class:`~alligator.exceptions.TaskFailed`.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any, Final, cast

import msgspec

from alligator.arguments import returns
from alligator.backends import backend_class_for
from alligator.capabilities import (
    Capabilities,
    capabilities_of,
    result_store_view,
    results_view,
)
from alligator.constants import Status
from alligator.exceptions import (
    ConfigurationError,
    DecodeError,
    EncodeError,
    ResultTimeout,
    TaskFailed,
    TaskNotFoundError,
)
from alligator.protocols import ReliableClient, ResultClient, ResultStore

__all__ = [
    "RESULT_VERSION",
    "Result",
    "Results",
    "canceled",
    "connect",
    "decode",
    "dependency_failed",
    "encode",
    "failure",
    "success",
    "value_of",
]

#: Version of the result record written by this release.
RESULT_VERSION: Final = 1


class Result(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    """One task's outcome.

    Attributes:
        version: :data:`RESULT_VERSION`.
        status: ``SUCCESS``, ``FAILED`` or ``CANCELED`` (1.0's integers).
        value: The function's return value (on success).
        error_type: The remote exception's type name (on failure).
        message: Its message, or why the task never ran.
        traceback: The remote traceback text, when there was one.
        finished_at: Epoch seconds when the outcome was written.
    """

    version: int
    status: int
    value: Any = None
    error_type: str = ""
    message: str = ""
    traceback: str = ""
    finished_at: float = 0.0


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(Result)


def encode(result: Result) -> bytes:
    """The record's bytes.

    Raises:
        EncodeError: the value cannot be carried (the task is then buried
            with that reason and the failure is recorded instead).
    """
    try:
        return _ENCODER.encode(result)
    except (TypeError, ValueError, OverflowError) as exc:
        raise EncodeError(f"the task's result cannot be stored: {exc}") from exc


def decode(data: bytes) -> Result:
    """A record from its bytes.

    Raises:
        DecodeError: not a result record of a version this release reads.
    """
    try:
        result = _DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"not a result record: {exc}", data) from exc
    if result.version != RESULT_VERSION:
        raise DecodeError(f"unsupported result record version {result.version}", data)
    return result


def success(value: Any) -> bytes:
    """The record of a task that returned ``value``.

    Raises:
        EncodeError: ``value`` cannot be stored.
    """
    return encode(Result(RESULT_VERSION, Status.SUCCESS, value, finished_at=time.time()))


def failure(error: BaseException) -> bytes:
    """The record of a task that failed for good with ``error``."""
    text = "".join(traceback.format_exception(error)).rstrip()
    return encode(
        Result(
            RESULT_VERSION,
            Status.FAILED,
            error_type=type(error).__name__,
            message=str(error),
            traceback=text,
            finished_at=time.time(),
        )
    )


def dependency_failed(reason: str) -> bytes:
    """The record of a task that never ran because a dependency failed or was canceled."""
    return encode(
        Result(
            RESULT_VERSION,
            Status.FAILED,
            error_type="DependencyFailed",
            message=reason,
            finished_at=time.time(),
        )
    )


def canceled() -> bytes:
    """The record of a task canceled before it ran."""
    return encode(
        Result(
            RESULT_VERSION,
            Status.CANCELED,
            error_type="Canceled",
            message="the task was canceled before it ran",
            finished_at=time.time(),
        )
    )


def value_of(task_id: str, data: bytes, func: Callable[..., Any] | None = None) -> Any:
    """The value a stored outcome holds, or its failure raised.

    Args:
        task_id: The task (for the error).
        data: The record's bytes.
        func: The task's function, when known: the value is converted into
            its declared return type.

    Raises:
        TaskFailed: the task failed for good, lost a dependency, or was
            canceled; ``error_type``, ``message`` and ``traceback`` carry the
            remote error.
    """
    result = decode(data)
    if result.status == Status.SUCCESS:
        return result.value if func is None else returns(func, result.value)
    raise TaskFailed.remote(
        task_id,
        result.error_type,
        result.message,
        result.traceback,
        canceled=result.status == Status.CANCELED,
    )


class Results:
    """Where one queue's outcomes are kept: written by its consumer, read by ``wait``/``status``.

    Args:
        store: Keeps the outcomes.
        queue: The queue's backend when it is that same store, as a
            :class:`~alligator.protocols.ResultClient` (outcomes are then
            written with the ack, atomically, and dependencies work);
            ``None`` when the store is another backend.
        queue_name: The queue.
        ttl: Seconds each outcome is kept.
        owns_store: The store is a client of its own (``results="<dsn>"``),
            closed by :meth:`close`.
    """

    def __init__(
        self,
        store: ResultStore,
        queue: ResultClient | None,
        queue_name: str,
        ttl: float,
        *,
        owns_store: bool = False,
    ) -> None:
        self.store = store
        self.queue = queue
        self.queue_name = queue_name
        self.ttl = ttl
        self.owns_store = owns_store

    def for_queue(self, queue_name: str) -> Results:
        """The same store, for another queue of the backend (the store stays this one's)."""
        return Results(self.store, self.queue, queue_name, self.ttl)

    def close(self) -> None:
        """Close a store of its own (the queue's backend is the Gator's to close)."""
        if self.owns_store:
            cast(Any, self.store).close()

    def keep(self, task_id: str, record: bytes) -> None:
        """Store an outcome written apart from any settlement."""
        self.store.store_result(self.queue_name, task_id, record, self.ttl)

    def keep_dependents(self, dependents: list[str], reason: str) -> None:
        """Store the outcome of each dependent a failure or a cancel buried."""
        if dependents:
            record = dependency_failed(reason)
            for task_id in dependents:
                self.keep(task_id, record)

    def status(self, task_id: str) -> Status | None:
        """Where the task stands, without waiting: its outcome, or its place in the queue."""
        data = self.store.fetch_result(self.queue_name, task_id)
        if data is not None:
            return Status(decode(data).status)
        if self.queue is None:
            return None
        state = self.queue.task_state(self.queue_name, task_id)
        if state is None:
            return None
        if state.attempts and state.state in ("ready", "delayed"):
            return Status.RETRYING  # it failed (or lost a worker) and waits for another try
        return _STATUS_OF[state.state]

    def wait(
        self, task_id: str, timeout: float | None, func: Callable[..., Any] | None = None
    ) -> Any:
        """The task's result once it is stored; see :meth:`alligator.Gator.wait`."""
        if timeout is not None and not timeout >= 0:
            raise ConfigurationError(f"timeout must be >= 0 seconds or None, got {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = _WAIT_SLICE if deadline is None else deadline - time.monotonic()
            data = self.store.fetch_result(
                self.queue_name, task_id, min(max(left, 0.0), _WAIT_SLICE)
            )
            if data is None:
                data = self._look_again(task_id)
            if data is not None:
                return value_of(task_id, data, func)
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout(
                    f"task {task_id} on {self.queue_name!r} has no outcome after {timeout:g} s"
                )

    def _look_again(self, task_id: str) -> bytes | None:
        """After a wait with no outcome: refuse to wait on nothing, else keep waiting.

        Raises:
            TaskNotFoundError: the queue does not hold the task and there is
                no outcome (never pushed here, or its outcome expired).
            TaskFailed: the task is buried and has no outcome (buried by an
                older worker, or a crash between a burial and the outcomes of
                its dependents): it will not run again.
        """
        if self.queue is None:
            return None  # a store apart from the queue cannot tell an unknown id
        state = self.queue.task_state(self.queue_name, task_id)
        if state is not None and state.state != "buried":
            return None
        # Buried or gone: its outcome may have landed since the fetch.
        data = self.store.fetch_result(self.queue_name, task_id)
        if data is not None:
            return data
        if state is None:
            raise TaskNotFoundError(
                f"no task {task_id!r} on {self.queue_name!r}, and no stored outcome: it was "
                "never pushed here, or its outcome expired (result_ttl)"
            )
        raise TaskFailed(
            f"task {task_id} was buried without an outcome",
            task_id=task_id,
            error_type="Buried",
            error="buried without an outcome (see alligator failed show)",
        )


#: How long one blocking fetch may wait before the task's state is looked at again.
_WAIT_SLICE: Final = 1.0

_STATUS_OF: Final[dict[str, Status]] = {
    "ready": Status.WAITING,
    "delayed": Status.DELAYED,
    "reserved": Status.RUNNING,
    "blocked": Status.BLOCKED,
    "buried": Status.FAILED,
}


def connect(
    results: bool | str,
    ttl: float,
    broker: ReliableClient,
    capabilities: Capabilities,
    queue_name: str,
) -> Results | None:
    """The ``Results`` a Gator asked for: ``True`` (its own backend), a DSN, or ``False``.

    Raises:
        ConfigurationError: a bad ``result_ttl``, a backend that cannot keep
            outcomes, or a DSN of one that cannot.
    """
    if results is False:
        return None
    if not (isinstance(ttl, int | float) and 0 < ttl < 1e9):
        raise ConfigurationError(f"result_ttl must be a number of seconds > 0, got {ttl!r}")
    if results is True:
        queue = results_view(broker, capabilities)
        if queue is None:
            raise ConfigurationError(
                f"{type(broker).__name__} cannot keep task outcomes itself; keep them in "
                "another backend: Gator(..., results='redis://...') (or sqlite://, postgresql://)"
            )
        return Results(queue, queue, queue_name, ttl)
    if not isinstance(results, str):
        raise ConfigurationError(f"results must be True, False or a DSN, got {results!r}")
    client = backend_class_for(results)(results)
    found = capabilities_of(client)
    store = result_store_view(client, found)
    if store is None:
        raise ConfigurationError(
            f"results={results!r}: {type(client).__name__} cannot keep task outcomes "
            "(beanstalkd cannot); name a redis://, sqlite://, postgresql:// or locmem:// store"
        )
    return Results(store, None, queue_name, ttl, owns_store=found.closes)
