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

A database file deleted or replaced under open connections (``rm q.db*`` to
"reset" a queue, a restored copy moved into place) would leave them working
on the old file while new processes use the new one: producers' tasks would
never reach running workers. So, at most every :data:`CHECK_EVERY` seconds, a
client compares the device and inode of the database, ``-wal`` and ``-shm``
files with those it saw while its connections were open; when one changed or
vanished it logs a warning and every thread reopens its connection at its
next statement. Closing the old connections checkpoints what they wrote into
the file they had open; what was written to a deleted database is gone with
it. Measured with SQLite 3.40: connections opened after the ``-wal`` or
``-shm`` was deleted fail (disk I/O error) until every old connection closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from alligator.backends import _sqlite_results_sql as results_sql
from alligator.backends import _sqlite_sql as sql
from alligator.backends._sqlite_flow import SCHEMA as FLOW_SCHEMA
from alligator.exceptions import (
    AlligatorError,
    BackendConnectionError,
    BackendError,
    ConfigurationError,
    Family,
    translated,
)

__all__ = ["CHECK_EVERY", "ERRORS", "Database", "parse_dsn"]

log = logging.getLogger("alligator.backends.sqlite")

#: Seconds between two checks that the database files are still those opened.
CHECK_EVERY: Final = 0.25

#: The files of one database whose identity is watched.
_SUFFIXES: Final = ("", "-wal", "-shm")

#: A file's identity: device and inode, or ``None`` when it does not exist.
_Identity = tuple[int, int] | None

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


def _set_up(conn: sqlite3.Connection) -> None:
    """WAL mode and every table and index (each ``IF NOT EXISTS``: safe to repeat)."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(sql.SCHEMA[0])
    _add_priority(conn)
    for statement in (*sql.SCHEMA[1:], *results_sql.SCHEMA, *FLOW_SCHEMA):
        conn.execute(statement)


def _while_locked(step: Callable[[], None], timeout: float) -> None:
    """Run ``step``, again while another process holds the lock it needs, up to ``timeout``.

    Switching to WAL mode does not wait on the busy timeout: clients opening
    a new file together (several processes, or threads with clients of their
    own) would otherwise fail at once with "database is locked".
    """
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _add_priority(conn: sqlite3.Connection) -> None:
    """Give a table made before priorities its column, once, under the write lock."""
    if "priority" in {name for (name,) in conn.execute(sql.COLUMNS)}:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if "priority" not in {name for (name,) in conn.execute(sql.COLUMNS)}:
            for statement in sql.ADD_PRIORITY:
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


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


def _identity(path: str) -> _Identity:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino)


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
        # The files' identities while connections are open, and a generation
        # that grows when they changed: each thread then reopens.
        self._seen: list[_Identity] = [None] * len(_SUFFIXES)
        self._generation = 0
        self._checked = 0.0

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (again after the file changed)."""
        if time.monotonic() - self._checked > CHECK_EVERY:
            self._check_files()
        local = self._local
        try:
            conn: sqlite3.Connection = local.conn
        except AttributeError:
            return self._connect()
        if local.generation != self._generation:
            self._forget(conn)
            return self._connect()
        return conn

    def _check_files(self) -> None:
        """Notice a database, ``-wal`` or ``-shm`` file deleted or replaced under us."""
        now = [_identity(self.path + suffix) for suffix in _SUFFIXES]
        with self._lock:
            self._checked = time.monotonic()
            if not self._connections:
                self._seen = now
                return
            changed = [
                self.path + suffix
                for suffix, old, new in zip(_SUFFIXES, self._seen, now, strict=True)
                if old is not None and old != new
            ]
            self._seen = [
                new if new is not None else old for old, new in zip(self._seen, now, strict=True)
            ]
            if not changed:
                return
            self._generation += 1
            self._seen = [None] * len(_SUFFIXES)
        log.warning(
            "SQLite file(s) %s were deleted or replaced while open: reopening the database "
            "(anything written to a deleted database is gone with it)",
            ", ".join(changed),
        )

    def _forget(self, conn: sqlite3.Connection) -> None:
        """Close this thread's connection to files that changed.

        It first copies what its write-ahead log holds into the database file
        it has open: when only the ``-wal`` (or ``-shm``) was deleted, that
        log is the one copy of the latest commits.
        """
        with self._lock:
            self._connections = [(t, c) for t, c in self._connections if c is not conn]
            if not self._connections:
                self._seen = [None] * len(_SUFFIXES)
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        # (A file deleted and recreated meanwhile has no schema yet.)
        if not os.path.exists(self.path):
            self._schema_ready = False
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
                    _while_locked(lambda: _set_up(conn), self._busy_timeout)
                    self._schema_ready = True
                self._prune_finished_threads()
                self._connections.append((threading.current_thread(), conn))
                generation = self._generation
                # Watch the files this connection opened (the first one made them).
                self._seen = [
                    seen if seen is not None else _identity(self.path + suffix)
                    for suffix, seen in zip(_SUFFIXES, self._seen, strict=True)
                ]
        self._local.conn = conn
        self._local.generation = generation
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
            self._seen = [None] * len(_SUFFIXES)
        with _STATEMENT:
            for _, conn in connections:
                conn.close()

    def one(self, statement: str, params: Row) -> Row | None:
        """The first row of one statement, read to the end (which commits it)."""
        with self._failing(), _STATEMENT:
            rows = self.connection().execute(statement, params).fetchall()
        return rows[0] if rows else None

    def all(self, statement: str, params: Row) -> list[Row]:
        """Every row of one statement."""
        with self._failing(), _STATEMENT:
            return self.connection().execute(statement, params).fetchall()

    def count(self, statement: str, params: Row) -> int:
        """How many rows one writing statement changed."""
        with self._failing(), _STATEMENT:
            return int(self.connection().execute(statement, params).rowcount)

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        """After a failed statement, check the files at the next one (not in 0.25 s)."""
        try:
            yield
        except Exception:
            self._checked = 0.0
            raise

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed if the block ends, else rolled back."""
        with self._failing(), _STATEMENT:
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
