"""``async def`` tasks on every built-in backend: the delivery guarantees hold concurrently.

Success, failure with retries, timeouts and lease renewal run with in-process
workers; a stop with tasks in flight (SIGTERM) and a crash (kill -9) run
worker processes (``alligator worker --concurrency N``).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from alligator import Gator, Worker
from alligator.retry import Backoff
from tests import tasks
from tests.conftest import spawn_worker
from tests.fixtures import Backend
from tests.servers import wait_until


def quiet(gator: Gator) -> bool:
    stats = gator.broker.stats("q")
    return stats.ready == stats.delayed == stats.reserved == 0


def run_until_quiet(gator: Gator, **options: object) -> Worker:
    """A concurrent worker, stopped once the queue has nothing ready, delayed or running."""
    worker = Worker(gator, concurrency=20, poll_timeout=0.1, nap_time=0.05, **options)  # type: ignore[arg-type]

    def stop_when_quiet() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (worker.deliveries and quiet(gator)):
            time.sleep(0.05)
        worker.interrupt()

    stopper = threading.Thread(target=stop_when_quiet, daemon=True)
    stopper.start()
    worker.run_forever()
    stopper.join()
    return worker


def test_coroutine_tasks_run_concurrently(any_backend: Backend) -> None:
    gator = any_backend.gator()
    with gator.batch() as batch:
        for _ in range(20):
            batch.task(tasks.anap, 0.5)
    worker = run_until_quiet(gator)
    assert worker.tasks_complete == 20
    assert tasks.EVENTS.count(("anap", 0.5)) == 20
    assert tasks.CALLS["peak"] >= 10  # they ran side by side
    assert gator.broker.stats("q").buried == 0


def test_a_failing_coroutine_is_retried_then_buried(any_backend: Backend) -> None:
    gator = any_backend.gator(backoff=Backoff(base=0, jitter=0))
    with gator.options(retries=2) as opts:
        opts.task(tasks.afail_times, "recovers", 2)
    with gator.options(retries=1) as opts:
        opts.task(tasks.afail_times, "never", 99)
    worker = run_until_quiet(gator)
    assert (tasks.CALLS["recovers"], tasks.CALLS["never"]) == (3, 2)
    assert worker.tasks_complete == 1
    [buried] = gator.broker.buried("q")
    assert "ConnectionError: never: failure 2" in buried.reason


def test_a_coroutine_past_its_timeout_is_cancelled_and_buried(any_backend: Backend) -> None:
    gator = any_backend.gator(backoff=Backoff(base=0, jitter=0))
    with gator.options(timeout=0.3, retries=1) as opts:
        opts.task(tasks.anap, 60)
    run_until_quiet(gator)
    [buried] = gator.broker.buried("q")
    assert "timed out after 0.3 s" in buried.reason  # beanstalkd renames a released job


def test_a_long_coroutine_keeps_its_lease_and_runs_once(any_backend: Backend, ledger: Path) -> None:
    # Given a task that runs three times as long as the 1 s lease
    producer = any_backend.gator(lease=1.0)
    producer.task(tasks.arecord, str(ledger), "long", 3.0)
    # When two concurrent workers consume the queue while it runs
    workers = [Worker(any_backend.gator(lease=1.0), concurrency=4, poll_timeout=0.1)]
    workers.append(Worker(any_backend.gator(lease=1.0), concurrency=4, poll_timeout=0.1))
    threads = [threading.Thread(target=w.run_forever, daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    wait_until(lambda: "done long" in tasks.read_ledger(ledger), 30, message="the task")
    wait_until(lambda: quiet(producer), 10, message="its ack")
    for worker in workers:
        worker.interrupt()
    for thread in threads:
        thread.join(30)
    # Then its lease was renewed: it ran once, never handed to the other worker
    assert tasks.read_ledger(ledger) == ["start long", "done long"]
    assert sum(w.tasks_complete for w in workers) == 1


def _needs_a_shared_store(backend: Backend) -> None:
    if backend.name == "locmem":
        pytest.skip("a locmem queue lives in one process: worker processes cannot share it")


def _started(ledger: Path, count: int) -> bool:
    return sum(line.startswith("start ") for line in tasks.read_ledger(ledger)) >= count


@pytest.mark.slow
def test_sigterm_finishes_short_tasks_and_releases_the_rest(
    any_backend: Backend, ledger: Path, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given a concurrent worker process running two short and two long coroutines
    _needs_a_shared_store(any_backend)
    gator = any_backend.gator()
    for key, seconds in (("short-1", 0.5), ("short-2", 0.5), ("long-1", 60), ("long-2", 60)):
        gator.task(tasks.arecord, str(ledger), key, seconds)
    log = tmp_path / "worker.log"
    proc = spawn_worker(any_backend.dsn, log, "--concurrency", "4", "--grace", "2")
    procs.append(proc)
    wait_until(lambda: _started(ledger, 4), 30, message="four tasks to start")
    # When it is sent SIGTERM
    proc.send_signal(signal.SIGTERM)
    # Then it exits 0 once the grace period is over
    assert proc.wait(timeout=30) == 0, log.read_text()
    # And the short tasks finished and were acked; the long ones were cancelled
    # and released, due again, never acked and never buried
    done = sorted(line for line in tasks.read_ledger(ledger) if line.startswith("done "))
    assert done == ["done short-1", "done short-2"]
    stats = gator.broker.stats("q")
    assert (stats.ready, stats.reserved, stats.buried) == (2, 0, 0), log.read_text()
    assert "released for redelivery" in log.read_text()


@pytest.mark.slow
def test_tasks_in_flight_when_a_worker_is_killed_run_again(
    any_backend: Backend, ledger: Path, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given a concurrent worker with a 1 s lease running three coroutines
    _needs_a_shared_store(any_backend)
    gator = any_backend.gator(lease=1.0)
    flag = tmp_path / "flag"
    for n in range(3):
        gator.task(tasks.await_flag, str(ledger), f"t{n}", str(flag))
    first = spawn_worker(
        any_backend.dsn, tmp_path / "first.log", "--concurrency", "3", "--lease", "1"
    )
    procs.append(first)
    wait_until(lambda: _started(ledger, 3), 30, message="three tasks to start")
    # When it is killed with SIGKILL, in flight
    first.kill()
    first.wait(timeout=10)
    flag.write_text("go")
    second = spawn_worker(
        any_backend.dsn, tmp_path / "second.log", "--concurrency", "3", "--lease", "1"
    )
    procs.append(second)
    # Then another worker runs each of them to success once the leases expired
    wait_until(
        lambda: (
            len([x for x in tasks.read_ledger(ledger) if x.startswith("done ")]) >= 3
            and quiet(gator)
        ),
        timeout=30,
        interval=0.05,
        message="the tasks to run again",
    )
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0, (tmp_path / "second.log").read_text()
    done = Counter(x for x in tasks.read_ledger(ledger) if x.startswith("done "))
    assert done == Counter({"done t0": 1, "done t1": 1, "done t2": 1})
    assert gator.broker.stats("q").buried == 0
