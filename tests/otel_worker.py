"""A traced worker in its own process: ``python -m tests.otel_worker DSN OUT N [CONCURRENCY]``.

Runs one Worker on queue ``q`` with tracing on, over N deliveries (running
up to CONCURRENCY tasks at once when given), into the
OpenTelemetry SDK's in-memory exporter, then writes the finished spans to
OUT as JSON Lines for the test in the other process to read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alligator import Gator, Worker
from alligator.tracing import Tracing


def as_dict(span: ReadableSpan) -> dict[str, object]:
    context = span.get_span_context()
    assert context is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": context.trace_id,
        "span_id": context.span_id,
        "parent_id": None if span.parent is None else span.parent.span_id,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
    }


def main(dsn: str, out: str, deliveries: int, concurrency: int | None = None) -> int:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with Gator(dsn, queue_name="q", tracing=Tracing(provider)) as gator:
        worker = Worker(gator, recycle_after=deliveries, poll_timeout=0.1, concurrency=concurrency)
        worker.run_forever()
    provider.shutdown()
    lines = [json.dumps(as_dict(span)) for span in exporter.get_finished_spans()]
    Path(out).write_text("".join(line + "\n" for line in lines))
    return 0


if __name__ == "__main__":
    concurrency = int(sys.argv[4]) if len(sys.argv) > 4 else None
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), concurrency))
