"""What Prometheus metrics cost a worker: drain with metrics on vs off.

    python -m benchmarks.metrics_bench [-n N] [--repeats R] [--pairs P] [--no-redis]

One worker in this process drains ``add(1, 2)`` tasks from a fresh SQLite
file, from locmem and from a private redis-server (flushed before each run),
once with ``Worker(metrics=Metrics(0))`` (the endpoint served, the depth
poller running) and once without. Each repeat is ``P`` short pairs of drains
of ``N / P`` tasks, the order inside a pair alternating (off first, then on
first) and ``gc.collect()`` before each drain, so that drift on a shared
machine and the garbage one drain leaves hit both sides alike; a repeat's
figure per side is the median of its pairs. The endpoint is started before
the clock and stopped after it (stopping waits up to 0.5 s for its accept
loop, a one-off cost that is not per task). The figure that matters is
on/off in wall-clock drain rate (the target is >= 0.95): printed as the
ratio of the medians and as the median of each repeat's ratio. The same
ratios in process CPU time are printed beside them (and kept in the
``+metrics`` row's note): on a loaded machine other processes' work lands in
the wall clock of whichever side runs then, not in this process's CPU time.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from alligator import Gator, Worker
from alligator.metrics import Metrics
from benchmarks import tasks
from benchmarks.rows import Row, per_second, timed
from benchmarks.servers import redis_server

__all__ = ["measure_metrics"]


def _drain(dsn: str, n: int, *, metrics: bool) -> tuple[float, float]:
    """Tasks per second one worker drains, with or without metrics: wall clock and CPU time."""
    with Gator(dsn, codec="msgpack") as gator:
        for start in range(0, n, 1000):
            with gator.batch() as batch:
                for _ in range(min(1000, n - start)):
                    batch.task(tasks.add, 1, 2)
        served = Metrics(0, depth_interval=1.0) if metrics else None
        worker = Worker(gator, max_tasks=n, poll_timeout=1.0, metrics=served)
        # Serving before the clock starts, so the figure is the steady cost per
        # task: stopping the endpoint waits up to 0.5 s for its accept loop.
        if served is not None:
            served.attach(gator, [gator.queue_name])
        gc.collect()  # the garbage of the drain before, whichever side it was
        try:
            cpu = time.process_time()
            wall = timed(worker.run_forever)
            cpu = time.process_time() - cpu
        finally:
            if served is not None:
                served.detach()
    return per_second(n, wall), per_second(n, cpu)


def _repeat(fresh: Callable[[], str], n: int, pairs: int) -> dict[bool, tuple[float, float]]:
    """One repeat: by metrics on or off, the median wall and CPU rates of ``pairs`` short pairs."""
    found: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    size = max(1, n // pairs)
    for i in range(pairs):
        for metrics in (False, True) if i % 2 == 0 else (True, False):
            found[metrics].append(_drain(fresh(), size, metrics=metrics))
    return {
        side: (statistics.median(w for w, _ in rates), statistics.median(c for _, c in rates))
        for side, rates in found.items()
    }


def measure_metrics(
    workdir: Path,
    n: int,
    repeats: int,
    redis_dsn: Callable[[], str] | None = None,
    pairs: int = 4,
) -> list[Row]:
    """Drain rows with metrics off and on for SQLite, locmem and (given a fresh DSN) Redis.

    The rows hold wall-clock rates; the ``+metrics`` row's note gives the
    on/off ratios in CPU time too.
    """
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
        cpu: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(repeats):
            found = _repeat(fresh, n, pairs)
            off.values.append(found[False][0])
            on.values.append(found[True][0])
            cpu[False].append(found[False][1])
            cpu[True].append(found[True][1])
        ratio, paired = _ratios(cpu[False], cpu[True])
        on.note = (
            "Worker(metrics=Metrics(0)): /metrics served, depth polled every 1 s; "
            f"{pairs} alternating pairs of {n // pairs:,} tasks a repeat; on/off in CPU time "
            f"{ratio:.3f} (median of repeats {paired:.3f})"
        )
        rows += [off, on]
    return rows


def _ratios(off: list[float], on: list[float]) -> tuple[float, float]:
    paired = statistics.median(a / b for a, b in zip(on, off, strict=True))
    return statistics.median(on) / statistics.median(off), paired


def ratios(rows: list[Row]) -> dict[str, tuple[float, float]]:
    """Per backend, drain with metrics on / off: the medians' ratio, and the median paired ratio."""
    return {
        off.system: _ratios(off.values, on.values)
        for off, on in zip(rows[::2], rows[1::2], strict=True)
    }


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
        "--pairs",
        type=int,
        default=4,
        help="alternating on/off pairs per repeat (N / P tasks each)",
    )
    parser.add_argument(
        "--no-redis", action="store_true", help="SQLite and locmem only (no redis-server)"
    )
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="alligator-bench-") as workdir,
        contextlib.ExitStack() as stack,
    ):
        fresh = None if args.no_redis else stack.enter_context(_private_redis(Path(workdir)))
        rows = measure_metrics(Path(workdir), args.n, args.repeats, fresh, args.pairs)
    for row in rows:
        print(f"{row.system:40} {row.median:>10,.0f} tasks/s  ({row.low:,.0f}-{row.high:,.0f})")
    for (system, (ratio, paired)), on in zip(ratios(rows).items(), rows[1::2], strict=True):
        print(
            f"{system}: metrics on / off = {ratio:.3f} (median of repeats {paired:.3f}), wall clock"
        )
        print(f"    {on.note.split('; ')[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
