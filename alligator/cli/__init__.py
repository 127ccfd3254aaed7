"""Run Alligator workers and inspect queues.

``worker`` runs a worker (or a pool with --processes), ``info`` shows a
queue's counts by state, ``failed`` lists, shows, requeues and purges buried
tasks, ``migrate`` creates or upgrades the PostgreSQL backend's tables,
``web`` serves a dashboard. ``scheduler`` enqueues the ticks of a schedule
(periodic tasks). ``latergator DSN`` is a shortcut for ``worker``.
"""

# Each subcommand lives in its own module with a ``register(subparsers)``
# function, so commands grow without touching each other.

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from alligator.cli import failed, info, migrate, scheduler, web, worker
from alligator.exceptions import AlligatorError, BackendConnectionError

__all__ = ["EXIT_UNREACHABLE", "EXIT_USAGE", "build_parser", "latergator", "main"]

#: Exit status for wrong arguments or configuration (a bad DSN, a missing file).
EXIT_USAGE = 2
#: Exit status when the backend cannot be reached (a server that is down).
EXIT_UNREACHABLE = 1

_DESCRIPTION = (
    "Run Alligator workers and inspect queues: 'worker' runs a worker (or a pool with "
    "--processes), 'info' shows a queue's counts by state, 'failed' lists, shows, requeues "
    "and purges buried tasks, 'web' serves a dashboard, 'scheduler' enqueues the ticks of "
    "a schedule."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alligator", description=_DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    for module in (worker, info, failed, migrate, web, scheduler):
        module.register(commands)
    return parser


def _app_importable() -> None:
    """Put the working directory first on ``sys.path``, as ``python -m`` does.

    A worker imports each task's module by name, so an application run from
    its own directory must be importable by both entry points: ``python -m
    alligator`` gets the directory from the interpreter, a console script
    (``latergator``, ``alligator``) only from here (RQ and Celery do the same).
    """
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None, skip: int) -> int:
    if argv is None:  # run as a command (a caller passing argv keeps its own sys.path)
        _app_importable()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    # What followed the subcommand, for a pool to hand on to its children.
    args.argv = argv[skip:]
    try:
        code: int = args.handler(args)
    except BackendConnectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except AlligatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
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
