"""What Prometheus metrics cost a worker: drain with metrics on vs off.

    python -m benchmarks.metrics_bench [-n N] [--repeats R] [--no-redis]

One worker in this process drains ``n`` ``add(1, 2)`` tasks from a fresh
SQLite file, from locmem and from a private redis-server (flushed before each
run), once with ``Worker(metrics=Metrics(0))`` (the endpoint served, the
depth poller running) and once without, the two runs alternating so drift
on a shared machine hits both alike. The endpoint is started before the
clock and stopped after it (stopping waits up to 0.5 s for its accept loop,
a one-off cost that is not per task). The figure that matters is on/off
(the target is >= 0.95): printed as the ratio of the medians and as the
median of each repeat's pair, the steadier of the two on a loaded machine.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from alligator import Gator, Worker
from alligator.metrics import Metrics
from benchmarks import tasks
from benchmarks.rows import Row, per_second, timed
from benchmarks.servers import redis_server

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


def measure_metrics(
    workdir: Path, n: int, repeats: int, redis_dsn: Callable[[], str] | None = None
) -> list[Row]:
    """Drain rows with metrics off and on for SQLite, locmem and (given a fresh DSN) Redis."""
    counter = itertools.count()

    def sqlite() -> str:
        return f"sqlite:///{workdir / f'metrics-{next(counter)}.db'}"

    def locmem() -> str:
        return f"locmem://metrics-{next(counter)}"

    legs: list[tuple[str, Callable[[], str]]] = [("sqlite", sqlite), ("locmem", locmem)]
    if redis_dsn is not None:
        legs.append(("redis", redis_dsn))
    rows: list[Row] = []
    for label, fresh in legs:
        off = Row(f"alligator {label} msgpack", "alligator", "drain", n=n, note="metrics off")
        on = Row(f"alligator {label} msgpack +metrics", "alligator", "drain", n=n)
        on.note = "Worker(metrics=Metrics(0)): /metrics served, depth polled every 1 s"
        for _ in range(repeats):
            off.values.append(_drain(fresh(), n, metrics=False))
            on.values.append(_drain(fresh(), n, metrics=True))
        rows += [off, on]
    return rows


def ratios(rows: list[Row]) -> dict[str, tuple[float, float]]:
    """Per backend, drain with metrics on / off: the medians' ratio, and the median paired ratio."""
    found: dict[str, tuple[float, float]] = {}
    for off, on in zip(rows[::2], rows[1::2], strict=True):
        paired = statistics.median(a / b for a, b in zip(on.values, off.values, strict=True))
        found[off.system] = (statistics.median(on.values) / statistics.median(off.values), paired)
    return found


@contextlib.contextmanager
def _private_redis(workdir: Path) -> Iterator[Callable[[], str]]:
    with redis_server(workdir) as server:
        client = redis.Redis(port=server.port)

        def fresh() -> str:
            client.flushdb()
            return f"redis://127.0.0.1:{server.port}/0"

        try:
            yield fresh
        finally:
            client.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics_bench")
    parser.add_argument("-n", type=int, default=20_000, help="tasks per drain")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--no-redis", action="store_true", help="SQLite and locmem only (no redis-server)"
    )
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="alligator-bench-") as workdir,
        contextlib.ExitStack() as stack,
    ):
        fresh = None if args.no_redis else stack.enter_context(_private_redis(Path(workdir)))
        rows = measure_metrics(Path(workdir), args.n, args.repeats, fresh)
    for row in rows:
        print(f"{row.system:40} {row.median:>10,.0f} tasks/s  ({row.low:,.0f}-{row.high:,.0f})")
    for system, (ratio, paired) in ratios(rows).items():
        print(f"{system}: metrics on / off = {ratio:.3f} (median of pairs {paired:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
