"""The SQL of the SQLite backend, kept apart so the client reads as logic.

Queue names and every value are bound parameters; nothing here is formatted
from user input (the f-strings only splice these constant fragments).

What a row hands back is read defensively, because rows may be written by
other code: ids come back with their type (``typeof``) and as bytes, and
payloads as bytes (``CAST(... AS BLOB)``), so a value that is not UTF-8 text
never fails a read (which would roll back every batch holding that row); the
backend buries such a row instead. A ``run_at`` that is not a number sorts
after every number, so the due ranges (``run_at <= now``) never reach it, and
:data:`BURY_ODD_RUN_AT` buries it.

Priorities (see :mod:`alligator.priority`, lower first) split the live rows
over two partial indexes, so the plain FIFO queue keeps its one index range:

* ``alligator_tasks_fifo`` on ``(queue, run_at, seq)`` for rows of priority 0
  (every task pushed without one);
* ``alligator_tasks_ranked`` on ``(queue, priority, run_at, seq)`` for the
  others.

A claim (:func:`pick`) reads the due heads of three ranges, negative
priorities, priority 0 and positive priorities, each stopping after the
batch size, and merges them by ``(priority, run_at, seq)``. Within one
priority the due rows come before the others in the ranked index, so a
claim only walks rows it cannot take (delayed, or leased) at the levels more
urgent than the first one with a due row. A queue that never used
priorities finds its two ranked ranges empty at once.
"""

from __future__ import annotations

__all__ = [
    "ACK",
    "ADD_PRIORITY",
    "BURIED",
    "BURIED_PAGE",
    "BURY",
    "BURY_MALFORMED",
    "BURY_ODD_FIFO",
    "BURY_ODD_RUN_AT",
    "COLUMNS",
    "DATA_VERSION",
    "DELETE_SEQ",
    "DROP",
    "DROP_CHUNK",
    "DROP_MARKS",
    "DUE_MANY",
    "FIRST_DUE",
    "GET",
    "HAS_TASK",
    "HELD",
    "INSERT_TASK",
    "LEN",
    "LIVE_MARK",
    "MARK",
    "NEXT_DUE",
    "NEXT_SEQ",
    "POP",
    "PURGE_ALL",
    "PURGE_ONE",
    "PURGE_RAW",
    "PUSH",
    "QUEUES",
    "RELEASE",
    "RENEW",
    "REQUEUE",
    "RESERVE",
    "RUNNING",
    "SCHEMA",
    "STATS",
    "SWEEP_MARKS",
    "lease_many",
    "pick",
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
        buried_at REAL,
        priority INTEGER NOT NULL DEFAULT 0)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS alligator_tasks_id ON alligator_tasks (queue, task_id)",
    "CREATE INDEX IF NOT EXISTS alligator_tasks_fifo"
    " ON alligator_tasks (queue, run_at, seq) WHERE state < 2 AND priority = 0",
    "CREATE INDEX IF NOT EXISTS alligator_tasks_ranked"
    " ON alligator_tasks (queue, priority, run_at, seq) WHERE state < 2 AND priority <> 0",
    "CREATE INDEX IF NOT EXISTS alligator_tasks_buried"
    " ON alligator_tasks (queue, seq) WHERE state = 2",
    # Marks of push_absent and mark (AbsentPushClient): key -> first marked, expiry.
    """CREATE TABLE IF NOT EXISTS alligator_marks (
        queue TEXT NOT NULL,
        key TEXT NOT NULL,
        at REAL NOT NULL,
        expires REAL NOT NULL,
        PRIMARY KEY (queue, key))""",
    "CREATE INDEX IF NOT EXISTS alligator_marks_expiry ON alligator_marks (queue, expires)",
)
#: Whether the table has the priority column (a file made before priorities).
COLUMNS = "SELECT name FROM pragma_table_info('alligator_tasks')"
#: Brings such a file up to date, inside one ``BEGIN IMMEDIATE``; SCHEMA follows.
ADD_PRIORITY = (
    "ALTER TABLE alligator_tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
    "DROP INDEX IF EXISTS alligator_tasks_due",
)

# The live rows of priority 0, and of any other, as the partial indexes name them.
_FIFO = "state < 2 AND priority = 0"
_RANKED = "state < 2 AND priority <> 0"
# (The planner would read the ranked rows through the id index, visiting every
# row of the queue: named, the ranked index visits only the ranked ones.)
_RANKED_ROWS = "alligator_tasks INDEXED BY alligator_tasks_ranked"


