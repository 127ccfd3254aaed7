"""``python -m alligator failed list|show``: the tasks buried on a queue."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from alligator.cli.common import add_target_options, gator_from_args
from alligator.exceptions import ConfigurationError

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser("failed", help="list and inspect buried tasks")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="one line per buried task")
    add_target_options(listing)
    listing.set_defaults(handler=run_list)
    show = actions.add_parser("show", help="a buried task's reason and traceback")
    add_target_options(show)
    show.add_argument("task_id")
    show.set_defaults(handler=run_show)


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def run_list(args: argparse.Namespace) -> int:
    with gator_from_args(args) as gator:
        buried = gator.broker.buried(args.queue)
    for task in buried:
        last_line = task.reason.strip().splitlines()[-1] if task.reason.strip() else ""
        print(f"{task.task_id}  {_when(task.buried_at)}  {last_line}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    with gator_from_args(args) as gator:
        buried = gator.broker.buried(args.queue)
    for task in buried:
        if task.task_id == args.task_id:
            print(f"task:      {task.task_id}")
            print(f"queue:     {args.queue}")
            print(f"buried at: {_when(task.buried_at)}")
            print(f"payload:   {len(task.data)} bytes")
            print(task.reason)
            return 0
    raise ConfigurationError(f"no buried task {args.task_id!r} on queue {args.queue!r}")
