"""Checks every built-in backend makes on what callers hand it, before it writes.

A value a store cannot hold must fail as one of Alligator's errors at the
call that brought it, naming it, never as a driver's ``UnicodeEncodeError``
or a stuck queue later:

* a queue name must be text the stores can encode (no lone surrogates):
  :class:`~alligator.exceptions.ConfigurationError` naming the queue;
* a task id must be non-empty text the stores can encode:
  :class:`~alligator.exceptions.InvalidTaskError`;
* a priority must be an ``int`` in Alligator's range (see
  :mod:`alligator.priority`): :class:`~alligator.exceptions.InvalidTaskError`;
* a due time must be a finite number (``nan`` would never come due, or
  stall a heap): :class:`~alligator.exceptions.InvalidTaskError`;
* a page of buried tasks starts at an ``int`` offset >= 0 and holds an
  ``int`` limit >= 0 of them: :class:`ValueError`;
* a burial reason is made encodable rather than refused (it often quotes a
  traceback, whose text may hold undecodable file names).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from alligator.exceptions import ConfigurationError, InvalidTaskError
from alligator.priority import check_priority
from alligator.records import PushItem

__all__ = [
    "QueueNames",
    "check_due",
    "check_items",
    "check_page",
    "check_priority",
    "check_task_id",
    "check_ttl",
    "safe_text",
]


class QueueNames:
    """Remembers the queue names already checked, so each is checked once."""

    __slots__ = ("_good",)

    def __init__(self) -> None:
        self._good: set[str] = set()

    def check(self, name: str) -> str:
        """``name``, once it is known to be text a store can encode.

        Raises:
            ConfigurationError: It is not a ``str``, or holds lone surrogates.
        """
        if name in self._good:
            return name
        if not isinstance(name, str):
            raise ConfigurationError(f"a queue name must be a str, got {name!r}")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ConfigurationError(
                f"queue name {name!r} cannot be stored: it holds characters that are not "
                f"valid text (lone surrogates, e.g. from undecodable bytes): {exc.reason}"
            ) from None
        if len(self._good) < 10_000:
            self._good.add(name)
        return name


def check_task_id(task_id: str) -> str:
    """``task_id``, once it is known to be non-empty text a store can encode.

    Raises:
        InvalidTaskError: It is empty, not a ``str``, or holds lone surrogates.
    """
    if not isinstance(task_id, str) or not task_id:
        raise InvalidTaskError(f"a task id must be a non-empty str, got {task_id!r}")
    try:
        task_id.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidTaskError(
            f"task id {task_id!r} cannot be stored: it holds characters that are not valid "
            f"text (lone surrogates): {exc.reason}"
        ) from None
    return task_id


def check_due(delay_until: float | None) -> float | None:
    """``delay_until``, once it is known to be a finite number of epoch seconds.

    Raises:
        InvalidTaskError: It is not a number, or is infinite or NaN.
    """
    if delay_until is None:
        return None
    if (
        isinstance(delay_until, bool)
        or not isinstance(delay_until, int | float)
        or not math.isfinite(delay_until)
    ):
        raise InvalidTaskError(f"delay_until must be a finite timestamp, got {delay_until!r}")
    return delay_until


def check_ttl(ttl: float) -> float:
    """``ttl``, once it is known to be a finite number of seconds > 0 (a mark's lifetime).

    Raises:
        InvalidTaskError: It is not a number, not finite, or not > 0.
    """
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
        raise InvalidTaskError(f"ttl must be a finite number of seconds > 0, got {ttl!r}")
    return float(ttl)


def check_items(items: Iterable[PushItem]) -> None:
    """Check every id, due time and priority of a batch before any of it is stored."""
    for item in items:
        check_task_id(item.task_id)
        check_due(item.delay_until)
        if item.priority is not None:
            check_priority(item.priority)


def check_page(offset: int, limit: int) -> tuple[int, int]:
    """``(offset, limit)`` of :meth:`~alligator.protocols.BuriedPages.buried_page`, once valid.

    Raises:
        ValueError: Either is not an ``int`` >= 0 (a negative offset would
            count from the end on some stores and fail on others).
    """
    for name, value in (("offset", offset), ("limit", limit)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return offset, limit


def safe_text(text: str) -> str:
    """``text`` with anything that cannot be encoded as UTF-8 escaped (``\\udcff``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
