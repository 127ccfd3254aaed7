"""A worker's own series: the same buckets as prometheus_client, and each task under its labels.

:class:`~alligator._metrics_local.LocalSeries` finds a bucket without
bisecting when the value is within the first one, and a worker's reporter
finds the series of the task it counted last without a lookup: these check
that neither shortcut changes what is counted.
"""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from alligator import Gator, Worker
from alligator._metrics_local import LocalTasks
from alligator.metrics import _OUTCOMES, DURATION_BUCKETS, WAIT_BUCKETS, Metrics
from tests import tasks
from tests.test_metrics import sample

#: Both sides of every bound, the bounds themselves, zero and far past the last one.
_EDGES = [
    value
    for bound in DURATION_BUCKETS + WAIT_BUCKETS
    for value in (bound * 0.999999, bound, bound * 1.000001)
] + [0.0, 1e-9, 5e-4, 1e6]


def _prometheus(name: str, buckets: tuple[float, ...], values: list[float]) -> dict[str, float]:
    registry = CollectorRegistry()
    histogram = Histogram(name, "reference", buckets=buckets, registry=registry)
    for value in values:
        histogram.observe(value)
    return _samples(registry, name)


def _samples(registry: CollectorRegistry, name: str) -> dict[str, float]:
    """The histogram's buckets (by ``le``), count and sum, as scraped."""
    found = {}
    for family in registry.collect():
        for sample_ in family.samples:
            if sample_.name.startswith(name) and not sample_.name.endswith("_created"):
                found[sample_.name + sample_.labels.get("le", "")] = sample_.value
    return found


@pytest.mark.parametrize("how", ["begin", "start"])
def test_the_series_buckets_every_value_as_prometheus_client_does(how: str) -> None:
    # Given the edges of every bucket and random values from microseconds to hours
    rng = random.Random(19)
    values = _EDGES + [10 ** rng.uniform(-6, 4.5) for _ in range(2000)]
    rng.shuffle(values)
    # When a series records each as a run's queue wait and duration (the
    # one-at-a-time worker's calls, or a concurrent worker's context)
    store = LocalTasks(_OUTCOMES, DURATION_BUCKETS, WAIT_BUCKETS)
    series = store.new("q", "t")
    for value in values:
        if how == "begin":
            series.begin(value)
            series.end()
        else:
            with series.start(value):
                pass
        series.finish("ack", value)
    registry = CollectorRegistry()
    registry.register(store)
    # Then every bucket, the count and the sum are prometheus_client's own
    for name, buckets in (
        ("alligator_task_duration_seconds", DURATION_BUCKETS),
        ("alligator_task_queue_wait_seconds", WAIT_BUCKETS),
    ):
        ours, theirs = _samples(registry, name), _prometheus(name, buckets, values)
        sums = ours.pop(f"{name}_sum"), theirs.pop(f"{name}_sum")
        assert ours == theirs
        assert ours[f"{name}_count"] == len(values) and ours[f"{name}_bucket0.001"] > 0
        assert sums[0] == pytest.approx(sums[1], rel=1e-9)
    labels = {"queue": "q", "task": "t"}
    assert registry.get_sample_value("alligator_tasks_in_progress", labels) == 0


def test_tasks_of_two_functions_and_two_queues_each_count_under_their_own_labels() -> None:
    # Given two queues whose tasks alternate between two functions, one of
    # which fails for good, and a payload nobody can decode
    for queue in ("a", "b"):
        with Gator("locmem://series-labels", queue_name=queue, timestamps=True) as producer:
            for i in range(6):
                with producer.options(retries=0) as opts:
                    if i % 2:
                        opts.task(tasks.fail, "boom")
                    else:
                        opts.task(tasks.add, i, 1)
    metrics = Metrics(None)
    with Gator("locmem://series-labels", queue_name="a") as gator:
        gator.broker.push("b", "garbage", b"\x00not a payload")
        # When one worker drains both queues with metrics on
        worker = Worker(gator, to_consume=["a", "b"], metrics=metrics, recycle_after=13)
        worker.run_forever()
    assert worker.deliveries == 13
    # Then each queue counts its 3 successes and 3 burials under each function's name
    body = generate_latest(metrics.registry).decode()
    for queue in ("a", "b"):
        assert _counts(body, queue, "tests.tasks:add") == (3, 0, 3, 3, 0)
        assert _counts(body, queue, "tests.tasks:fail") == (0, 3, 3, 3, 0)
    # And the undecodable payload is buried under "?" with a duration and no queue wait
    assert _counts(body, "b", "?") == (0, 1, 1, 0, 0)
    assert _counts(body, "a", "?") == (0, 0, 0, 0, 0)


def _counts(body: str, queue: str, task: str) -> tuple[float, ...]:
    """Successes, burials, durations and queue waits counted, and runs in progress."""
    labels = {"queue": queue, "task": task}
    return (
        sample(body, "alligator_tasks_total", **labels, outcome="success"),
        sample(body, "alligator_tasks_total", **labels, outcome="buried"),
        sample(body, "alligator_task_duration_seconds_count", **labels),
        sample(body, "alligator_task_queue_wait_seconds_count", **labels),
        sample(body, "alligator_tasks_in_progress", **labels),
    )
