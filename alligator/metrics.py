"""Prometheus metrics of workers: ``Worker(..., metrics=Metrics(port=9100))``.

Needs the ``alligator[metrics]`` extra (``prometheus_client``), imported
only when a :class:`Metrics` is built. A worker records each task straight
into its series (:class:`Metrics` is a :class:`~alligator.protocols.TaskRecorder`:
no event is built and nothing in the loop calls Prometheus), which costs a
no-op task on a fast backend a few percent instead of a third; a
:class:`Metrics` passed as ``events=`` still hears the events
(:class:`~alligator.protocols.WorkerEvents`,
:class:`~alligator.protocols.TaskRunObserver`) and counts the same.

=====================================  =====================================
``alligator_tasks_total``              tasks settled, by ``queue``, ``task``
                                       and ``outcome`` (``success``,
                                       ``retry``, ``buried``)
``alligator_task_duration_seconds``    claim to settlement, a histogram
``alligator_task_queue_wait_seconds``  due (enqueued, or delay ended) to start
``alligator_tasks_in_progress``        tasks running now
``alligator_queue_depth``              tasks by ``queue`` and ``state``,
                                       read from the backend every
                                       ``depth_interval`` seconds
=====================================  =====================================

Under ``latergator --processes N`` each child records into files of a private
directory (``prometheus_client``'s multiprocess mode) and the pool's parent
serves one endpoint that sums them (:class:`PoolMetrics`). A child's files
outlive it, so a restarted child's counts are kept, and the new child writes
files of its own pid, so nothing is counted twice.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from alligator._metrics_local import HELP, LocalSeries, LocalTasks
from alligator.compat import as_reliable
from alligator.events import NullEvents, TaskDone, TaskStarted
from alligator.exceptions import AlligatorError, ConfigurationError
from alligator.protocols import ReliableClient

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric

    from alligator.gator import Gator

__all__ = [
    "CHILD_DIR_ENV",
    "DEFAULT_HOST",
    "MULTIPROC_ENV",
    "Metrics",
    "PoolMetrics",
    "QueueDepth",
    "child_metrics",
]

log = logging.getLogger("alligator.metrics")

#: Where ``/metrics`` listens unless told otherwise: this machine only.
DEFAULT_HOST: Final = "127.0.0.1"
#: prometheus_client's switch to multiprocess mode, set for a pool's children.
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: Set by a pool that serves metrics for its children: the directory they record into.
CHILD_DIR_ENV: Final = "ALLIGATOR_METRICS_DIR"

_OUTCOMES: Final = {"ack": "success", "retry": "retry", "bury": "buried"}
_STATES: Final = ("ready", "delayed", "reserved", "buried")
#: Task durations: milliseconds to ten minutes.
DURATION_BUCKETS: Final = (
    *(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
)
#: Queue waits: a busy queue's milliseconds to a backlog's hours.
WAIT_BUCKETS: Final = (*DURATION_BUCKETS, 1800.0, 3600.0, 7200.0, 21600.0)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ConfigurationError(
            "metrics need prometheus_client: pip install 'alligator[metrics]'"
        ) from exc
    return prometheus_client


def check_host(host: str) -> str:
    """``host`` if ``/metrics`` may listen there (an address or a name), else a clear error."""
    if not host or any(c.isspace() for c in host):
        raise ConfigurationError(f"--metrics-host must be an address or host name, got {host!r}")
    return host


class Metrics(NullEvents):
    """The worker's Prometheus metrics, and the ``/metrics`` endpoint that serves them.

    One object may serve several workers of a process (``--threads``): the
    endpoint and the queue-depth poller start with the first worker and stop
    with the last.

    Args:
        port: Where ``/metrics`` listens (``0``: any free port, read back
            from :attr:`port`); ``None`` records without serving (a pool's
            child, or a registry you serve yourself).
        host: The address it listens on; this machine only by default.
        depth_interval: Seconds between two reads of the queues' counts.
        registry: Where the metrics are registered (a new one by default;
            never prometheus_client's global one unless passed).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = DEFAULT_HOST,
        depth_interval: float = 15.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if port is not None and not 0 <= port <= 65535:
            raise ConfigurationError(f"metrics port must be 0-65535, got {port!r}")
        if not depth_interval > 0:
            raise ConfigurationError(f"depth_interval must be > 0 s, got {depth_interval!r}")
        prom = _prometheus()
        self.port = port
        self.host = check_host(host)
        self.depth_interval = depth_interval
        self.registry: CollectorRegistry = registry or prom.CollectorRegistry()
        # A pool's child records into the pool's files, read by its parent;
        # a process of its own keeps plain counts, rendered when scraped.
        self._store: LocalTasks | _FileTasks
        if os.environ.get(MULTIPROC_ENV):
            self._store = _FileTasks(prom, self.registry)
        else:
            self._store = LocalTasks(_OUTCOMES, DURATION_BUCKETS, WAIT_BUCKETS)
            self.registry.register(self._store)
        self._lock = threading.Lock()
        #: The series the events path records into, by queue, task and thread.
        self._series: dict[tuple[str, str, int], LocalSeries | _FileSeries] = {}
        self._users = 0
        self._server: Any = None
        self._depth: QueueDepth | None = None

    # -- TaskRecorder, and WorkerEvents and TaskRunObserver -------------------

    def series(self, queue: str, task: str) -> LocalSeries | _FileSeries:
        """A series of ``task`` from ``queue`` for the calling worker (a :class:`TaskRecorder`)."""
        return self._store.new(queue, task)

    def on_task_done(self, event: TaskDone) -> None:
        self._heard(event.queue, event.task).finish(event.action, event.duration)

    def running(self, event: TaskStarted) -> contextlib.AbstractContextManager[None]:
        return self._heard(event.queue, event.task).start(event.queue_wait)

    def _heard(self, queue: str, task: str) -> LocalSeries | _FileSeries:
        # Events come from any worker's thread: a series is written by one thread only.
        key = (queue, task, threading.get_ident())
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = self.series(queue, task)
        return found

    # -- serving -------------------------------------------------------------

    def attach(self, gator: Gator, queues: Sequence[str]) -> None:
        """A worker starts: serve ``/metrics`` and poll ``queues`` if nobody does yet."""
        with self._lock:
            if self._users or self.port is None:
                self._users += 1
                return
            depth = QueueDepth.of(gator, queues, self.depth_interval)
            try:
                self._server = serve(self.registry, self.host, self.port)
            except BaseException:
                depth.close()
                raise
            self.registry.register(depth)
            self._depth = depth
            self.port = self._server.server_address[1]
            self._users = 1

    def detach(self) -> None:
        """A worker stopped: the last one closes the endpoint and the poller."""
        with self._lock:
            self._users -= 1
            if self._users or self._server is None:
                return
            server, self._server = self._server, None
            depth, self._depth = self._depth, None
        server.shutdown()
        server.server_close()
        if depth is not None:
            self.registry.unregister(depth)
            depth.close()


class _FileSeries:
    """The labelled children of one queue and task, looked up once (a :class:`TaskSeries`)."""

    __slots__ = ("duration", "in_progress", "outcomes", "queue_wait")

    def __init__(
        self, outcomes: dict[str, Any], duration: Any, queue_wait: Any, in_progress: Any
    ) -> None:
        self.outcomes = outcomes
        self.duration = duration
        self.queue_wait = queue_wait
        self.in_progress = in_progress

    def start(self, queue_wait: float | None) -> _FileSeries:
        if queue_wait is not None:
            self.queue_wait.observe(queue_wait)
        return self

    def begin(self, queue_wait: float | None) -> None:
        self.start(queue_wait)
        self.in_progress.inc()

    def end(self) -> None:
        self.in_progress.dec()

    def __enter__(self) -> None:
        self.in_progress.inc()

    def __exit__(self, *exc_info: object) -> None:
        self.in_progress.dec()

    def finish(self, action: str, duration: float) -> None:
        self.outcomes[action].inc()
        self.duration.observe(duration)


class _FileTasks:
    """The per-task metrics as prometheus_client objects: a pool child's, in multiprocess files.

    A file outlives its process, so what a child counted is still summed
    after it exits or is killed.
    """

    def __init__(self, prom: Any, registry: CollectorRegistry) -> None:
        labels = ["queue", "task"]
        name = "alligator_tasks"
        self.tasks = prom.Counter(name, HELP[name], [*labels, "outcome"], registry=registry)
        self.duration, self.queue_wait = (
            prom.Histogram(name, HELP[name], labels, buckets=buckets, registry=registry)
            for name, buckets in (
                ("alligator_task_duration_seconds", DURATION_BUCKETS),
                ("alligator_task_queue_wait_seconds", WAIT_BUCKETS),
            )
        )
        name = "alligator_tasks_in_progress"
        self.in_progress = prom.Gauge(
            name, HELP[name], labels, multiprocess_mode="livesum", registry=registry
        )

    def new(self, queue: str, task: str) -> _FileSeries:
        # labels() costs microseconds (a lock, a tuple, a dict): looked up once per task name.
        return _FileSeries(
            {
                action: self.tasks.labels(queue, task, outcome)
                for action, outcome in _OUTCOMES.items()
            },
            self.duration.labels(queue, task),
            self.queue_wait.labels(queue, task),
            self.in_progress.labels(queue, task),
        )


def serve(registry: CollectorRegistry, host: str, port: int) -> Any:
    """Start a ``/metrics`` HTTP server for ``registry`` in a daemon thread; returns the server."""
    prom = _prometheus()
    try:
        server, _thread = prom.start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigurationError(f"cannot serve metrics on {host}:{port}: {exc}") from exc
    log.info(
        "metrics on http://%s:%d/metrics", host, server.server_address[1], extra={"port": port}
    )
    return server


class QueueDepth:
    """``alligator_queue_depth``: the queues' counts by state, read on an interval.

    A scrape reads the last counts; a daemon thread refreshes them every
    ``interval`` seconds through a client of its own (a backend client is
    not shared across threads), so the backend sees one ``stats`` call per
    queue per interval, however often Prometheus scrapes and however many
    tasks run.
    """

    def __init__(self, broker: ReliableClient, queues: Sequence[str], interval: float) -> None:
        self.broker = broker
        self.queues = list(queues)
        self.interval = interval
        self._counts: dict[str, tuple[int, ...]] = {}
        self._stop = threading.Event()
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="alligator-depth", daemon=True)
        self._thread.start()

    @classmethod
    def of(cls, gator: Gator, queues: Sequence[str], interval: float) -> QueueDepth:
        """A poller of ``queues`` over a new client of ``gator``'s backend."""
        broker, _ = as_reliable(gator.build_backend(gator.conn_string))
        return cls(broker, queues, interval)

    def refresh(self) -> None:
        """Read every queue's counts now (a backend error keeps the last ones)."""
        for queue in self.queues:
            try:
                stats = self.broker.stats(queue)
            except AlligatorError as exc:
                log.warning("queue depth of %r not read: %s", queue, exc)
                continue
            self._counts[queue] = (stats.ready, stats.delayed, stats.reserved, stats.buried)

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            "alligator_queue_depth",
            "Tasks in the queue by state, as last read from the backend.",
            labels=["queue", "state"],
        )
        for queue, counts in list(self._counts.items()):
            for state, count in zip(_STATES, counts, strict=True):
                family.add_metric([queue, state], count)
        yield family

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)
        self.broker.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()


