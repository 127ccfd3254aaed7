"""``alligator migrate DSN``: create or upgrade a backend's versioned schema.

Only the PostgreSQL backend keeps a versioned schema (the others create
their few tables or keys on first use and have nothing to upgrade). The
command applies every missing version under the same advisory lock that
first use takes, so it is safe to run while workers are running, and
``--check`` only reports (exit 1 when an upgrade is pending), for a deploy
pipeline that wants to migrate as a separate step (with ``?migrate=false``
on the application's DSN).
"""

from __future__ import annotations

import argparse
from typing import Any

from alligator.backends import scheme_of
from alligator.exceptions import ConfigurationError

__all__ = ["register", "run"]

_VERSIONED = ("postgresql", "postgres")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "migrate", help="create or upgrade the PostgreSQL backend's tables"
    )
    parser.add_argument("dsn", metavar="DSN", help="postgresql://user@host/db?schema=NAME")
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if the schema is missing or older than this Alligator",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    dsn: str = args.dsn
    if scheme_of(dsn) not in _VERSIONED:
        raise ConfigurationError(
            f"only the PostgreSQL backend has a versioned schema; the {scheme_of(dsn)!r} "
            "backend creates what it needs on first use"
        )
    from alligator.backends.postgresql_backend import migrate

    found, target = migrate(dsn, check=args.check)
    if args.check:
        state = "up to date" if found == target else f"needs version {target}"
        print(f"schema version {found}: {state}")
        return 0 if found == target else 1
    if found == target:
        print(f"schema version {target}: up to date")
    else:
        print(f"schema upgraded from version {found} to {target}")
    return 0
