"""A concurrent worker's metrics and traces: the same as a one-at-a-time worker's.

In-process, on locmem: Prometheus samples are read from the ``Metrics``
registry, spans from OpenTelemetry's in-memory exporter. The trace across
two processes is ``tests/test_tracing.py``'s, run with ``--concurrency`` too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from alligator import Gator, Worker
from alligator.metrics import Metrics
from alligator.retry import Backoff
from alligator.tracing import Tracing
from tests import tasks
from tests.servers import wait_until
from tests.test_asyncio import drain


@pytest.fixture
def gator(locmem_dsn: str) -> Iterator[Gator]:
    made = Gator(
        locmem_dsn,
        queue_name="q",
        backoff=Backoff(base=0, jitter=0),
        results=True,
        timestamps=True,
    )
    yield made
    made.close()


def sample(metrics: Metrics, name: str, task: str, **labels: str) -> float:
    """One sample of the worker's registry (0 when absent)."""
    found = metrics.registry.get_sample_value(name, {"queue": "q", "task": task, **labels})
    return found or 0.0


# -- metrics -------------------------------------------------------------------


def test_every_task_of_a_concurrent_worker_is_counted_by_outcome(gator: Gator) -> None:
    # Given coroutine and plain tasks that succeed, one that succeeds on its
    # second try, and one of each kind that fails for good (one after a retry)
    with gator.batch() as batch:
        for _ in range(4):
            batch.task(tasks.anap, 0.05)
        for n in range(3):
            batch.task(tasks.add, n, n)
    with gator.options(retries=1) as opts:
        opts.task(tasks.afail_times, "once", 1)
        opts.task(tasks.fail, "boom")
    gator.task(tasks.afail_times, "always", 9)
    metrics = Metrics(None)
    # When a worker running 4 at once, with metrics, drains the queue
    worker = drain(gator, concurrency=4, metrics=metrics)
    # Then each settlement was counted by task and outcome
    assert (worker.deliveries, worker.tasks_complete) == (12, 8)
    counted: dict[tuple[str, str], float] = {}
    for task in ("anap", "add", "afail_times", "fail"):
        for outcome in ("success", "retry", "buried"):
            total = sample(metrics, "alligator_tasks_total", f"tests.tasks:{task}", outcome=outcome)
            if total:
                counted[task, outcome] = total
    assert counted == {
        ("anap", "success"): 4,
        ("add", "success"): 3,
        ("afail_times", "success"): 1,
        ("afail_times", "retry"): 1,
        ("afail_times", "buried"): 1,
        ("fail", "retry"): 1,
        ("fail", "buried"): 1,
    }
    # And every run has a duration and a queue wait, and none is in progress any more
    for task, runs in (("anap", 4), ("add", 3), ("afail_times", 3), ("fail", 2)):
        name = f"tests.tasks:{task}"
        assert sample(metrics, "alligator_task_duration_seconds_count", name) == runs
        assert sample(metrics, "alligator_task_queue_wait_seconds_count", name) == runs
        assert sample(metrics, "alligator_tasks_in_progress", name) == 0


def test_in_progress_counts_every_task_running_at_once(gator: Gator, tmp_path: Path) -> None:
    # Given three coroutine tasks and a plain one, all waiting on one flag file
    ledger, flag, started = tmp_path / "ledger", tmp_path / "flag", tmp_path / "started"
    for key in "abc":
        gator.task(tasks.await_flag, str(ledger), key, str(flag))
    gator.task(tasks.wait_for_flag, str(ledger), "d", str(started), str(flag))
    metrics = Metrics(None)
    worker = Worker(gator, concurrency=4, metrics=metrics, poll_timeout=0.05)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    # When a worker running 4 at once with metrics started them all
    thread.start()
    try:
        wait_until(
            lambda: len(tasks.read_ledger(ledger)) == 3 and started.exists(),
            timeout=20,
            message="the four tasks to start",
        )
        # Then all four are in progress at once
        coroutines, plain = "tests.tasks:await_flag", "tests.tasks:wait_for_flag"
        assert sample(metrics, "alligator_tasks_in_progress", coroutines) == 3
        assert sample(metrics, "alligator_tasks_in_progress", plain) == 1
        # And once they finish, none is
        flag.write_text("go")
        wait_until(lambda: worker.tasks_complete == 4, timeout=20, message="the four to finish")
        assert sample(metrics, "alligator_tasks_in_progress", coroutines) == 0
        assert sample(metrics, "alligator_tasks_in_progress", plain) == 0
    finally:
        worker.interrupt()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert sample(metrics, "alligator_tasks_total", coroutines, outcome="success") == 3
    assert sample(metrics, "alligator_tasks_total", plain, outcome="success") == 1


# -- tracing -------------------------------------------------------------------


def test_each_task_of_a_concurrent_worker_runs_in_its_own_process_span(locmem_dsn: str) -> None:
    # Given a producer and a worker tracing into the in-memory exporter, and,
    # enqueued inside a request span, coroutine and plain tasks that report
    # the span current while they run, and one that fails
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    with Gator(locmem_dsn, queue_name="q", results=True, tracing=tracing) as gator:
        with provider.get_tracer("test").start_as_current_span("request"), gator.batch() as batch:
            sent = [batch.task(tasks.acurrent_span) for _ in range(3)]
            sent += [batch.task(tasks.current_span) for _ in range(2)]
            bad = batch.task(tasks.afail_times, "traced", 9)
        # When a concurrent worker runs them
        worker = drain(gator, concurrency=4, threads=2)
        assert worker.deliveries == 6
        seen = {task.task_id: task.wait(5) for task in sent}
    spans = exporter.get_finished_spans()
    sends = {(s.attributes or {})["messaging.message.id"]: s for s in spans if s.name == "send q"}
    runs = {(s.attributes or {})["messaging.message.id"]: s for s in spans if s.name == "process q"}
    # Then each task ran in one CONSUMER span, child of its send span in the same trace
    assert set(runs) == set(sends) == {*seen, bad.task_id}
    for task_id, span in runs.items():
        parent, context = sends[task_id].get_span_context(), span.get_span_context()
        assert parent is not None and context is not None and span.parent is not None
        assert (context.trace_id, span.parent.span_id) == (parent.trace_id, parent.span_id)
        assert span.kind is SpanKind.CONSUMER
        assert span.attributes is not None
        assert span.attributes["messaging.system"] == "alligator"
        assert span.attributes["messaging.destination.name"] == "q"
        assert span.attributes["messaging.operation.type"] == "process"
        assert span.attributes["alligator.task.attempt"] == 1
    # And the process span was the current one inside the task, on the loop or in a thread
    for task_id, current in seen.items():
        context = runs[task_id].get_span_context()
        assert context is not None
        assert current == f"{context.trace_id:032x}/{context.span_id:016x}"
    # And the failure is marked with its error type, the successes are not
    assert runs[bad.task_id].status.status_code is StatusCode.ERROR
    assert (runs[bad.task_id].attributes or {})["error.type"] == "ConnectionError"
    assert all(runs[task_id].status.status_code is not StatusCode.ERROR for task_id in seen)
    assert all("error.type" not in (runs[task_id].attributes or {}) for task_id in seen)
