"""The PostgreSQL driver: DSN parsing, connecting, error translation.

Kept apart from :mod:`alligator.backends.postgresql_backend` so that module
reads as the contract's operations, while this one owns what every
connection needs:

* :func:`parse_dsn` splits ``postgresql://user:pass@host:port/db?options``
  into libpq's connection string and Alligator's own options (``schema``,
  ``poll``, ``prepare``, ``migrate``); every other query option (``sslmode``,
  ``application_name``, ...) goes to libpq unchanged.
* :func:`connect` opens an autocommit connection, its failure translated.
* :data:`ERRORS`: every psycopg error becomes Alligator's through
  :func:`~alligator.exceptions.translated`.

The rest of the driver side sits beside it, one responsibility a module:
the connection pool (:mod:`alligator.backends._postgresql_pool`), the versioned schema and
its migrations (:mod:`alligator.backends._postgresql_schema`), LISTEN/NOTIFY wake-ups
(:mod:`alligator.backends._postgresql_listen`) and the background VACUUM
(:mod:`alligator.backends._postgresql_janitor`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg.errors

from alligator.exceptions import (
    BackendConnectionError,
    BackendError,
    ConfigurationError,
    Family,
    translated,
)

__all__ = [
    "ERRORS",
    "SCHEMES",
    "Row",
    "Target",
    "connect",
    "parse_dsn",
    "redacted",
    "translating",
]

#: Schemes this backend accepts (libpq accepts both spellings too).
SCHEMES: Final = ("postgresql", "postgres")

#: Query options consumed here rather than passed on to libpq.
_OWN: Final = ("schema", "poll", "prepare", "migrate", "vacuum")

#: Rows changed (leased or deleted) by one client between two of its VACUUMs.
VACUUM_EVERY: Final = 10_000

#: A result row; psycopg's tuple rows are typed ``tuple[Any, ...]``.
Row = tuple[Any, ...]

#: How psycopg's errors become ours: "the server is out of reach" first.
#: ``OperationalError`` covers a lost or refused connection, a server
#: shutting down, and a deadlock or serialization failure: all worth a retry.
ERRORS: Final[Mapping[type[Exception], Family]] = {
    psycopg.OperationalError: BackendConnectionError,
    psycopg.Error: BackendError,
}


_CONNECT: Final = translated(ERRORS, "PostgreSQL: cannot connect")

#: Seconds libpq waits for a connection unless the DSN says otherwise.
_CONNECT_TIMEOUT: Final = "5"


@dataclass(frozen=True)
class Target:
    """What a DSN asks for.

    Attributes:
        conninfo: The DSN for libpq, without Alligator's options.
        schema: Where the tables live (default ``public``).
        poll: Seconds between claims of an idle worker instead of LISTEN
            (for transaction-pooling PgBouncer); ``None``: LISTEN/NOTIFY.
        prepare: Prepare statements server-side (off for poolers that cannot
            keep them).
        migrate: Create or upgrade the schema on first use; when ``False``
            a missing or old schema is an error naming ``alligator migrate``.
        vacuum: Rows a client leases or deletes between the VACUUMs it runs
            of the task table (0: leave it all to autovacuum).
    """

    conninfo: str
    schema: str = "public"
    poll: float | None = None
    prepare: bool = True
    migrate: bool = True
    vacuum: int = VACUUM_EVERY


def redacted(dsn: str) -> str:
    """The DSN with any password masked, for messages and logs."""
    dsn = re.sub(r"(://[^:/@?]*:)[^@/?]*@", r"\1***@", dsn)
    return re.sub(r"(password=)[^&\s]*", r"\1***", dsn)


def _flag(name: str, value: str, dsn: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {value!r}: {redacted(dsn)!r}")


def parse_dsn(dsn: str) -> Target:
    """Split an Alligator PostgreSQL DSN into libpq's and Alligator's parts.

    ``postgresql://u:p@h:5432/app?schema=jobs&sslmode=require`` keeps its
    tables in schema ``jobs`` and connects with ``sslmode=require``.

    Raises:
        ConfigurationError: Another scheme, a bad schema name, a bad option value.
    """
    parts = urlsplit(dsn)
    if parts.scheme.lower() not in SCHEMES:
        raise ConfigurationError(
            f"not a PostgreSQL DSN (expected postgresql://...): {redacted(dsn)!r}"
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    own = {k: v for k, v in query if k in _OWN}
    rest = [(k, v) for k, v in query if k not in _OWN]
    if not any(k == "connect_timeout" for k, _ in rest):
        rest.append(("connect_timeout", _CONNECT_TIMEOUT))
    schema = own.get("schema", "public")
    if not schema or len(schema.encode()) > 63 or "\x00" in schema:
        raise ConfigurationError(
            f"schema must be a PostgreSQL name of 1 to 63 bytes, got {schema!r}"
        )
    poll: float | None = None
    if "poll" in own:
        try:
            poll = float(own["poll"])
        except ValueError:
            raise ConfigurationError(
                f"poll must be seconds, got {own['poll']!r}: {redacted(dsn)!r}"
            ) from None
        if not poll > 0:
            raise ConfigurationError(f"poll must be > 0 seconds: {redacted(dsn)!r}")
    # quote, not quote_plus: libpq reads "+" in a URI as a plus sign, not a space.
    query_text = urlencode(rest, quote_via=quote)
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, query_text, ""))
    try:
        vacuum = int(own.get("vacuum", VACUUM_EVERY))
    except ValueError:
        raise ConfigurationError(
            f"vacuum must be a row count (0: off), got {own['vacuum']!r}: {redacted(dsn)!r}"
        ) from None
    if vacuum < 0:
        raise ConfigurationError(f"vacuum must be >= 0: {redacted(dsn)!r}")
    return Target(
        conninfo=conninfo,
        vacuum=vacuum,
        schema=schema,
        poll=poll,
        prepare=_flag("prepare", own.get("prepare", "true"), dsn),
        migrate=_flag("migrate", own.get("migrate", "true"), dsn),
    )


def connect(conninfo: str) -> psycopg.Connection[Row]:
    """An autocommit connection (each statement its own transaction)."""
    with _CONNECT:
        return psycopg.connect(conninfo, autocommit=True)


@contextlib.contextmanager
def translating(prefix: str) -> Iterator[None]:
    """Translate driver errors raised in the block, with ``prefix``."""
    with translated(ERRORS, prefix):
        yield
