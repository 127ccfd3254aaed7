"""Alligator: a typed, protocol-first offline task queue.

Any importable function becomes a task: a :class:`Gator` puts it on a queue,
a :class:`Worker` takes it off and runs it, in another process or on another
machine.
"""

from alligator import codecs, errors, events
from alligator.async_gator import AsyncGator
from alligator.claiming import Claim
from alligator.constants import (
    ALL,
    CANCELED,
    DELAYED,
    FAILED,
    RETRYING,
    SUCCESS,
    WAITING,
    Status,
)
from alligator.consumer import Consumer, Outcome
from alligator.exceptions import (
    AlligatorError,
    BackendConnectionError,
    BackendError,
    ConfigurationError,
    DecodeError,
    DuplicateTaskError,
    EncodeError,
    InvalidTaskError,
    NotImportableError,
    PayloadTooLarge,
    TaskFailed,
)
from alligator.gator import Gator
from alligator.limits import Limit, limited
from alligator.options import Batch, Options
from alligator.records import BuriedTask, PushItem, QueueStats, Reservation
from alligator.retry import Backoff
from alligator.tasks import Task
from alligator.workers import Worker

__version__ = "2.0.0.dev0"

__all__ = [  # noqa: RUF022 - grouped by heading, sorted within each group
    # Core
    "AsyncGator",
    "Backoff",
    "Batch",
    "Claim",
    "Consumer",
    "Gator",
    "Options",
    "Outcome",
    "Task",
    "Worker",
    # Flow control
    "Limit",
    "limited",
    # Constants
    "ALL",
    "CANCELED",
    "DELAYED",
    "FAILED",
    "RETRYING",
    "SUCCESS",
    "WAITING",
    "Status",
    # Backend records
    "BuriedTask",
    "PushItem",
    "QueueStats",
    "Reservation",
    # Errors
    "AlligatorError",
    "BackendConnectionError",
    "BackendError",
    "ConfigurationError",
    "DecodeError",
    "DuplicateTaskError",
    "EncodeError",
    "InvalidTaskError",
    "NotImportableError",
    "PayloadTooLarge",
    "TaskFailed",
    # Modules
    "codecs",
    "errors",
    "events",
]
