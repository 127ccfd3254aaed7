"""``make bench``: every measurement of issue 5 in one run, then the report.

    python -m benchmarks [--quick] [-n N] [--repeats R] [--skip peers,pool,priority,...]
        [--only asyncio,...] [--scale-n N] [--scale-samples S]

Starts one private redis-server and one beanstalkd on free loopback ports,
installs the peers into their own venv (benchmarks/.venv-peers) on first use,
and writes benchmarks/results/results.{md,json,png}.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import redis

from alligator import Gator
from alligator.prefetch import MAX_BATCH
from benchmarks import (
    alligator_bench,
    asyncio_bench,
    asyncio_peers,
    metrics_bench,
    peers_bench,
    postgres_bench,
    priority_bench,
    raw,
    redis_scale,
    report,
    results_bench,
    tasks,
)
from benchmarks.alligator_bench import Backend
from benchmarks.rows import Row
from benchmarks.servers import beanstalkd, find_binary, redis_server

RESULTS = Path(__file__).resolve().parent / "results"

#: The parts of a run --skip and --only name. ``asyncio`` includes its peers
#: (arq, SAQ, taskiq); ``peers`` is the blocking ones (RQ, Dramatiq, ...).
SECTIONS = (
    "alligator",
    "wake",
    "scale",
    "priority",
    "results",
    "peers",
    "raw",
    "pool",
    "postgres",
    "bloat",
    "metrics",
    "asyncio",
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small N, one repeat (~1 min)")
    parser.add_argument("-n", type=int, help="tasks per repeat (default 20,000; quick 1,000)")
    parser.add_argument("--repeats", type=int, help="repeats per figure (default 3; quick 1)")
    parser.add_argument("--batch-size", type=int, default=1000, help="tasks per batch/pipeline")
    parser.add_argument("--skip", default="", help="comma-separated: " + ",".join(SECTIONS))
    parser.add_argument("--only", default="", help="comma-separated: run only these sections")
    parser.add_argument(
        "--scale-n", type=int, help="ready tasks of the Redis scale run (default 1,000,000)"
    )
    parser.add_argument(
        "--scale-samples", type=int, default=200, help="gets, cancels, replaces timed at scale"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    parser.add_argument(
        "--rerender", action="store_true", help="rebuild results.md/.png from results.json"
    )
    args = parser.parse_args(argv)
    args.n = args.n or (1000 if args.quick else 20_000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.wake_n = 30 if args.quick else 150
    args.idle = 3.0 if args.quick else 5.0  # seconds idle per wake-up run: 1 s samples
    args.pool_tasks = 300 if args.quick else 2000
    # Tasks through the PostgreSQL table before its size is read (issue 17: 1,000,000).
    args.bloat_tasks = 100_000 if args.quick else postgres_bench.BLOAT_TASKS
    args.scale_n = args.scale_n or (100_000 if args.quick else 1_000_000)
    args.result_samples = 100 if args.quick else 500  # wait() and dependent latency samples
    args.skip = {s for s in args.skip.split(",") if s}
    only = {s for s in args.only.split(",") if s}
    unknown = (args.skip | only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    if only:
        args.skip |= set(SECTIONS) - only
    return args


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def versions(client: redis.Redis) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("alligator", "msgspec", "redis", "greenstalk"):
        found[name if name != "redis" else "redis-py"] = metadata.version(name)
    found["sqlite"] = sqlite3.sqlite_version
    found["redis-server"] = str(client.info("server")["redis_version"])
    beanstalk = subprocess.run(
        [find_binary("beanstalkd"), "-v"], capture_output=True, text=True, check=False
    )
    found["beanstalkd"] = (beanstalk.stdout or beanstalk.stderr).split()[-1]
    return found


def queued_bytes(client: redis.Redis) -> int:
    """Redis memory minus client buffers and cached scripts: what the data costs.

    Without this, the first system measured would pay for loading its Lua
    scripts and every figure would carry whatever the connections buffer.
    """
    info = client.info("memory")
    overhead = int(info.get("mem_clients_normal", 0)) + int(info.get("used_memory_scripts_eval", 0))
    return int(info["used_memory"]) - overhead


def script_stats(client: redis.Redis) -> tuple[int, int]:
    """Script calls the server ran so far, and the microseconds they took."""
    found = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(found.get("calls", 0)), int(found.get("usec", 0))


def sample_payload() -> bytes:
    """An Alligator msgpack envelope of ``add(1, 2)``: the raw baselines' payload."""
    with Gator("locmem://bench-payload", codec="msgpack") as gator:
        task = gator.task_class()
        task.to_call(tasks.add, 1, 2)
        return gator.serialize(task)


