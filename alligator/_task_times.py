"""When a task runs and when it was enqueued, as the epoch seconds the wire carries.

Kept apart from :class:`~alligator.tasks.Task` because the producer's
options, the Gator's push and the failed-task requeue all compute these
times, and each must reach the same answer (and the same refusals) as a
task built directly.
"""

from __future__ import annotations

import datetime as dt
import math
import time

from alligator.exceptions import InvalidTaskError, MultipleDelaysError

__all__ = ["DelayUntil", "enqueue_time", "normalize_delay"]

DelayUntil = float | int | dt.datetime


def normalize_delay(
    delay_until: DelayUntil | None, delay_by: float | None, now: float | None = None
) -> float | None:
    """One epoch-seconds run-at time from the two mutually exclusive options.

    Raises:
        MultipleDelaysError: both were given.
        InvalidTaskError: a negative or non-finite delay, or a naive datetime.
    """
    if delay_until is not None and delay_by is not None:
        raise MultipleDelaysError("give delay_by or delay_until, not both")
    if delay_by is not None:
        if not math.isfinite(delay_by) or delay_by < 0:
            raise InvalidTaskError(f"delay_by must be a finite number >= 0, got {delay_by!r}")
        return (time.time() if now is None else now) + delay_by
    if delay_until is None:
        return None
    if isinstance(delay_until, dt.datetime):
        if delay_until.tzinfo is None:
            raise InvalidTaskError(
                "delay_until datetime must be timezone-aware (e.g. tzinfo=datetime.UTC)"
            )
        return delay_until.timestamp()
    if isinstance(delay_until, bool) or not isinstance(delay_until, (int, float)):
        raise InvalidTaskError(f"delay_until must be a timestamp or datetime, got {delay_until!r}")
    if not math.isfinite(delay_until) or delay_until < 0:
        raise InvalidTaskError(f"delay_until must be a finite timestamp >= 0, got {delay_until!r}")
    return float(delay_until)


def enqueue_time() -> float:
    """Now, in epoch seconds to the millisecond: what a payload carries as its enqueue time.

    Milliseconds are what a queue-wait histogram resolves, and the shorter
    number costs fewer bytes per queued task. Rounded down, so a task's
    measured queue wait is never shorter than the wait it had.
    """
    return math.floor(time.time() * 1000.0) / 1000.0
