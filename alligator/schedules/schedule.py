"""Defining periodic tasks: :class:`Schedule` and the options its entries are made with.

The entries themselves and their misfire policy are in
:mod:`alligator.schedules.entry` (re-exported here).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, Self, overload

from alligator._typing import RO, P, R, T, Unpinned
from alligator.exceptions import ConfigurationError
from alligator.options import Options
from alligator.schedules.entry import DEFAULT_CATCH_UP, Entry, Misfire, Policy
from alligator.schedules.ticks import Cron, Every, Trigger
from alligator.tasks import Task
from alligator.utils import callable_path

if TYPE_CHECKING:
    from alligator.gator import Gator

__all__ = ["DEFAULT_CATCH_UP", "DEFAULT_GRACE", "Entry", "EntryOptions", "Misfire", "Schedule"]

#: Seconds after its time a tick still counts as on time (unless the next
#: tick is already due): a scheduler that restarts within this fires it as usual.
DEFAULT_GRACE: Final = 10.0

_NAME: Final = re.compile(r"[^\s@]+")


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
