"""Background VACUUM of the PostgreSQL task table, run by each client as its rows churn.

Kept apart from the pool (:mod:`alligator.backends._postgresql_pool`): it runs on a connection
of its own in a daemon thread, and its failures are logged, never raised to
the caller whose ack happened to cross the threshold.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from alligator.backends._postgresql_driver import ERRORS, connect
from alligator.exceptions import BackendConnectionError, BackendError, translated

if TYPE_CHECKING:
    from alligator.backends._postgresql_pool import Database

__all__ = ["Janitor"]

log = logging.getLogger("alligator.postgresql")


class Janitor:
    """Runs ``VACUUM`` of the task table, in the background, as rows churn.

    Each task's row is inserted, updated by its claim and deleted by its ack,
    so a busy queue leaves dead rows faster than autovacuum (which visits
    each database once a minute) clears them, and the table and its indexes
    grow to hold a minute of traffic; an index never shrinks again. So every
    client counts the rows it leased or deleted and, past ``every`` of them,
    vacuums the table on a connection of its own in a daemon thread (one at
    a time: past ``every`` again while one runs, the next starts when it
    ends): the space is reused while it is still small. Counting rows, not
    seconds, bounds the dead rows between two VACUUMs however fast the queue
    runs.
    ``SKIP_LOCKED`` makes a VACUUM already running elsewhere a no-op, and one
    that fails (no privilege) is logged once and not tried again.
    """

    def __init__(self, db: Database, table: str, every: int) -> None:
        self._db = db
        self._statement = f"VACUUM (SKIP_LOCKED) {table}"
        self._every = every
        self._count = 0
        self._running = threading.Lock()
        self._failed = False
        #: VACUUMs completed, for tests.
        self.runs = 0

    def changed(self, rows: int) -> None:
        """Count ``rows`` leased or deleted; start a VACUUM when enough have been."""
        if self._every <= 0 or self._failed:
            return
        self._count += rows
        if self._count < self._every:
            return
        if not self._running.acquire(blocking=False):
            return
        self._count = 0
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
