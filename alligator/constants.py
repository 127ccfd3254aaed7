"""Names and values shared by every part of Alligator (the 1.0 module path)."""

from __future__ import annotations

import enum
from typing import Final

#: The default queue name, kept from Alligator 1.0.
ALL: Final = "all"


#: Presentation types of the format mini-language that format a number.
_NUMERIC_FORMATS: Final = frozenset("bcdoxXneEfFgG%")


class Status(enum.IntEnum):
    """A task's state; the integers are Alligator 1.0's, so stored values stay valid.

    It compares equal to those integers (``Status.SUCCESS == 1``), but prints
    as its name: ``print(task.status)`` and ``f"{task.status}"`` give
    ``SUCCESS``, not ``1``.
    """

    WAITING = 0
    SUCCESS = 1
    FAILED = 2
    DELAYED = 3
    RETRYING = 4
    CANCELED = 5
    #: New in 2.0: waiting for the tasks it depends on to succeed.
    BLOCKED = 6
    #: New in 2.0: a worker holds it (its lease), running it now.
    RUNNING = 7

    def __str__(self) -> str:
        return self.name

    def __format__(self, format_spec: str) -> str:
        # A numeric spec (``f"{status:d}"``) formats the integer; any other
        # (``f"{status:>8}"``) the name, as str() does.
        if format_spec and format_spec[-1] in _NUMERIC_FORMATS:
            return int.__format__(self, format_spec)
        return format(self.name, format_spec)


WAITING: Final = Status.WAITING
SUCCESS: Final = Status.SUCCESS
FAILED: Final = Status.FAILED
DELAYED: Final = Status.DELAYED
RETRYING: Final = Status.RETRYING
CANCELED: Final = Status.CANCELED
BLOCKED: Final = Status.BLOCKED
RUNNING: Final = Status.RUNNING

#: Version of the wire envelope written by this release.
ENVELOPE_VERSION: Final = 1

#: Seconds a reserved task stays invisible to other workers unless renewed.
DEFAULT_LEASE: Final = 30.0

#: Deliveries of a task that may end without a settlement (its worker died)
#: before it is buried; see ``Gator(max_deliveries=...)``.
DEFAULT_MAX_DELIVERIES: Final = 5

#: Seconds a task's outcome is kept when results are on (``Gator(result_ttl=...)``).
DEFAULT_RESULT_TTL: Final = 3600.0

#: Largest encoded task accepted at enqueue unless configured otherwise (1 MiB).
DEFAULT_MAX_PAYLOAD: Final = 1024 * 1024
