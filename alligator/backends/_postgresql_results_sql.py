"""The SQL of the PostgreSQL backend's outcomes and dependencies (schema version 2).

Kept apart from :mod:`alligator.backends._postgresql_sql` (the queue's own
statements, and the migration that creates these tables). Every value is a
bound parameter; only the quoted table names are spliced in.

* ``alligator_results``: one outcome per ``(queue, task_id)``, with
  ``expires_at`` and ``ok`` (true a success, false a failure or a cancel,
  NULL written apart from any settlement). Reads skip expired rows; each
  write deletes up to 64 expired ones from the head of the ``expires_at``
  index (``SKIP LOCKED``: writers never queue on each other's clean-up).
  A row with NULL ``data`` marks a dependent buried by a failure whose
  outcome the caller has not stored yet: "failed" to a later dependency,
  no outcome to a reader.
* A blocked task is a row of the task table in state 4 with ``pending``,
  its count of dependencies still to succeed; ``alligator_deps`` holds one
  edge per pending dependency. A parent's completion deletes its edges and
  decrements each child's ``pending`` with an UPDATE of the child's row, so
  two parents finishing at once serialise on that row and the last one
  releases it (no write skew, no polling).
* Why several statements per transaction: a statement of READ COMMITTED sees
  the rows committed when it started. ``complete``, ``fail`` and ``cancel``
  first delete (or bury) their task's row, which waits for a ``push_after``
  holding it ``FOR SHARE``; only then, in a later statement, do they read
  the task's edges, so an edge that ``push_after`` committed meanwhile is
  seen. ``push_after`` locks the dependencies' rows first, for the same reason.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from alligator.backends._postgresql_sql import EXISTING, NOW

__all__ = ["BLOCKED", "Statements", "statements"]

#: The state of a blocked row.
BLOCKED: Final = 4

_EXPIRED: Final = f"""
expired AS (
    DELETE FROM {{results}} WHERE (queue, task_id) IN (
        SELECT queue, task_id FROM {{results}} WHERE expires_at <= {NOW}
            AND NOT (queue = %(queue)s AND task_id = ANY(%(ids)s::text[]))
        ORDER BY expires_at LIMIT 64 FOR UPDATE SKIP LOCKED))"""

# One outcome; ``ok`` NULL keeps what a settlement said.
_KEEP = f"""
WITH {_EXPIRED}
INSERT INTO {{results}} AS r (queue, task_id, data, expires_at, ok)
VALUES (%(queue)s, %(task_id)s, %(data)s, {NOW} + %(ttl)s, %(ok)s::boolean)
ON CONFLICT (queue, task_id) DO UPDATE SET data = excluded.data,
    expires_at = excluded.expires_at, ok = coalesce(excluded.ok, r.ok)"""

_FETCH = f"""
SELECT data FROM {{results}}
WHERE queue = %(queue)s AND task_id = %(task_id)s AND expires_at > {NOW} AND data IS NOT NULL"""

# The lookups by a list of ids probe an index once per id, each in a
# LATERAL subquery the planner cannot flatten (a lock, or OFFSET 0): written
# as ``task_id = ANY(ids)``, a plan made while a table was near empty walked
# the queue's whole index range and compared every row with every id (see
# EXISTING in _postgresql_sql).
_OUTCOMES = f"""
SELECT r.task_id, r.ok FROM unnest(%(ids)s::text[]) AS k(task_id), LATERAL (
    SELECT x.task_id, x.ok FROM {{results}} AS x
    WHERE x.queue = %(queue)s AND x.task_id = k.task_id AND x.expires_at > {NOW}
    OFFSET 0) AS r"""

_STATE = f"""
SELECT state, run_at <= {NOW}, attempts FROM {{tasks}}
WHERE queue = %(queue)s AND task_id = %(task_id)s"""

# The first step of complete: delete the held tasks (their leases checked).
_TAKE_HELD = f"""
WITH held AS (
    SELECT h.id FROM {{tasks}} AS h,
        unnest(%(ids)s::text[], %(tokens)s::text[]) AS d(task_id, token)
    WHERE h.queue = %(queue)s AND h.task_id = d.task_id AND h.token = d.token
        AND h.state = 1 AND h.run_at > {NOW}
    ORDER BY h.id FOR UPDATE OF h)
DELETE FROM {{tasks}} AS t USING held WHERE t.id = held.id RETURNING t.task_id, t.token"""

# The second: keep the outcomes, then release each child whose last pending
# dependency this was (its UPDATE serialises with another parent's).
_KEEP_AND_RELEASE = f"""
WITH {_EXPIRED},
done AS (
    SELECT DISTINCT ON (task_id) task_id, data
    FROM unnest(%(ids)s::text[], %(datas)s::bytea[]) AS d(task_id, data)),
kept AS (
    INSERT INTO {{results}} (queue, task_id, data, expires_at, ok)
    SELECT %(queue)s, task_id, data, {NOW} + %(ttl)s, true FROM done
    ON CONFLICT (queue, task_id) DO UPDATE SET data = excluded.data,
        expires_at = excluded.expires_at, ok = true),
freed AS (
    DELETE FROM {{deps}} AS e USING done
    WHERE e.queue = %(queue)s AND e.parent = done.task_id RETURNING e.child),
counts AS (SELECT child, count(*) AS n FROM freed GROUP BY child),
released AS (
    UPDATE {{tasks}} AS c SET id = DEFAULT, pending = c.pending - counts.n,
        state = CASE WHEN c.pending > counts.n THEN {BLOCKED}
                     WHEN c.run_at <= {NOW} THEN 0 ELSE 3 END,
        run_at = CASE WHEN c.pending > counts.n THEN c.run_at
                      ELSE greatest(c.run_at, {NOW}) END
    FROM counts
    WHERE c.queue = %(queue)s AND c.task_id = counts.child AND c.state = {BLOCKED}
    RETURNING c.state)
