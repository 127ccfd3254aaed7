"""The one exception tree of Alligator.

Every error raised by the library derives from :class:`AlligatorError`; where a
builtin carries the same meaning it is inherited too, so ``except ValueError``
keeps working for configuration mistakes. Driver errors (``redis``,
``sqlite3``, ``greenstalk``) are translated into :class:`BackendError` at the
backend boundary and chained with ``from``, by one context manager,
:func:`translated`, that every built-in backend's driver module uses (and a
third-party backend may use too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TypeAlias, TypeVar

__all__ = [
    "AlligatorError",
    "AlligatorException",
    "BackendConnectionError",
    "BackendError",
    "CodecError",
    "ConfigurationError",
    "DecodeError",
    "DeliveryLimitError",
    "DisallowedModuleError",
    "DuplicateTaskError",
    "EncodeError",
    "InvalidTaskError",
    "LeaseLostError",
    "MissingDriverError",
    "MultipleDelayError",
    "MultipleDelaysError",
    "NoResultError",
    "NotImportableError",
    "OutcomeUnknownError",
    "PayloadTooLarge",
    "ResultTimeout",
    "SignatureError",
    "TaskExitError",
    "TaskFailed",
    "TaskImportError",
    "TaskInProgressError",
    "TaskNotFoundError",
    "TaskTimeoutError",
    "UnknownBackendError",
    "UnknownCallableError",
    "UnknownCodecError",
    "UnknownModuleError",
    "translated",
]


class AlligatorError(Exception):
    """Root of every error Alligator raises."""


#: Alligator 1.0 name of the root error.
AlligatorException = AlligatorError


class ConfigurationError(AlligatorError, ValueError):
    """The Gator, Worker or backend was set up with values that cannot work."""


class UnknownBackendError(ConfigurationError):
    """A DSN names a scheme no installed backend handles."""


class MissingDriverError(ConfigurationError, ImportError):
    """The backend exists but its optional driver is not installed."""


class MultipleDelaysError(ConfigurationError):
    """Both ``delay_by`` and ``delay_until`` were given."""


#: Alligator 1.0 spelling.
MultipleDelayError = MultipleDelaysError


class InvalidTaskError(AlligatorError, ValueError):
    """A task cannot be enqueued as given (bad options, non-importable callable)."""


class NotImportableError(InvalidTaskError):
    """A callable a worker could never import (lambda, nested function, method)."""


class PayloadTooLarge(InvalidTaskError):
    """The encoded task is larger than the configured or the backend's limit."""


class CodecError(AlligatorError):
    """Family of encoding and decoding failures."""


class EncodeError(CodecError, TypeError):
    """Arguments the codec cannot encode; raised at enqueue, never in a worker."""


class DecodeError(CodecError, ValueError):
    """A payload that cannot be decoded; the raw bytes are kept on ``data``."""

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.data = data


class SignatureError(DecodeError):
    """A payload's HMAC signature is missing, wrong, or made with an unknown key.

    Raised before the payload is decoded, so nothing it names is imported.
    """


class UnknownCodecError(CodecError, ConfigurationError):
    """A codec name that is not registered."""


class TaskImportError(AlligatorError, ImportError):
    """A worker could not import the callable a payload names."""


class UnknownModuleError(TaskImportError):
    """The payload's module cannot be imported (1.0 name kept)."""


class UnknownCallableError(TaskImportError):
    """The module has no such attribute, or it is not callable (1.0 name kept)."""


class DisallowedModuleError(TaskImportError):
    """The payload names a module outside ``allowed_modules``."""


class TaskNotFoundError(AlligatorError, LookupError):
    """No task with that id is in the state the operation needs (e.g. buried)."""


class TaskInProgressError(AlligatorError):
    """A push named the id of a task a worker is running (its lease is held).

    Pushing an id the queue holds replaces a waiting, delayed or buried task;
    a task that is running is never replaced, so it cannot run twice at once.
    The push changed nothing (for ``push_many``: none of its tasks was stored).

    Attributes:
        task_id: The id that is in progress.
        queue_name: The queue it is in.
    """

    def __init__(self, task_id: str, queue_name: str = "") -> None:
        where = f" in queue {queue_name!r}" if queue_name else ""
        super().__init__(
            f"task {task_id!r}{where} is running (a worker holds its lease): "
            "it cannot be replaced until it is acked, released, buried or its lease expires"
        )
        self.task_id = task_id
        self.queue_name = queue_name


class NoResultError(AlligatorError, AttributeError):
    """A task's ``result`` was read before the task ran successfully in this process."""


class TaskTimeoutError(AlligatorError, TimeoutError):
    """A task ran past its time limit and was stopped; it counts as the task's failure."""


class TaskExitError(AlligatorError):
    """Task code raised ``SystemExit``, ``KeyboardInterrupt`` or another ``BaseException``.

    Not a signal to the worker: the task's own failure (retried or buried),
    with what it raised as the ``__cause__``.
    """


class DeliveryLimitError(AlligatorError):
    """A task was delivered again and again without settling: its worker kept dying."""


