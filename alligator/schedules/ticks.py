"""When an entry fires: ticks of a cron expression in a time zone, or of a fixed interval.

A tick is an instant (epoch seconds). Ticks come from the schedule alone,
never from when the last run happened, so they never drift with processing
time, and every scheduler process computes the same ones.

* :class:`Every` ticks at whole multiples of its interval since the Unix
  epoch (``every(3600)`` fires on the hour, UTC), counted in integer
  microseconds so no rounding drifts.
* :class:`Cron` matches wall-clock times of its time zone with `cronsim
  <https://pypi.org/project/cronsim/>`_ (imported on first use: the ``cron``
  extra), then maps each matching wall time to an instant by these rules:

  - a wall time that occurs twice (clocks go back) fires once, at its
    first occurrence (``fold=0``);
  - a wall time that does not occur (clocks go forward) fires at the
    instant it would have had without the jump: shifted forward by the
    length of the gap (02:30 becomes 03:30 when 02:00 jumps to 03:00, as
    Python's ``zoneinfo`` reads a nonexistent time, PEP 495), and only
    once when that instant is also another wall time's tick.

  Outside the hours around a clock change this is plain cron in that time
  zone. Near one, wall times no longer map to instants in order (a skipped
  02:45 lands at 03:45, after 03:10), so the search looks at the wall times
  up to :data:`MARGIN` around the instant asked about and keeps the nearest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alligator.exceptions import ConfigurationError

if TYPE_CHECKING:
    from cronsim import CronSim

__all__ = ["MARGIN", "Cron", "Every", "Trigger", "tick_stamp"]

#: Longer than any clock change of the tz database: the wall times this far
#: around an instant are enough to find its neighbouring ticks near a change.
MARGIN: Final = dt.timedelta(hours=3)

_UTC: Final = dt.UTC
_SECOND: Final = dt.timedelta(seconds=1)

#: The nicknames of Vixie cron, spelled as plain expressions for cronsim.
NICKNAMES: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class Trigger(Protocol):
    """What the scheduler asks of an entry's timing; every answer is an instant or ``None``."""

    @property
    def fingerprint(self) -> str:
        """Changes when the ticks change (expression, time zone, interval)."""
        ...

    @property
    def tz(self) -> dt.tzinfo:
        """The zone its times are shown in."""
        ...

    def describe(self) -> str:
        """One line for people: ``cron '0 3 * * *' Europe/Berlin``, ``every 30s``."""
        ...

    def after(self, t: float) -> float | None:
        """The first tick strictly after ``t``; ``None`` if there is none (within 50 years)."""
        ...

    def at_or_before(self, t: float) -> float | None:
        """The last tick at or before ``t``."""
        ...

    def before(self, t: float) -> float | None:
        """The last tick strictly before ``t``."""
        ...


def tick_stamp(t: float) -> str:
    """The tick as UTC ISO 8601 (``2025-03-30T01:00:00Z``, microseconds only when it has some)."""
    when = dt.datetime.fromtimestamp(t, _UTC)
    spec = "microseconds" if when.microsecond else "seconds"
    return when.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


class Every:
    """Ticks at whole multiples of ``interval`` seconds since the Unix epoch (UTC).

    Raises:
        ConfigurationError: The interval is not a finite number of seconds
            of at least a millisecond (``every(0)``, a negative one).
    """

    def __init__(self, interval: float | dt.timedelta) -> None:
        seconds = interval.total_seconds() if isinstance(interval, dt.timedelta) else interval
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0.001
        ):
            raise ConfigurationError(
                f"every() needs an interval of at least 0.001 seconds, got {interval!r}"
            )
        #: The interval in microseconds, so ticks are exact.
        self.step = round(seconds * 1_000_000)
        self.seconds = self.step / 1_000_000

    def __repr__(self) -> str:
        return f"Every({self.seconds!r})"

    @property
    def fingerprint(self) -> str:
        return _fingerprint("every", str(self.step))

    @property
    def tz(self) -> dt.tzinfo:
        return _UTC

    def describe(self) -> str:
        return f"every {_span(self.seconds)}"

    def _tick(self, k: int) -> float:
        return k * self.step / 1_000_000

    def after(self, t: float) -> float | None:
        return self._tick(math.floor(round(t * 1_000_000) / self.step) + 1)

    def at_or_before(self, t: float) -> float | None:
        return self._tick(math.floor(round(t * 1_000_000) / self.step))

    def before(self, t: float) -> float | None:
        return self._tick(math.ceil(round(t * 1_000_000) / self.step) - 1)