def pick(queue: str, now: str, limit: str) -> str:
    """The seqs of the first ``limit`` reservable rows, in the order a claim takes them.

    The arguments are the statement's placeholders (``?3``...) for the queue,
    the time and the batch size.
    """
    due = f"queue = {queue} AND run_at <= {now}"
    ranked = f"ORDER BY priority, run_at, seq LIMIT {limit}"
    return (
        "SELECT seq FROM ("
        "SELECT * FROM (SELECT seq, priority AS p, run_at AS r FROM alligator_tasks"
        f" WHERE {due} AND {_RANKED} AND priority < 0 {ranked})"
        " UNION ALL SELECT * FROM (SELECT seq, 0 AS p, run_at AS r FROM alligator_tasks"
        f" WHERE {due} AND {_FIFO} ORDER BY run_at, seq LIMIT {limit})"
        " UNION ALL SELECT * FROM (SELECT seq, priority AS p, run_at AS r FROM alligator_tasks"
        f" WHERE {due} AND {_RANKED} AND priority > 0 {ranked})"
        f") ORDER BY p, r, seq LIMIT {limit}"
    )


# Whether the queue holds a task of that id, in any state; parameters: queue, task_id.
HAS_TASK = "SELECT 1 FROM alligator_tasks WHERE queue = ? AND task_id = ?"
# Whether a key has a live mark; parameters: queue, key, now.
LIVE_MARK = "SELECT 1 FROM alligator_marks WHERE queue = ? AND key = ? AND expires > ?"
# A fresh task (the caller checked the id is free); parameters: queue, task_id, data, run_at.
INSERT_TASK = (
    "INSERT INTO alligator_tasks (queue, task_id, data, run_at, priority) VALUES (?, ?, ?, ?, ?)"
)
# Marks a key unless it has a live mark, whose time is kept and expiry extended;
# returns the mark's time. Parameters: queue, key, now, expiry, now, now.
MARK = (
    "INSERT INTO alligator_marks (queue, key, at, expires) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (queue, key) DO UPDATE SET"
    " at = CASE WHEN expires > ? THEN at ELSE excluded.at END,"
    " expires = CASE WHEN expires > ? THEN max(expires, excluded.expires)"
    " ELSE excluded.expires END"
    " RETURNING at"
)
# Expired marks of a queue, read off the expiry index; parameters: queue, now.
SWEEP_MARKS = "DELETE FROM alligator_marks WHERE queue = ? AND expires <= ?"
DROP_MARKS = "DELETE FROM alligator_marks WHERE queue = ?"

# The first reservable row of a queue; parameters: queue, now.
FIRST_DUE = pick("?1", "?2", "1")
# A lease still held; parameters: queue, task_id, token, now.
HELD = "queue = ? AND task_id = ? AND state = 1 AND token = ? AND run_at > ?"
NEXT_SEQ = "(SELECT max(seq) + 1 FROM alligator_tasks)"

