"""A benchmark worker in its own process: ``python -m benchmarks.worker_proc``.

Modes:
    drain DSN CODEC N   run one Worker until N tasks have run; report the
                        seconds from the loop's start to the Nth task.
    wake DSN CODEC N    say ``ready``, then run N ``stamp`` tasks as they
                        arrive; report their enqueue-to-start delays and the
                        CPU the worker used while idle before the first one.

The result is one ``RESULT {json}`` line on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time

from alligator import Gator, Worker
from benchmarks import tasks

__all__ = ["main"]


def drain(dsn: str, codec: str, n: int) -> dict[str, float]:
    """Time one worker draining ``n`` waiting tasks."""
    with Gator(dsn, codec=codec) as gator:
        worker = Worker(gator, max_tasks=n, poll_timeout=1.0)
        started = time.perf_counter()
        worker.run_forever()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "tasks": float(worker.tasks_complete)}


def wake(dsn: str, codec: str, n: int) -> dict[str, float | list[float]]:
    """Run ``n`` stamp tasks as a producer trickles them in."""
    with Gator(dsn, codec=codec) as gator:
        worker = Worker(gator, max_tasks=n, poll_timeout=1.0)
        times = os.times()
        cpu_before, wall_before = times.user + times.system, time.perf_counter()
        print("ready", flush=True)
        worker.run_forever()
    # The idle window: from "ready" (blocked waiting) until the first task ran.
    cpu_idle, wall_idle = tasks.FIRST_STAMP[0] - cpu_before, tasks.FIRST_STAMP[1] - wall_before
    return {"latencies": tasks.LATENCIES, "cpu": cpu_idle, "wall": wall_idle}


def main(argv: list[str]) -> None:
    mode, dsn, codec, n = argv[0], argv[1], argv[2], int(argv[3])
    result = drain(dsn, codec, n) if mode == "drain" else wake(dsn, codec, n)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