def flushed_dsn(client: redis.Redis, port: int) -> Callable[[], str]:
    """A DSN factory that flushes the benchmark's server first."""

    def fresh() -> str:
        client.flushdb()
        return f"redis://127.0.0.1:{port}/0"

    return fresh


def backends(
    redis_port: int, beanstalk_port: int, workdir: Path, client: redis.Redis
) -> list[Backend]:
    counter = itertools.count()

    def memory() -> int:
        return queued_bytes(client)

    def sqlite() -> str:
        return f"sqlite:///{workdir / f'bench-{next(counter)}.db'}"

    def locmem() -> str:
        return f"locmem://bench-{next(counter)}"

    found = [
        Backend(f"redis {codec}", flushed_dsn(client, redis_port), codec, memory)
        for codec in ("msgpack", "json", "json+bz2")
    ]
    found.append(Backend("sqlite msgpack", sqlite, "msgpack"))
    found.append(
        Backend("beanstalkd msgpack", lambda: f"beanstalk://127.0.0.1:{beanstalk_port}", "msgpack")
    )
    found.append(Backend("locmem msgpack", locmem, "msgpack", in_process=True))
    return found


def run_pool(tasks_n: int) -> list[dict[str, Any]]:
    """The worker-pool engineer's 1/2/4-process figures, when their module exists."""
    try:
        module = importlib.import_module("benchmarks.bench_pool")
    except ImportError:
        return []
    run = getattr(module, "run", None)
    if run is None:
        return []
    try:
        result: list[dict[str, Any]] = run(tasks=tasks_n)
    except Exception as exc:  # another engineer's module: report, never lose the run
        log(f"bench_pool.run failed, pool rows left out: {type(exc).__name__}: {exc}")
        return []
    return result


def measure_features(
    args: argparse.Namespace, client: redis.Redis, port: int, url: str
) -> list[Row]:
    """Redis with priorities in use, and with results on, against the plain paths."""
    rows: list[Row] = []
    if "priority" not in args.skip:
        log("alligator redis with priorities against without")
        rows += priority_bench.measure_priorities(
            flushed_dsn(client, port), args.n, args.repeats, args.batch_size
        )
    if "results" not in args.skip:
        log("alligator results: drain on/off, wait and dependent latency, bytes per result")
        rows += results_bench.measure_redis(
            flushed_dsn(client, port),
            lambda: queued_bytes(client),
            args.n,
            args.repeats,
            args.result_samples,
        )
        rows += results_bench.measure_locmem(args.result_samples)
        rows += results_bench.measure_sqlite(args.result_samples)
        if peers_bench.python().exists():
            rows += results_bench.measure_peer_bytes(
                url, args.n, client.flushdb, lambda: queued_bytes(client)
            )
    return rows


