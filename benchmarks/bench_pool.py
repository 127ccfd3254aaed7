"""Throughput of ``python -m alligator worker --processes N`` on SQLite and Redis.

Each measurement starts a real pool, lets every child take a warm-up task
(so interpreter start-up is not counted), pushes ``tasks`` tasks in one batch
and times from the push until the queue reports nothing ready, delayed or
reserved. Redis runs as a private ``redis-server`` on a free loopback port,
persistence off, stopped afterwards.

``run(...)`` returns one dict per (backend, processes, threads) for the
harness; ``python -m benchmarks.bench_pool`` prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from alligator import Gator

__all__ = ["nap", "noop", "run"]

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "bench"


def noop() -> None:
    """The task: nothing, so the queue's own cost is what is measured."""


def nap(ms: float) -> None:
    """An I/O-bound stand-in: waits ``ms`` milliseconds without using the CPU."""
    time.sleep(ms / 1000)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _redis_server(workdir: Path) -> Iterator[int]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise SystemExit("redis-server is not installed; run `make servers` first")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _drained(gator: Gator) -> bool:
    stats = gator.broker.stats(QUEUE)
    return stats.ready + stats.delayed + stats.reserved == 0


def _wait_drained(gator: Gator, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _drained(gator):
        if time.monotonic() > deadline:
            raise RuntimeError(f"queue not drained in {timeout}s")
        time.sleep(0.01)


def measure(
    dsn: str, processes: int, tasks: int, *, threads: int = 1, sleep_ms: float = 0.0
) -> float:
    """Seconds a pool of ``processes`` takes to drain ``tasks`` pushed at once."""
    command = [
        sys.executable, "-m", "alligator", "worker", dsn, "--queue", QUEUE,
        "--import", "benchmarks.bench_pool", "--processes", str(processes),
        "--threads", str(threads), "--nap-time", "0.01", "--log-level", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with Gator(dsn, queue_name=QUEUE) as gator:
        pool = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
        try:
            with gator.batch() as batch:  # warm-up: one task per worker
                for _ in range(processes * threads):
                    batch.task(nap, 50.0)
            _wait_drained(gator, 60)
            started = time.perf_counter()
            with gator.batch() as batch:
                for _ in range(tasks):
                    if sleep_ms:
                        batch.task(nap, sleep_ms)
                    else:
                        batch.task(noop)
            _wait_drained(gator, 600)
            elapsed = time.perf_counter() - started
            buried = gator.broker.stats(QUEUE).buried
            if buried:
                raise RuntimeError(f"{buried} tasks were buried, not run: see the pool's output")
            return elapsed
        finally:
            pool.send_signal(signal.SIGTERM)
            try:
                pool.wait(30)
            except subprocess.TimeoutExpired:
                pool.kill()
                pool.wait()


def run(
    backends: Sequence[str] = ("sqlite", "redis"),
    processes: Sequence[int] = (1, 2, 4),
    tasks: int = 2000,
    *,
    threads: Sequence[int] = (1,),
    sleep_ms: float = 0.0,
) -> list[dict[str, Any]]:
    """Measure every combination; one row per (backend, processes, threads)."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        redis_port = stack.enter_context(_redis_server(workdir)) if "redis" in backends else 0
        for backend in backends:
            for procs in processes:
                for n_threads in threads:
                    run_id = uuid.uuid4().hex[:10]
                    if backend == "sqlite":
                        dsn = f"sqlite:///{workdir / f'{run_id}.db'}"
                    elif backend == "redis":
                        dsn = f"redis://127.0.0.1:{redis_port}/0?namespace=b{run_id}"
                    else:
                        raise ValueError(f"unknown backend {backend!r}")
                    seconds = measure(dsn, procs, tasks, threads=n_threads, sleep_ms=sleep_ms)
                    rows.append(
                        {
                            "bench": "pool",
                            "backend": backend,
                            "processes": procs,
                            "threads": n_threads,
                            "tasks": tasks,
                            "sleep_ms": sleep_ms,
                            "seconds": round(seconds, 3),
                            "tasks_per_s": round(tasks / seconds, 1),
                            "cpus": os.cpu_count(),
                        }
                    )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "redis"])
    parser.add_argument("--processes", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--threads", nargs="+", type=int, default=[1])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--sleep-ms", type=float, default=0.0, help="each task sleeps this long")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = run(
        args.backends, args.processes, args.tasks, threads=args.threads, sleep_ms=args.sleep_ms
    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'backend':<8} {'procs':>5} {'threads':>7} {'tasks':>6} {'sleep ms':>8} "
          f"{'seconds':>8} {'tasks/s':>9}")  # fmt: skip
    for row in rows:
        print(
            f"{row['backend']:<8} {row['processes']:>5} {row['threads']:>7} {row['tasks']:>6} "
            f"{row['sleep_ms']:>8} {row['seconds']:>8.2f} {row['tasks_per_s']:>9.0f}"
        )
    return 0


if __name__ == "__main__":
    # Tasks must name benchmarks.bench_pool, not __main__, for the workers to import them.
    from benchmarks import bench_pool  # noqa: PLW0406

    sys.exit(bench_pool.main())