# Stores a task, replacing a namesake that is waiting, buried or whose lease
# expired; a namesake whose lease is held is left alone (0 rows changed).
# Parameters: queue, task_id, data, run_at, now, priority.
PUSH = (
    "INSERT INTO alligator_tasks (queue, task_id, data, run_at, priority)"
    " VALUES (?1, ?2, ?3, ?4, ?6)"
    " ON CONFLICT (queue, task_id) DO UPDATE SET data = excluded.data, state = 0,"
    " run_at = excluded.run_at, token = NULL, attempts = 0, reason = NULL, buried_at = NULL,"
    f" priority = excluded.priority, seq = {NEXT_SEQ} WHERE state != 1 OR run_at <= ?5"
)
# What a claim returns: the row, its id's type and bytes, its payload's bytes.
_CLAIMED = "seq, typeof(task_id), CAST(task_id AS BLOB), CAST(data AS BLOB), attempts"
# Parameters: lease deadline, token, queue, now.
RESERVE = (
    "UPDATE alligator_tasks SET state = 1, run_at = ?1, token = ?2, attempts = attempts + 1"
    f" WHERE seq = ({pick('?3', '?4', '1')}) RETURNING {_CLAIMED}"
)
POP = f"DELETE FROM alligator_tasks WHERE seq = ({FIRST_DUE}) RETURNING CAST(data AS BLOB)"
GET = (
    "DELETE FROM alligator_tasks WHERE queue = ? AND task_id = ? AND state < 2"
    " AND (state = 0 OR run_at <= ?) RETURNING CAST(data AS BLOB)"
)
# Buries a claimed row that cannot be handed out, under a new id; parameters:
# new id, reason, buried_at, seq. OR IGNORE: if the new id is taken, nothing
# changes and the caller deletes the row instead (DELETE_SEQ).
BURY_MALFORMED = (
    "UPDATE OR IGNORE alligator_tasks SET state = 2, token = NULL, task_id = ?,"
    " data = CAST(data AS BLOB), reason = ?, buried_at = ? WHERE seq = ?"
)
DELETE_SEQ = "DELETE FROM alligator_tasks WHERE seq = ?"
# Whether a task's lease is held; parameters: queue, task_id, now.
RUNNING = (
    "SELECT 1 FROM alligator_tasks WHERE queue = ? AND task_id = ? AND state = 1 AND run_at > ?"
)
# Buries waiting rows whose run_at is not a number (TEXT and BLOB sort after
# every number: the index finds them at the end); parameters: buried_at, queue.
_BURY_ODD = (
    "UPDATE alligator_tasks SET state = 2, token = NULL,"
    " reason = 'malformed task: run_at ' || quote(run_at) || ' is not a number',"
    " buried_at = ?1 WHERE seq IN (SELECT seq FROM alligator_tasks WHERE queue = ?2"
    f" AND {_FIFO} AND run_at >= ''"
)
#: Those of priority 0: one index range, cheap after every short batch.
BURY_ODD_FIFO = _BURY_ODD + ")"
#: Every one (the ranked index has them at the end of each priority): when idle.
BURY_ODD_RUN_AT = (
    _BURY_ODD + f" UNION ALL SELECT seq FROM {_RANKED_ROWS} WHERE queue = ?2 AND {_RANKED}"
    " AND run_at >= '')"
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
# The earliest due time or lease deadline, and whether some waiting row has a
# run_at that is not a number (to bury); parameter: queue.
_FIRST_FIFO = (
    f"(SELECT min(run_at) FROM alligator_tasks WHERE queue = ?1 AND {_FIFO} AND run_at < '')"
)
_FIRST_RANKED = (
    f"(SELECT min(run_at) FROM {_RANKED_ROWS} WHERE queue = ?1 AND {_RANKED} AND run_at < '')"
)
NEXT_DUE = (
    f"SELECT min(coalesce({_FIRST_FIFO}, {_FIRST_RANKED}),"
    f" coalesce({_FIRST_RANKED}, {_FIRST_FIFO})),"
    f" EXISTS (SELECT 1 FROM alligator_tasks WHERE queue = ?1 AND {_FIFO} AND run_at >= '')"
    f" OR EXISTS (SELECT 1 FROM {_RANKED_ROWS} WHERE queue = ?1 AND {_RANKED} AND run_at >= '')"
)
STATS = (
    "SELECT state, run_at <= ?, count(*) FROM alligator_tasks WHERE queue = ?"
    " AND state IN (0, 1, 2) GROUP BY 1, 2"
)
BURIED = (
    "SELECT CAST(task_id AS BLOB), CAST(data AS BLOB), CAST(reason AS BLOB), buried_at"
    " FROM alligator_tasks WHERE queue = ? AND state = 2 ORDER BY seq"
)
# One page of BURIED: the OFFSET walks the buried index (queue, seq), reading
# no row it skips; parameters: queue, limit, offset.
BURIED_PAGE = BURIED + " LIMIT ? OFFSET ?"
DROP = "DELETE FROM alligator_tasks WHERE queue = ?"
# Every queue with a row, whatever its state (read off the (queue, task_id) index).
QUEUES = "SELECT DISTINCT queue FROM alligator_tasks ORDER BY queue"

# One chunk of a drop, so no statement holds the write lock for long;
# parameters: queue, chunk size.
DROP_CHUNK = (
    "DELETE FROM alligator_tasks WHERE seq IN"
    " (SELECT seq FROM alligator_tasks WHERE queue = ? LIMIT ?)"
)

REQUEUE = (
    "UPDATE alligator_tasks SET state = 0, run_at = ?, data = coalesce(?, data), attempts = 0,"
    f" reason = NULL, buried_at = NULL, seq = {NEXT_SEQ}"
    " WHERE queue = ? AND task_id = ? AND state = 2"
)
PURGE_ONE = "DELETE FROM alligator_tasks WHERE queue = ? AND task_id = ? AND state = 2"
PURGE_RAW = (
    "DELETE FROM alligator_tasks WHERE queue = ? AND CAST(task_id AS BLOB) = ? AND state = 2"
)
PURGE_ALL = "DELETE FROM alligator_tasks WHERE queue = ? AND state = 2"

# The first ``count`` reservable rows, in the order reserve takes them;
# parameters: queue, now, count.
DUE_MANY = pick("?1", "?2", "?3")
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
            f" attempts = attempts + 1 WHERE seq IN ({marks}) RETURNING {_CLAIMED}, token"
        )
    return sql
