"""Profile Alligator's enqueue and drain hot paths: ``python -m benchmarks.profile_hot``.

cProfile over N enqueues and one in-process worker draining them, on a
private Redis (msgpack) and on SQLite; prints per-task wall time and the top
functions by own time. Findings are written up in benchmarks/PROFILE.md.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

from alligator import Gator, Worker
from benchmarks.servers import redis_server
from benchmarks.tasks import add


def _profile(label: str, action: object, n: int, top: int) -> None:
    assert callable(action)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(action)
    wall = time.perf_counter() - started
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    print(f"\n===== {label}: {wall / n * 1e6:.1f} us/task under cProfile ({n:,} tasks) =====")
    print("\n".join(out.getvalue().splitlines()[6 : 8 + top]))


def profile_backend(label: str, dsn: str, n: int, top: int) -> None:
    with Gator(dsn, codec="msgpack") as gator:

        def enqueue() -> None:
            for _ in range(n):
                gator.task(add, 1, 2)

        worker = Worker(gator, max_tasks=n, poll_timeout=1.0)
        _profile(f"{label} enqueue", enqueue, n, top)
        _profile(f"{label} drain", worker.run_forever, n, top)


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 5000
    top = int(argv[1]) if len(argv) > 1 else 25
    with tempfile.TemporaryDirectory(prefix="alligator-profile-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) as server:
            profile_backend("redis msgpack", f"redis://127.0.0.1:{server.port}/0", n, top)
        profile_backend("sqlite msgpack", f"sqlite:///{workdir / 'p.db'}", n, top)


if __name__ == "__main__":
    main(sys.argv[1:])
