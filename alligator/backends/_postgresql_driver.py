"""The PostgreSQL driver: DSN parsing, connections, the schema, LISTEN, error translation.

Kept apart from :mod:`alligator.backends.postgresql_backend` so that module
reads as the contract's operations, while this one owns what every
statement needs:

* :func:`parse_dsn` splits ``postgresql://user:pass@host:port/db?options``
  into libpq's connection string and Alligator's own options (``schema``,
  ``poll``, ``prepare``, ``migrate``); every other query option (``sslmode``,
  ``application_name``, ...) goes to libpq unchanged.
* :class:`Database` gives each thread its own autocommit psycopg connection
  (a worker's lease-renewing heartbeat never waits behind its claims), opened
  lazily, re-opened after the server went away, and never shared with a
  forked child. Every statement is prepared once per connection.
* :func:`ensure_schema` creates or upgrades the tables under a transaction
  advisory lock, so processes starting together do not race.
* :class:`Listener` is one thread per client holding one extra connection
  that LISTENs for wake-ups and always reads them, so an idle worker waits
  on a condition variable and issues no queries, and the server's
  notification queue is never held up by a busy worker.
* :data:`ERRORS`: every psycopg error becomes Alligator's through
  :func:`~alligator.exceptions.translated`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import select
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg.errors

from alligator.backends import _postgresql_sql as sql
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
    "Database",
    "Listener",
    "Target",
    "channel_of",
    "ensure_schema",
    "parse_dsn",
    "redacted",
]

log = logging.getLogger("alligator.postgresql")

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

_STATEMENT: Final = translated(ERRORS, "PostgreSQL")
_CONNECT: Final = translated(ERRORS, "PostgreSQL: cannot connect")
_SCHEMA: Final = translated(ERRORS, "PostgreSQL: cannot set up the schema")

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


def channel_of(schema: str, queue_name: str) -> str:
    """The NOTIFY channel of a queue: a digest, so any queue name is a valid identifier."""
    digest = hashlib.blake2b(f"{schema}\x00{queue_name}".encode(), digest_size=10).hexdigest()
    return f"alligator_{digest}"


def _lock_key(schema: str) -> int:
    """The advisory lock key of a schema's migrations: a signed 64-bit digest."""
    digest = hashlib.blake2b(f"alligator-schema\x00{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def connect(conninfo: str) -> psycopg.Connection[Row]:
    """An autocommit connection (each statement its own transaction)."""
    with _CONNECT:
        return psycopg.connect(conninfo, autocommit=True)


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

    @contextlib.contextmanager
    def _cursor(
        self, statement: str, params: Mapping[str, Any], durable: bool
    ) -> Iterator[psycopg.Cursor[Row]]:
        """Run one statement on a pooled connection; the block reads its result."""
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
                yield session.cursor
            except psycopg.OperationalError:
                session.conn.close()
                raise
            finally:
                self._give(session)

    def _run(
        self, session: _Session, statement: str, params: Mapping[str, Any], durable: bool
    ) -> None:
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
        with self._cursor(statement, params, durable) as cursor:
            return cursor.fetchall()

    def count(self, statement: str, params: Mapping[str, Any], *, durable: bool = True) -> int:
        """How many rows one writing statement changed."""
        with self._cursor(statement, params, durable) as cursor:
            return cursor.rowcount

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


class Janitor:
    """Runs ``VACUUM`` of the task table, in the background, as rows churn.

    Each task's row is inserted, updated by its claim and deleted by its ack,
    so a busy queue leaves dead rows faster than autovacuum (which visits
    each database once a minute) clears them, and the table and its indexes
    grow to hold a minute of traffic; an index never shrinks again. So every
    client counts the rows it leased or deleted and, past ``every`` of them
    (at most once a second), vacuums the table on a connection of its own in
    a daemon thread: the space is reused while it is still small.
    ``SKIP_LOCKED`` makes a VACUUM already running elsewhere a no-op, and one
    that fails (no privilege) is logged once and not tried again.
    """

    def __init__(self, db: Database, table: str, every: int) -> None:
        self._db = db
        self._statement = f"VACUUM (SKIP_LOCKED) {table}"
        self._every = every
        self._count = 0
        self._last = 0.0
        self._running = threading.Lock()
        self._failed = False
        #: VACUUMs completed, for tests.
        self.runs = 0

    def changed(self, rows: int) -> None:
        """Count ``rows`` leased or deleted; start a VACUUM when enough have been."""
        if self._every <= 0 or self._failed:
            return
        self._count += rows
        if self._count < self._every or time.monotonic() - self._last < 1.0:
            return
        if not self._running.acquire(blocking=False):
            return
        self._count = 0
        self._last = time.monotonic()
        threading.Thread(target=self._vacuum, name="alligator-pg-vacuum", daemon=True).start()

    def _vacuum(self) -> None:
        try:
            conn = connect(self._db.target.conninfo)
            try:
                with translated(ERRORS, "PostgreSQL: VACUUM failed"):
                    conn.execute(self._statement)
                self.runs += 1
            finally:
                conn.close()
        except BackendConnectionError as exc:
            log.debug("alligator: VACUUM skipped: %s", exc)
        except BackendError as exc:
            self._failed = True
            log.warning(
                "alligator: cannot VACUUM the task table (%s); leaving it to autovacuum", exc
            )
        finally:
            self._running.release()


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


def _version(conn: psycopg.Connection[Row], schema: str) -> int:
    """The schema version applied in ``schema`` (0: none yet)."""
    meta = f"{sql.quote_ident(schema)}.alligator_meta"
    exists = conn.execute(sql.META_EXISTS, {"name": meta}).fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute(sql.ddl(schema, sql.READ_VERSION)).fetchone()
    return int(row[0]) if row else 0


def schema_version(conn: psycopg.Connection[Row], schema: str) -> int:
    """The version of ``schema``'s tables, 0 when there are none."""
    with _SCHEMA:
        return _version(conn, schema)


def ensure_schema(
    conn: psycopg.Connection[Row], target: Target, *, upgrade: bool | None = None
) -> tuple[int, int]:
    """Create or upgrade the tables of ``target.schema`` to :data:`SCHEMA_VERSION`.

    Reads the version first without a lock (the usual case: nothing to do).
    Otherwise, in one transaction holding an advisory lock keyed by the
    schema, reads it again and applies each missing version's statements, so
    two processes starting together apply them once, and a failure leaves
    the old version whole.

    Args:
        conn: An autocommit connection.
        target: Names the schema; with ``migrate=false`` nothing is changed.
        upgrade: Overrides ``target.migrate``.

    Returns:
        The version found and the version now applied.

    Raises:
        ConfigurationError: The schema is newer than this code, or is
            missing or old and changes are off.
        BackendError: The statements failed (no privilege, for one).
    """
    schema = target.schema
    allowed = target.migrate if upgrade is None else upgrade
    with _SCHEMA:
        found = _version(conn, schema)
        if found == sql.SCHEMA_VERSION:
            return found, found
        if found > sql.SCHEMA_VERSION:
            raise ConfigurationError(
                f"the Alligator tables in schema {schema!r} are at version {found}, newer than "
                f"this Alligator knows ({sql.SCHEMA_VERSION}): upgrade alligator"
            )
        if not allowed:
            raise ConfigurationError(
                f"the Alligator tables in schema {schema!r} are at version {found}, this "
                f"Alligator needs {sql.SCHEMA_VERSION}: run `alligator migrate DSN` "
                "(the DSN says migrate=false, so they are not changed on first use)"
            )
        with conn.transaction():
            conn.execute(sql.ADVISORY_LOCK, {"key": _lock_key(schema)})
            exists = conn.execute(sql.SCHEMA_EXISTS, {"name": sql.quote_ident(schema)}).fetchone()
            if not exists or not exists[0]:
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {sql.quote_ident(schema)}")
            conn.execute(sql.ddl(schema, sql.CREATE_META))
            found = _version(conn, schema)
            for version in range(found + 1, sql.SCHEMA_VERSION + 1):
                for statement in sql.MIGRATIONS[version - 1]:
                    conn.execute(sql.ddl(schema, statement))
                log.info("alligator: schema %r upgraded to version %d", schema, version)
            if found < sql.SCHEMA_VERSION:
                conn.execute(
                    sql.ddl(schema, sql.WRITE_VERSION), {"version": str(sql.SCHEMA_VERSION)}
                )
    return found, max(found, sql.SCHEMA_VERSION)


class Listener:
    """One thread LISTENing on one connection, waking waiters per channel.

    A waiter calls :meth:`listen` (which returns once the server has
    registered the channel), reads :meth:`generation`, tries its claim, and
    only then calls :meth:`wait` with that generation: a NOTIFY committed
    after the LISTEN bumps the generation, so no wake-up falls between the
    claim and the wait. The thread always reads what arrives, so a worker
    busy with a long task never holds up the server's notification queue.
    When the connection is lost every generation is bumped (waiters claim
    again), and the thread reconnects with a back-off and LISTENs again.
    """

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._generations: dict[str, int] = {}
        self._listening: set[str] = set()
        self._conn: psycopg.Connection[Row] | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._pid = os.getpid()
        # Serialises use of the connection between the thread and listen().
        self._io = threading.Lock()

    def generation(self, channel: str) -> int:
        """How many wake-ups (or losses) ``channel`` has seen."""
        with self._cond:
            return self._generations.get(channel, 0)

    def is_listening(self, channel: str) -> bool:
        """Whether ``channel`` is (or, after a lost connection, will again be) listened on."""
        return self._pid == os.getpid() and channel in self._listening

    def listen(self, channel: str) -> None:
        """LISTEN on ``channel`` (once); returns when the server has it."""
        if self._pid != os.getpid():  # a forked child: the parent's thread is not here
            self._reset()
        if channel in self._listening and self._conn is not None:
            return
        with self._io:
            conn = self._conn
            if conn is None or conn.closed:
                conn = self._conn = connect(self._conninfo)
            with translated(ERRORS, "PostgreSQL: LISTEN failed"):
                conn.execute(f"LISTEN {sql.quote_ident(channel)}")
            self._listening.add(channel)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="alligator-pg-listener", daemon=True
            )
            self._thread.start()

    def wait(self, channel: str, seen: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``channel``'s generation to pass ``seen``."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._generations.get(channel, 0) != seen or self._stopped.is_set(), timeout
            )

    def close(self) -> None:
        """Stop the thread and close its connection."""
        self._stopped.set()
        with self._cond:
            self._cond.notify_all()
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):
                conn.close()

    def _bump(self, channels: Sequence[str]) -> None:
        with self._cond:
            for channel in channels:
                self._generations[channel] = self._generations.get(channel, 0) + 1
            self._cond.notify_all()

    def _run(self) -> None:
        poller = None
        fd = -1
        backoff = 0.05
        while not self._stopped.is_set():
            conn = self._conn
            try:
                if conn is None or conn.closed:
                    conn = self._reconnect()
                    backoff = 0.05
                if conn.fileno() != fd:
                    fd = conn.fileno()
                    poller = select.poll()
                    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
                assert poller is not None
                if not poller.poll(1000):
                    continue
                with self._io:
                    conn.pgconn.consume_input()
                    woken = []
                    while (note := conn.pgconn.notifies()) is not None:
                        woken.append(note.relname.decode())
                if woken:
                    self._bump(woken)
            except (psycopg.Error, OSError, ValueError, BackendError) as exc:
                if self._stopped.is_set():
                    return
                log.warning("alligator: LISTEN connection lost (%s); reconnecting", exc)
                with self._io:
                    if self._conn is not None:
                        with contextlib.suppress(Exception):
                            self._conn.close()
                    self._conn = None
                fd = -1
                self._bump(list(self._listening))  # waiters claim again: nothing is missed
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, 2.0)

    def _reconnect(self) -> psycopg.Connection[Row]:
        with self._io:
            conn = connect(self._conninfo)
            with translated(ERRORS, "PostgreSQL: LISTEN failed"):
                for channel in sorted(self._listening):
                    conn.execute(f"LISTEN {sql.quote_ident(channel)}")
            self._conn = conn
        # Wake-ups sent while the connection was down are lost: claim again.
        self._bump(list(self._listening))
        return conn


@contextlib.contextmanager
def translating(prefix: str) -> Iterator[None]:
    """Translate driver errors raised in the block, with ``prefix``."""
    with translated(ERRORS, prefix):
        yield