def _span(seconds: float) -> str:
    """``90s``, ``1h``, ``1.5s``: an interval for people."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def zone(name: str | dt.tzinfo | None, expr: str) -> dt.tzinfo:
    """The time zone ``name`` (an IANA name, a tzinfo, or ``None`` for UTC).

    Raises:
        ConfigurationError: An unknown name, with the expression it was given for.
    """
    if name is None:
        return _UTC
    if isinstance(name, dt.tzinfo):
        return name
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"cron {expr!r}: tz must be an IANA time zone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"cron {expr!r}: unknown time zone {name!r} (an IANA name such as 'Europe/Berlin' "
            "is expected; on Windows install the tzdata package)"
        ) from exc


def _cronsim() -> type[CronSim]:
    try:
        from cronsim import CronSim
    except ImportError as exc:  # pragma: no cover - exercised in a venv without the extra
        raise ConfigurationError(
            "cron schedules need the cronsim package: pip install 'alligator[cron]'"
        ) from exc
    return CronSim


class Cron:
    """The ticks of a cron expression in a time zone (UTC unless told).

    Five fields (minute hour day-of-month month day-of-week) with the usual
    lists, ranges and steps, month and weekday names, ``L`` and ``#n`` as
    cronsim reads them, an optional leading seconds field, and the
    nicknames ``@hourly``, ``@daily``/``@midnight``, ``@weekly``,
    ``@monthly``, ``@yearly``/``@annually``.

    Raises:
        ConfigurationError: The expression is invalid or never matches, or
            the time zone is unknown; the message quotes the expression.
    """

    def __init__(self, expr: str, tz: str | dt.tzinfo | None = None) -> None:
        if not isinstance(expr, str):
            raise ConfigurationError(f"a cron expression must be a str, got {expr!r}")
        self.expr = expr
        self.zone = zone(tz, expr)
        self._spec = NICKNAMES.get(expr.strip().lower(), expr)
        self._sim = _cronsim()
        try:
            next(self._sim(self._spec, dt.datetime(2000, 1, 1)))
        except StopIteration:
            raise ConfigurationError(
                f"cron expression {expr!r} never fires (no match within 50 years)"
            ) from None
        except Exception as exc:  # cronsim's CronSimError, and what a mangled field raises
            raise ConfigurationError(f"invalid cron expression {expr!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"Cron({self.expr!r}, {self.zone_name!r})"

    @property
    def zone_name(self) -> str:
        return str(getattr(self.zone, "key", self.zone))

    @property
    def fingerprint(self) -> str:
        return _fingerprint("cron", " ".join(self._spec.split()), self.zone_name)

    @property
    def tz(self) -> dt.tzinfo:
        return self.zone

    def describe(self) -> str:
        return f"cron {self.expr!r} {self.zone_name}"

    # -- wall times and instants ---------------------------------------------

    def _wall(self, t: float) -> dt.datetime:
        """The naive wall time of the instant ``t`` in this zone."""
        return dt.datetime.fromtimestamp(t, self.zone).replace(tzinfo=None, fold=0)

    def _instant(self, wall: dt.datetime) -> tuple[float, bool]:
        """The instant of a wall time (first occurrence; a gap's shifted forward), and
        whether the wall time exists."""
        aware = wall.replace(tzinfo=self.zone, fold=0)
        t = aware.timestamp()
        exists = dt.datetime.fromtimestamp(t, self.zone).replace(tzinfo=None) == wall
        return t, exists

    def _near_change(self, t: float) -> bool:
        """Whether the zone's offset changes within :data:`MARGIN` of ``t``."""
        span = MARGIN.total_seconds()
        before = dt.datetime.fromtimestamp(t - span, self.zone).utcoffset()
        after = dt.datetime.fromtimestamp(t + span, self.zone).utcoffset()
        return before != after

    def _walls(self, start: dt.datetime, *, reverse: bool) -> Iterator[dt.datetime]:
        """Matching wall times from ``start`` (included) on, forwards or backwards."""
        first = start + _SECOND if reverse else start - _SECOND
        sim = self._sim(self._spec, first, reverse=reverse)
        try:
            yield from sim
        except StopIteration:  # pragma: no cover - cronsim ends its iterator itself
            return

    # -- Trigger -------------------------------------------------------------

    def after(self, t: float) -> float | None:
        near = self._near_change(t)
        start = self._wall(t - MARGIN.total_seconds()) if near else self._wall(t)
        best: float | None = None
        for wall in self._walls(start, reverse=False):
            instant, exists = self._instant(wall)
            if instant > t:
                best = instant if best is None else min(best, instant)
                if exists:
                    # Every later wall time maps to a later instant than an
                    # existing one: nothing nearer can come.
                    return best
        return best

    def at_or_before(self, t: float) -> float | None:
        return self._last(t, strict=False)

    def before(self, t: float) -> float | None:
        return self._last(t, strict=True)

    def _last(self, t: float, *, strict: bool) -> float | None:
        near = self._near_change(t)
        start = self._wall(t + MARGIN.total_seconds()) if near else self._wall(t)
        best: float | None = None
        floor: dt.datetime | None = None
        for wall in self._walls(start, reverse=True):
            if floor is not None and wall < floor:
                break
            instant, exists = self._instant(wall)
            if instant < t or (instant == t and not strict):
                best = instant if best is None else max(best, instant)
                if exists and floor is None:
                    if not self._near_change(instant):
                        return best
                    # A skipped wall time below may still map above it.
                    floor = wall - MARGIN
        return best
