"""Task priorities: one range and one direction on every backend.

A priority is an ``int`` from :data:`PRIORITY_MIN` (-2**31) to
:data:`PRIORITY_MAX` (2**31 - 1); **lower runs first**, as with Unix
``nice`` values, and a task given none has :data:`DEFAULT_PRIORITY`, 0. So
``priority=-10`` jumps ahead of ordinary tasks and ``priority=10`` lets them
go first. Among tasks of equal priority a queue stays first in, first out
(by due time, then push order). Priorities order the tasks *within* one
queue; a worker consuming several queues still drains them in its own order.

Every backend that orders by priority maps this scale onto its own store:
PostgreSQL and SQLite keep it in an ``integer`` column, Redis keeps tasks of
priority 0 in its ready stream and the others in a sorted set scored by
priority, locmem keeps a heap, and beanstalkd, whose native priorities run
from 0 (most urgent) to 2**32 - 1 with 2**31 as its default, gets
``priority + 2**31``: the same order, with Alligator's 0 on beanstalkd's
default. A value outside the range (or not an ``int``) is refused when the
task is made, and by every backend's ``push``, with
:class:`~alligator.exceptions.InvalidTaskError`.
"""

from __future__ import annotations

from typing import Final

from alligator.exceptions import InvalidTaskError

__all__ = ["DEFAULT_PRIORITY", "PRIORITY_MAX", "PRIORITY_MIN", "check_priority"]

#: The most urgent priority.
PRIORITY_MIN: Final = -(2**31)
#: The least urgent priority.
PRIORITY_MAX: Final = 2**31 - 1
#: The priority of a task that names none.
DEFAULT_PRIORITY: Final = 0


def check_priority(priority: int | None) -> int:
    """``priority`` as stored: the default for ``None``, else the value, once in range.

    Raises:
        InvalidTaskError: Not an ``int`` (a ``bool`` is not one here), or
            outside ``PRIORITY_MIN..PRIORITY_MAX``.
    """
    if priority is None:
        return DEFAULT_PRIORITY
    if type(priority) is not int and (isinstance(priority, bool) or not isinstance(priority, int)):
        raise InvalidTaskError(
            f"priority must be an int from {PRIORITY_MIN} to {PRIORITY_MAX} "
            f"(lower runs first, default 0), got {priority!r}"
        )
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise InvalidTaskError(
            f"priority {priority} is out of range: it must be from {PRIORITY_MIN} to "
            f"{PRIORITY_MAX} (lower runs first, default 0)"
        )
    return int(priority)
