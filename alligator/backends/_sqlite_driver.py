"""The SQLite driver: DSN parsing, one connection per thread, error translation.

Kept apart from :mod:`alligator.backends.sqlite_backend` so that module reads
as the contract's operations in SQL, while this one owns what every
statement needs: the file's path, checked before anything is created; a
connection per thread in autocommit mode (``isolation_level=None``, so a
single ``UPDATE ... RETURNING`` is its own transaction and multi-statement
writes say ``BEGIN IMMEDIATE`` themselves), WAL and the schema set up by the
first connection; and every ``sqlite3`` error turned into Alligator's tree
by :func:`~alligator.exceptions.translated`. ``sqlite3`` puts "the database
is busy or cannot be opened" and "this SQL is wrong" in one class,
``OperationalError``, so :data:`ERRORS` tells them apart by the message.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Final

from alligator.backends import _sqlite_sql as sql
from alligator.exceptions import (
    AlligatorError,
    BackendConnectionError,
    BackendError,
    ConfigurationError,
    Family,
    translated,
)

__all__ = ["ERRORS", "Database", "parse_dsn"]

#: Words of a driver message meaning "the file cannot be used right now".
_CONNECTION_TROUBLE: Final = (
    "locked",
    "busy",
    "unable to open",
    "disk i/o",
    "readonly",
    "closed",
)

#: A result row; ``sqlite3`` types its rows as ``Any``, and so does this.
Row = tuple[Any, ...]


def _family(exc: Exception) -> type[AlligatorError]:
    """Busy, locked, unopenable or closed: a connection error; anything else a backend error."""
    message = str(exc).lower()
    if any(word in message for word in _CONNECTION_TROUBLE):
        return BackendConnectionError
    return BackendError


#: How ``sqlite3``'s errors become ours.
ERRORS: Final[Mapping[type[Exception], Family]] = {sqlite3.Error: _family}

#: Any failure to open the file or set it up is a connection error.
_OPEN_ERRORS: Final[Mapping[type[Exception], Family]] = {sqlite3.Error: BackendConnectionError}

#: Built once: entered around every statement.
_STATEMENT: Final = translated(ERRORS, "SQLite")


def parse_dsn(conn_string: str) -> str:
    """The absolute database path of a SQLite DSN, checked but not created.

    As in Alligator 1.0, everything after ``sqlite://`` is the path:
    ``sqlite:///tmp/q.db`` is ``/tmp/q.db``, ``sqlite://q.db`` is ``q.db`` in
    the working directory, and ``sqlite:////tmp/q.db`` (the SQLAlchemy
    spelling) is ``/tmp/q.db`` too.

    Raises:
        ConfigurationError: Not a ``sqlite://`` DSN, query parameters, an
            in-memory database, or a directory that does not exist.
    """
    prefix = "sqlite://"
    if conn_string[: len(prefix)].lower() != prefix:
        raise ConfigurationError(
            f"not a SQLite DSN (expected 'sqlite://relative.db' or 'sqlite:///abs/path.db'): "
            f"{conn_string!r}"
        )
    path, _, query = conn_string[len(prefix) :].partition("?")
    if query:
        raise ConfigurationError(f"SQLite DSN takes no query parameters: {conn_string!r}")
    if path.strip("/") in ("", ":memory:") or path.startswith("file:"):
        raise ConfigurationError(
            f"SQLite DSN {conn_string!r} names no database file; an in-memory database is"
            " private to one connection, so use 'locmem://' for an in-process queue"
        )
    if path.startswith("//"):
        path = "/" + path.lstrip("/")  # POSIX keeps a leading "//" as it is
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ConfigurationError(
            f"directory {parent!r} of SQLite database {path!r} does not exist (create it first)"
        )
    if os.path.isdir(path):
        raise ConfigurationError(f"SQLite database path {path!r} is a directory")
    return path


class Database:
    """One SQLite file, shared by threads: each gets its own connection.

    A worker's lease-renewing heartbeat thread therefore never shares a
    connection with its task. Connections open lazily; the first one sets
    WAL and creates the schema. Every method raises
    :class:`~alligator.exceptions.BackendConnectionError` when the file is
    locked past ``busy_timeout``, busy or cannot be opened, and
    :class:`~alligator.exceptions.BackendError` for any other driver error.
    """

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        # Every connection opened, with its thread, so close() can close them
        # all and connections of finished threads are closed, not leaked.
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._schema_ready = False

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        try:
            conn: sqlite3.Connection = self._local.conn
        except AttributeError:
            conn = self._connect()
        return conn

    def _connect(self) -> sqlite3.Connection:
        with translated(
            {sqlite3.Error: BackendConnectionError}, f"SQLite: cannot open {self.path!r}"
        ):
            # check_same_thread=False only so close() may close every thread's
            # connection; each connection is otherwise used by its own thread.
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=128,
            )
            conn.execute("PRAGMA synchronous = NORMAL")
            with self._lock:
                if not self._schema_ready:
                    conn.execute("PRAGMA journal_mode = WAL")
                    for statement in sql.SCHEMA:
                        conn.execute(statement)
                    self._schema_ready = True
                self._prune_finished_threads()
                self._connections.append((threading.current_thread(), conn))
        self._local.conn = conn
        return conn

    def _prune_finished_threads(self) -> None:
        """Close connections whose thread ended (caller holds the lock)."""
        alive = []
        for thread, conn in self._connections:
            if thread.is_alive():
                alive.append((thread, conn))
            else:
                conn.close()
        self._connections = alive

    def close(self) -> None:
        """Close every connection opened; later calls reopen lazily."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._local = threading.local()
        with _STATEMENT:
            for _, conn in connections:
                conn.close()

    def one(self, statement: str, params: Row) -> Row | None:
        """The first row of one statement, read to the end (which commits it)."""
        with _STATEMENT:
            rows = self.connection().execute(statement, params).fetchall()
        return rows[0] if rows else None

    def all(self, statement: str, params: Row) -> list[Row]:
        """Every row of one statement."""
        with _STATEMENT:
            return self.connection().execute(statement, params).fetchall()

    def count(self, statement: str, params: Row) -> int:
        """How many rows one writing statement changed."""
        with _STATEMENT:
            return int(self.connection().execute(statement, params).rowcount)

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed if the block ends, else rolled back."""
        with _STATEMENT:
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