SELECT count(pg_notify(%(channel)s, '')) FROM released WHERE state <> {BLOCKED}"""

# The first step of fail: bury the held task.
_BURY_HELD = f"""
UPDATE {{tasks}} SET id = DEFAULT, state = 2, token = NULL, reason = %(reason)s,
    buried_at = {NOW}
WHERE queue = %(queue)s AND task_id = %(task_id)s AND state = 1 AND token = %(token)s
    AND run_at > {NOW}
RETURNING task_id"""

# The first step of cancel: remove a waiting (or blocked) task.
_TAKE_WAITING = f"""
DELETE FROM {{tasks}}
WHERE queue = %(queue)s AND task_id = %(task_id)s
    AND (state IN (0, 3, {BLOCKED}) OR (state = 1 AND run_at <= {NOW}))
RETURNING data"""

# One level of a burial: the blocked children of ``parents``, buried, their
# other edges dropped, marked failed (NULL data) until the caller's outcome.
_BURY_CHILDREN = f"""
WITH freed AS (
    DELETE FROM {{deps}} WHERE queue = %(queue)s AND parent = ANY(%(parents)s::text[])
    RETURNING child),
buried AS (
    UPDATE {{tasks}} SET id = DEFAULT, state = 2, token = NULL, pending = 0,
        reason = %(reason)s, buried_at = {NOW}
    WHERE queue = %(queue)s AND state = {BLOCKED} AND task_id IN (SELECT child FROM freed)
    RETURNING task_id),
unlinked AS (
    DELETE FROM {{deps}} WHERE queue = %(queue)s AND child IN (SELECT task_id FROM buried)),
marked AS (
    INSERT INTO {{results}} (queue, task_id, data, expires_at, ok)
    SELECT %(queue)s, task_id, NULL, {NOW} + %(ttl)s, false FROM buried
    ON CONFLICT (queue, task_id) DO UPDATE SET data = NULL,
        expires_at = excluded.expires_at, ok = false)
SELECT task_id FROM buried"""

# push_after's first step: lock the dependencies that are rows of the queue.
_LOCK_PARENTS = """
SELECT r.task_id, r.state FROM unnest(%(ids)s::text[]) AS k(task_id), LATERAL (
    SELECT x.task_id, x.state FROM {tasks} AS x
    WHERE x.queue = %(queue)s AND x.task_id = k.task_id FOR SHARE) AS r"""

_UNLINK = """
DELETE FROM {deps} WHERE ctid = ANY(ARRAY(
    SELECT e.ctid FROM unnest(%(ids)s::text[]) AS k(child), LATERAL (
        SELECT x.ctid FROM {deps} AS x
        WHERE x.queue = %(queue)s AND x.child = k.child OFFSET 0) AS e))"""

# Stores the planned rows (ready or delayed, blocked with their count, or
# buried with a reason) and their edges; nothing if one id is running.
_WRITE_PLANNED = f"""
WITH items AS (
    SELECT * FROM unnest(%(ids)s::text[], %(datas)s::bytea[], %(dues)s::float8[],
                         %(states)s::smallint[], %(pendings)s::integer[], %(reasons)s::text[])
        WITH ORDINALITY AS i(task_id, data, due, state, pending, reason, n)),
{EXISTING},
written AS (
    INSERT INTO {{tasks}} AS t (queue, task_id, data, run_at, state, pending, reason, buried_at)
    SELECT %(queue)s, task_id, data, coalesce(due, {NOW}),
        CASE WHEN state <> 0 THEN state WHEN coalesce(due, {NOW}) <= {NOW} THEN 0 ELSE 3 END,
        pending, reason, CASE WHEN state = 2 THEN {NOW} END
    FROM items WHERE NOT EXISTS (SELECT 1 FROM existing WHERE running) ORDER BY n
    ON CONFLICT (queue, task_id) DO UPDATE SET id = DEFAULT, data = excluded.data,
        priority = 0, run_at = excluded.run_at, state = excluded.state, token = NULL,
        attempts = 0, pending = excluded.pending, reason = excluded.reason,
        buried_at = excluded.buried_at
    RETURNING 1),
edges AS (
    INSERT INTO {{deps}} (queue, parent, child)
    SELECT %(queue)s, parent, child
    FROM unnest(%(parents)s::text[], %(children)s::text[]) AS e(parent, child)
    WHERE NOT EXISTS (SELECT 1 FROM existing WHERE running)
    ON CONFLICT DO NOTHING)
SELECT (SELECT task_id FROM existing WHERE running LIMIT 1),
    pg_notify(%(channel)s, '') IS NULL"""

_DROP_EDGES = "DELETE FROM {deps} WHERE queue = %(queue)s"


class Statements(NamedTuple):
    """The outcome and dependency statements, table names filled in."""

    keep: str
    fetch: str
    outcomes: str
    state: str
    take_held: str
    keep_and_release: str
    bury_held: str
    take_waiting: str
    bury_children: str
    lock_parents: str
    unlink: str
    write_planned: str
    drop_edges: str


_TEMPLATES: Final = (
    _KEEP,
    _FETCH,
    _OUTCOMES,
    _STATE,
    _TAKE_HELD,
    _KEEP_AND_RELEASE,
    _BURY_HELD,
    _TAKE_WAITING,
    _BURY_CHILDREN,
    _LOCK_PARENTS,
    _UNLINK,
    _WRITE_PLANNED,
    _DROP_EDGES,
)


def statements(tables: dict[str, str]) -> Statements:
    """Every statement for the quoted table names of one schema."""
    return Statements(*(template.format(**tables) for template in _TEMPLATES))
