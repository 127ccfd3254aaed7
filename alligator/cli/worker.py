"""``python -m alligator worker`` and ``latergator``: run a worker."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from alligator.cli.common import add_target_options, gator_from_args
from alligator.constants import DEFAULT_LEASE
from alligator.workers import Worker

__all__ = ["add_options", "register", "run"]


def add_options(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser)
    parser.add_argument(
        "-m", "--max-tasks", type=int, default=0, help="stop after N tasks (default: never)"
    )
    parser.add_argument(
        "-n",
        "--nap-time",
        type=float,
        default=0.1,
        help="seconds between polls for backends that cannot block (default: 0.1)",
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=DEFAULT_LEASE,
        help=f"seconds a task is held before another worker may take it (default: {DEFAULT_LEASE})",
    )
    parser.add_argument(
        "--allowed-module",
        dest="allowed_modules",
        action="append",
        metavar="MODULE",
        help="only run callables from MODULE and its submodules; repeatable",
    )
    parser.add_argument(
        "-l",
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    )


def register(commands: Any) -> None:
    parser = commands.add_parser("worker", help="run a worker")
    add_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run one worker in this process until it is stopped."""
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    gator = gator_from_args(args, lease=args.lease, allowed_modules=args.allowed_modules)
    Worker(gator, max_tasks=args.max_tasks, nap_time=args.nap_time).run_forever()
    return 0
