"""Every pluggable part of Alligator as a :class:`typing.Protocol`.

Built-in classes do not inherit from these; they conform structurally, and
``tests/typing`` proves it. Third-party code can be checked the same way by
assigning an instance to a variable annotated with the protocol.

The protocols are grouped by responsibility in private modules (the queue
contract, results, flow control, schedules, optional abilities, the consumer
side); import them from here, the one public path.
"""

from __future__ import annotations

from alligator.protocols._client import (
    BuriedPages,
    Client,
    FailedTasksClient,
    PrefetchClient,
    ReliableClient,
)
from alligator.protocols._flow import LimitClient, PriorityClient, UniqueClient
from alligator.protocols._optional import (
    AsyncioClient,
    AsyncProducer,
    IdAssigningClient,
    InProcessClient,
    QueueLister,
    QueueNameValidator,
    TransactionalClient,
)
from alligator.protocols._results import ResultClient, ResultPrefetchClient, ResultStore
from alligator.protocols._schedules import AbsentPushClient, ScheduleLedger, ScheduleLedgerClient
from alligator.protocols._tasks import (
    Codec,
    Task,
    TaskClass,
    TaskRecorder,
    TaskRunObserver,
    TaskSeries,
    Worker,
    WorkerEvents,
)

__all__ = [
    "AbsentPushClient",
    "AsyncProducer",
    "AsyncioClient",
    "BuriedPages",
    "Client",
    "Codec",
    "FailedTasksClient",
    "IdAssigningClient",
    "InProcessClient",
    "LimitClient",
    "PrefetchClient",
    "PriorityClient",
    "QueueLister",
    "QueueNameValidator",
    "ReliableClient",
    "ResultClient",
    "ResultPrefetchClient",
    "ResultStore",
    "ScheduleLedger",
    "ScheduleLedgerClient",
    "Task",
    "TaskClass",
    "TaskRecorder",
    "TaskRunObserver",
    "TaskSeries",
    "TransactionalClient",
    "UniqueClient",
    "Worker",
    "WorkerEvents",
]
