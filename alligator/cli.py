"""Command line: ``latergator DSN`` and ``python -m alligator worker|info``."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence

from alligator.constants import ALL, DEFAULT_LEASE
from alligator.exceptions import AlligatorError, ConfigurationError
from alligator.gator import DEFAULT_DSN, Gator
from alligator.workers import Worker

__all__ = ["latergator", "main"]

log = logging.getLogger("alligator.cli")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dsn",
        nargs="?",
        default=DEFAULT_DSN,
        help=f"backend DSN, e.g. redis://localhost:6379/0 (default: {DEFAULT_DSN})",
    )
    parser.add_argument("-q", "--queue", default=ALL, help=f"queue name (default: {ALL})")
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (custom codecs, task classes); repeatable",
    )


def _add_worker_options(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)
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


def _import_modules(modules: Sequence[str]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            # A typo in --import is a usage error: exit 2 with the reason, no traceback.
            raise ConfigurationError(f"--import {module}: cannot import it: {exc}") from exc


def run_worker(args: argparse.Namespace) -> int:
    """Run one worker in this process until it is stopped."""
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _import_modules(args.imports)
    gator = Gator(
        args.dsn, queue_name=args.queue, lease=args.lease, allowed_modules=args.allowed_modules
    )
    Worker(gator, max_tasks=args.max_tasks, nap_time=args.nap_time).run_forever()
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print the queue's counts by state."""
    _import_modules(args.imports)
    gator = Gator(args.dsn, queue_name=args.queue)
    stats = gator.broker.stats(args.queue)
    counts = {
        "queue": args.queue,
        "ready": stats.ready,
        "delayed": stats.delayed,
        "reserved": stats.reserved,
        "buried": stats.buried,
    }
    if args.json:
        print(json.dumps(counts))
    else:
        width = max(len(args.queue), len("queue"))
        print(f"{'queue':<{width}}  {'ready':>8} {'delayed':>8} {'reserved':>8} {'buried':>8}")
        print(
            f"{args.queue:<{width}}  {stats.ready:>8} {stats.delayed:>8} "
            f"{stats.reserved:>8} {stats.buried:>8}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alligator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run a worker")
    _add_worker_options(worker)
    worker.set_defaults(handler=run_worker)
    info = commands.add_parser("info", help="show a queue's counts by state")
    _add_common(info)
    info.add_argument("--json", action="store_true", help="print JSON for scripts")
    info.set_defaults(handler=run_info)
    return parser


def _dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except AlligatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m alligator``."""
    return _dispatch(build_parser(), argv)


def latergator(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``latergator`` script: ``latergator DSN [options]`` runs a worker."""
    parser = argparse.ArgumentParser(prog="latergator", description="Run an Alligator worker.")
    _add_worker_options(parser)
    parser.set_defaults(handler=run_worker)
    return _dispatch(parser, argv)
