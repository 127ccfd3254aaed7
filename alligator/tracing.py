"""OpenTelemetry traces: a ``send`` span at enqueue, a ``process`` span around the run.

``Gator(..., tracing=True)`` (the ``alligator[otel]`` extra; OpenTelemetry is
imported only then) makes every push a ``send {queue}`` span of kind
PRODUCER and writes its trace context into the task's envelope (the
optional trailing ``trace`` field: older workers ignore it). A worker built
on such a Gator (or ``latergator --tracing``) runs each task inside a
``process {queue}`` span of kind CONSUMER whose parent is that context, so
a request, the task it enqueued and whatever the task does form one trace,
across processes and machines.

Attributes follow OpenTelemetry's messaging semantic conventions:
``messaging.system`` (``alligator``), ``messaging.destination.name`` (the
queue), ``messaging.message.id`` (the task id), ``messaging.operation.type``
and ``messaging.operation.name`` (``send`` / ``process``), and on failure
``error.type`` (the exception's qualified class name) with the span's
status set to ERROR.

Spans go to the tracer provider given, or to OpenTelemetry's global one
(set up by your application or by ``opentelemetry-instrument``); the
context travels with the globally configured propagator (W3C
``traceparent`` by default).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from alligator.events import NullEvents, TaskStarted
from alligator.exceptions import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from alligator import tasks

__all__ = ["SYSTEM", "Tracing", "error_type", "tracing_for"]

#: ``messaging.system`` of every span.
SYSTEM: Final = "alligator"


def _otel() -> tuple[Any, Any]:
    try:
        from opentelemetry import propagate, trace
    except ImportError as exc:
        raise ConfigurationError(
            "tracing needs OpenTelemetry: pip install 'alligator[otel]'"
        ) from exc
    return trace, propagate


def error_type(error: BaseException) -> str:
    """``error.type``: the exception's class, qualified by its module unless a builtin."""
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


class Tracing(NullEvents):
    """Makes the spans of one Gator and the workers built on it.

    Args:
        tracer_provider: Where spans go; OpenTelemetry's global provider
            when ``None``.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        from alligator import __version__

        trace, propagate = _otel()
        self._trace = trace
        self._propagate = propagate
        self.tracer = trace.get_tracer("alligator", __version__, tracer_provider)

    def _attributes(self, queue: str, operation: str) -> dict[str, str]:
        return {
            "messaging.system": SYSTEM,
            "messaging.destination.name": queue,
            "messaging.operation.type": operation,
            "messaging.operation.name": operation,
        }

    @contextlib.contextmanager
    def send(self, task: tasks.Task[Any], queue: str) -> Iterator[None]:
        """The ``send`` span around one enqueue; the task carries its context on the wire."""
        kind = self._trace.SpanKind.PRODUCER
        with self.tracer.start_as_current_span(
            f"send {queue}", kind=kind, attributes=self._attributes(queue, "send")
        ) as span:
            carrier: dict[str, str] = {}
            self._propagate.inject(carrier)
            task.trace = carrier or None
            try:
                yield
            except BaseException as exc:
                span.set_attribute("error.type", error_type(exc))
                raise
            finally:
                # Set once pushed: a backend that picks ids (beanstalkd) gives it only then.
                span.set_attribute("messaging.message.id", task.task_id)

    # -- TaskRunObserver (the WorkerEvents are NullEvents' no-ops) -----------

    @contextlib.contextmanager
    def running(self, event: TaskStarted) -> Iterator[None]:
        """The ``process`` span, child of the producer's ``send`` span when the task carries it."""
        parent = self._propagate.extract(event.trace) if event.trace else None
        attributes = self._attributes(event.queue, "process")
        attributes["messaging.message.id"] = event.task_id
        with self.tracer.start_as_current_span(
            f"process {event.queue}",
            context=parent,
            kind=self._trace.SpanKind.CONSUMER,
            attributes=attributes,
        ) as span:
            span.set_attribute("alligator.task.name", event.task)
            span.set_attribute("alligator.task.attempt", event.attempt)
            try:
                yield
            except BaseException as exc:
                span.set_attribute("error.type", error_type(exc))
                raise


def tracing_for(setting: bool | Tracing) -> Tracing | None:
    """A Gator's tracer from its ``tracing=``: none, one on the global provider, or the one given.

    OpenTelemetry is imported only when tracing is on, so ``False`` must not
    build anything.
    """
    if setting is False:
        return None
    if setting is True:
        return Tracing()
    if not isinstance(setting, Tracing):
        raise ConfigurationError(f"tracing must be True, False or a Tracing, got {setting!r}")
    return setting
