"""``make demo``: enqueue sample tasks on the embedded SQLite backend and drain them.

Run with ``python -m alligator.demo [--tasks N] [--db PATH]``. The task
functions live here so that the worker can import them by name, as it would
any task of yours.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import Counter
from pathlib import Path

from alligator import Backoff, Gator, Task, Worker

#: What the hooks saw, by event; a real app would log or count metrics.
EVENTS: Counter[str] = Counter()
_FLAKY_FAILURES: Counter[str] = Counter()


def add(a: int, b: int) -> int:
    """A task returning a value."""
    return a + b


def word_count(text: str) -> dict[str, int]:
    """A task with a richer result."""
    return dict(Counter(text.lower().split()))


def flaky(key: str) -> str:
    """Fails on its first try, succeeds on the retry."""
    if _FLAKY_FAILURES[key] == 0:
        _FLAKY_FAILURES[key] += 1
        raise ConnectionError(f"{key}: upstream not ready")
    return key


def always_fails(n: int) -> None:
    """Fails on every try: ends buried, with its traceback kept."""
    raise ValueError(f"bad input {n}")


def on_success(task: Task[int], result: int) -> None:
    EVENTS["success-hook"] += 1


def on_error(task: Task[str], err: Exception) -> None:
    EVENTS["error-hook"] += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=400, help="tasks to enqueue (default: 400)")
    parser.add_argument("--db", type=Path, help="SQLite file (default: a temporary one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "demo.db"
        return run(f"sqlite:///{path}", args.tasks)


def run(dsn: str, count: int) -> int:
    gator = Gator(dsn, queue_name="demo", backoff=Backoff(base=0.05, jitter=0))
    gator.broker.drop_all("demo")
    started = time.perf_counter()
    quarter = max(count // 4, 1)
    with gator.batch() as batch:
        for i in range(quarter):
            batch.task(word_count, f"the quick brown fox {i} jumps over the lazy dog")
    with gator.options(on_success=on_success) as opts:
        for i in range(count - 2 * quarter - 2):
            opts.task(add, i, i)
    with gator.options(retries=2, on_error=on_error) as opts:
        for i in range(quarter):
            opts.task(flaky, f"key-{i}")
    with gator.options(retries=1) as opts:
        for i in range(2):
            opts.task(always_fails, i)
    enqueued = time.perf_counter() - started
    total = gator.len()
    print(f"enqueued {total} tasks on {dsn} in {enqueued:.2f}s ({total / enqueued:,.0f} tasks/s)")

    worker = Worker(gator, poll_timeout=0.05)
    actions: Counter[str] = Counter()
    drain_started = time.perf_counter()
    while gator.len():
        reservation = worker.claim()
        if reservation is not None:
            actions[worker.execute(reservation).action] += 1
    drained = time.perf_counter() - drain_started
    runs = sum(actions.values())
    stats = gator.broker.stats("demo")
    print(
        f"worker ran {runs} deliveries in {drained:.2f}s ({runs / drained:,.0f} tasks/s): "
        f"{actions['ack']} succeeded, {actions['retry']} failed and were retried, "
        f"{actions['bury']} failed for good and were buried"
    )
    print(
        f"hooks: {EVENTS['success-hook']} on_success, {EVENTS['error-hook']} on_error; "
        f"left ready: {stats.ready}, "
        f"delayed: {stats.delayed}, reserved: {stats.reserved}, buried: {stats.buried}"
    )
    for buried in gator.broker.buried("demo"):
        print(f"buried {buried.task_id}: {buried.reason.splitlines()[-1]}")
    ok = stats.ready == stats.delayed == stats.reserved == 0 and stats.buried == 2
    print("demo OK" if ok else "demo FAILED: tasks left behind")
    return 0 if ok else 1


if __name__ == "__main__":
    # Run the copy imported under its real name: a worker imports tasks by
    # module name, and "__main__" is not one it could find.
    from alligator.demo import main as _main

    raise SystemExit(_main())
