"""What Prometheus metrics cost a worker: drain with metrics on vs off.

    python -m benchmarks.metrics_bench [-n N] [--repeats R]

One worker in this process drains ``n`` ``add(1, 2)`` tasks from a fresh
SQLite file and from locmem, once with ``Worker(metrics=Metrics(0))`` (the
endpoint served, the depth poller running) and once without, the two runs
alternating so drift on a shared machine hits both alike. The endpoint is
started before the clock and stopped after it (stopping waits up to 0.5 s
for its accept loop, a one-off cost that is not per task). The figure that
matters is the ratio of the medians, on/off (the target is >= 0.95).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
from pathlib import Path

from alligator import Gator, Worker
from alligator.metrics import Metrics
from benchmarks import tasks
from benchmarks.rows import Row, per_second, timed

__all__ = ["measure_metrics"]


def _drain(dsn: str, n: int, *, metrics: bool) -> float:
    """Tasks per second one worker drains, with or without metrics."""
    with Gator(dsn, codec="msgpack") as gator:
        for start in range(0, n, 1000):
            with gator.batch() as batch:
                for _ in range(min(1000, n - start)):
                    batch.task(tasks.add, 1, 2)
        served = Metrics(0, depth_interval=1.0) if metrics else None
        worker = Worker(gator, max_tasks=n, poll_timeout=1.0, metrics=served)
        if served is None:
            return per_second(n, timed(worker.run_forever))
        # Serving before the clock starts, so the figure is the steady cost per
        # task: stopping the endpoint waits up to 0.5 s for its accept loop.
        served.attach(gator, [gator.queue_name])
        try:
            return per_second(n, timed(worker.run_forever))
        finally:
            served.detach()


def measure_metrics(workdir: Path, n: int, repeats: int) -> list[Row]:
    """Drain rows with metrics off and on, and their ratio, for SQLite and locmem."""
    counter = itertools.count()

    def sqlite() -> str:
        return f"sqlite:///{workdir / f'metrics-{next(counter)}.db'}"

    def locmem() -> str:
        return f"locmem://metrics-{next(counter)}"

    rows: list[Row] = []
    for label, fresh in (("sqlite", sqlite), ("locmem", locmem)):
        off = Row(f"alligator {label} msgpack", "alligator", "drain", n=n, note="metrics off")
        on = Row(f"alligator {label} msgpack +metrics", "alligator", "drain", n=n)
        on.note = "Worker(metrics=Metrics(0)): /metrics served, depth polled every 1 s"
        for _ in range(repeats):
            off.values.append(_drain(fresh(), n, metrics=False))
            on.values.append(_drain(fresh(), n, metrics=True))
        rows += [off, on]
    return rows


def ratios(rows: list[Row]) -> dict[str, float]:
    """Median drain with metrics on / off, per backend."""
    found: dict[str, float] = {}
    for off, on in zip(rows[::2], rows[1::2], strict=True):
        found[off.system] = statistics.median(on.values) / statistics.median(off.values)
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics_bench")
    parser.add_argument("-n", type=int, default=20_000, help="tasks per drain")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="alligator-bench-") as workdir:
        rows = measure_metrics(Path(workdir), args.n, args.repeats)
    for row in rows:
        print(f"{row.system:40} {row.median:>10,.0f} tasks/s  ({row.low:,.0f}-{row.high:,.0f})")
    for system, ratio in ratios(rows).items():
        print(f"{system}: metrics on / off = {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
