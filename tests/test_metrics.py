"""Prometheus metrics: a worker's /metrics, the enqueue time on the wire, a pool's one endpoint.

Scraped over HTTP from the endpoint the worker serves, on a real SQLite
file; the pool test runs ``python -m alligator worker --processes 2`` with
children that recycle, and checks the sum of every child's counts.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from alligator import Gator, Worker, codecs
from alligator.events import TaskStarted
from alligator.exceptions import ConfigurationError
from alligator.metrics import Metrics
from alligator.wire import Envelope
from tests import tasks
from tests.conftest import stop_process
from tests.servers import free_port, wait_until
from tests.test_pool import children_of, start_pool


def scrape(port: int | None) -> str:
    assert port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


def sample(body: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent), its labels matched exactly."""
    for line in body.splitlines():
        found = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if found is None or found[1] != name:
            continue
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', found[2] or ""))
        if pairs == labels:
            return float(found[3])
    return 0.0


@contextlib.contextmanager
def running(worker: Worker) -> Iterator[None]:
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        worker.interrupt()
        thread.join(timeout=30)


def test_a_worker_serves_its_counts_durations_waits_and_queue_depth(sqlite_dsn: str) -> None:
    # Given a queue of 3 tasks that succeed, one that fails twice, and one delayed for an hour
    with Gator(sqlite_dsn, queue_name="q", timestamps=True) as gator:
        for i in range(3):
            gator.task(tasks.add, i, 1)
        with gator.options(retries=1) as opts:
            opts.task(tasks.fail, "boom")
        with gator.options(delay_by=3600) as opts:
            opts.task(tasks.add, 0, 0)
        metrics = Metrics(0, depth_interval=0.05)
        worker = Worker(gator, metrics=metrics, poll_timeout=0.1, nap_time=0.01)
        # When a worker with metrics on runs them
        with running(worker):
            wait_until(lambda: metrics.port != 0, message="the endpoint")
            assert metrics.host == "127.0.0.1"

            def settled() -> bool:
                body = scrape(metrics.port)
                return sample(body, "alligator_queue_depth", queue="q", state="buried") == 1

            wait_until(settled, timeout=20, message="the failed task to be buried")
            body = scrape(metrics.port)
        # Then every settlement is counted by queue, task and outcome
        add, fail = (
            {"queue": "q", "task": "tests.tasks:add"},
            {"queue": "q", "task": "tests.tasks:fail"},
        )
        assert sample(body, "alligator_tasks_total", **add, outcome="success") == 3
        assert sample(body, "alligator_tasks_total", **fail, outcome="retry") == 1
        assert sample(body, "alligator_tasks_total", **fail, outcome="buried") == 1
        # And each run has a duration and a queue wait, and none is in progress any more
        assert sample(body, "alligator_task_duration_seconds_count", **add) == 3
        assert sample(body, "alligator_task_queue_wait_seconds_count", **fail) == 2
        assert sample(body, "alligator_tasks_in_progress", **add) == 0
        # And the depth gauge shows the backend's counts
        assert sample(body, "alligator_queue_depth", queue="q", state="delayed") == 1
        assert sample(body, "alligator_queue_depth", queue="q", state="ready") == 0
    # And the endpoint closes with the worker
    with pytest.raises(OSError):
        scrape(metrics.port)


def test_in_progress_counts_a_task_while_it_runs(sqlite_dsn: str, tmp_path: Path) -> None:
    # Given a worker running a task that waits on a flag file
    started, flag = tmp_path / "started", tmp_path / "flag"
    with Gator(sqlite_dsn, queue_name="q") as gator:
        gator.task(tasks.wait_for_flag, str(tmp_path / "ledger"), "x", str(started), str(flag))
        metrics = Metrics(0)
        with running(Worker(gator, metrics=metrics, poll_timeout=0.1)):
            wait_until(started.exists, timeout=20, message="the task to start")
            labels = {"queue": "q", "task": "tests.tasks:wait_for_flag"}
            # Then it is in progress while it runs, and not once it is done
            assert sample(scrape(metrics.port), "alligator_tasks_in_progress", **labels) == 1
            flag.write_text("go")
            wait_until(
                lambda: (
                    sample(
                        scrape(metrics.port), "alligator_tasks_total", **labels, outcome="success"
                    )
                    == 1
                ),
                timeout=20,
            )
            assert sample(scrape(metrics.port), "alligator_tasks_in_progress", **labels) == 0


