"""``python -m alligator worker`` and ``latergator``: run a worker, or a pool of them.

Without ``--processes`` the worker runs in this process (``--threads M``: M
workers in threads). With ``--processes N`` this process supervises N child
processes, each running this same command with ``--processes 0`` appended
(argparse keeps the last value), so every other option reaches the children
unchanged, including options added to the shared target options later.
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
from alligator.cli.common import add_target_options, gator_from_args
from alligator.constants import ALL, DEFAULT_LEASE, DEFAULT_MAX_DELIVERIES, DEFAULT_RESULT_TTL
from alligator.dsn import display_dsn
from alligator.exceptions import BackendConnectionError, ConfigurationError
from alligator.gator import Gator
from alligator.pool import PARENT_ENV, Pool, run_threads, watch_parent
from alligator.workers import DEFAULT_GRACE, DEFAULT_LAG_WARNING, Worker

if TYPE_CHECKING:
    from alligator.metrics import Metrics
    from alligator.schedules import Scheduler

log = logging.getLogger("alligator.cli")

__all__ = ["add_options", "add_queue_option", "queues_of", "register", "run"]


def add_queue_option(parser: argparse.ArgumentParser, help: str) -> None:
    """Make ``-q/--queue`` repeatable (the parser needs ``conflict_handler="resolve"``)."""
    parser.add_argument(
        "-q", "--queue", dest="queue", action="append", default=None, metavar="QUEUE", help=help
    )


def queues_of(args: argparse.Namespace) -> list[str]:
    """The ``--queue`` values in the order given, or the default queue."""
    queues: list[str] = args.queue or [ALL]
    if len(set(queues)) != len(queues):
        raise ConfigurationError(f"--queue names a queue twice: {queues}")
    return queues


def add_options(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser)
    add_queue_option(
        parser,
        f"queue to consume; repeat for several, highest priority first: the first is "
        f"drained before the next is touched (default: the queue named {ALL!r})",
    )
    parser.add_argument(
        "-m",
        "--max-tasks",
        type=int,
        default=0,
        help="stop after N tasks ran successfully, as in Alligator 1.0 (default: never); "
        "in a pool, a child that reaches N exits and a fresh one replaces it",
    )
    parser.add_argument(
        "--max-deliveries",
        type=int,
        default=DEFAULT_MAX_DELIVERIES,
        metavar="N",
        help="bury a task after N deliveries that ended without a settlement (its "
        f"worker died or lost the lease); 0: never (default: {DEFAULT_MAX_DELIVERIES})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop a task without a timeout of its own after SECONDS, as a failure "
        "(SIGALRM in a single-threaded worker; with --processes, a child whose task is "
        "stuck past its limit is also killed and replaced) (default: no limit)",
    )
    parser.add_argument(
        "--recycle-after",
        type=int,
        default=0,
        metavar="N",
        help="stop after N deliveries of any outcome (default: never); in a pool, a fresh "
        "child replaces it, so a leak cannot grow even while tasks keep failing",
    )
    parser.add_argument(
        "-n",
        "--nap-time",
        type=float,
        default=0.1,
        help="seconds between polls for backends that cannot block, and the longest an "
        "idle worker of several queues waits before looking at the lower ones (default: 0.1)",
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=DEFAULT_LEASE,
        help=f"seconds a task is held before another worker may take it (default: {DEFAULT_LEASE})",
    )
    parser.add_argument(
        "--no-prefetch",
        dest="prefetch",
        action="store_false",
        help="claim one task per round trip and ack each before the next; by default a "
        "worker leases a few tasks ahead (about 30 ms of work) and acks finished ones with "
        "its next claim, where the backend allows it",
    )
    parser.add_argument(
        "--results",
        action="store_true",
        help="store each task's outcome in the queue's own backend, with its ack, for the "
        "producers' Gator(results=True) wait() and status(), and run depends_on "
        "(default: off)",
    )
    parser.add_argument(
        "--result-store",
        metavar="DSN",
        help="store the outcomes in another backend instead, as Gator(results=DSN) does "
        "(beanstalkd queues need one)",
    )
    parser.add_argument(
        "--result-ttl",
        type=float,
        default=DEFAULT_RESULT_TTL,
        metavar="SECONDS",
        help=f"seconds each outcome is kept (default: {DEFAULT_RESULT_TTL:g})",
    )
    parser.add_argument(
        "--allowed-module",
        dest="allowed_modules",
        action="append",
        metavar="MODULE",
        help="only run callables from MODULE and its submodules; repeatable",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        metavar="N",
        help="supervise N worker processes, restarting any that die (default: 0, run the "
        "worker in this process)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="M",
        help="workers per process, each in its own thread: for tasks that mostly wait on "
        "I/O; with --concurrency, the threads that run plain (non-async) tasks (default: 1)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="run up to N tasks at once on an event loop: 'async def' tasks on the loop, "
        "plain ones in --threads threads (default: one task at a time)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help="with --concurrency: on SIGTERM/SIGINT, seconds running tasks get to finish "
        "before they are cancelled and released for another worker "
        f"(default: {DEFAULT_GRACE:g})",
    )
    parser.add_argument(
        "--lag-warning",
        type=float,
        default=DEFAULT_LAG_WARNING,
        metavar="SECONDS",
        help="with --concurrency: warn, naming the task, when the event loop is blocked "
        f"this long; 0: never (default: {DEFAULT_LAG_WARNING:g})",
    )
    parser.add_argument(
        "--schedule",
        metavar="MODULE:ATTRIBUTE",
        help="also run a scheduler of this alligator.schedules.Schedule in this process "
        "(a thread; with --processes, in the supervising process only), as "
        "'alligator scheduler' would",
    )
    parser.add_argument(
        "--wait-for-backend",
        action="store_true",
        help="start even if the backend cannot be reached, and wait for it (one log line per "
        "back-off step); by default an unreachable backend at start-up is an error (exit 1)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (needs "
        "alligator[metrics]); with --processes, one endpoint for the whole pool",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address the metrics endpoint listens on (default: 127.0.0.1, this machine only)",
    )
    parser.add_argument(
        "--metrics-interval",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="seconds between two reads of the queues' depth (default: 15)",
    )
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="run each task in an OpenTelemetry 'process' span continuing the producer's "
        "trace (needs alligator[otel] and a tracer provider: opentelemetry-instrument, or "
        "one set up by an --import module)",
    )
    parser.add_argument(
        "-l",
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    )


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
