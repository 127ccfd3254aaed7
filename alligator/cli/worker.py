"""``python -m alligator worker`` and ``latergator``: run a worker, or a pool of them.

Without ``--processes`` the worker runs in this process (``--threads M``: M
workers in threads). With ``--processes N`` this process supervises N child
processes, each running this same command with ``--processes 0`` appended
(argparse keeps the last value), so every other option reaches the children
unchanged, including options added to the shared target options later.

The options themselves are declared in :mod:`alligator.cli.worker_options`
(re-exported here); this module turns them into running workers.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from alligator._limits import BEACON_ENV, Beacon
from alligator._signals import stop_signals
from alligator.cli.common import gator_from_args
from alligator.cli.worker_options import add_options, add_queue_option, queues_of
from alligator.dsn import display_dsn
from alligator.exceptions import BackendConnectionError, ConfigurationError
from alligator.gator import Gator
from alligator.pool import PARENT_ENV, Pool, run_threads, watch_parent
from alligator.workers import Worker

if TYPE_CHECKING:
    from alligator.metrics import Metrics
    from alligator.schedules import Scheduler

log = logging.getLogger("alligator.cli")

__all__ = ["add_options", "add_queue_option", "queues_of", "register", "run"]


def register(commands: Any) -> None:
    parser = commands.add_parser("worker", help="run a worker", conflict_handler="resolve")
    add_options(parser)
    parser.set_defaults(handler=run, command_prefix=["worker"])


def run(args: argparse.Namespace) -> int:
    """Run a worker (or M worker threads) here, or supervise a pool of processes."""
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _check_counts(args)
    if args.processes:
        return _run_pool(args)
    # A SIGINT/SIGTERM that arrives while the worker is being set up stops
    # the workers built so far (and those built after it) before their loop
    # begins; each loop installs its own handlers when it starts. Without
    # this, such a signal would kill the process with -15 instead of the
    # clean exit 0 that a stop before any claim deserves.
    early: list[int] = []
    gators: list[Gator] = []
    workers: list[Worker] = []
    code = 0

    def stop_early(signum: int) -> None:
        early.append(signum)
        for worker in workers:
            worker.interrupt()

    metrics = _metrics(args)
    try:
        with stop_signals(stop_early, then="keep"):
            # One worker runs the threads itself when it runs tasks concurrently.
            count = 1 if args.concurrency is not None else args.threads
            gators.extend(_gator(args) for _ in range(count))
            beacon_path = os.environ.get(BEACON_ENV)
            # A concurrent child keeps no beacon (many tasks at once): its tasks'
            # time limits are its own event loop's (see alligator.concurrency).
            concurrent = args.concurrency is not None
            beacon = None if beacon_path is None or concurrent else Beacon(beacon_path, count)
            if not early:
                _reach(gators[0], args)
            workers.extend(
                Worker(
                    gator,
                    max_tasks=args.max_tasks,
                    recycle_after=args.recycle_after,
                    to_consume=queues_of(args),
                    nap_time=args.nap_time,
                    prefetch=args.prefetch,
                    timeout=args.timeout,
                    beacon=None if beacon is None else beacon.slot(n),
                    metrics=metrics,
                    concurrency=args.concurrency,
                    threads=args.threads,
                    grace=args.grace,
                    lag_warning=args.lag_warning,
                )
                for n, gator in enumerate(gators)
            )
            if early:
                for worker in workers:
                    worker.interrupt()
            parent = os.environ.get(PARENT_ENV)
            if parent is not None and parent.isdigit():
                watch_parent(int(parent), lambda: os.kill(os.getpid(), signal.SIGTERM))
            with _beside(args, workers.copy()) as failed:
                if len(workers) == 1:
                    code = workers[0].run_forever()
                else:
                    run_threads(workers)
            if failed:
                code = 1
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    finally:
        for gator in gators:
            gator.close()
    return code


def _metrics(args: argparse.Namespace) -> Metrics | None:
    """This process's metrics: a pool child's recorder, a served endpoint, or none."""
    if args.metrics_port is None:
        return None
    from alligator.metrics import Metrics, child_metrics

    return child_metrics() or Metrics(
        args.metrics_port, host=args.metrics_host, depth_interval=args.metrics_interval
    )


@contextlib.contextmanager
def _beside(args: argparse.Namespace, workers: list[Worker]) -> Iterator[list[BaseException]]:
    """Run the ``--schedule`` scheduler in a thread while the block runs (if one was asked).

    The scheduler starts here, so a schedule that cannot run (a held
    beanstalkd lock, a bad reference) fails before any worker does. Should
    it stop with an error later, the workers are asked to stop too, and the
    list the block gets holds the error.
    """
    failed: list[BaseException] = []
    if not args.schedule:
        yield failed
        return
    scheduler = _scheduler(args)

    def run() -> None:
        try:
            scheduler.run_forever()
        except Exception as exc:
            log.error("the scheduler stopped: %s", exc, exc_info=exc)
            failed.append(exc)
            for worker in workers:
                worker.interrupt()

    thread = threading.Thread(target=run, name="alligator-scheduler", daemon=True)
    thread.start()
    try:
        yield failed
    finally:
        scheduler.interrupt()
        thread.join(10)
        scheduler.gator.close()


def _scheduler(args: argparse.Namespace) -> Scheduler:
    from alligator.cli.scheduler import load_schedule, scheduler_gator
    from alligator.schedules import Scheduler

    schedule = load_schedule(args.schedule)
    gator = scheduler_gator(args, schedule)
    scheduler = Scheduler(schedule, gator=gator)
    try:
        scheduler.start()
    except BaseException:
        scheduler.ledger.close()
        gator.close()
        raise
    return scheduler


def _gator(args: argparse.Namespace) -> Gator:
    first = argparse.Namespace(**{**vars(args), "queue": queues_of(args)[0]})
    return gator_from_args(
        first,
        lease=args.lease,
        allowed_modules=args.allowed_modules,
        max_deliveries=args.max_deliveries,
        tracing=args.tracing,
        results=args.result_store or args.results,
        result_ttl=args.result_ttl,
    )


def _check_counts(args: argparse.Namespace) -> None:
    if args.processes < 0 or args.threads < 1:
        raise ConfigurationError("--processes must be >= 0 and --threads >= 1")
    if args.max_tasks < 0 or args.recycle_after < 0:
        raise ConfigurationError("--max-tasks and --recycle-after must be >= 0")
    if args.concurrency is not None and args.concurrency < 1:
        raise ConfigurationError(
            f"--concurrency must be >= 1 (tasks run at once), got {args.concurrency}"
        )


def _reach(gator: Gator, args: argparse.Namespace) -> None:
    """Fail at once, in one line, if the backend cannot be reached (unless --wait-for-backend).

    Raises:
        BackendConnectionError: The first call to the backend failed to connect.
    """
    if args.wait_for_backend:
        return
    try:
        gator.broker.len(gator.queue_name)
    except BackendConnectionError as exc:
        raise BackendConnectionError(
            f"cannot reach the backend {display_dsn(gator.conn_string)} ({exc}); start it or "
            "fix the DSN, or pass --wait-for-backend to wait for it"
        ) from exc


def _run_pool(args: argparse.Namespace) -> int:
    # Fail here, once, on what every child would fail on (bad DSN, --import, a backend down).
    with _gator(args) as gator:
        _reach(gator, args)
    command = [
        sys.executable,
        "-m",
        "alligator",
        *args.command_prefix,
        *_without_schedule(args.argv),
    ]
    if args.metrics_port is None:
        pool = Pool([*command, "--processes", "0"], args.processes, threads=args.threads)
        with _beside(args, []) as failed:
            code = pool.run()
        return 1 if failed and code == 0 else code
    from alligator.metrics import CHILD_DIR_ENV, PoolMetrics

    with tempfile.TemporaryDirectory(prefix="alligator-metrics-") as directory:
        metrics = PoolMetrics(directory, args.metrics_port, host=args.metrics_host)
        pool = Pool(
            [*command, "--processes", "0"],
            args.processes,
            threads=args.threads,
            env={**os.environ, CHILD_DIR_ENV: directory},
            on_exit=metrics.child_exited,
        )
        with _gator(args) as gator:
            metrics.start(gator, queues_of(args), args.metrics_interval)
        try:
            with _beside(args, []) as failed:
                code = pool.run()
            return 1 if failed and code == 0 else code
        finally:
            metrics.close()


def _without_schedule(argv: list[str]) -> list[str]:
    """``argv`` less ``--schedule X``: a pool's children run no scheduler of their own."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--schedule":
            skip = True
        elif not arg.startswith("--schedule="):
            kept.append(arg)
    return kept
