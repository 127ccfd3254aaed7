"""Flow control under real concurrency: worker processes, and racing producer threads.

On every backend that declares the capability. locmem's queues live in one
process, so there the workers are threads of this process.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator, Worker
from alligator.records import QueueStats
from tests import flow_tasks
from tests.conftest import spawn_worker, stop_process
from tests.fixtures import BACKENDS, DECLARED
from tests.servers import wait_until
from tests.tasks import read_ledger

pytestmark = pytest.mark.slow

UNIQUE = [name for name in BACKENDS if DECLARED[name].unique]
LIMITS = [name for name in BACKENDS if DECLARED[name].limits]

WORKERS = 4
#: Tasks of the concurrency test (2,000 in the issue's wording: see the report).
TASKS = 2000
#: How long each of them naps, in seconds.
NAP = 0.002


@pytest.fixture
def workers(any_dsn: str, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]] | Worker]:
    """Starts ``WORKERS`` workers on queue ``q``: processes, or threads on locmem."""
    procs: list[subprocess.Popen[bytes]] = []
    threads: list[tuple[Worker, threading.Thread]] = []

    def start() -> None:
        if any_dsn.startswith("locmem://"):
            for _ in range(WORKERS):
                worker = Worker(Gator(any_dsn, queue_name="q"), poll_timeout=0.05)
                thread = threading.Thread(target=worker.run_forever, daemon=True)
                thread.start()
                threads.append((worker, thread))
        else:
            for n in range(WORKERS):
                procs.append(spawn_worker(any_dsn, tmp_path / f"worker-{n}.log"))

    yield start  # type: ignore[misc]
    for worker, thread in threads:
        worker.interrupt()
        thread.join(10)
    for proc in procs:
        stop_process(proc)


@pytest.fixture
def gator(any_dsn: str) -> Iterator[Gator]:
    """The producer of queue ``q``, closed at the end."""
    with Gator(any_dsn, queue_name="q") as producer:
        yield producer


def _drained(gator: Gator, ledger: Path, count: int) -> bool:
    return len(read_ledger(ledger)) >= count and gator.broker.stats("q") == QueueStats()


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most spans open at one instant (an end before a start at the same time)."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


@pytest.mark.parametrize("any_dsn", LIMITS, indirect=True)
def test_a_concurrency_limit_of_two_holds_across_four_workers(
    gator: Gator, ledger: Path, workers: object
) -> None:
    # Given 2,000 tasks limited to two at once
    for n in range(TASKS):
        gator.task(flow_tasks.two_at_once, str(ledger), n, NAP)
    # When four workers drain them
    workers()  # type: ignore[operator]
    wait_until(lambda: _drained(gator, ledger, TASKS), timeout=600, interval=0.2, message="a drain")
    # Then each ran once, and never more than two at the same time
    rows = [line.split() for line in read_ledger(ledger)]
    assert sorted(int(n) for n, _, _ in rows) == list(range(TASKS))
    spans = [(float(start), float(end)) for _, start, end in rows]
    assert _most_at_once(spans) == 2
    took = max(end for _, end in spans) - min(start for start, _ in spans)
    print(f"concurrency 2: {TASKS} tasks in {took:.1f}s")
    assert gator.broker.buried("q") == []


@pytest.mark.parametrize("any_dsn", LIMITS, indirect=True)
def test_a_rate_limit_of_twenty_a_second_holds_over_ten_seconds(
    gator: Gator, ledger: Path, workers: object
) -> None:
    # Given more tasks than ten seconds at 20/s let start
    for n in range(260):
        gator.task(flow_tasks.twenty_a_second, str(ledger), n)
    # When four workers run them for over ten seconds
    workers()  # type: ignore[operator]
    wait_until(lambda: len(read_ledger(ledger)) >= 240, timeout=60, interval=0.2, message="240")
    starts = sorted(float(line.split()[1]) for line in read_ledger(ledger))
    first = starts[0]
    # Then no second holds more than 20 starts. The sliding window is exact by
    # the backend's clock; the tasks read their own clock after being admitted,
    # which adds the scheduling delay of a busy machine as jitter: records in
    # a window of W seconds were admitted within W + jitter, so windows of
    # 0.8 s hold at most 20 while the jitter stays under 0.2 s (0.95 s windows
    # held 21 twice in loaded CI runs). An off-by-one limiter still shows: it
    # admits each window's 21 in one burst.
    busiest = max(sum(1 for s in starts[i:] if s < start + 0.8) for i, start in enumerate(starts))
    assert busiest <= 20
    # ... and 9.8 s from the first record (at most 10 s of admissions, by the
    # same margin) hold at most 200 (the bound the docs state) and at least
    # half of that, so the limit does not starve the queue: deferred tasks
    # come back after a jittered delay (up to 1.5 s), so a freed slot may wait
    # for one (72% was seen in a full CI run)
    in_ten = sum(1 for s in starts if s < first + 9.8)
    print(f"rate 20/s: busiest 0.8 s {busiest}, first 9.8 seconds {in_ten}")
    assert 100 <= in_ten <= 200


@pytest.mark.parametrize("any_dsn", LIMITS, indirect=True)
def test_a_per_key_limit_counts_each_key_apart(gator: Gator, ledger: Path, workers: object) -> None:
    # Given charges of two merchants, one at a time per merchant
    for n in range(40):
        gator.task(flow_tasks.charge, str(ledger), n % 2, n, 0.01)
    workers()  # type: ignore[operator]
    wait_until(lambda: _drained(gator, ledger, 40), timeout=120, interval=0.1, message="drain")
    rows = [line.split() for line in read_ledger(ledger)]
    by_merchant = {
        m: [(float(s), float(e)) for merchant, _, s, e in rows if merchant == m] for m in "01"
    }
    # Then each merchant's charges never overlapped, while the two ran side by side
    assert [_most_at_once(spans) for spans in by_merchant.values()] == [1, 1]
    assert _most_at_once([span for spans in by_merchant.values() for span in spans]) == 2


@pytest.mark.parametrize("any_dsn", [name for name in LIMITS if name != "locmem"], indirect=True)
def test_a_killed_workers_slot_comes_back_with_its_lease(
    any_dsn: str, gator: Gator, ledger: Path, tmp_path: Path
) -> None:
    # Given a worker with a 1 s lease running the only task a limit of one lets run
    started, flag = tmp_path / "started", tmp_path / "flag"
    gator.task(flow_tasks.one_at_a_time, str(ledger), "first", str(started), str(flag))
    gator.task(flow_tasks.one_at_a_time, str(ledger), "second", "", "")
    options = ("--lease", "1", "--no-prefetch", "--nap-time", "0.05")
    first = spawn_worker(any_dsn, tmp_path / "first.log", *options)
    try:
        wait_until(started.exists, timeout=30, message="the first task to start")
        # When it is killed with SIGKILL, still holding the slot
        first.kill()
        first.wait(timeout=10)
        flag.write_text("go")
        second = spawn_worker(any_dsn, tmp_path / "second.log", *options)
        try:
            # Then the slot comes back when the lease expires: both tasks run
            wait_until(
                lambda: (
                    sorted(read_ledger(ledger)) == ["first", "second"]
                    and gator.broker.stats("q") == QueueStats()
                ),
                timeout=60,
                interval=0.05,
                message="both tasks to run",
            )
        finally:
            stop_process(second)
    finally:
        stop_process(first)


@pytest.mark.parametrize("any_dsn", UNIQUE, indirect=True)
def test_eight_threads_racing_one_unique_key_enqueue_one_task(any_dsn: str, ledger: Path) -> None:
    # Given eight producers, each with its own Gator, released at once
    gators = [Gator(any_dsn, queue_name="q") for _ in range(8)]
    barrier = threading.Barrier(8)
    ids: list[tuple[str, bool]] = []

    def enqueue(gator: Gator, n: int) -> None:
        barrier.wait()
        task = gator.options(unique_key="rebuild:42").task(flow_tasks.keyless, str(ledger), n)
        ids.append((task.task_id, task.duplicate))

    threads = [threading.Thread(target=enqueue, args=(g, n)) for n, g in enumerate(gators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Then exactly one task was stored, and every producer was told its id
    assert len(ids) == 8
    assert len({task_id for task_id, _ in ids}) == 1
    assert sorted(duplicate for _, duplicate in ids) == [False] + [True] * 7
    assert gators[0].broker.stats("q") == QueueStats(ready=1)
    for gator in gators:
        gator.close()
