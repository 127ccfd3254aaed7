"""The one exception tree of Alligator.

Every error raised by the library derives from :class:`AlligatorError`; where a
builtin carries the same meaning it is inherited too, so ``except ValueError``
keeps working for configuration mistakes. Driver errors (``redis``,
``sqlite3``, ``greenstalk``) are translated into :class:`BackendError` at the
backend boundary and chained with ``from``.
"""

from __future__ import annotations

__all__ = [
    "AlligatorError",
    "AlligatorException",
    "BackendConnectionError",
    "BackendError",
    "CodecError",
    "ConfigurationError",
    "DecodeError",
    "DisallowedModuleError",
    "EncodeError",
    "InvalidTaskError",
    "LeaseLostError",
    "MissingDriverError",
    "MultipleDelayError",
    "MultipleDelaysError",
    "NotImportableError",
    "PayloadTooLarge",
    "SignatureError",
    "TaskFailed",
    "TaskImportError",
    "TaskNotFoundError",
    "UnknownBackendError",
    "UnknownCallableError",
    "UnknownCodecError",
    "UnknownModuleError",
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


class TaskFailed(AlligatorError):
    """A task raised; the user's exception is the ``__cause__``."""


class BackendError(AlligatorError):
    """A backend operation failed; the driver's exception is the ``__cause__``."""


class BackendConnectionError(BackendError, ConnectionError):
    """The backend server cannot be reached or the connection was lost."""


class LeaseLostError(BackendError):
    """An ack, release or renewal used a lease that expired or was taken over."""
