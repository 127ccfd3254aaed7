"""Plain records that cross the boundary between the core and a backend."""

from __future__ import annotations

from typing import Literal, NamedTuple

import msgspec


class Reservation(msgspec.Struct, frozen=True, gc=False):
    """A task handed to one worker under a lease.

    Attributes:
        task_id: The id the task was pushed under.
        data: The payload exactly as pushed (or as last released).
        token: Proves ownership of the lease; a stale token is refused by
            ack, release, bury and renew.
        attempts: How many times this task has been reserved, this time
            included (backends that cannot count report 1).
        lease: The lease the backend actually granted, in seconds, when it
            differs from the one asked for (beanstalkd fixes a job's TTR when
            it is pushed); ``None`` means the one asked for.
    """

    task_id: str
    data: bytes
    token: str
    attempts: int = 1
    lease: float | None = None


class PushItem(NamedTuple):
    """One task of a batch push.

    ``priority`` is only set for a client that declares the ``priority``
    capability (a :class:`~alligator.protocols.PriorityClient`), which must
    honour it per item; the Gator refuses a prioritised task for any other
    (see :mod:`alligator.priority`). Read the fields by name: a client that
    unpacks an item as a 3-tuple breaks on the fourth field.
    """

    task_id: str
    data: bytes
    delay_until: float | None = None
    priority: int | None = None


#: Where a task stands in its queue, for :meth:`~alligator.protocols.ResultClient.task_state`.
QueueState = Literal["ready", "delayed", "reserved", "blocked", "buried"]


class TaskState(msgspec.Struct, frozen=True, gc=False):
    """A queued task's state and how many times it was reserved.

    Attributes:
        state: ``ready`` (due), ``delayed`` (not yet due), ``reserved`` (a
            worker holds its lease), ``blocked`` (waiting on dependencies) or
            ``buried``.
        attempts: Times it was reserved so far.
    """

    state: QueueState
    attempts: int = 0


class QueueStats(msgspec.Struct, frozen=True, gc=False):
    """Counts of one queue, by state; ``ready + delayed`` is what ``len`` reports."""

    ready: int = 0
    delayed: int = 0
    reserved: int = 0
    buried: int = 0


class BuriedTask(msgspec.Struct, frozen=True, gc=False):
    """A task kept aside after it failed for good or could not be decoded."""

    task_id: str
    data: bytes
    reason: str
    buried_at: float


class LimitSlot(msgspec.Struct, frozen=True, gc=False):
    """One limit a task must fit under before it starts, as a backend enforces it.

    Exactly one of ``concurrency`` and ``rate`` is non-zero.

    Attributes:
        key: What is counted: the function's path, plus the value of the
            argument the limit is keyed by (``"app.charge_card[merchant_id=7]"``).
        concurrency: At most this many tasks holding ``key`` at once; a
            task holds it while its lease is held.
        rate: At most this many starts of ``key`` in any window of
            ``period`` seconds (a sliding window, by the backend's clock).
        period: The window of ``rate``, in seconds.
    """

    key: str
    concurrency: int = 0
    rate: int = 0
    period: float = 0.0


class LimitUsage(msgspec.Struct, frozen=True, gc=False):
    """A limit key's current use, for ``alligator info``.

    Attributes:
        key: The key (see :class:`LimitSlot`).
        concurrency: Its concurrency limit, as last given (0: none).
        running: Tasks holding it now (their leases are held).
        rate: Its rate limit, as last given (0: none).
        period: The window of ``rate``.
        recent: Starts within the last ``period`` seconds.
    """

    key: str
    concurrency: int = 0
    running: int = 0
    rate: int = 0
    period: float = 0.0
    recent: int = 0


class Outgoing(NamedTuple):
    """Tasks encoded and checked, ready to push in one call (a Gator's, or an AsyncGator's).

    Attributes:
        items: The tasks (one, or a batch's).
        depends_on: Each task's dependencies, when any task has some.
        priority: The task's priority (a single task only).
    """

    items: list[PushItem]
    depends_on: list[list[str]] | None = None
    priority: int | None = None
