"""The options of ``python -m alligator worker`` and ``latergator``, declared once.

Kept apart from running them (:mod:`alligator.cli.worker`) because other
commands read the same declarations: ``info`` and ``web`` take the same
repeatable ``--queue``, and a pool re-runs the command line in its children,
so every option must mean the same wherever it is parsed.
"""

from __future__ import annotations

import argparse

from alligator.cli.common import add_target_options
from alligator.constants import ALL, DEFAULT_LEASE, DEFAULT_MAX_DELIVERIES, DEFAULT_RESULT_TTL
from alligator.exceptions import ConfigurationError
from alligator.workers import DEFAULT_GRACE, DEFAULT_LAG_WARNING

__all__ = ["add_options", "add_queue_option", "queues_of"]


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