def test_the_queue_wait_counts_from_the_enqueue_time_the_payload_carries() -> None:
    # Given a payload enqueued 2 s ago
    observed: list[TaskStarted] = []

    class Spy:
        def on_worker_start(self, event: object) -> None: ...
        def on_task_done(self, event: object) -> None: ...
        def on_worker_stop(self, event: object) -> None: ...

        @contextlib.contextmanager
        def running(self, event: TaskStarted) -> Iterator[None]:
            observed.append(event)
            yield

    with Gator("locmem://wait", queue_name="q", timestamps=True) as gator:
        task = gator.task(tasks.add, 1, 2)
        data = gator.broker.get("q", task.task_id)
        assert data is not None
        envelope = codecs.decode(data)
        assert envelope.enqueued_at is not None and abs(envelope.enqueued_at - time.time()) < 60
        old = msgspec.structs.replace(envelope, enqueued_at=envelope.enqueued_at - 2.0)
        gator.broker.push("q", task.task_id, codecs.JSON.encode(old))
        # When a worker runs it
        Worker(gator, events=Spy(), max_tasks=1, poll_timeout=0.1).run_forever()
    # Then its queue wait is those 2 s (and a little)
    [event] = observed
    assert event.queue_wait is not None and 2.0 <= event.queue_wait < 30
    assert (event.task, event.queue, event.attempt) == ("tests.tasks:add", "q", 1)


def _counts(metrics: Metrics, task: str) -> dict[str, float]:
    from prometheus_client import generate_latest

    body, labels = generate_latest(metrics.registry).decode(), {"queue": "q", "task": task}
    found = {
        outcome: sample(body, "alligator_tasks_total", **labels, outcome=outcome)
        for outcome in ("success", "retry", "buried")
    }
    for name in ("duration", "queue_wait"):
        found[name] = sample(body, f"alligator_task_{name}_seconds_count", **labels)
    found["in_progress"] = sample(body, "alligator_tasks_in_progress", **labels)
    return found


def test_metrics_given_to_the_worker_count_as_metrics_heard_as_events() -> None:
    # Given two queues of the same tasks: two that succeed and one that fails for good
    observed: list[TaskStarted] = []

    class Spy:
        def on_worker_start(self, event: object) -> None: ...
        def on_task_done(self, event: object) -> None: ...
        def on_worker_stop(self, event: object) -> None: ...

        @contextlib.contextmanager
        def running(self, event: TaskStarted) -> Iterator[None]:
            observed.append(event)
            yield

    recorded, heard = Metrics(None), Metrics(None)
    for name in ("direct", "heard"):
        with Gator(f"locmem://{name}", queue_name="q", timestamps=True) as gator:
            gator.task(tasks.add, 1, 2)
            gator.task(tasks.add, 3, 4)
            with gator.options(retries=0) as opts:
                opts.task(tasks.fail, "boom")
            # When one worker records into Metrics directly (beside an observer)
            # and another hears them as its events
            direct = name == "direct"
            worker = Worker(
                gator,
                events=Spy() if direct else heard,
                metrics=recorded if direct else None,
                recycle_after=3,
                poll_timeout=0.1,
            )
            worker.run_forever()
            assert worker.deliveries == 3
    # Then both count the same, and the observer still saw every run
    for task, expected in (
        ("tests.tasks:add", {"success": 2, "duration": 2, "queue_wait": 2}),
        ("tests.tasks:fail", {"buried": 1, "duration": 1, "queue_wait": 1}),
    ):
        want = {"success": 0, "retry": 0, "buried": 0, "in_progress": 0, **expected}
        assert _counts(recorded, task) == _counts(heard, task) == want
    assert len(observed) == 3


