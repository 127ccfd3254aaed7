"""One measured figure with its repeats, the helpers that time things, and a judged target."""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

__all__ = ["METRICS", "Row", "Target", "alternate", "index", "per_second", "percentile", "timed"]

#: metric key -> (column heading, higher is better)
METRICS: Final[dict[str, tuple[str, bool]]] = {
    "enqueue": ("enqueue/s", True),
    "batch": ("batch enqueue/s", True),
    "drain": ("drain/s", True),
    "drain_batch": ("pipelined drain/s", True),
    "bytes": ("Redis B/task", False),
    "bytes_delayed": ("Redis B/delayed task", False),
    "wake_p50": ("wake p50 ms", False),
    "wake_p99": ("wake p99 ms", False),
    "idle_cpu": ("idle worker CPU %", False),
    "pg_growth_mb": ("PG table growth MB after 1M", False),
    "bytes_scale": ("Redis B/task at scale", False),
    "get_ms": ("get by id ms", False),
    "cancel_ms": ("cancel by id ms", False),
    "replace_ms": ("replacing push ms", False),
    "script_us": ("server time per script call us", False),
    "drain_plain": ("drain/s, results off", True),
    "drain_results": ("drain/s, results=True", True),
    "wait_ms": ("wait() after the ack ms", False),
    "dependent_ms": ("dependent start after its parent's ack ms", False),
    "bytes_result": ("Redis B/result", False),
    "sleep_drain_s": ("1,000 x sleep(0.1) drain s", False),
}


@dataclass
class Row:
    """A figure for one system and metric, one value per repeat.

    Attributes:
        system: What was measured, e.g. ``"alligator redis msgpack"``.
        group: ``"alligator"``, ``"peer"`` or ``"raw"``; orders the table.
        metric: A key of :data:`METRICS`.
        values: One value per repeat.
        n: Tasks (or commands) per repeat.
        note: How it was measured, when that is not obvious.
    """

    system: str
    group: str
    metric: str
    values: list[float] = field(default_factory=list)
    n: int = 0
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def percentile(self, pct: float) -> float:
        """The ``pct`` percentile of the values (for rows that hold samples)."""
        return percentile(self.values, pct)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(median=self.median, min=self.low, max=self.high)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Row:
        return cls(
            system=str(raw["system"]),
            group=str(raw["group"]),
            metric=str(raw["metric"]),
            values=[float(v) for v in raw["values"]],
            n=int(raw.get("n", 0)),
            note=str(raw.get("note", "")),
        )


def timed(action: Callable[[], object]) -> float:
    """Wall-clock seconds ``action`` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def per_second(n: int, seconds: float) -> float:
    """A rate, guarded against a zero-length measurement."""
    return n / max(seconds, 1e-9)


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


class Target:
    """A target of an issue, evaluated on this run's figures."""

    def __init__(self, name: str, figure: str, met: bool | None) -> None:
        self.name = name
        self.figure = figure
        self.met = met

    @property
    def verdict(self) -> str:
        return "n/a" if self.met is None else ("met" if self.met else "NOT met")


def index(rows: Iterable[Row]) -> dict[tuple[str, str], Row]:
    """Rows by (system, metric)."""
    return {(row.system, row.metric): row for row in rows}


def alternate(legs: Sequence[Callable[[int], object]], n: int, chunk: int) -> list[float]:
    """Seconds each leg took for ``n`` items, the legs taking turns of ``chunk`` items.

    Each turn starts with the next leg, so none always runs first after a
    switch: a round trip's time drifts by half within seconds on a shared
    virtual machine, and phases minutes apart measured the same code at
    0.76 and 0.90 x its baseline.
    """
    spent = [0.0] * len(legs)
    for turn, start in enumerate(range(0, n, chunk)):
        count = min(chunk, n - start)
        for step in range(len(legs)):
            which = (turn + step) % len(legs)
            spent[which] += timed(functools.partial(legs[which], count))
    return spent