class DuplicateTaskError(AlligatorError):
    """An enqueue named a unique key that a queued task already holds (``on_duplicate="raise"``).

    Nothing was stored. The task holding the key is waiting (or, with
    ``unique_running=True``, running).

    Attributes:
        unique_key: The key.
        task_id: The id of the task that holds it.
        queue_name: The queue both are in.
    """

    def __init__(self, unique_key: str, task_id: str, queue_name: str = "") -> None:
        where = f" in queue {queue_name!r}" if queue_name else ""
        super().__init__(
            f"unique key {unique_key!r} is held by task {task_id!r}{where}: nothing was enqueued"
        )
        self.unique_key = unique_key
        self.task_id = task_id
        self.queue_name = queue_name


class TaskFailed(AlligatorError):
    """A task failed for good (or never ran: a dependency failed, it was canceled).

    Raised by ``wait()``, in the producer, from the outcome a worker stored:
    the remote exception is not re-created (its class may not even be
    importable here), only described.

    Attributes:
        task_id: The task.
        error_type: The remote exception's type name (``"DependencyFailed"``
            or ``"Canceled"`` when the task never ran).
        message: Its message.
        remote_traceback: The remote traceback text ("" when it never ran).
    """

    def __init__(
        self,
        message: str,
        *,
        task_id: str = "",
        error_type: str = "",
        error: str = "",
        remote_traceback: str = "",
    ) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.error_type = error_type
        self.message = error
        self.remote_traceback = remote_traceback

    @classmethod
    def remote(
        cls, task_id: str, error_type: str, message: str, traceback: str, *, canceled: bool
    ) -> TaskFailed:
        """The error for a stored failed (or canceled) outcome."""
        what = "was canceled" if canceled else f"failed: {error_type}: {message}"
        return cls(
            f"task {task_id} {what}",
            task_id=task_id,
            error_type=error_type,
            error=message,
            remote_traceback=traceback,
        )


class ResultTimeout(AlligatorError, TimeoutError):
    """``wait()`` gave up before the task's outcome was stored."""


class BackendError(AlligatorError):
    """A backend operation failed; the driver's exception is the ``__cause__``."""


class BackendConnectionError(BackendError, ConnectionError):
    """The backend server cannot be reached or the connection was lost."""


class OutcomeUnknownError(BackendConnectionError):
    """The connection failed after the request was sent: it may or may not have run.

    Raised instead of sending the request again when running it twice could
    change the outcome (a push, a reserve, an ack...). Nothing is lost either
    way: a task that was pushed is in the queue, a lease that was taken
    expires, a settlement that did not happen is retried by the worker.
    """


class LeaseLostError(BackendError):
    """An ack, release or renewal used a lease that expired or was taken over."""


#: What a driver exception becomes: one of our classes, or a function of the
#: driver's exception that picks one (for drivers such as :mod:`sqlite3`, whose
#: classes do not carry the distinction the user needs).
Family: TypeAlias = type[AlligatorError] | Callable[[Exception], type[AlligatorError]]

_E = TypeVar("_E", bound=Exception)


class Translation:
    """The context manager :func:`translated` returns; see there.

    It keeps no state between uses, so one instance may be built once and
    entered any number of times, from any thread (the hot paths of the
    drivers do, to spare an allocation per call).
    """

    __slots__ = ("_errors", "_prefix")

    def __init__(self, errors: Mapping[type[_E], Family], prefix: str) -> None:
        self._errors: tuple[tuple[type[Exception], Family], ...] = tuple(errors.items())
        self._prefix = prefix

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Ours pass unchanged (a ConfigurationError is also a ValueError, a
        # BackendConnectionError an OSError), and so do KeyboardInterrupt and
        # the like: only a driver's Exception is translated.
        if exc is None or isinstance(exc, AlligatorError) or not isinstance(exc, Exception):
            return
        for source, family in self._errors:
            if isinstance(exc, source):
                ours = family if isinstance(family, type) else family(exc)
                raise ours(f"{self._prefix}: {type(exc).__name__}: {exc}") from exc


def translated(errors: Mapping[type[_E], Family], prefix: str) -> Translation:
    """Re-raise a driver's exceptions as Alligator's, chained with ``from``.

    The one way a backend turns ``redis.*``, ``sqlite3.*``, ``greenstalk.*``
    or socket errors into this tree, modelled on httpcore's
    ``map_exceptions``: the block's exception is looked up in ``errors``, in
    order, by ``isinstance``, and the first match decides. An exception that
    matches nothing propagates unchanged (a bug should look like one), and so
    does any :class:`AlligatorError` raised inside the block.

    Example::

        ERRORS = {redis.ConnectionError: BackendConnectionError, redis.RedisError: BackendError}
        with translated(ERRORS, "redis: ping failed"):
            client.ping()

    Args:
        errors: Driver exception classes to our classes (or to a function of
            the exception that returns one). Put subclasses before their bases.
        prefix: Starts the message, e.g. the backend and the action; the
            driver's class name and message follow.

    Returns:
        A context manager that keeps no state: build it once and enter it any
        number of times, from any thread (the drivers' hot paths do).

    Raises:
        AlligatorError: The mapped class, with the driver's exception as
            ``__cause__``.
    """
    return Translation(errors, prefix)
