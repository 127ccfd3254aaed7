"""A benchmark worker in its own process: ``python -m benchmarks.worker_proc``.

Modes:
    drain DSN CODEC N [results]
                        run one Worker until N tasks have run; report the
                        seconds from the loop's start to the Nth task
                        (``results``: its Gator keeps outcomes, results=True).
    wake DSN CODEC N    say ``ready``, then run N ``stamp`` tasks as they
                        arrive; report their enqueue-to-start delays and the
                        CPU the worker used while idle before the first one,
                        one sample per second of the idle wait (see
                        :func:`sample_idle_cpu`).

The result is one ``RESULT {json}`` line on stdout.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from alligator import Gator, Worker
from benchmarks import tasks

__all__ = ["main"]


def drain(dsn: str, codec: str, n: int, results: bool = False) -> dict[str, float]:
    """Time one worker draining ``n`` waiting tasks."""
    with Gator(dsn, codec=codec, results=results) as gator:
        worker = Worker(gator, max_tasks=n, poll_timeout=1.0)
        started = time.perf_counter()
        worker.run_forever()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "tasks": float(worker.tasks_complete)}


#: Length of one idle CPU sample, in seconds.
SAMPLE = 1.0


def sample_idle_cpu(samples: list[float], stop: threading.Event) -> None:
    """Append this process's CPU use (% of one core) for each second until the first task.

    ``time.process_time`` counts every thread of the process in nanoseconds,
    so a one-second window resolves far below the 1 % that ``os.times()``
    ticks would. The first window (the worker starting up, loading scripts)
    and the one the first task lands in are not idle and are left out.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    first = True
    while not stop.wait(SAMPLE):
        now_cpu, now_wall = time.process_time(), time.perf_counter()
        if tasks.FIRST_STAMP:
            return
        if not first:
            samples.append(100 * (now_cpu - cpu) / (now_wall - wall))
        first = False
        cpu, wall = now_cpu, now_wall


def wake(dsn: str, codec: str, n: int) -> dict[str, list[float]]:
    """Run ``n`` stamp tasks as a producer trickles them in."""
    samples: list[float] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_idle_cpu, args=(samples, stop), daemon=True)
    with Gator(dsn, codec=codec) as gator:
        worker = Worker(gator, max_tasks=n, poll_timeout=1.0)
        print("ready", flush=True)
        sampler.start()
        worker.run_forever()
    stop.set()
    sampler.join(timeout=5)
    return {"latencies": tasks.LATENCIES, "idle_cpu": samples}


def main(argv: list[str]) -> None:
    mode, dsn, codec, n = argv[0], argv[1], argv[2], int(argv[3])
    keep = argv[4:] == ["results"]
    result = drain(dsn, codec, n, keep) if mode == "drain" else wake(dsn, codec, n)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