def test_the_series_of_several_threads_are_summed_when_scraped() -> None:
    # Given a Metrics recorded into by four threads, one of them inside a run
    metrics = Metrics(None)
    inside, leave = threading.Event(), threading.Event()

    def record(holds: bool) -> None:
        series = metrics.series("q", "t")  # each thread its own series
        for _ in range(250):
            with series.start(0.5):
                pass
            series.finish("ack", 0.002)
        if holds:
            with series.start(None):
                inside.set()
                leave.wait(timeout=30)
            series.finish("retry", 1.0)

    threads = [threading.Thread(target=record, args=(i == 0,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        assert inside.wait(timeout=30)
        wait_until(lambda: _counts(metrics, "t")["success"] == 1000, message="every thread")
        # When Prometheus scrapes while one task runs
        running = _counts(metrics, "t")
    finally:
        leave.set()
        for thread in threads:
            thread.join(timeout=30)
    # Then the threads' counts are added up, the run in progress too
    assert running == {
        "success": 1000,
        "retry": 0,
        "buried": 0,
        "duration": 1000,
        "queue_wait": 1000,
        "in_progress": 1,
    }
    # And once it ended it is counted as settled and no longer in progress
    after = _counts(metrics, "t")
    assert (after["retry"], after["duration"], after["in_progress"]) == (1, 1001, 0)


def _as_declared(field: msgspec.structs.FieldInfo) -> tuple[Any, ...]:
    if field.required:
        return (field.name, field.type)
    if field.default_factory is not msgspec.NODEFAULT:
        return (field.name, field.type, msgspec.field(default_factory=field.default_factory))
    return (field.name, field.type, field.default)


_FIELDS = msgspec.structs.fields(Envelope)
#: The envelope as a worker before the enqueue time read it: every field before that one.
_OldEnvelope = msgspec.defstruct(
    "_OldEnvelope",
    [_as_declared(f) for f in _FIELDS[: [f.name for f in _FIELDS].index("enqueued_at")]],
    array_like=True,
    omit_defaults=True,
)


@pytest.mark.parametrize("codec", ["json", "msgpack"])
def test_an_older_worker_still_reads_a_payload_with_the_enqueue_time(codec: str) -> None:
    # Given a payload written now, with its enqueue time
    with Gator("locmem://old", codec=codec, timestamps=True) as gator:
        data = gator.serialize(gator.task_class().to_call(tasks.add, 1, 2))
    # When a reader of the older envelope decodes it
    decoder: Any = (msgspec.json if codec == "json" else msgspec.msgpack).Decoder(_OldEnvelope)
    old = decoder.decode(data)
    # Then it gets the same task (the trailing field is ignored)
    assert (old.module, old.callable, list(old.args)) == ("tests.tasks", "add", [1, 2])
    # And a payload of an older producer (no enqueue time) decodes with none
    plain = codecs.JSON.encode(Envelope(1, "t", "tests.tasks", "add", (1, 2)))
    assert codecs.decode(plain).enqueued_at is None


def test_a_failing_observer_never_stops_the_task(locmem_gator: Gator) -> None:
    # Given an events object whose running() raises
    class Broken:
        def on_worker_start(self, event: object) -> None: ...
        def on_task_done(self, event: object) -> None: ...
        def on_worker_stop(self, event: object) -> None: ...

        def running(self, event: TaskStarted) -> contextlib.AbstractContextManager[object]:
            raise RuntimeError("observer bug")

    task = locmem_gator.task(tasks.add, 2, 3)
    # When a worker runs a task with it
    worker = Worker(locmem_gator, events=Broken(), max_tasks=1, poll_timeout=0.1)
    worker.run_forever()
    # Then the task ran and was acked all the same
    assert (
        worker.tasks_complete == 1 and locmem_gator.broker.stats(locmem_gator.queue_name).ready == 0
    )
    assert task.task_id


@pytest.mark.slow
def test_a_pool_serves_one_endpoint_summing_children_and_restarted_children(
    sqlite_dsn: str, ledger: Path, tmp_path: Path
) -> None:
    # Given a pool of 2 whose children exit after 7 tasks each, and are replaced
    port = free_port()
    log = tmp_path / "pool.log"
    pool = start_pool(
        sqlite_dsn, log, "--processes", "2", "--max-tasks", "7", "--metrics-port", str(port),
        "--metrics-interval", "0.1",
    )  # fmt: skip
    try:
        wait_until(lambda: _up(port), timeout=30, message="the pool's endpoint")
        # When 60 tasks run through it (at least 9 children in all)
        with Gator(sqlite_dsn, queue_name="q") as gator, gator.batch() as batch:
            for i in range(60):
                batch.task(tasks.record, str(ledger), f"t{i}")
        labels = {"queue": "q", "task": "tests.tasks:record"}
        wait_until(
            lambda: (
                len(tasks.read_ledger(ledger)) == 60
                and sample(scrape(port), "alligator_tasks_total", **labels, outcome="success") >= 60
            ),
            timeout=60,
            interval=0.1,
            message="60 tasks counted",
        )
        # Then the one endpoint counts each task once: none lost with its child, none twice
        body = scrape(port)
        assert sample(body, "alligator_tasks_total", **labels, outcome="success") == 60
        assert sample(body, "alligator_task_duration_seconds_count", **labels) == 60
        assert log.read_text().count("finished its tasks; starting a fresh one") >= 6
        # And a child killed outright leaves its counts and no task in progress behind
        for child in children_of(pool.pid):
            subprocess.run(["kill", "-9", str(child)], check=True)
        wait_until(lambda: log.read_text().count("died (exit code -9)") >= 1, timeout=30)
        body = scrape(port)
        assert sample(body, "alligator_tasks_total", **labels, outcome="success") == 60
        assert sample(body, "alligator_tasks_in_progress", **labels) == 0
        assert sample(body, "alligator_queue_depth", queue="q", state="ready") == 0
    finally:
        pool.terminate()
        stop_process(pool)
    assert "Traceback" not in log.read_text()


def _up(port: int) -> bool:
    try:
        scrape(port)
    except OSError:
        return False
    return True


def test_a_port_in_use_is_a_clear_error_and_leaves_nothing_running(locmem_gator: Gator) -> None:
    # Given a port something else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        metrics = Metrics(port)
        # When a worker would serve its metrics there, then it says so and does not start
        with pytest.raises(ConfigurationError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            Worker(locmem_gator, metrics=metrics, max_tasks=1).run_forever()
    # And once the port is free the same Metrics serves (nothing half-started was kept)
    locmem_gator.task(tasks.add, 1, 1)
    worker = Worker(locmem_gator, metrics=metrics, poll_timeout=0.1)
    with running(worker):
        wait_until(lambda: _up(port), timeout=20, message="the endpoint")
