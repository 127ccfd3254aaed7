"""The per-task series of one worker process, kept in plain Python and summed on scrape.

prometheus_client's metric objects spend about a microsecond per ``inc``
and a few per histogram ``observe`` (a lock, a linear bucket scan, checks),
seven updates per task: up to a third of what a fast backend spends on the
whole task. Here each thread that records gets series of its own (shards),
which it alone updates, so an update is a few plain additions under no lock;
a bucket is found by bisection, and the shards of one queue and task are
summed into Prometheus families only when Prometheus scrapes. A scrape
reads the shards while they are written: each number it reads is whole,
and a histogram's sum may differ from its counts by the one observation
being made.
A pool's children cannot share memory with their parent, so they record
through prometheus_client's multiprocess files instead (:mod:`alligator.metrics`).
"""

from __future__ import annotations

import collections
import threading
from bisect import bisect_left as _bisect
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client.core import Metric

__all__ = ["HELP", "LocalSeries", "LocalTasks"]

#: Each per-task metric's name and help text, the same in both kinds of recording.
HELP = {
    "alligator_tasks": "Tasks settled, by outcome: success, retry (released for another try), "
    "buried.",
    "alligator_task_duration_seconds": "Seconds from claiming a task to settling it (decode, "
    "hooks, the call).",
    "alligator_task_queue_wait_seconds": "Seconds a task waited between becoming due "
    "(enqueued, or its delay ended) and starting to run.",
    "alligator_tasks_in_progress": "Tasks running now.",
}


class LocalSeries:
    """One worker's shard of the counters, histograms and gauge of a queue and task.

    A :class:`~alligator.protocols.TaskSeries`: only the thread of the
    worker it was made for calls :meth:`start`, :meth:`begin`, :meth:`end`
    and :meth:`finish`. The context :meth:`start` returns is the one each
    of its runs is in progress inside, which a concurrent worker enters in
    a pool thread: the runs inside are kept in a deque, whose appends and
    pops are atomic; :meth:`begin` and :meth:`end` count in a number that
    only the owning thread writes.

    Every count is a slot of its own (an attribute load less than a
    histogram object per update), ``ack`` is counted apart from the rarer
    outcomes (no dict update), and a value within the first bucket (a
    millisecond: most tasks' durations) skips the bisection: these run once
    per task, where each step costs about as much as the update itself.
    """

    __slots__ = (
        "acks",
        "duration_bounds",
        "duration_first",
        "duration_sum",
        "durations",
        "inside",
        "outcomes",
        "running",
        "wait_bounds",
        "wait_first",
        "wait_sum",
        "waits",
    )

    def __init__(
        self, outcomes: Sequence[str], duration: Sequence[float], wait: Sequence[float]
    ) -> None:
        self.acks = 0
        self.outcomes = dict.fromkeys((o for o in outcomes if o != "ack"), 0)
        self.duration_bounds, self.duration_first = duration, duration[0]
        self.durations = [0] * (len(duration) + 1)  # the last one is +Inf
        self.duration_sum = 0.0
        self.wait_bounds, self.wait_first = wait, wait[0]
        self.waits = [0] * (len(wait) + 1)
        self.wait_sum = 0.0
        self.inside = collections.deque[None]()
        self.running = 0

    def start(self, queue_wait: float | None) -> LocalSeries:
        if queue_wait is not None:
            self._waited(queue_wait)
        return self

    def begin(self, queue_wait: float | None) -> None:
        if queue_wait is not None:
            self._waited(queue_wait)
        self.running += 1

    def _waited(self, queue_wait: float) -> None:
        # ``le``: a value equal to a bound falls in that bound's bucket.
        self.waits[
            0 if queue_wait <= self.wait_first else _bisect(self.wait_bounds, queue_wait)
        ] += 1
        self.wait_sum += queue_wait

    def end(self) -> None:
        self.running -= 1

    def __enter__(self) -> None:
        self.inside.append(None)

    def __exit__(self, *exc_info: object) -> None:
        self.inside.pop()

    def finish(self, action: str, duration: float) -> None:
        if action == "ack":
            self.acks += 1
        else:
            self.outcomes[action] += 1
        self.durations[
            0 if duration <= self.duration_first else _bisect(self.duration_bounds, duration)
        ] += 1
        self.duration_sum += duration

    def settled(self) -> dict[str, int]:
        """The counts by action (read by a scrape, from any thread)."""
        return {"ack": self.acks, **self.outcomes}


class _Sum:
    """The shards of one queue and task added up, for one scrape."""

    def __init__(self, first: LocalSeries) -> None:
        self.outcomes = first.settled()
        self.duration = list(first.durations), first.duration_sum
        self.queue_wait = list(first.waits), first.wait_sum
        self.running = first.running + len(first.inside)

    def add(self, shard: LocalSeries) -> None:
        for action, count in shard.settled().items():
            self.outcomes[action] += count
        self.duration = _added(self.duration, shard.durations, shard.duration_sum)
        self.queue_wait = _added(self.queue_wait, shard.waits, shard.wait_sum)
        self.running += shard.running + len(shard.inside)


def _added(
    into: tuple[list[int], float], counts: list[int], total: float
) -> tuple[list[int], float]:
    return [a + b for a, b in zip(into[0], list(counts), strict=True)], into[1] + total


def _buckets(bounds: Sequence[float], counts: list[int]) -> list[tuple[str, float]]:
    cumulative, found = 0, list[tuple[str, float]]()
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        cumulative += count
        found.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
    return found


class LocalTasks:
    """Every shard of the process, and the collector that sums and renders them.

    Args:
        outcomes: The worker's action (``ack``...) to the ``outcome`` label.
        duration: The duration histogram's bucket bounds.
        wait: The queue-wait histogram's bucket bounds.
    """

    def __init__(
        self, outcomes: dict[str, str], duration: Sequence[float], wait: Sequence[float]
    ) -> None:
        self.labels = outcomes
        self.duration_bounds = duration
        self.wait_bounds = wait
        self._lock = threading.Lock()
        self._shards: list[tuple[str, str, LocalSeries]] = []

    def new(self, queue: str, task: str) -> LocalSeries:
        """A new shard of ``task`` from ``queue``, to be written by the calling thread only."""
        shard = LocalSeries(list(self.labels), self.duration_bounds, self.wait_bounds)
        with self._lock:
            self._shards.append((queue, task, shard))
        return shard

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        labels = ["queue", "task"]
        tasks = CounterMetricFamily(
            "alligator_tasks", HELP["alligator_tasks"], labels=[*labels, "outcome"]
        )
        duration, wait = (
            HistogramMetricFamily(name, HELP[name], labels=labels)
            for name in ("alligator_task_duration_seconds", "alligator_task_queue_wait_seconds")
        )
        running = GaugeMetricFamily(
            "alligator_tasks_in_progress", HELP["alligator_tasks_in_progress"], labels=labels
        )
        sums: dict[tuple[str, str], _Sum] = {}
        with self._lock:
            shards = list(self._shards)
        for queue, task, shard in shards:
            found = sums.get((queue, task))
            if found is None:
                sums[queue, task] = _Sum(shard)
            else:
                found.add(shard)
        for (queue, task), summed in sums.items():
            for action, count in summed.outcomes.items():
                tasks.add_metric([queue, task, self.labels[action]], count)
            for family, bounds, (counts, total) in (
                (duration, self.duration_bounds, summed.duration),
                (wait, self.wait_bounds, summed.queue_wait),
            ):
                family.add_metric([queue, task], _buckets(bounds, counts), total)
            running.add_metric([queue, task], summed.running)
        yield from (tasks, duration, wait, running)
