"""How soon ``wait()`` returns after a worker's ack stored the outcome (SQLite, PostgreSQL).

The issue's target on SQLite: within 20 ms p50 of the ack. Each round, a
producer thread waits on a task with ``gator.wait`` while a worker thread
(a client of its own: its own connection) reserves the task, pauses a
random 0 to 5 ms (so the wait is already polling, at any point of its
back-off) and completes it; the figure is the time from ``complete``
returning (the commit is done) to ``wait`` returning.

Run: ``python -m benchmarks.results_wait [--rounds N] [DSN ...]`` (default:
a SQLite file in a temporary directory).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import cast

from alligator import Gator
from alligator import results as outcomes
from alligator.backends import backend_class_for
from alligator.protocols import ResultClient

__all__ = ["measure"]


def measure(dsn: str, rounds: int) -> list[float]:
    """Milliseconds from each ``complete`` returning to its ``wait`` returning."""
    gator = Gator(dsn, queue_name="bench-wait", results=True)
    worker = cast(ResultClient, backend_class_for(dsn)(dsn))
    record = outcomes.success(3)
    latencies: list[float] = []
    try:
        for n in range(rounds):
            task_id = f"t{n}"
            worker.push("bench-wait", task_id, b"payload")
            done_at: list[float] = []

            def settle(task_id: str = task_id, done_at: list[float] = done_at) -> None:
                held = worker.reserve("bench-wait", 30.0, timeout=5.0)
                assert held is not None and held.task_id == task_id
                time.sleep(random.uniform(0.0, 0.005))
                assert worker.complete("bench-wait", held, result=record, ttl=60.0)
                done_at.append(time.perf_counter())

            thread = threading.Thread(target=settle)
            thread.start()
            value = gator.wait(task_id, timeout=10.0)
            got_at = time.perf_counter()
            thread.join()
            assert value == 3
            latencies.append((got_at - done_at[0]) * 1000)
    finally:
        gator.backend.drop_all("bench-wait")
        worker.close()
        gator.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dsns", nargs="*", metavar="DSN")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        dsns = args.dsns or [f"sqlite:///{Path(scratch) / 'wait.db'}"]
        for dsn in dsns:
            found = sorted(measure(dsn, args.rounds))
            p90 = found[int(len(found) * 0.9)]
            print(
                f"{dsn.split(':', 1)[0]}: wait() after the ack, {len(found)} rounds: "
                f"p50 {statistics.median(found):.2f} ms, p90 {p90:.2f} ms, max {found[-1]:.2f} ms"
            )


if __name__ == "__main__":
    main()
