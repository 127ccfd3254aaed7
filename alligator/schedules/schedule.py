"""Defining periodic tasks: :class:`Schedule`, its entries and their options."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, Self, overload

from alligator._typing import RO, P, R, T, Unpinned
from alligator.exceptions import ConfigurationError
from alligator.options import Options
from alligator.schedules.ticks import Cron, Every, Trigger, tick_stamp
from alligator.tasks import Task
from alligator.utils import callable_path

if TYPE_CHECKING:
    from alligator.gator import Gator

__all__ = ["DEFAULT_CATCH_UP", "DEFAULT_GRACE", "Entry", "EntryOptions", "Misfire", "Schedule"]

#: Seconds after its time a tick still counts as on time (unless the next
#: tick is already due): a scheduler that restarts within this fires it as usual.
DEFAULT_GRACE: Final = 10.0

#: Most missed ticks ``misfire="all"`` catches up per entry.
DEFAULT_CATCH_UP: Final = 100

_NAME: Final = re.compile(r"[^\s@]+")

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


class EntryOptions(Generic[RO]):
    """Options for the entries made through it: ``schedule.options(...)``.

    The task options (``retries``, the hooks, ``priority``, ``timeout``)
    are :class:`~alligator.options.Options`, checked as ``gator.options``
    checks them; ``name``, ``tz``, ``misfire`` and ``queue`` are the
    entry's. An ``on_success`` hook pins the result type, as with
    ``gator.options``.

    These options sit here, not as keywords of ``cron``/``every``, because
    a ``ParamSpec``-typed call cannot take keywords of its own after the
    function's arguments (PEP 612): the function's own arguments stay fully
    type-checked.
    """

    def __init__(
        self,
        schedule: Schedule,
        *,
        name: str | None = None,
        tz: str | dt.tzinfo | None = None,
        misfire: Misfire | Policy = "once",
        queue: str | None = None,
        retries: int = 0,
        on_start: Callable[[Task[Any]], object] | None = None,
        on_success: Callable[[Task[RO], RO], object] | None = None,
        on_error: Callable[[Task[Any], Exception], object] | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.schedule = schedule
        self.name = name
        self.tz = tz
        self.misfire = Misfire.of(misfire)
        if queue is not None:
            schedule.gator.check_queue_name(queue)
        self.queue = queue
        self.task_options: Options[RO] = schedule.gator.options(
            retries=retries,
            on_start=on_start,
            on_success=on_success,
            on_error=on_error,
            priority=priority,
            timeout=timeout,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    @overload
    def cron(
        self: EntryOptions[Unpinned],
        expr: str,
        func: Callable[P, T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Entry[T]: ...
    @overload
    def cron(
        self, expr: str, func: Callable[P, RO], *args: P.args, **kwargs: P.kwargs
    ) -> Entry[RO]: ...
    def cron(
        self, expr: str, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs
    ) -> Entry[Any]:
        """Run ``func(*args, **kwargs)`` at each time the cron expression matches.

        Raises:
            ConfigurationError: An invalid expression or unknown time zone
                (the message quotes the expression), a name taken by another
                entry, or a call that cannot be enqueued.
        """
        return self.schedule.add(self._entry(Cron(expr, self.tz), func, args, kwargs))

    @overload
    def every(
        self: EntryOptions[Unpinned],
        interval: float | dt.timedelta,
        func: Callable[P, T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Entry[T]: ...
    @overload
    def every(
        self,
        interval: float | dt.timedelta,
        func: Callable[P, RO],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Entry[RO]: ...
    def every(
        self,
        interval: float | dt.timedelta,
        func: Callable[P, Any],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Entry[Any]:
        """Run ``func(*args, **kwargs)`` every ``interval`` seconds (or timedelta).

        Ticks are whole multiples of the interval since the Unix epoch, so
        every process agrees on them: ``every(3600)`` fires on the hour (UTC).

        Raises:
            ConfigurationError: An interval under a millisecond (``every(0)``,
                a negative one), a time zone given (intervals have none), a
                name taken by another entry, or a call that cannot be enqueued.
        """
        if self.tz is not None:
            raise ConfigurationError(
                "every() ticks by the clock, not the calendar: tz applies to cron() only"
            )
        return self.schedule.add(self._entry(Every(interval), func, args, kwargs))

    def _entry(
        self,
        trigger: Trigger,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Entry[Any]:
        name = self.name
        if name is None:
            module, qualname = callable_path(func)
            name = f"{module}:{qualname}"
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigurationError(
                f"an entry name must be non-empty text without spaces or '@', got {name!r}"
            )
        return Entry(
            name,
            trigger,
            func=func,
            args=args,
            kwargs=dict(kwargs),
            options=self.task_options,
            queue=self.queue,
            misfire=self.misfire,
        )


class Schedule:
    """Periodic tasks: entries that fire at cron times or fixed intervals.

    Run it with ``alligator scheduler DSN --schedule module:attribute``,
    beside the workers with ``latergator DSN --schedule module:attribute``,
    or in Python with :class:`~alligator.schedules.Scheduler`. Any number of
    schedulers may run one schedule on a backend that offers
    :class:`~alligator.protocols.AbsentPushClient`: each tick is enqueued
    exactly once.

    Args:
        gator: Whose queue, codec and signing key the tasks are made with.
        grace: Seconds after its time a tick still fires as on time.

    Raises:
        ConfigurationError: A grace that is not a number >= 0.
    """

    def __init__(self, gator: Gator, *, grace: float = DEFAULT_GRACE) -> None:
        if isinstance(grace, bool) or not isinstance(grace, int | float) or not grace >= 0:
            raise ConfigurationError(f"grace must be a number of seconds >= 0, got {grace!r}")
        self.gator = gator
        self.grace = float(grace)
        self.entries: dict[str, Entry[Any]] = {}
        self._defaults: EntryOptions[Unpinned] = EntryOptions(self)

    def __repr__(self) -> str:
        return f"<Schedule of {len(self.entries)} entries on {self.gator!r}>"

    def __iter__(self) -> Iterator[Entry[Any]]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def options(
        self,
        *,
        name: str | None = None,
        tz: str | dt.tzinfo | None = None,
        misfire: Misfire | Policy = "once",
        queue: str | None = None,
        retries: int = 0,
        on_start: Callable[[Task[Any]], object] | None = None,
        on_success: Callable[[Task[RO], RO], object] | None = None,
        on_error: Callable[[Task[Any], Exception], object] | None = None,
        priority: int | None = None,
        timeout: float | None = None,
    ) -> EntryOptions[RO]:
        """Options for the entries made with the result's ``cron``/``every``.

        Args:
            name: The entry's name (default: ``module:function``); two
                entries of one schedule may not share a name, so give one
                when a function is scheduled twice.
            tz: The time zone of a cron entry (an IANA name or a tzinfo;
                default UTC).
            misfire: ``"skip"``, ``"once"`` (default), ``"all"``, or
                ``Misfire.all(limit)``.
            queue: Another queue of the Gator's backend.
            retries: As for ``gator.options``; so are the hooks, ``priority``
                and ``timeout``.
        """
        return EntryOptions(
            self,
            name=name,
            tz=tz,
            misfire=misfire,
            queue=queue,
            retries=retries,
            on_start=on_start,
            on_success=on_success,
            on_error=on_error,
            priority=priority,
            timeout=timeout,
        )

    def cron(self, expr: str, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Entry[R]:
        """Run ``func(*args, **kwargs)`` at each time the cron expression matches, in UTC.

        For a time zone, a name, a misfire policy or task options, use
        :meth:`options`: ``schedule.options(tz="Europe/Berlin").cron(...)``.

        Raises:
            ConfigurationError: An invalid expression (quoted in the message),
                a name taken by another entry, or a call that cannot be enqueued.
        """
        return self._defaults.cron(expr, func, *args, **kwargs)

    def every(
        self,
        interval: float | dt.timedelta,
        func: Callable[P, R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Entry[R]:
        """Run ``func(*args, **kwargs)`` every ``interval`` seconds (or timedelta).

        Raises:
            ConfigurationError: An interval under a millisecond (``every(0)``,
                a negative one), a name taken by another entry, or a call
                that cannot be enqueued.
        """
        return self._defaults.every(interval, func, *args, **kwargs)

    def add(self, entry: Entry[R]) -> Entry[R]:
        """Add an entry, checking now that its tasks can be made and enqueued.

        Raises:
            ConfigurationError: Its name is taken, or its call cannot be
                encoded (an unimportable function, arguments that do not fit
                its signature or the codec).
        """
        if entry.name in self.entries:
            raise ConfigurationError(
                f"the schedule already has an entry named {entry.name!r}: give this one "
                "another name (schedule.options(name=...))"
            )
        queue = self.gator.queue_name if entry.queue is None else entry.queue
        try:
            self.gator.payloads.encode(entry.task(0.0), queue)
        except ConfigurationError:
            raise
        except Exception as exc:
            raise ConfigurationError(
                f"entry {entry.name!r}: its task cannot be enqueued: {exc}"
            ) from exc
        self.entries[entry.name] = entry
        return entry
