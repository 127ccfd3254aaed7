"""The per-task series of one worker process, kept in plain Python and rendered on scrape.

prometheus_client's metric objects spend about a microsecond per ``inc``
and a few per histogram ``observe`` (a lock, a linear bucket scan, checks),
seven updates per task: up to a third of what a fast backend spends on the
whole task. Here one lock is taken per event, a bucket is found by bisection,
and the families are built only when Prometheus scrapes. A pool's children
cannot share memory with their parent, so they record through
prometheus_client's multiprocess files instead (:mod:`alligator.metrics`).
"""

from __future__ import annotations

import bisect
import threading
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


class _Histogram:
    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        # ``le``: a value equal to a bound falls in that bound's bucket.
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        cumulative, found = 0, list[tuple[str, float]]()
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            cumulative += count
            found.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        return found


class _Counts:
    """One outcome's counter, updated under the series' lock."""

    __slots__ = ("lock", "value")

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.value = 0

    def inc(self) -> None:
        with self.lock:
            self.value += 1


class _Timings:
    """A histogram updated under the series' lock."""

    __slots__ = ("histogram", "lock")

    def __init__(self, lock: threading.Lock, bounds: Sequence[float]) -> None:
        self.lock = lock
        self.histogram = _Histogram(bounds)

    def observe(self, value: float) -> None:
        with self.lock:
            self.histogram.observe(value)


class _InProgress(_Counts):
    """The tasks of a series running now: a context entered for each run."""

    __slots__ = ()

    def __enter__(self) -> None:
        self.inc()

    def __exit__(self, *exc_info: object) -> None:
        with self.lock:
            self.value -= 1


class LocalSeries:
    """The counters, histograms and gauge of one queue and task."""

    __slots__ = ("duration", "outcomes", "queue_wait", "running")

    def __init__(
        self,
        lock: threading.Lock,
        outcomes: Sequence[str],
        duration: Sequence[float],
        wait: Sequence[float],
    ) -> None:
        self.outcomes = {action: _Counts(lock) for action in outcomes}
        self.duration = _Timings(lock, duration)
        self.queue_wait = _Timings(lock, wait)
        self.running = _InProgress(lock)


class LocalTasks:
    """Every series of the process, and the collector that renders them.

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
        self.lock = threading.Lock()
        self.series: dict[tuple[str, str], LocalSeries] = {}

    def new(self, queue: str, task: str) -> LocalSeries:
        series = LocalSeries(self.lock, list(self.labels), self.duration_bounds, self.wait_bounds)
        with self.lock:
            return self.series.setdefault((queue, task), series)

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
        with self.lock:
            for (queue, task), series in self.series.items():
                for action, counts in series.outcomes.items():
                    tasks.add_metric([queue, task, self.labels[action]], counts.value)
                for family, timings in ((duration, series.duration), (wait, series.queue_wait)):
                    histogram = timings.histogram
                    family.add_metric([queue, task], histogram.buckets(), histogram.total)
                running.add_metric([queue, task], series.running.value)
        yield from (tasks, duration, wait, running)
