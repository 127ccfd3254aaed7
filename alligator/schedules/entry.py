"""One periodic task of a schedule: :class:`Entry`, and :class:`Misfire`, its missed-tick policy.

An entry is what a :class:`~alligator.schedules.Scheduler` works from on
every tick: which ticks are due, and the task each one becomes. It is kept
apart from how entries are declared (:mod:`alligator.schedules.schedule`)
because the scheduler reads entries and never declares them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Final, Generic, Literal

from alligator._typing import R
from alligator.exceptions import ConfigurationError
from alligator.options import Options
from alligator.schedules.ticks import Trigger, tick_stamp
from alligator.tasks import Task

__all__ = ["DEFAULT_CATCH_UP", "Entry", "Misfire", "Policy"]

#: Most missed ticks ``misfire="all"`` catches up per entry.
DEFAULT_CATCH_UP: Final = 100

Policy = Literal["skip", "once", "all"]


class Misfire:
    """What an entry does about ticks that were missed (no scheduler ran, or none in time).

    * ``skip``: nothing; the next tick fires as usual.
    * ``once`` (the default): one catch-up run, for the latest missed tick.
    * ``all``: a run for each missed tick, oldest first, at most ``limit``
      of them (the latest ones).

    A tick is missed when a scheduler gets to it more than the schedule's
    ``grace`` seconds after its time, or once the next tick is due.
    """

    __slots__ = ("limit", "policy")

    def __init__(self, policy: Policy, limit: int = DEFAULT_CATCH_UP) -> None:
        if policy not in ("skip", "once", "all"):
            raise ConfigurationError(
                f"misfire must be 'skip', 'once' or 'all' (or Misfire.all(limit)), got {policy!r}"
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigurationError(f"a misfire limit must be an int >= 1, got {limit!r}")
        self.policy: Policy = policy
        self.limit = {"skip": 0, "once": 1, "all": limit}[policy]

    @classmethod
    def all(cls, limit: int = DEFAULT_CATCH_UP) -> Misfire:
        """Catch up every missed tick, at most ``limit`` of them (the latest)."""
        return cls("all", limit)

    @classmethod
    def of(cls, value: Misfire | str) -> Misfire:
        """``value`` as a policy: a :class:`Misfire`, or ``"skip"``/``"once"``/``"all"``."""
        if isinstance(value, Misfire):
            return value
        return cls(value)  # type: ignore[arg-type]  # checked in __init__

    def __repr__(self) -> str:
        if self.policy == "all":
            return f"Misfire.all({self.limit})"
        return f"Misfire({self.policy!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Misfire) and (self.policy, self.limit) == (
            other.policy,
            other.limit,
        )

    def __hash__(self) -> int:
        return hash((self.policy, self.limit))


class Entry(Generic[R]):
    """One periodic task: when it fires (its trigger), what it runs, with which options.

    Made by :meth:`Schedule.cron` and :meth:`Schedule.every` (or their
    :meth:`Schedule.options` versions), never directly.

    Attributes:
        name: Unique in its schedule; part of every tick's task id
            (``<name>@<tick in UTC>``) and of the entry's record in the backend.
        trigger: Its ticks (:class:`~alligator.schedules.ticks.Cron` or
            :class:`~alligator.schedules.ticks.Every`).
        queue: The queue its tasks go to (``None``: the Gator's).
        misfire: What it does about missed ticks.
    """

    def __init__(
        self,
        name: str,
        trigger: Trigger,
        *,
        func: Callable[..., R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: Options[Any],
        queue: str | None,
        misfire: Misfire,
    ) -> None:
        self.name = name
        self.trigger = trigger
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.options = options
        self.queue = queue
        self.misfire = misfire

    def __repr__(self) -> str:
        return f"<Entry {self.name!r} {self.trigger.describe()} misfire={self.misfire!r}>"

    @property
    def key(self) -> str:
        """The entry's record in the backend: its name and what its ticks are.

        Retiming an entry (another expression, zone or interval) gives it a
        new key: it starts afresh, with no catch-up of ticks the old timing
        had.
        """
        return f"{self.name}@since:{self.trigger.fingerprint}"

    def task_id(self, tick: float) -> str:
        """The id of the task of ``tick``: the same in every scheduler process."""
        return f"{self.name}@{tick_stamp(tick)}"

    def task(self, tick: float) -> Task[R]:
        """The task of ``tick``: this entry's call and options, under the tick's id."""
        task: Task[R] = self.options.new_task(task_id=self.task_id(tick))
        task.to_call(self.func, *self.args, **self.kwargs)
        return task

    def next_fire_times(self, count: int = 3, after: float | None = None) -> list[dt.datetime]:
        """The next ``count`` ticks after ``after`` (default: now), in the entry's time zone."""
        t = dt.datetime.now(dt.UTC).timestamp() if after is None else after
        found: list[dt.datetime] = []
        while len(found) < count:
            nxt = self.trigger.after(t)
            if nxt is None:
                break
            found.append(dt.datetime.fromtimestamp(nxt, self.trigger.tz))
            t = nxt
        return found

    def due(self, cursor: float, now: float, grace: float) -> list[float]:
        """The ticks to fire now, oldest first: those after ``cursor`` and at or before ``now``.

        A tick at most ``grace`` seconds old, whose successor is not due
        yet, is on time and always fires; the missed ones (older) fire as
        the misfire policy says: none, the latest, or the latest ``limit``.
        """
        found: list[float] = []
        late = 0
        tick = self.trigger.at_or_before(now)
        while tick is not None and tick > cursor:
            successor = self.trigger.after(tick)
            on_time = now - tick <= grace and (successor is None or successor > now)
            if not on_time:
                if late >= self.misfire.limit:
                    break
                late += 1
            found.append(tick)
            tick = self.trigger.before(tick)
        found.reverse()
        return found
