"""OpenTelemetry traces across two processes: the producer here, the worker in a subprocess.

The test's TracerProvider records the ``send`` spans in the SDK's in-memory
exporter; the worker process records its ``process`` spans the same way and
writes them to a file. The trace must continue from one to the other.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from alligator import Gator, codecs
from alligator.tracing import Tracing
from tests import tasks
from tests.test_cli import _run


@pytest.mark.parametrize("concurrency", [None, 4], ids=["one-by-one", "concurrent"])
def test_the_worker_continues_the_producers_trace_in_another_process(
    sqlite_dsn: str, tmp_path: Path, concurrency: int | None
) -> None:
    # Given a producer that traces into the in-memory exporter, inside a request span
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with Gator(sqlite_dsn, queue_name="q", tracing=Tracing(provider)) as gator:
        with tracer.start_as_current_span("request"):
            ok = gator.task(tasks.add, 1, 2)
            with gator.batch() as batch:
                bad = batch.task(tasks.fail, "boom")
        # When a worker in another process runs both tasks
        out = tmp_path / "spans.jsonl"
        many = [] if concurrency is None else [str(concurrency)]
        done = _run(sys.executable, "-m", "tests.otel_worker", sqlite_dsn, str(out), "2", *many)
        assert done.returncode == 0, done.stderr
        assert gator.broker.stats("q").buried == 1
    # Then each enqueue was a PRODUCER span named for the queue, with the messaging attributes
    sent = {(span.attributes or {})["messaging.message.id"]: span
            for span in exporter.get_finished_spans() if span.name == "send q"}  # fmt: skip
    assert set(sent) == {ok.task_id, bad.task_id}
    for span in sent.values():
        assert span.kind is SpanKind.PRODUCER
        assert span.attributes is not None
        assert span.attributes["messaging.system"] == "alligator"
        assert span.attributes["messaging.destination.name"] == "q"
        assert span.attributes["messaging.operation.type"] == "send"
    # And each run was a CONSUMER span in the same trace, child of its send span
    processed = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(span["name"] for span in processed) == ["process q", "process q"]
    for span in processed:
        task_id = span["attributes"]["messaging.message.id"]
        context = sent[task_id].get_span_context()
        assert context is not None
        assert span["kind"] == "CONSUMER"
        assert (span["trace_id"], span["parent_id"]) == (context.trace_id, context.span_id)
        assert span["attributes"]["messaging.destination.name"] == "q"
        assert span["attributes"]["messaging.system"] == "alligator"
        assert span["attributes"]["messaging.operation.type"] == "process"
    # And the failure is marked with its error type, the success is not
    by_id = {span["attributes"]["messaging.message.id"]: span for span in processed}
    assert by_id[bad.task_id]["attributes"]["error.type"] == "ValueError"
    assert by_id[bad.task_id]["status"] == "ERROR"
    assert "error.type" not in by_id[ok.task_id]["attributes"]
    assert by_id[ok.task_id]["status"] != "ERROR"


def test_a_gator_without_tracing_writes_no_trace_context(locmem_gator: Gator) -> None:
    # Given a Gator without tracing, when it enqueues
    task = locmem_gator.task(tasks.add, 1, 2)
    data = locmem_gator.broker.get(locmem_gator.queue_name, task.task_id)
    assert data is not None
    # Then the payload carries no trace context
    assert codecs.decode(data).trace is None


def test_a_traced_task_run_in_a_worker_without_tracing_still_runs(locmem_dsn: str) -> None:
    # Given a task enqueued by a tracing producer
    provider = TracerProvider()
    with Gator(locmem_dsn, tracing=Tracing(provider)) as producer:
        task = producer.task(tasks.add, 2, 2)
        data = producer.broker.get(producer.queue_name, task.task_id)
        assert data is not None and codecs.decode(data).trace is not None
        producer.broker.push(producer.queue_name, task.task_id, data)
        # When a Gator that does not trace pops and runs it
        with Gator(locmem_dsn) as plain:
            ran = plain.pop()
    # Then it ran as any other task
    assert ran is not None and ran.result == 4
