"""DSN parsing and driver-error translation for the SQLite backend."""

from __future__ import annotations

import os
import sqlite3

from alligator.exceptions import BackendConnectionError, BackendError, ConfigurationError

__all__ = ["parse_dsn", "translate"]

_CONNECTION_TROUBLE = ("locked", "busy", "unable to open", "disk i/o", "readonly", "closed")


def translate(exc: sqlite3.Error) -> BackendError:
    """Our exception for a driver error (the caller chains it with ``from``)."""
    message = f"SQLite: {exc}"
    if any(word in str(exc).lower() for word in _CONNECTION_TROUBLE):
        return BackendConnectionError(message)
    return BackendError(message)


def parse_dsn(conn_string: str) -> str:
    """The absolute database path of a ``sqlite:///`` DSN, checked but not created."""
    prefix = "sqlite:///"
    if conn_string[: len(prefix)].lower() != prefix:
        raise ConfigurationError(
            f"not a SQLite DSN (expected 'sqlite:///relative.db' or 'sqlite:////abs.db'): "
            f"{conn_string!r}"
        )
    path, _, query = conn_string[len(prefix) :].partition("?")
    if query:
        raise ConfigurationError(f"SQLite DSN takes no query parameters: {conn_string!r}")
    if not path or path == ":memory:" or path.startswith("file:"):
        raise ConfigurationError(
            f"SQLite DSN {conn_string!r} names no database file; an in-memory database is"
            " private to one connection, so use 'locmem://' for an in-process queue"
        )
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ConfigurationError(
            f"directory {parent!r} of SQLite database {path!r} does not exist (create it first)"
        )
    if os.path.isdir(path):
        raise ConfigurationError(f"SQLite database path {path!r} is a directory")
    return path
