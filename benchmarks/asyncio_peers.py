"""arq, SAQ and taskiq run issue 16's two drains on the same Redis, from the peers' venv.

Each measurement is one process of ``peers/run_asyncio_peer.py`` run by the
peers' interpreter (they are never installed into the library's
environment): it enqueues the tasks one awaited call at a time, then runs one
worker in that process with :data:`~benchmarks.asyncio_bench.CONCURRENCY`
tasks at once, as Alligator's drains in :mod:`benchmarks.asyncio_bench` do.
The enqueue it timed on the way is kept too, beside AsyncGator's.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks import peers_bench
from benchmarks.alligator_bench import run_result_process
from benchmarks.asyncio_bench import (
    CONCURRENCY,
    SLEEP_TASKS,
    enqueue_system,
    noop_system,
    sleep_system,
)
from benchmarks.rows import Row, per_second

__all__ = ["PEERS", "measure_peers", "peer_versions"]

SCRIPT = peers_bench.HERE / "peers" / "run_asyncio_peer.py"

#: run_asyncio_peer.py's system name -> the label of its rows, with what differs
#: from its defaults (see the script's docstring for why).
PEERS = {
    "arq": ("arq", f"max_jobs={CONCURRENCY}, poll_delay=0.01 (default 0.5), results kept"),
    "saq": ("SAQ", f"concurrency={CONCURRENCY}"),
    "taskiq": ("taskiq", f"ListQueueBroker, max_async_tasks={CONCURRENCY}, no result backend"),
}


def _run(args: list[str]) -> dict[str, object]:
    return run_result_process([str(peers_bench.python()), str(SCRIPT), *args])


def peer_versions() -> dict[str, str]:
    found = _run(["versions"])["versions"]
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _drain(system: str, workload: str, url: str, n: int) -> tuple[float, float]:
    """Seconds to drain ``n`` tasks, and seconds it took to enqueue them."""
    result = _run([system, workload, url, str(n), str(CONCURRENCY)])
    return float(str(result["seconds"])), float(str(result["enqueue"]))


def measure_peers(url: str, n: int, repeats: int, flush: Callable[[], object]) -> list[Row]:
    """The sleep drain, the async no-op drain and the enqueue of every asyncio peer."""
    rows: list[Row] = []
    for system, (label, note) in PEERS.items():
        sleep = Row(sleep_system(label), "asyncio", "sleep_drain_s", n=SLEEP_TASKS, note=note)
        noop = Row(noop_system(label), "asyncio", "drain", n=n, note=note)
        enqueue = Row(enqueue_system(label), "asyncio", "enqueue", n=n)
        enqueue.note = "one awaited enqueue per task, before the no-op drain"
        for _ in range(repeats):
            flush()
            sleep.values.append(_drain(system, "sleep", url, SLEEP_TASKS)[0])
            flush()
            seconds, enqueued = _drain(system, "noop", url, n)
            noop.values.append(per_second(n, seconds))
            enqueue.values.append(per_second(n, enqueued))
        rows += [sleep, noop, enqueue]
    return rows
