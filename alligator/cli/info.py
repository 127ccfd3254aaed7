"""``python -m alligator info``: a queue's counts by state."""

from __future__ import annotations

import argparse
import json
from typing import Any

from alligator.cli.common import add_target_options, gator_from_args

__all__ = ["register", "run"]


def register(commands: Any) -> None:
    parser = commands.add_parser("info", help="show a queue's counts by state")
    add_target_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the queue's ready, delayed, reserved and buried counts."""
    with gator_from_args(args) as gator:
        stats = gator.broker.stats(args.queue)
    if args.json:
        counts = {"queue": args.queue, **{k: getattr(stats, k) for k in stats.__struct_fields__}}
        print(json.dumps(counts))
        return 0
    width = max(len(args.queue), len("queue"))
    print(f"{'queue':<{width}}  {'ready':>8} {'delayed':>8} {'reserved':>8} {'buried':>8}")
    print(
        f"{args.queue:<{width}}  {stats.ready:>8} {stats.delayed:>8} "
        f"{stats.reserved:>8} {stats.buried:>8}"
    )
    return 0
