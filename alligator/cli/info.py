"""``python -m alligator info``: each queue's counts by state, once or as they change.

Where the backend counts limits (:mod:`alligator.limits`), each limit key in
use on a queue follows, with its current use: tasks running against a
concurrency limit, starts within a rate limit's window (JSON: a ``limits``
list in the queue's object, present when the queue has any).

``--json`` prints one JSON object per queue per line (JSON Lines), so a script
reads one queue with ``json.loads`` and several, or a ``--watch`` stream, line
by line.

What ``--watch`` rates measure, between two samples ``dt`` seconds apart
(the backends count states, not completions, so rates are derived):

- ``buried_per_s``: growth of the buried count (tasks that failed for good).
- ``done_per_s``: the drop of ``ready + delayed + reserved`` minus the tasks
  newly buried, over ``dt``: tasks that left the queue by an ack. It is net
  of arrivals: tasks pushed during the interval lower it (it can go below
  zero while producers outpace workers), so it equals the completion rate
  exactly when nothing is being enqueued.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

from alligator.capabilities import limit_view, queue_lister_view
from alligator.cli.common import add_target_options, gator_from_args
from alligator.cli.worker import add_queue_option, queues_of
from alligator.dsn import display_dsn
from alligator.protocols import LimitClient, ReliableClient
from alligator.records import LimitUsage, QueueStats

__all__ = ["register", "run", "sample"]

_COUNTS = ("ready", "delayed", "reserved", "buried")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "info", help="show each queue's counts by state", conflict_handler="resolve"
    )
    add_target_options(parser)
    add_queue_option(
        parser,
        "queue to show; repeatable (default: every queue that has tasks, where the "
        "backend can list them, else the default queue)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON Lines for scripts")
    parser.add_argument(
        "--watch",
        nargs="?",
        type=float,
        const=2.0,
        default=None,
        metavar="SECONDS",
        help="sample again every SECONDS (default 2) with completion rates, until Ctrl-C",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=0,
        metavar="N",
        help="with --watch, stop after N samples (default: never)",
    )
    parser.set_defaults(handler=run)


def sample(broker: ReliableClient, queues: list[str]) -> dict[str, QueueStats]:
    """One stats call per queue."""
    return {queue: broker.stats(queue) for queue in queues}


def rates(before: QueueStats, after: QueueStats, seconds: float) -> dict[str, float]:
    """Completion and bury rates between two samples (see the module notes)."""
    outstanding_before = before.ready + before.delayed + before.reserved
    outstanding_after = after.ready + after.delayed + after.reserved
    buried = after.buried - before.buried
    done = outstanding_before - outstanding_after - buried
    return {"done_per_s": done / seconds, "buried_per_s": buried / seconds}


def run(args: argparse.Namespace) -> int:
    """Print the counts (and, with ``--watch``, the rates) of each queue."""
    queues = queues_of(args)
    first = argparse.Namespace(**{**vars(args), "queue": queues[0]})
    stop = threading.Event()
    with gator_from_args(first, existing=True) as gator:
        if args.queue is None:  # no -q: every queue that has tasks, where the backend can say
            lister = queue_lister_view(gator.backend, gator.capabilities)
            listed = lister.queues() if lister is not None else queues
            if not listed and args.watch is None:
                if not args.json:
                    print(f"no queue of {display_dsn(gator.conn_string)} holds tasks")
                return 0
            queues = listed or queues
        previous = sample(gator.broker, queues)
        taken = time.monotonic()
        limiter = limit_view(gator.broker, gator.capabilities)
        _print(args, previous, None, 0.0, _usage(limiter, queues))
        if args.watch is None:
            return 0
        samples = 1
        try:
            while not args.count or samples < args.count:
                stop.wait(max(args.watch, 0.05))
                counts = sample(gator.broker, queues)
                now = time.monotonic()
                _print(args, counts, previous, now - taken, _usage(limiter, queues))
                previous, taken, samples = counts, now, samples + 1
        except KeyboardInterrupt:
            pass
    return 0


def _print(
    args: argparse.Namespace,
    counts: dict[str, QueueStats],
    previous: dict[str, QueueStats] | None,
    seconds: float,
    limits: dict[str, list[LimitUsage]],
) -> None:
    rows: list[dict[str, Any]] = []
    for queue, stats in counts.items():
        row: dict[str, Any] = {"queue": queue, **{k: getattr(stats, k) for k in _COUNTS}}
        if limits.get(queue):
            row["limits"] = [_usage_row(usage) for usage in limits[queue]]
        if args.watch is not None:
            if previous is None:
                row.update(done_per_s=None, buried_per_s=None)
            else:
                row.update(rates(previous[queue], stats, seconds))
        rows.append(row)
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(_table(rows, with_rates=args.watch is not None))
        for queue, used in limits.items():
            if used:
                print(_limits_table(queue, used))
    sys.stdout.flush()


def _usage(limiter: LimitClient | None, queues: list[str]) -> dict[str, list[LimitUsage]]:
    """Each queue's limit keys in use, where the backend counts limits."""
    if limiter is None:
        return {}
    return {queue: limiter.limit_usage(queue) for queue in queues}


def _usage_row(usage: LimitUsage) -> dict[str, Any]:
    if usage.concurrency:
        return {"key": usage.key, "concurrency": usage.concurrency, "running": usage.running}
    return {"key": usage.key, "rate": usage.rate, "period": usage.period, "recent": usage.recent}


def _limits_table(queue: str, used: list[LimitUsage]) -> str:
    """``limits of 'q':`` then one line per key: running/limit, or starts/rate per window."""
    width = max(len(usage.key) for usage in used)
    lines = [f"limits of {queue!r}:"]
    for usage in used:
        if usage.concurrency:
            use = f"{usage.running}/{usage.concurrency} running"
        else:
            use = f"{usage.recent}/{usage.rate} started in the last {usage.period:g}s"
        lines.append(f"  {usage.key:<{width}}  {use}")
    return "\n".join(lines)


def _table(rows: list[dict[str, Any]], *, with_rates: bool) -> str:
    width = max(len("queue"), *(len(row["queue"]) for row in rows))
    header = f"{'queue':<{width}}  " + " ".join(f"{name:>8}" for name in _COUNTS)
    if with_rates:
        header += f" {'done/s':>9} {'buried/s':>9}"
    lines = [header]
    for row in rows:
        line = f"{row['queue']:<{width}}  " + " ".join(f"{row[k]:>8}" for k in _COUNTS)
        if with_rates:
            line += "".join(
                f" {'-':>9}" if row[k] is None else f" {row[k]:>9.1f}"
                for k in ("done_per_s", "buried_per_s")
            )
        lines.append(line)
    if with_rates:
        lines.append("")
    return "\n".join(lines)
