"""The SQL of the SQLite backend's outcomes and dependencies.

Kept apart from :mod:`alligator.backends._sqlite_sql` (the queue's own
statements). Every value is a bound parameter.

* ``alligator_results`` keeps one outcome per ``(queue, task_id)``, with
  ``expires_at`` (epoch seconds of the client's clock) and ``ok``: 1 for a
  success, 0 for a failure or a cancel, ``NULL`` when written apart from any
  settlement. Reads skip expired rows; writes delete up to
  :data:`EXPIRE_BATCH` of them from the head of the ``expires_at`` index, so
  expiry never scans the table. A row with a ``NULL`` ``data`` marks a
  dependent buried by a failure whose outcome the caller has not written
  yet: it says "failed" to a later ``push_after``, and is no outcome to a
  reader.
* A task waiting on its dependencies is a row of ``alligator_tasks`` in
  ``state = 3`` (*blocked*): outside the due index (``state < 2``), so never
  reserved, not counted by ``len`` or ``stats``, dropped by ``drop_all``. Its
  ``run_at`` is its own due time (or the push time), which its release turns
  into ``max(run_at, now)``.
* ``alligator_deps`` holds one edge per pending dependency, indexed both
  ways: a parent's completion deletes its edges and releases exactly the
  children left with none (no polling).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BLOCKED",
    "BURY_BLOCKED",
    "CANCEL",
    "DEPENDENTS",
    "DROP_EDGES",
    "EXPIRE",
    "EXPIRE_BATCH",
    "FETCH",
    "INSERT_EDGE",
    "KEEP",
    "OUTCOME_OK",
    "PUSH_AS",
    "RELEASE_CHILD",
    "SCHEMA",
    "STATE",
    "UNLINK_CHILD",
]

#: The state of a blocked row in ``alligator_tasks``.
BLOCKED: Final = 3

#: Most expired outcomes one write deletes (the rest go with the next writes).
EXPIRE_BATCH: Final = 64

SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS alligator_results (
        queue TEXT NOT NULL,
        task_id TEXT NOT NULL,
        data BLOB,
        expires_at REAL NOT NULL,
        ok INTEGER)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS alligator_results_id ON alligator_results (queue, task_id)",
    "CREATE INDEX IF NOT EXISTS alligator_results_expiry ON alligator_results (expires_at)",
    """CREATE TABLE IF NOT EXISTS alligator_deps (
        queue TEXT NOT NULL,
        parent TEXT NOT NULL,
        child TEXT NOT NULL,
        PRIMARY KEY (queue, parent, child)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS alligator_deps_child ON alligator_deps (queue, child)",
)

_NEXT_SEQ: Final = "(SELECT max(seq) + 1 FROM alligator_tasks)"

# Keeps an outcome, replacing an earlier one; ``ok`` NULL keeps what a
# settlement said. Parameters: queue, task_id, data, expires_at, ok.
KEEP: Final = (
    "INSERT INTO alligator_results (queue, task_id, data, expires_at, ok) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (queue, task_id) DO UPDATE SET data = excluded.data,"
    " expires_at = excluded.expires_at, ok = coalesce(excluded.ok, ok)"
)
# Up to EXPIRE_BATCH expired outcomes, from the head of the expiry index;
# parameters: now, batch.
EXPIRE: Final = (
    "DELETE FROM alligator_results WHERE rowid IN (SELECT rowid FROM alligator_results"
    " WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)"
)
# An unexpired outcome; parameters: queue, task_id, now.
FETCH: Final = (
    "SELECT CAST(data AS BLOB) FROM alligator_results WHERE queue = ? AND task_id = ?"
    " AND expires_at > ? AND data IS NOT NULL"
)
# Whether an unexpired outcome says success; parameters: queue, task_id, now.
OUTCOME_OK: Final = (
    "SELECT ok FROM alligator_results WHERE queue = ? AND task_id = ? AND expires_at > ?"
)
# A task's state, due time (or lease deadline) and attempts; parameters: queue, task_id.
STATE: Final = "SELECT state, run_at, attempts FROM alligator_tasks WHERE queue = ? AND task_id = ?"

# Stores a task in a given state (0 ready, 2 buried, 3 blocked), replacing a
# namesake unless its lease is held. Parameters: queue, task_id, data,
# run_at, state, reason, buried_at, now.
PUSH_AS: Final = (
    "INSERT INTO alligator_tasks (queue, task_id, data, run_at, state, reason, buried_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (queue, task_id) DO UPDATE SET"
    " data = excluded.data, state = excluded.state, run_at = excluded.run_at, token = NULL,"
    " attempts = 0, reason = excluded.reason, buried_at = excluded.buried_at,"
    f" seq = {_NEXT_SEQ} WHERE state != 1 OR run_at <= ?"
)
# Parameters: queue, parent, child.
INSERT_EDGE: Final = "INSERT OR IGNORE INTO alligator_deps (queue, parent, child) VALUES (?, ?, ?)"
# The children of a parent, their edges deleted; parameters: queue, parent.
DEPENDENTS: Final = "DELETE FROM alligator_deps WHERE queue = ? AND parent = ? RETURNING child"
# A child's remaining edges (it no longer waits); parameters: queue, child.
UNLINK_CHILD: Final = "DELETE FROM alligator_deps WHERE queue = ? AND child = ?"
DROP_EDGES: Final = "DELETE FROM alligator_deps WHERE queue = ?"
# Releases a blocked child whose last dependency this was; parameters: now,
# queue, child, queue, child.
RELEASE_CHILD: Final = (
    f"UPDATE alligator_tasks SET state = 0, run_at = max(run_at, ?), seq = {_NEXT_SEQ}"
    f" WHERE queue = ? AND task_id = ? AND state = {BLOCKED}"
    " AND NOT EXISTS (SELECT 1 FROM alligator_deps WHERE queue = ? AND child = ?)"
)
# Buries a blocked child; parameters: reason, buried_at, queue, child.
BURY_BLOCKED: Final = (
    f"UPDATE alligator_tasks SET state = 2, token = NULL, reason = ?, buried_at = ?,"
    f" seq = {_NEXT_SEQ} WHERE queue = ? AND task_id = ? AND state = {BLOCKED}"
)
# Removes a waiting task (ready, delayed, blocked, or its lease expired);
# parameters: queue, task_id, now.
CANCEL: Final = (
    "DELETE FROM alligator_tasks WHERE queue = ? AND task_id = ?"
    f" AND (state IN (0, {BLOCKED}) OR (state = 1 AND run_at <= ?)) RETURNING CAST(data AS BLOB)"
)
