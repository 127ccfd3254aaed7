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
    """One task of a batch push."""

    task_id: str
    data: bytes
    delay_until: float | None = None


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
