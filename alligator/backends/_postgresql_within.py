"""Transactional enqueue of the PostgreSQL backend (``gator.within(conn)``), mixed into its client.

The tasks are inserted through the caller's own psycopg connection, inside
its open transaction, with the statement a plain push runs: the rows and the
wake-up commit or roll back with the caller's work. Most of this module is
about refusing, with a message that says how to fix it, a connection that
cannot take part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from alligator.backends._postgresql_driver import translating
from alligator.exceptions import BackendError, ConfigurationError, TaskInProgressError
from alligator.records import PushItem

if TYPE_CHECKING:
    from alligator.backends._postgresql_driver import Target
    from alligator.backends._postgresql_pool import Database
    from alligator.backends._postgresql_sql import Statements

__all__ = ["Within"]


class Within:
    """The :class:`~alligator.protocols.TransactionalClient` methods of the PostgreSQL client."""

    if TYPE_CHECKING:  # provided by the client
        target: Target
        _db: Database
        _sql: Statements

        def _many_params(
            self, queue_name: str, items: Sequence[PushItem], priority: int | None
        ) -> dict[str, Any]: ...

    def check_connection(self, connection: object) -> None:
        """Refuse a connection tasks cannot be enqueued through, saying why.

        Raises:
            ConfigurationError: Not a psycopg 3 ``Connection`` (the message
                says how to get one from SQLAlchemy), closed, or connected to
                another database than this client's.
            BackendError: Its transaction has failed and must be rolled back.
        """
        if not isinstance(connection, psycopg.Connection):
            raise ConfigurationError(_not_psycopg(connection))
        if connection.closed:
            raise ConfigurationError("gator.within() got a closed psycopg connection")
        status = connection.info.transaction_status
        if status == TransactionStatus.INERROR:
            raise BackendError(
                "PostgreSQL: the connection's transaction has failed (an earlier statement "
                "raised); roll it back before enqueueing through it"
            )
        ours = self._db.dbname()
        if connection.info.dbname != ours:
            raise ConfigurationError(
                f"gator.within() got a connection to database {connection.info.dbname!r}, "
                f"but the Gator's queue is in {ours!r}"
            )

    def push_within(
        self,
        connection: object,
        queue_name: str,
        items: Sequence[PushItem],
        *,
        priority: int | None = None,
    ) -> list[str]:
        """Store tasks through the caller's connection, inside its open transaction.

        The rows and the wake-up commit or roll back with the caller's
        transaction. On an autocommit connection outside a transaction block
        they commit at once. A failure leaves the caller's transaction
        failed, as any failed statement does.
        """
        self.check_connection(connection)
        assert isinstance(connection, psycopg.Connection)
        if not items:
            return []
        params = self._many_params(queue_name, items, priority)
        with translating("PostgreSQL: enqueue in the caller's transaction failed"):
            cursor = connection.cursor(row_factory=tuple_row)
            with cursor:
                cursor.execute(self._sql.push_many, params, prepare=self.target.prepare)
                row = cursor.fetchone()
        if row is not None and row[1] is not None:
            raise TaskInProgressError(str(row[1]), queue_name)
        return [item.task_id for item in items]


def _not_psycopg(connection: object) -> str:
    kind = type(connection)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if isinstance(connection, psycopg.AsyncConnection):
        hint = "an async connection cannot be used: give a psycopg.Connection"
    elif kind.__module__.startswith("sqlalchemy"):
        hint = (
            "from SQLAlchemy (postgresql+psycopg dialect) pass the driver connection: "
            "gator.within(session.connection().connection.driver_connection)"
        )
    elif kind.__module__.startswith("psycopg2"):
        hint = "psycopg 2 is not supported: connect with psycopg 3 (pip install 'psycopg[binary]')"
    else:
        hint = "give the psycopg.Connection whose transaction the tasks should join"
    return f"gator.within() needs a psycopg 3 Connection, got {name}: {hint}"
