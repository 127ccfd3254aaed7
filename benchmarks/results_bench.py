"""Results and dependencies (issue 15): what keeping outcomes costs, and how soon they arrive.

Four figures, on the benchmark's private redis-server (and locmem for wait):

* one worker's drain with ``results=True`` against the same drain without
  (target: at least 0.8 x), runs interleaved so drift hits both alike;
* how long after a task's ack ``wait()`` returns (target: p50 within 5 ms
  on Redis and locmem): the task returns the wall clock as it ends, which is
  its ack within a fraction of a millisecond, and the producer, blocked in
  ``wait``, notes the clock when the value arrives;
* how long after its last parent's ack a dependent starts (target: p50
  within 10 ms on Redis): the parent returns the clock as it ends, the
  dependent returns the clock as it starts;
* Redis bytes left per finished ``add(1, 2)`` with its outcome kept: the
  memory after the drain minus the memory before the enqueue, beside RQ's
  and Dramatiq's (their own result entries, read the same way, from the
  peers' venv).

Workers run in their own process (``benchmarks.worker_proc``) on Redis; the
locmem worker is a thread of this process, the only way to share it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from alligator import Gator, Task, Worker
from benchmarks import peers_bench, tasks
from benchmarks.alligator_bench import ROOT, run_result_process
from benchmarks.rows import Row, per_second

__all__ = ["SYSTEM", "measure_locmem", "measure_peer_bytes", "measure_redis", "measure_sqlite"]

SYSTEM = "alligator redis msgpack"
LOCMEM = "alligator locmem msgpack"
SQLITE = "alligator sqlite msgpack"

#: The peers whose result entries are measured: (row label, run_peer.py system).
PEER_RESULTS = (("RQ", "rq"), ("Dramatiq", "dramatiq"))


def _enqueue(gator: Gator, n: int) -> None:
    add = tasks.add
    for _ in range(n):
        gator.task(add, 1, 2)


def _drain(dsn: str, n: int, results: bool) -> float:
    argv = [sys.executable, "-m", "benchmarks.worker_proc", "drain", dsn, "msgpack", str(n)]
    return float(str(run_result_process([*argv, *(["results"] if results else [])])["seconds"]))


def _worker(dsn: str, n: int) -> subprocess.Popen[str]:
    """A worker process with results on, running ``n`` tasks as they come."""
    argv = [sys.executable, "-m", "benchmarks.worker_proc", "drain", dsn, "msgpack", str(n)]
    return subprocess.Popen([*argv, "results"], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def _wait_after_ack(gator: Gator, samples: int) -> list[float]:
    """Milliseconds from each task's end (its ack) to the producer's ``wait`` returning."""
    out: list[float] = []
    for _ in range(samples):
        task: Task[float] = gator.task(tasks.now)
        ended = task.wait(timeout=30)
        out.append((time.time() - ended) * 1000)
    return out


def _dependent_after_ack(gator: Gator, samples: int) -> list[float]:
    """Milliseconds from a parent's end (its ack) to its dependent's start."""
    out: list[float] = []
    for _ in range(samples):
        parent: Task[float] = gator.task(tasks.now)
        with gator.options(depends_on=[parent]) as opts:
            child = opts.task(tasks.now)
        started = child.wait(timeout=30)
        out.append((started - parent.wait(timeout=30)) * 1000)
    return out


def measure_redis(
    fresh_dsn: Callable[[], str],
    memory: Callable[[], int],
    n: int,
    repeats: int,
    samples: int,
) -> list[Row]:
    """Drain on/off, bytes per result, wait and dependent latencies on Redis."""
    rows = {
        "drain_plain": Row(SYSTEM, "alligator", "drain_plain", n=n, note="results off"),
        "drain_results": Row(SYSTEM, "alligator", "drain_results", n=n, note="results=True"),
        "bytes_result": Row(SYSTEM, "alligator", "bytes_result", n=n, note="after the drain"),
        "wait_ms": Row(SYSTEM, "alligator", "wait_ms", n=samples, note="one sample per task"),
        "dependent_ms": Row(
            SYSTEM, "alligator", "dependent_ms", n=samples, note="one parent, one dependent"
        ),
    }
    for _ in range(repeats):
        for results in (False, True):
            dsn = fresh_dsn()
            with Gator(dsn, codec="msgpack", results=results) as gator:
                gator.task(tasks.add, 1, 2)  # scripts loaded, keys made, before counting
                gator.broker.drop_all(gator.queue_name)
                before = memory()
                _enqueue(gator, n)
                seconds = _drain(dsn, n, results)
                metric = "drain_results" if results else "drain_plain"
                rows[metric].values.append(per_second(n, seconds))
                assert gator.len() == 0, "the drain left tasks behind"
                if results:
                    rows["bytes_result"].values.append((memory() - before) / n)
    dsn = fresh_dsn()
    with Gator(dsn, codec="msgpack", results=True) as gator:
        worker = _worker(dsn, 3 * samples)
        try:
            rows["wait_ms"].values += _wait_after_ack(gator, samples)
            rows["dependent_ms"].values += _dependent_after_ack(gator, samples)
        finally:
            worker.wait(timeout=60)
    fresh_dsn()  # flushes
    return [row for row in rows.values() if row.values]


def measure_locmem(samples: int) -> list[Row]:
    """``wait()`` after the ack on locmem: the worker is a thread of this process."""
    row = Row(LOCMEM, "alligator", "wait_ms", n=samples, note="one sample per task")
    with Gator("locmem://bench-results", codec="msgpack", results=True) as gator:
        worker = Worker(gator, max_tasks=samples, poll_timeout=1.0)
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        thread.start()
        row.values += _wait_after_ack(gator, samples)
        thread.join(timeout=60)
    return [row]


def measure_sqlite(samples: int) -> list[Row]:
    """``wait()`` after the ack on SQLite, which polls with a short back-off (results_wait)."""
    from benchmarks.results_wait import measure

    row = Row(SQLITE, "alligator", "wait_ms", n=samples, note="from complete() to wait()")
    with tempfile.TemporaryDirectory(prefix="alligator-bench-wait-") as tmp:
        row.values += measure(f"sqlite://{Path(tmp) / 'wait.db'}", samples)
    return [row]


def measure_peer_bytes(
    url: str, n: int, flush: Callable[[], object], memory: Callable[[], int]
) -> list[Row]:
    """Bytes RQ and Dramatiq leave per ``add(1, 2)`` they ran with results kept."""
    rows: list[Row] = []
    for label, system in PEER_RESULTS:
        row = Row(label, "peer", "bytes_result", n=n, note="after the drain, default TTL")
        flush()
        before = memory()
        argv = [str(peers_bench.python()), str(peers_bench.SCRIPT), system, "results", url, str(n)]
        run_result_process(argv)
        row.values.append((memory() - before) / n)
        rows.append(row)
    flush()
    return rows