class PoolMetrics:
    """The one ``/metrics`` endpoint of a pool: every child's files summed, plus queue depth.

    Args:
        directory: The private directory the children record into (their
            ``PROMETHEUS_MULTIPROC_DIR``); emptied when the pool starts.
        port: Where the endpoint listens (``0``: any free port).
        host: The address it listens on.
    """

    def __init__(self, directory: str, port: int, *, host: str = DEFAULT_HOST) -> None:
        prom = _prometheus()
        multiprocess: Any = importlib.import_module("prometheus_client.multiprocess")

        self.directory = directory
        self.registry: CollectorRegistry = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(self.registry, path=directory)
        self.host = check_host(host)
        self.port = port
        self._server: Any = None
        self._depth: QueueDepth | None = None

    def start(self, gator: Gator, queues: Sequence[str], interval: float) -> None:
        self._depth = QueueDepth.of(gator, queues, interval)
        self.registry.register(self._depth)
        self._server = serve(self.registry, self.host, self.port)
        self.port = self._server.server_address[1]

    def child_exited(self, pid: int) -> None:
        """Drop the dead child's in-progress gauge; its counters stay and keep counting."""
        multiprocess: Any = importlib.import_module("prometheus_client.multiprocess")
        multiprocess.mark_process_dead(pid, self.directory)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._depth is not None:
            self._depth.close()


def child_metrics() -> Metrics | None:
    """A pool child's recorder, when its pool serves metrics (else ``None``).

    It records into the pool's directory and serves nothing: the pool's
    parent serves the sum. prometheus_client reads the directory when it is
    first imported, which is here, later than anything the worker imported.
    """
    directory = os.environ.get(CHILD_DIR_ENV)
    if not directory:
        return None
    os.environ[MULTIPROC_ENV] = directory
    return Metrics(None)
