"""Run Alligator workers and inspect queues.

``worker`` runs a worker (or a pool with --processes), ``info`` shows a
queue's counts by state, ``failed`` lists, shows, requeues and purges buried
tasks, ``migrate`` creates or upgrades the PostgreSQL backend's tables.
``latergator DSN`` is a shortcut for ``worker``.
"""

# Each subcommand lives in its own module with a ``register(subparsers)``
# function, so commands grow without touching each other.

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from alligator.cli import failed, info, migrate, worker
from alligator.exceptions import AlligatorError

__all__ = ["build_parser", "latergator", "main"]

_DESCRIPTION = (
    "Run Alligator workers and inspect queues: 'worker' runs a worker (or a pool with "
    "--processes), 'info' shows a queue's counts by state, 'failed' lists, shows, requeues "
    "and purges buried tasks."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alligator", description=_DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    for module in (worker, info, failed, migrate):
        module.register(commands)
    return parser


def _dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None, skip: int) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    # What followed the subcommand, for a pool to hand on to its children.
    args.argv = argv[skip:]
    try:
        code: int = args.handler(args)
    except AlligatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``alligator`` script and of ``python -m alligator``."""
    return _dispatch(build_parser(), argv, skip=1)


def latergator(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``latergator`` script: ``latergator DSN [options]`` runs a worker."""
    parser = argparse.ArgumentParser(
        prog="latergator", description="Run an Alligator worker.", conflict_handler="resolve"
    )
    worker.add_options(parser)
    parser.set_defaults(handler=worker.run, command_prefix=["worker"])
    return _dispatch(parser, argv, skip=0)