def measure_all(args: argparse.Namespace, workdir: Path) -> tuple[list[Row], dict[str, str]]:
    rows: list[Row] = []
    with redis_server(workdir) as rserver, beanstalkd(workdir) as bserver:
        url = f"redis://127.0.0.1:{rserver.port}/0"
        client = redis.Redis.from_url(url)
        found = versions(client)
        payload = sample_payload()
        found_backends = backends(rserver.port, bserver.port, workdir, client)
        # Redis msgpack's enqueues are timed beside raw LPUSH, in turns (measure_enqueues).
        beside = found_backends[0] if "raw" not in args.skip else None
        assert beside is None or beside.label == "redis msgpack", beside
        if beside is not None:
            log("raw redis-py and redis-benchmark; alligator redis msgpack enqueue beside LPUSH")
            rows += raw.measure_raw(url, args.n, args.repeats, payload, drain_batch=MAX_BATCH)
            rows += raw.measure_enqueues(
                url, beside, args.n, args.repeats, batch_size=args.batch_size, payload=payload
            )
            rows += raw.measure_redis_benchmark(
                rserver.port, args.n * 5, args.repeats, len(payload)
            )
        for backend in found_backends:
            if "alligator" not in args.skip:
                log(f"alligator {backend.label}")
                measured = alligator_bench.measure(backend, args.n, args.repeats, args.batch_size)
                if backend is beside:
                    measured = [row for row in measured if row.metric not in ("enqueue", "batch")]
                rows += measured
            if "wake" not in args.skip and backend.codec == "msgpack":
                log(f"alligator {backend.label} wake-up")
                rows += alligator_bench.measure_wake(
                    backend, args.wake_n, args.repeats, idle=args.idle
                )
        if "asyncio" not in args.skip:
            log("asyncio: concurrent drains (redis, sqlite), AsyncGator enqueue")
            client.flushdb()
            rows += asyncio_bench.measure_all(url, workdir, args.n, args.repeats, payload)
            log("asyncio peers: arq, SAQ, taskiq")
            found.update(asyncio_peers.peer_versions())
            rows += asyncio_peers.measure_peers(url, args.n, args.repeats, client.flushdb)
        if "scale" not in args.skip:
            log(f"alligator redis at scale: {args.scale_n:,} ready tasks")
            rows += redis_scale.measure_scale(
                flushed_dsn(client, rserver.port),
                lambda: queued_bytes(client),
                args.scale_n,
                args.scale_samples,
                lambda: script_stats(client),
            )
        rows += measure_features(args, client, rserver.port, url)
        if "metrics" not in args.skip:
            log("alligator drain with Prometheus metrics on and off (sqlite, locmem, redis)")
            rows += metrics_bench.measure_metrics(
                workdir, args.n, args.repeats, flushed_dsn(client, rserver.port)
            )
        if "peers" not in args.skip:
            found.update(peers_bench.peer_versions())
            for peer in peers_bench.PEERS:
                log(f"peer {peer.system}")
                rows += peers_bench.measure_peer(
                    peer,
                    url,
                    args.n,
                    args.repeats,
                    args.batch_size,
                    flush=client.flushdb,
                    memory=lambda: queued_bytes(client),
                )
        client.close()
    if "postgres" not in args.skip:
        log("postgresql: raw psycopg, alligator, procrastinate, bloat")
        pg_rows, pg_found = postgres_bench.measure_all(
            args.n,
            args.repeats,
            args.batch_size,
            wake_n=args.wake_n,
            idle=args.idle,
            payload=payload,
            peers="peers" not in args.skip,
            bloat_tasks=0 if "bloat" in args.skip else args.bloat_tasks,
        )
        rows += pg_rows
        found.update(pg_found)
    return rows, found


def write(out: Path, rows: list[Row], meta: dict[str, Any], pool: list[dict[str, Any]]) -> None:
    """results.json (raw), results.md (printed too) and results.png."""
    out.mkdir(parents=True, exist_ok=True)
    markdown = report.render(rows, meta, pool)
    raw_json = {"meta": meta, "rows": [row.as_dict() for row in rows], "pool": pool}
    (out / "results.json").write_text(json.dumps(raw_json, indent=1) + "\n")
    (out / "results.md").write_text(markdown)
    print(markdown)
    if peers_bench.python().exists():
        chart = peers_bench.HERE / "peers" / "chart.py"
        argv = [str(peers_bench.python()), str(chart), str(out / "results.json")]
        subprocess.run([*argv, str(out / "results.png")], check=False)


def rerender(out: Path) -> int:
    """Rebuild results.md and the chart from results.json, measuring nothing."""
    saved = json.loads((out / "results.json").read_text())
    rows = [Row.from_dict(raw) for raw in saved["rows"]]
    write(out, rows, saved["meta"], saved["pool"])
    return 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.rerender:
        return rerender(args.out)
    if {"peers", "results", "asyncio"} - args.skip:
        peers_bench.ensure_env()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alligator-bench-") as tmp:
        rows, found = measure_all(args, Path(tmp))
    pool: list[dict[str, Any]] = []
    if "pool" not in args.skip:
        log("worker pool (benchmarks/bench_pool.py)")
        pool = run_pool(args.pool_tasks)
    meta: dict[str, Any] = {
        "command": "make bench" + (" BENCH_ARGS=--quick" if args.quick else ""),
        "machine": f"{platform.machine()} Linux, {platform.processor() or 'cpu'}, "
        f"{len(__import__('os').sched_getaffinity(0))} cores",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "n": args.n,
        "repeats": args.repeats,
        "versions": found,
        "seconds": round(time.monotonic() - started, 1),
        "caveat": "Numbers from a shared 2-core machine with other work running are noisy.",
    }
    write(args.out, rows, meta, pool)
    log(f"done in {meta['seconds']} s; wrote {args.out}/results.md, .json, .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
