"""Alligator's own figures on one backend: enqueue, batch, drain, memory, wake-up.

Enqueue and batch enqueue run in this process. The drain and the wake-up
worker run in a separate process (``benchmarks.worker_proc``) for the
networked and file backends, as they would in production; locmem can only be
shared in-process, so its worker runs here (a thread for the wake-up).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alligator import Gator, Worker
from benchmarks import tasks
from benchmarks.rows import Row, per_second, percentile, timed

__all__ = ["Backend", "measure", "run_result_process"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Backend:
    """One configuration to measure.

    Attributes:
        label: Shown in the table, e.g. ``"redis msgpack"``.
        fresh_dsn: Returns a DSN on an empty store (flushes, or a new file).
        codec: The Gator's codec name.
        memory: Bytes the store uses now, when that can be read (Redis).
        in_process: Run the workers in this process (locmem).
    """

    label: str
    fresh_dsn: Callable[[], str]
    codec: str = "msgpack"
    memory: Callable[[], int] | None = None
    in_process: bool = False

    @property
    def system(self) -> str:
        return f"alligator {self.label}"


def run_result_process(
    argv: list[str], timeout: float = 600.0, env: dict[str, str] | None = None
) -> dict[str, object]:
    """Run a benchmark subprocess and parse its ``RESULT {json}`` line."""
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    return _parse_result(done.stdout, done.stderr, argv)


def _parse_result(stdout: str, stderr: str, argv: list[str]) -> dict[str, object]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            parsed: dict[str, object] = json.loads(line[len("RESULT ") :])
            return parsed
    raise RuntimeError(f"no result from {' '.join(argv)}:\n{stdout[-2000:]}\n{stderr[-3000:]}")


def _enqueue(gator: Gator, n: int) -> None:
    add = tasks.add
    for _ in range(n):
        gator.task(add, 1, 2)


def _batch_enqueue(gator: Gator, n: int, size: int) -> None:
    add = tasks.add
    for start in range(0, n, size):
        with gator.batch() as batch:
            for _ in range(min(size, n - start)):
                batch.task(add, 1, 2)


def _drain_seconds(backend: Backend, gator: Gator, dsn: str, n: int) -> float:
    if backend.in_process:
        worker = Worker(gator, max_tasks=n, poll_timeout=1.0)
        return timed(worker.run_forever)
    argv = [sys.executable, "-m", "benchmarks.worker_proc", "drain", dsn, backend.codec, str(n)]
    return float(str(run_result_process(argv)["seconds"]))


def _enqueue_delayed(gator: Gator, n: int) -> None:
    add = tasks.add
    with gator.options(delay_by=3600) as opts:
        for _ in range(n):
            opts.task(add, 1, 2)


def measure(backend: Backend, n: int, repeats: int, batch_size: int) -> list[Row]:
    """Enqueue, memory, drain and batch-enqueue figures over ``repeats`` runs."""
    rows = {
        metric: Row(backend.system, "alligator", metric, n=n)
        for metric in ("enqueue", "batch", "drain", "bytes", "bytes_delayed")
    }
    rows["batch"].note = f"batches of {batch_size}"
    rows["bytes_delayed"].note = "tasks pushed with delay_by=3600"
    for _ in range(repeats):
        dsn = backend.fresh_dsn()
        with Gator(dsn, codec=backend.codec) as gator:
            # One task first, so the scripts are loaded and the keys exist before counting.
            gator.task(tasks.add, 1, 2)
            gator.broker.drop_all(gator.queue_name)
            before = backend.memory() if backend.memory else 0
            rows["enqueue"].values.append(per_second(n, timed(lambda: _enqueue(gator, n))))
            if backend.memory:
                rows["bytes"].values.append((backend.memory() - before) / n)
            rows["drain"].values.append(per_second(n, _drain_seconds(backend, gator, dsn, n)))
            seconds = timed(lambda: _batch_enqueue(gator, n, batch_size))
            rows["batch"].values.append(per_second(n, seconds))
            gator.broker.drop_all(gator.queue_name)
            if backend.memory:
                before = backend.memory()
                _enqueue_delayed(gator, n)
                rows["bytes_delayed"].values.append((backend.memory() - before) / n)
                gator.broker.drop_all(gator.queue_name)
    return [row for row in rows.values() if row.values]


def _trickle(gator: Gator, n: int, gap: float, idle: float) -> None:
    """Enqueue ``n`` stamp tasks, each when the worker has long gone idle."""
    rng = random.Random(5)
    time.sleep(idle)  # an idle window: the worker blocks (its CPU is sampled) until the first
    for _ in range(n):
        gator.task(tasks.stamp, time.time())
        time.sleep(gap * (0.5 + rng.random()))


def _wake_once(
    backend: Backend, n: int, gap: float, idle: float
) -> tuple[list[float], list[float]]:
    """One idle worker: enqueue-to-start delays (ms) and idle CPU samples (% of a core)."""
    dsn = backend.fresh_dsn()
    with Gator(dsn, codec=backend.codec) as gator:
        if backend.in_process:  # locmem: the worker shares this process, so no CPU figure
            tasks.LATENCIES.clear()
            tasks.FIRST_STAMP.clear()
            worker = Worker(gator, max_tasks=n, poll_timeout=1.0)
            thread = threading.Thread(target=worker.run_forever, daemon=True)
            thread.start()
            _trickle(gator, n, gap, idle)
            thread.join(timeout=60)
            return [v * 1000 for v in tasks.LATENCIES], []
        argv = [sys.executable, "-m", "benchmarks.worker_proc", "wake", dsn, backend.codec, str(n)]
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # "ready"
        _trickle(gator, n, gap, idle)
        out, _ = proc.communicate(timeout=120)
    result = _parse_result(out, "", argv)
    latencies, cpu = result["latencies"], result["idle_cpu"]
    assert isinstance(latencies, list) and isinstance(cpu, list)
    return [float(v) * 1000 for v in latencies], [float(v) for v in cpu]


def measure_wake(
    backend: Backend, n: int, repeats: int, gap: float = 0.03, idle: float = 4.0
) -> list[Row]:
    """Enqueue-to-start delay of an idle worker, and the CPU it burns idling.

    Each of ``repeats`` runs starts a fresh idle worker, leaves it ``idle``
    seconds, then trickles ``n`` tasks ``gap`` apart (jittered). The wake-up
    rows hold one p50 (p99) per run; the idle CPU row holds every one-second
    sample of every run, so its median and p99 are over all of them.
    """
    systems = backend.system
    note = f"{n} tasks ~{gap * 1000:.0f} ms apart, per run"
    p50 = Row(systems, "alligator", "wake_p50", n=n, note=note)
    p99 = Row(systems, "alligator", "wake_p99", n=n, note=note)
    cpu = Row(systems, "alligator", "idle_cpu", n=n)
    cpu.note = f"1 s samples of the worker process's CPU over {idle:.0f} s idle, all runs"
    if backend.in_process:
        idle = 1.0  # no CPU figure to sample: the worker shares this process
    for _ in range(repeats):
        latencies, samples = _wake_once(backend, n, gap, idle)
        p50.values.append(percentile(latencies, 50))
        p99.values.append(percentile(latencies, 99))
        cpu.values += samples
    return [row for row in (p50, p99, cpu) if row.values]
