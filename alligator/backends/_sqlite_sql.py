"""The SQL of the SQLite backend, kept apart so the client reads as logic.

Queue names and every value are bound parameters; nothing here is formatted
from user input (the f-strings only splice these constant fragments).
"""

from __future__ import annotations

__all__ = [
    "ACK",
    "BURIED",
    "BURY",
    "DATA_VERSION",
    "DROP",
    "DUE_MANY",
    "FIRST_DUE",
    "GET",
    "HELD",
    "LEN",
    "NEXT_DUE",
    "NEXT_SEQ",
    "POP",
    "PURGE_ALL",
    "PURGE_ONE",
    "PUSH",
    "QUEUES",
    "RELEASE",
    "RENEW",
    "REQUEUE",
    "RESERVE",
    "SCHEMA",
    "STATS",
    "lease_many",
]

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS alligator_tasks (
        seq INTEGER PRIMARY KEY,
        queue TEXT NOT NULL,
        task_id TEXT NOT NULL,
        data BLOB NOT NULL,
        state INTEGER NOT NULL DEFAULT 0,
        run_at REAL NOT NULL,
        token TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        reason TEXT,
        buried_at REAL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS alligator_tasks_id ON alligator_tasks (queue, task_id)",
    "CREATE INDEX IF NOT EXISTS alligator_tasks_due"
    " ON alligator_tasks (queue, run_at, seq) WHERE state < 2",
    "CREATE INDEX IF NOT EXISTS alligator_tasks_buried"
    " ON alligator_tasks (queue, seq) WHERE state = 2",
)

# The first reservable row of a queue; parameters: queue, now.
FIRST_DUE = (
    "SELECT seq FROM alligator_tasks WHERE queue = ? AND state < 2 AND run_at <= ?"
    " ORDER BY run_at, seq LIMIT 1"
)
# A lease still held; parameters: queue, task_id, token, now.
HELD = "queue = ? AND task_id = ? AND state = 1 AND token = ? AND run_at > ?"
NEXT_SEQ = "(SELECT max(seq) + 1 FROM alligator_tasks)"

PUSH = "INSERT OR REPLACE INTO alligator_tasks (queue, task_id, data, run_at) VALUES (?, ?, ?, ?)"
RESERVE = (
    "UPDATE alligator_tasks SET state = 1, run_at = ?, token = ?, attempts = attempts + 1"
    f" WHERE seq = ({FIRST_DUE}) RETURNING task_id, data, attempts"
)
POP = f"DELETE FROM alligator_tasks WHERE seq = ({FIRST_DUE}) RETURNING data"
GET = (
    "DELETE FROM alligator_tasks WHERE queue = ? AND task_id = ? AND state < 2"
    " AND (state = 0 OR run_at <= ?) RETURNING data"
)
ACK = f"DELETE FROM alligator_tasks WHERE {HELD}"
RELEASE = (
    "UPDATE alligator_tasks SET state = 0, token = NULL, run_at = ?,"
    f" data = coalesce(?, data), seq = {NEXT_SEQ} WHERE {HELD}"
)
BURY = (
    "UPDATE alligator_tasks SET state = 2, token = NULL, reason = ?, buried_at = ?,"
    f" seq = {NEXT_SEQ} WHERE {HELD}"
)
RENEW = f"UPDATE alligator_tasks SET run_at = ? WHERE {HELD}"
LEN = (
    "SELECT count(*) FROM alligator_tasks WHERE queue = ? AND state < 2"
    " AND (state = 0 OR run_at <= ?)"
)
NEXT_DUE = "SELECT min(run_at) FROM alligator_tasks WHERE queue = ? AND state < 2"
STATS = "SELECT state, run_at <= ?, count(*) FROM alligator_tasks WHERE queue = ? GROUP BY 1, 2"
BURIED = (
    "SELECT task_id, data, reason, buried_at FROM alligator_tasks"
    " WHERE queue = ? AND state = 2 ORDER BY seq"
)
DROP = "DELETE FROM alligator_tasks WHERE queue = ?"
# Every queue with a row, whatever its state (read off the (queue, task_id) index).
QUEUES = "SELECT DISTINCT queue FROM alligator_tasks ORDER BY queue"
REQUEUE = (
    "UPDATE alligator_tasks SET state = 0, run_at = ?, data = coalesce(?, data), attempts = 0,"
    f" reason = NULL, buried_at = NULL, seq = {NEXT_SEQ}"
    " WHERE queue = ? AND task_id = ? AND state = 2"
)
PURGE_ONE = "DELETE FROM alligator_tasks WHERE queue = ? AND task_id = ? AND state = 2"
PURGE_ALL = "DELETE FROM alligator_tasks WHERE queue = ? AND state = 2"

# The first ``count`` reservable rows, in the order reserve takes them;
# parameters: queue, now, count.
DUE_MANY = (
    "SELECT seq FROM alligator_tasks WHERE queue = ? AND state < 2 AND run_at <= ?"
    " ORDER BY run_at, seq LIMIT ?"
)
# Changes whenever another connection commits: a cheap "anything new?" check.
DATA_VERSION = "PRAGMA data_version"

_LEASE_MANY: dict[int, str] = {}


def lease_many(count: int) -> str:
    """The UPDATE leasing ``count`` rows picked by :data:`DUE_MANY`.

    Parameters: lease deadline, token prefix, then the ``count`` seqs; each
    row's token is the prefix followed by its seq, so one random prefix per
    call makes every token unique.
    """
    sql = _LEASE_MANY.get(count)
    if sql is None:
        marks = ", ".join("?" * count)
        sql = _LEASE_MANY[count] = (
            "UPDATE alligator_tasks SET state = 1, run_at = ?, token = ? || seq,"
            f" attempts = attempts + 1 WHERE seq IN ({marks}) RETURNING seq, task_id, data,"
            " attempts, token"
        )
    return sql
