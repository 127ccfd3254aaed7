"""Concurrency and rate limits of task functions, counted by the backend across every worker.

Declare them on the function::

    @limited(Limit(concurrency=3, per="merchant_id"))
    def charge_card(merchant_id: int, cents: int) -> None: ...

    @limited(Limit(rate=10, period=1.0))
    def call_partner_api(payload: dict[str, str]) -> None: ...

Before a worker starts such a task it asks the backend
(:class:`~alligator.protocols.LimitClient`) to admit it under every limit,
atomically. A task over a limit is not started: it goes back to the queue
with a short delay (the backend's hint: when the oldest start leaves a rate
window, or :data:`CONCURRENCY_RETRY` seconds), spending neither a retry nor a
delivery (``max_deliveries`` does not count it), and runs once there is room.

* **Concurrency** (``concurrency=N``): at most ``N`` tasks with the same key
  run at once. A task holds its slot while its lease is held: its ack,
  release or burial frees it, and a killed worker's slot comes back when its
  lease expires. Exact.
* **Rate** (``rate=N, period=S``): at most ``N`` starts with the same key in
  any window of ``S`` seconds: a sliding-window log of start times, so the
  bound is exact as judged by the backend's clock (Redis and PostgreSQL: the
  server's; SQLite: each process's own, so clock skew between machines adds
  to it; locmem: the process's). Over ``T`` seconds at most
  ``N * ceil(T / S)`` tasks start. It never runs ahead of the limit; it may
  fall behind it by the time a deferred task takes to be reserved again
  (its delay plus a worker's claim).

``per`` names the argument whose value keys the limit (one count per
merchant); without it one count covers every call of the function. Counts
are per queue. A function's limits are read where it is imported, by the
producer (to refuse a backend that cannot count them) and by the worker.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import msgspec

from alligator.exceptions import ConfigurationError, InvalidTaskError
from alligator.records import LimitSlot
from alligator.utils import callable_path

__all__ = [
    "CONCURRENCY_RETRY",
    "MAX_DEFER",
    "Limit",
    "check_countable",
    "limited",
    "limits_of",
    "slots_for",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute :func:`limited` sets on a function.
_ATTRIBUTE: Final = "__alligator_limits__"

#: Seconds a task over a concurrency limit waits before it is tried again.
CONCURRENCY_RETRY: Final = 0.05
#: Longest delay a deferral uses (a backend's hint is capped to it).
MAX_DEFER: Final = 1.0


class Limit(msgspec.Struct, frozen=True, kw_only=True):
    """One limit of a task function: ``concurrency`` or ``rate`` (per ``period`` seconds).

    Args:
        concurrency: At most this many running at once.
        rate: At most this many starts in any ``period`` seconds.
        period: The rate's window, in seconds.
        per: The name of the argument whose value keys the count.
    """

    concurrency: int = 0
    rate: int = 0
    period: float = 1.0
    per: str | None = None

    def __post_init__(self) -> None:
        counts = (self.concurrency, self.rate)
        if any(type(n) is not int or n < 0 for n in counts) or (self.concurrency > 0) == (
            self.rate > 0
        ):
            raise ConfigurationError(
                f"a Limit takes concurrency=N or rate=N (an int >= 1), exactly one: {self!r}"
            )
        if not (isinstance(self.period, int | float) and math.isfinite(self.period)) or not (
            self.period > 0
        ):
            raise ConfigurationError(f"a Limit's period must be > 0 seconds, got {self.period!r}")
        if self.per is not None and (not isinstance(self.per, str) or not self.per):
            raise ConfigurationError(f"per must name an argument, got {self.per!r}")

    def describe(self) -> str:
        """``"running"`` or ``"rate"``: what the key counts."""
        return "running" if self.concurrency else "rate"


def limited(*limits: Limit) -> Callable[[F], F]:
    """Declare ``limits`` on a task function (a decorator; the function is returned as is).

    Raises:
        ConfigurationError: No limit, something that is not a :class:`Limit`,
            or a ``per`` that names no parameter of the function.
    """
    if not limits or not all(isinstance(limit, Limit) for limit in limits):
        raise ConfigurationError(f"limited() takes one or more Limit objects, got {limits!r}")

    def declare(func: F) -> F:
        try:
            parameters = inspect.signature(func).parameters
        except (TypeError, ValueError):
            parameters = None
        for limit in limits:
            if limit.per is not None and parameters is not None and limit.per not in parameters:
                raise ConfigurationError(
                    f"Limit(per={limit.per!r}): {func.__qualname__} has no such parameter"
                )
        setattr(func, _ATTRIBUTE, tuple(limits))
        return func

    return declare


def limits_of(func: object) -> tuple[Limit, ...]:
    """The limits declared on ``func`` (none: an empty tuple)."""
    found = getattr(func, _ATTRIBUTE, ())
    return found if isinstance(found, tuple) else ()


def check_countable(func: object, backend_counts: bool) -> None:
    """Refuse, at enqueue, a task with limits for a backend that cannot count them.

    Raises:
        ConfigurationError: ``func`` declares limits and the backend is no
            :class:`~alligator.protocols.LimitClient`.
    """
    if not backend_counts and limits_of(func):
        raise ConfigurationError(
            f"{getattr(func, '__qualname__', func)} declares limits (alligator.limits), which "
            "this backend cannot count: use locmem, sqlite, redis or postgresql"
        )


def slots_for(
    func: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]
) -> list[LimitSlot]:
    """The counts a call of ``func`` must fit under, keyed by its path (and ``per`` value).

    A key reads ``module:function:running[merchant_id=7]``.

    Raises:
        InvalidTaskError: The call lacks the argument a limit is keyed by.
    """
    limits = limits_of(func)
    if not limits:
        return []
    module, name = callable_path(func)
    bound: dict[str, Any] | None = None
    slots: list[LimitSlot] = []
    for limit in limits:
        key = f"{module}:{name}:{limit.describe()}"
        if limit.per is not None:
            if bound is None:
                try:
                    call = inspect.signature(func).bind(*args, **kwargs)
                except TypeError as exc:
                    raise InvalidTaskError(f"{name}(): {exc}: cannot key its limit") from exc
                call.apply_defaults()
                bound = dict(call.arguments)
            if limit.per not in bound:
                raise InvalidTaskError(f"{name}(): no {limit.per!r} argument to key its limit by")
            key += f"[{limit.per}={bound[limit.per]!r}]"
        period = float(limit.period) if limit.rate else 0.0
        slots.append(LimitSlot(key, limit.concurrency, limit.rate, period))
    return slots
