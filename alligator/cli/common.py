"""Options every subcommand shares, and building a Gator from them."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from typing import Any

from alligator.constants import ALL
from alligator.exceptions import ConfigurationError
from alligator.gator import DEFAULT_DSN, Gator

__all__ = ["add_target_options", "gator_from_args", "import_modules"]


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """The DSN, the queue and modules to import first."""
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


def import_modules(modules: Sequence[str]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            # A typo in --import is a usage error: exit 2 with the reason, no traceback.
            raise ConfigurationError(f"--import {module}: cannot import it: {exc}") from exc


def gator_from_args(args: argparse.Namespace, **options: Any) -> Gator:
    """A Gator for the parsed target options, after importing ``--import`` modules."""
    import_modules(args.imports)
    return Gator(args.dsn, queue_name=args.queue, **options)
