"""The PostgreSQL backend's connections: a small pool, each statement in its own transaction.

Kept apart from :mod:`alligator.backends._postgresql_driver` (what a DSN asks for, how to
connect, how errors translate) because this is where the concurrency lives:
which connection a thread takes, when one is dropped or retried, which commit
mode it is in, and when the schema is ensured (once per client, on the first
connection it opens).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar

import psycopg

from alligator.backends import _postgresql_sql as sql
from alligator.backends._postgresql_driver import ERRORS, Row, Target, connect
from alligator.backends._postgresql_schema import ensure_schema
from alligator.exceptions import BackendError, translated

__all__ = ["MAX_IDLE", "Database"]

_STATEMENT: Final = translated(ERRORS, "PostgreSQL")


#: The commit mode of the statements that claim, ack, renew, release and bury.
#: Their commits do not wait for the WAL to reach disk: a server crash can
#: undo the last few hundred milliseconds of them, which at-least-once
#: delivery absorbs (an undone claim or renewal: the task is ready again; an
#: undone ack: it runs again; an undone release or burial: it comes back when
#: its lease ends). Enqueues never run in it: a push returns once durable.
_LEASE_MODE: Final = "SET synchronous_commit = off"
#: A claim of nothing (no queue is named ""), run to prepare the statement.
_WARM_CLAIM: Final[Mapping[str, Any]] = {
    "queue": "",
    "ids": [],
    "tokens": [],
    "count": 0,
    "lease": 0.0,
    "prefix": "",
    "now": None,
}
#: Set on every pooled connection (see Database._take).
_GENERIC_PLANS: Final = "SET plan_cache_mode = force_generic_plan"
#: Back to the server's (or the DSN's, or the role's) own setting.
_DURABLE: Final = "SET synchronous_commit TO DEFAULT"


class _Session:
    """One pooled connection and a cursor reused for every statement."""

    __slots__ = ("conn", "cursor", "durable", "epoch", "pid", "used")

    def __init__(self, conn: psycopg.Connection[Row], epoch: int) -> None:
        self.conn = conn
        #: Commits wait for the WAL flush (the server's setting) or not (off).
        self.durable = True
        self.cursor = conn.cursor()
        self.pid = os.getpid()
        self.epoch = epoch
        #: Whether a statement ran on it: only then can it have gone stale.
        self.used = False


#: A statement's parameters: by name, or (the hottest statements) by position.
Params = Mapping[str, Any] | Sequence[Any]

_T = TypeVar("_T")


def _all_rows(cursor: psycopg.Cursor[Row]) -> list[Row]:
    return cursor.fetchall()


def _row_count(cursor: psycopg.Cursor[Row]) -> int:
    return cursor.rowcount


def _stored(cursor: psycopg.Cursor[Row]) -> bool:
    return True


#: Idle connections kept for reuse; more are closed when given back.
MAX_IDLE: Final = 8


class Database:
    """A small pool of autocommit connections to one database, schema ensured.

    A statement takes an idle connection (or opens one), runs, reads its
    result and gives the connection back, so threads share connections (a
    worker thread reuses the one its Gator opened, and its heartbeat thread
    takes another only while both are busy), and a forked child never uses
    its parent's. Every method raises
    :class:`~alligator.exceptions.BackendConnectionError` when the server
    cannot be reached (or went away mid-statement) and
    :class:`~alligator.exceptions.BackendError` for any other driver error.
    A connection that failed is dropped. A statement that fails on a
    connection that had sat idle (the server may have restarted since) is
    tried once more on a fresh one: at worst a claim is repeated, and the
    first claim's lease simply expires.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self.statements = sql.statements(target.schema)
        self._lock = threading.Lock()
        self._idle: list[_Session] = []
        self._epoch = 0
        self._schema_ready = False
        #: Statements sent, for tests that prove an idle worker sends none.
        self.sent = 0

    # -- connections ---------------------------------------------------------

    def _take(self, durable: bool = True) -> _Session:
        """An idle connection, one already in the wanted commit mode first."""
        pid = os.getpid()
        with self._lock:
            idle = self._idle
            for i in range(len(idle) - 1, -1, -1):
                if idle[i].durable == durable:
                    idle.append(idle.pop(i))
                    break
            while idle:
                session = idle.pop()
                if session.pid == pid and not session.conn.closed:
                    return session
            epoch = self._epoch
        conn = connect(self.target.conninfo)
        try:
            # Plan each prepared statement once: the claim is one fixed shape
            # whose best plan (the partial indexes' heads) does not depend on
            # the values, and a custom plan costs more than running it.
            with translated(ERRORS, "PostgreSQL: cannot set up a connection"):
                conn.execute(_GENERIC_PLANS)
            if not self._schema_ready:
                with self._lock:
                    if not self._schema_ready:
                        ensure_schema(conn, self.target)
                        self._schema_ready = True
        except BaseException:
            conn.close()
            raise
        session = _Session(conn, epoch)
        if self.target.prepare:
            # Prepare the claim now, while the connection is new: a worker's
            # first claims then cost what every later one does.
            with translated(ERRORS, "PostgreSQL: cannot set up a connection"):
                session.cursor.execute(self.statements.reserve, _WARM_CLAIM, prepare=True)
        return session

    def _give(self, session: _Session) -> None:
        if session.pid != os.getpid() or session.conn.closed:
            return
        with self._lock:
            if session.epoch == self._epoch and len(self._idle) < MAX_IDLE:
                self._idle.append(session)
                return
        session.conn.close()

    def close(self) -> None:
        """Close every idle connection (busy ones close when given back)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._epoch += 1
        for session in idle:
            if session.pid == os.getpid():
                with contextlib.suppress(Exception):
                    session.conn.close()

    # -- statements ----------------------------------------------------------

    def _execute(
        self,
        statement: str,
        params: Params,
        durable: bool,
        read: Callable[[psycopg.Cursor[Row]], _T],
    ) -> _T:
        """Run one statement on a pooled connection and ``read`` its cursor.

        A plain call rather than a context manager: every enqueue and claim
        comes through here, and a generator-based one cost ~3 us of each.
        """
        with _STATEMENT:
            session = self._take(durable)
            try:
                fresh, session.used = not session.used, True
                try:
                    self._run(session, statement, params, durable)
                except psycopg.OperationalError:
                    session.conn.close()
                    if fresh:
                        raise
                    session = self._take(durable)
                    session.used = True
                    self._run(session, statement, params, durable)
                return read(session.cursor)
            except psycopg.OperationalError:
                session.conn.close()
                raise
            finally:
                self._give(session)

    def _run(self, session: _Session, statement: str, params: Params, durable: bool) -> None:
        if session.durable != durable:
            # Lease traffic does not wait for the WAL flush (see LEASE_MODE);
            # enqueues go back to the server's own setting. Once per switch.
            session.cursor.execute(_DURABLE if durable else _LEASE_MODE)
            session.durable = durable
        self.sent += 1
        session.cursor.execute(statement, params, prepare=self.target.prepare)

    def rows(self, statement: str, params: Mapping[str, Any], *, durable: bool = True) -> list[Row]:
        """Every row of one statement (its own transaction).

        ``durable=False``: its commit does not wait for the WAL flush (see
        :data:`_LEASE_MODE`).
        """
        return self._execute(statement, params, durable, _all_rows)

    def inserted(self, statement: str, params: Params) -> bool:
        """Whether one INSERT stored its row: ``False`` when a unique index refused it.

        The refusal is an answer here, not a failure: the caller goes on to
        a statement that replaces the row. Anything else raises as
        :meth:`rows` does.
        """
        try:
            return self._execute(statement, params, True, _stored)
        except BackendError as error:
            if isinstance(error.__cause__, psycopg.errors.UniqueViolation):
                return False
            raise

    def count(self, statement: str, params: Mapping[str, Any], *, durable: bool = True) -> int:
        """How many rows one writing statement changed."""
        return self._execute(statement, params, durable, _row_count)

    @contextlib.contextmanager
    def transaction(
        self, *, durable: bool = True
    ) -> Iterator[Callable[[str, Mapping[str, Any]], list[Row]]]:
        """Several statements in ONE transaction on one pooled connection.

        Yields a function running one statement and returning its rows (none
        for a statement that returns none); the transaction commits when the
        block ends and rolls back if it raises. A connection that had sat
        idle and fails at ``BEGIN`` (the server may have restarted since) is
        replaced by a fresh one, as a single statement's is: nothing ran yet.
        """
        with _STATEMENT:
            session = self._take(durable)
            try:
                stack = contextlib.ExitStack()
                fresh, session.used = not session.used, True
                try:
                    self._begin(session, durable, stack)
                except psycopg.OperationalError:
                    session.conn.close()
                    if fresh:
                        raise
                    session = self._take(durable)
                    session.used = True
                    self._begin(session, durable, stack)
                cursor = session.cursor

                def run(statement: str, params: Mapping[str, Any]) -> list[Row]:
                    self.sent += 1
                    cursor.execute(statement, params, prepare=self.target.prepare)
                    return cursor.fetchall() if cursor.description is not None else []

                with stack:
                    yield run
            except psycopg.OperationalError:
                session.conn.close()
                raise
            finally:
                self._give(session)

    @contextlib.contextmanager
    def cursor_transaction(self) -> Iterator[psycopg.Cursor[Row]]:
        """Several statements in one transaction on a pooled connection (durable commit).

        Each statement sees what committed before it began (READ COMMITTED),
        so one that follows an advisory lock sees the lock holder's writes.
        """
        with _STATEMENT:
            session = self._take(True)
            try:
                if not session.durable:
                    session.cursor.execute(_DURABLE)
                    session.durable = True
                session.used = True
                with session.conn.transaction():
                    yield session.cursor
            except psycopg.OperationalError:
                session.conn.close()
                raise
            finally:
                self._give(session)

    def _begin(self, session: _Session, durable: bool, stack: contextlib.ExitStack) -> None:
        """Set the commit mode of ``session`` if it differs, then BEGIN (held by ``stack``)."""
        if session.durable != durable:
            session.cursor.execute(_DURABLE if durable else _LEASE_MODE)
            session.durable = durable
        stack.enter_context(session.conn.transaction())

    def dbname(self) -> str:
        """The name of the database the connections are to (connecting if needed)."""
        with _STATEMENT:
            session = self._take()
            try:
                return session.conn.info.dbname
            finally:
                self._give(session)

    def ping(self) -> bool:
        """Whether the server answers a statement."""
        return self.rows("SELECT true", {})[0][0] is True
