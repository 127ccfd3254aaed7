"""The SQL of the PostgreSQL backend: every statement a client runs on its task table.

Kept apart so the client reads as logic. Queue names, task ids, payloads and
times are always bound parameters (``%(name)s``); the only text spliced in
is the schema-qualified table name, quoted as an identifier once per client
by :func:`statements`. Each statement is prepared once per connection (the
pool, :mod:`alligator.backends._postgresql_pool`, executes them with
``prepare=True``).

The table
---------
One table, ``alligator_tasks``, holds every queue's tasks. A row's ``state``:

====  =========  ===========================================================
0     ready      due when pushed; ``run_at`` is its due time
1     reserved   leased to a worker; ``run_at`` is the lease deadline
2     buried     kept aside with ``reason`` and ``buried_at``; never run again
3     delayed    not due yet; ``run_at`` is its due time
4     blocked    waits on ``pending`` dependencies (version 2); ``run_at`` is
                 its own due time
====  =========  ===========================================================

Two partial indexes split the live rows so a claim never walks rows it
cannot take:

* ``ready`` on ``(queue, priority, run_at, id) WHERE state = 0``: every row in
  it is due, in the order a claim takes them (lower priority number first,
  then earliest due, then push order).
* ``timers`` on ``(queue, run_at) WHERE state IN (1, 3)``: delayed tasks and
  leases, by the time they come due. The due ones are the prefix
  ``run_at <= now``; the first entry is the next time anything comes due.

A claim takes up to ``count`` rows from the head of ``ready`` and up to 1,000
due ones from the head of ``timers`` (both with ``FOR UPDATE SKIP LOCKED``,
so concurrent workers pass each other instead of queueing on a lock), merges
them by ``(priority, run_at, id)`` and leases the first ``count``; the due
timed rows it did not lease become ready rows (state 0), so later claims take
them in priority order. Both index range scans stop early, so a claim costs
the same with a million delayed tasks (not yet due) as with none. Finished tasks are
deleted (the ack), and the table's autovacuum thresholds are set low so the
space is reused at once instead of growing.

``id`` is a fresh number each time a row's place in line is set (push,
replacing push, release, requeue, bury), which is what "first in, first out
among equal due times" is ordered by.

Times are epoch seconds (``float8``). ``{now}`` is the injected clock's
reading when the client has one, else the server's own
``statement_timestamp()``, so leases and due times of clients on different
machines agree with no clock sync between them.

The tables themselves, their versions and migrations are in
:mod:`alligator.backends._postgresql_schema`.
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = ["BURIED_PAGE", "EXISTING", "NOW", "Statements", "quote_ident", "statements", "tables"]

#: The clock of a statement: the injected one if given, else the server's.
NOW: Final = "coalesce(%(now)s::float8, extract(epoch FROM statement_timestamp())::float8)"

#: A due time: the one given, or now.
_DUE: Final = f"coalesce(%(due)s::float8, {NOW})"

#: A lease still held by the given token.
_HELD: Final = (
    "queue = %(queue)s AND task_id = %(task_id)s AND state = 1 AND token = %(token)s"
    f" AND run_at > {NOW}"
)

#: What a push of an id the queue already holds resets: a fresh task at the back.
_REPLACE: Final = (
    "id = DEFAULT, data = excluded.data, priority = excluded.priority,"
    " run_at = excluded.run_at, state = excluded.state, token = NULL, attempts = 0,"
    " reason = NULL, buried_at = NULL"
)

#: Most due delayed rows and expired leases one claim considers (and moves to ready).
PROMOTE_MAX: Final = 1000

#: The due rows a claim may take: the head of each index, merged. The due
#: delayed rows and expired leases it considered but did not take become
#: ready rows, so the next claim finds them in the ready index in priority
#: order: a backlog of tasks that came due at once is drained by priority
#: too, not by due time (at most PROMOTE_MAX of them per claim).
_PICK: Final = f"""
ready AS (
    SELECT id, priority, run_at FROM {{tasks}}
    WHERE queue = %(queue)s AND state = 0
    ORDER BY priority, run_at, id LIMIT %(count)s
    FOR UPDATE SKIP LOCKED),
timed AS (
    SELECT id, priority, run_at FROM {{tasks}}
    WHERE queue = %(queue)s AND state IN (1, 3) AND run_at <= {NOW}
    ORDER BY run_at, id LIMIT {PROMOTE_MAX}
    FOR UPDATE SKIP LOCKED),
picked AS (
    SELECT id, priority, run_at FROM ready
    UNION ALL SELECT id, priority, run_at FROM timed
    ORDER BY priority, run_at, id LIMIT %(count)s),
promoted AS (
    UPDATE {{tasks}} AS p SET state = 0, token = NULL FROM timed
    WHERE p.id = timed.id AND timed.id NOT IN (SELECT id FROM picked))"""


class Statements(NamedTuple):
    """Every statement of the backend with the table names filled in."""

    push_many: str
    push_one: str
    push_fresh: str
    reserve: str
    pop: str
    get: str
    ack: str
    release: str
    bury: str
    renew_many: str
    length: str
    stats: str
    buried: str
    drop: str
    requeue: str
    purge_one: str
    purge_all: str
    queues: str
    push_absent: str
    mark: str
    drop_marks: str


def quote_ident(name: str) -> str:
    """``name`` as a PostgreSQL identifier: double-quoted, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def tables(schema: str) -> dict[str, str]:
    """The quoted, schema-qualified names to fill into the templates."""
    return {
        "tasks": f"{quote_ident(schema)}.{quote_ident('alligator_tasks')}",
        "meta": f"{quote_ident(schema)}.{quote_ident('alligator_meta')}",
        "results": f"{quote_ident(schema)}.{quote_ident('alligator_results')}",
        "deps": f"{quote_ident(schema)}.{quote_ident('alligator_deps')}",
        "marks": f"{quote_ident(schema)}.{quote_ident('alligator_marks')}",
        "unique": f"{quote_ident(schema)}.{quote_ident('alligator_unique')}",
        "slots": f"{quote_ident(schema)}.{quote_ident('alligator_limit_slots')}",
        "starts": f"{quote_ident(schema)}.{quote_ident('alligator_limit_starts')}",
        "limits": f"{quote_ident(schema)}.{quote_ident('alligator_limits')}",
    }


def statements(schema: str) -> Statements:
    """Every statement for the tables of ``schema``, built once per client."""
    names = tables(schema)
    return Statements(*(template.format(**names) for template in _TEMPLATES))


# One row per item in batch order (WITH ORDINALITY), so ids follow it; a
# notification only if a row was written (duplicates in one transaction fold).
# The rows the batch would replace are locked first (claims skip them), so a
# task found running refuses the whole batch and none can start meanwhile.
# The rows a batch replaces, locked: each id is one probe of the unique
# index. Written as ``task_id = ANY(ids)``, the generic plan made while the
# table was near empty scanned the queue's whole index range and compared
# every row with every id: a batch of 1,000 took 15 ms on an empty queue and
# 170 ms once 8,000 tasks waited (one more millisecond per 100 tasks queued).
EXISTING: Final = f"""
existing AS (
    SELECT r.task_id, r.state = 1 AND r.run_at > {NOW} AS running
    FROM items AS k, LATERAL (
        SELECT x.task_id, x.state, x.run_at FROM {{tasks}} AS x
        WHERE x.queue = %(queue)s AND x.task_id = k.task_id FOR UPDATE) AS r)"""

_PUSH_MANY = f"""
WITH items AS (
    SELECT * FROM unnest(%(ids)s::text[], %(datas)s::bytea[], %(dues)s::float8[],
                         %(priorities)s::integer[])
        WITH ORDINALITY AS i(task_id, data, due, priority, n)),
{EXISTING},
written AS (
    INSERT INTO {{tasks}} AS t (queue, task_id, data, priority, run_at, state)
    SELECT %(queue)s, task_id, data, priority, coalesce(due, {NOW}),
           CASE WHEN coalesce(due, {NOW}) <= {NOW} THEN 0 ELSE 3 END
    FROM items WHERE NOT EXISTS (SELECT 1 FROM existing WHERE running) ORDER BY n
    ON CONFLICT (queue, task_id) DO UPDATE SET {_REPLACE}
    RETURNING 1)
SELECT (SELECT count(*) FROM written),
       (SELECT task_id FROM existing WHERE running LIMIT 1),
       pg_notify(%(channel)s, '') IS NULL"""

# ``push`` of one task: _PUSH_MANY with scalar parameters. No arrays to dump
# and unnest, so the statement is cheaper to bind, plan and run, which is
# most of an enqueue's cost beside the commit.
_PUSH_ONE = f"""
WITH existing AS (
    SELECT r.state = 1 AND r.run_at > {NOW} AS running FROM {{tasks}} AS r
    WHERE r.queue = %(queue)s AND r.task_id = %(task_id)s FOR UPDATE),
written AS (
    INSERT INTO {{tasks}} AS t (queue, task_id, data, priority, run_at, state)
    SELECT %(queue)s, %(task_id)s, %(data)s::bytea, %(priority)s::integer, {_DUE},
           CASE WHEN {_DUE} <= {NOW} THEN 0 ELSE 3 END
    WHERE NOT EXISTS (SELECT 1 FROM existing WHERE running)
    ON CONFLICT (queue, task_id) DO UPDATE SET {_REPLACE}
    RETURNING 1)
SELECT (SELECT count(*) FROM written),
       (SELECT %(task_id)s::text FROM existing WHERE running),
       pg_notify(%(channel)s, '') IS NULL"""

# ``push`` of an id the queue does not hold, due now: every task a Gator
# makes without a delay. A plain INSERT, and the unique index refuses an id
# already there (the client then runs _PUSH_ONE, which replaces it). ON
# CONFLICT's speculative insertion (a probe of the unique index before the
# insert and one more WAL record after it) cost 8-10% of an enqueue's round
# trip here, commit included. Positional parameters, each bound once: named
# ones cost the client a dict and a reordering per call, and the due-time
# arithmetic a delay needs is left to _PUSH_ONE. Parameters: queue, task id,
# data, priority, the injected clock (NULL: the server's), channel.
_PUSH_FRESH = """
INSERT INTO {tasks} (queue, task_id, data, priority, run_at, state)
VALUES (%s, %s, %s::bytea, %s::integer,
        coalesce(%s::float8, extract(epoch FROM statement_timestamp())::float8), 0)
RETURNING pg_notify(%s, '') IS NULL"""

# Acks of ``done`` (locked in id order, so it never deadlocks with a renewal),
# then the lease of the first ``count`` due rows, in ONE statement. Rows come
# back tagged: 0 a leased task, 1 an acked id, 2 (only when nothing was leased)
# the next time anything comes due and the statement's clock.
_RESERVE = f"""
WITH
held AS (
    SELECT h.id FROM {{tasks}} AS h,
        unnest(%(ids)s::text[], %(tokens)s::text[]) AS d(task_id, token)
    WHERE h.queue = %(queue)s AND h.task_id = d.task_id AND h.token = d.token
        AND h.state = 1 AND h.run_at > {NOW}
    ORDER BY h.id FOR UPDATE OF h),
acked AS (
    DELETE FROM {{tasks}} AS t USING held WHERE t.id = held.id RETURNING t.task_id, t.token),
{_PICK},
leased AS (
    UPDATE {{tasks}} AS t
    SET state = 1, run_at = {NOW} + %(lease)s, token = %(prefix)s || t.id,
        attempts = t.attempts + 1
    FROM picked WHERE t.id = picked.id
    RETURNING t.task_id, t.data, t.token, t.attempts, picked.priority,
        picked.run_at AS due, t.id)
SELECT 0, task_id, data, token, attempts, priority, due, id, NULL::float8, NULL::float8
FROM leased
UNION ALL
SELECT 1, task_id, NULL, token, NULL, NULL, NULL, NULL, NULL, NULL FROM acked
UNION ALL
SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    (SELECT min(run_at) FROM {{tasks}} WHERE queue = %(queue)s AND state IN (1, 3)), {NOW}
WHERE NOT EXISTS (SELECT FROM leased)"""

_POP = f"""
WITH {_PICK}
DELETE FROM {{tasks}} AS t USING picked WHERE t.id = picked.id RETURNING t.data"""

_GET = f"""
DELETE FROM {{tasks}}
WHERE queue = %(queue)s AND task_id = %(task_id)s
    AND (state IN (0, 3) OR (state = 1 AND run_at <= {NOW}))
RETURNING data"""

_ACK = f"DELETE FROM {{tasks}} WHERE {_HELD}"

_RELEASE = f"""
UPDATE {{tasks}}
SET id = DEFAULT, state = CASE WHEN {_DUE} <= {NOW} THEN 0 ELSE 3 END, run_at = {_DUE},
    token = NULL, data = coalesce(%(data)s::bytea, data)
WHERE {_HELD}
RETURNING pg_notify(%(channel)s, '') IS NULL"""

_BURY = f"""
UPDATE {{tasks}}
SET id = DEFAULT, state = 2, token = NULL, reason = %(reason)s, buried_at = {NOW}
WHERE {_HELD}"""

_RENEW_MANY = f"""
WITH held AS (
    SELECT h.id FROM {{tasks}} AS h,
        unnest(%(ids)s::text[], %(tokens)s::text[]) AS d(task_id, token)
    WHERE h.queue = %(queue)s AND h.task_id = d.task_id AND h.token = d.token
        AND h.state = 1 AND h.run_at > {NOW}
    ORDER BY h.id FOR UPDATE OF h)
UPDATE {{tasks}} AS t SET run_at = {NOW} + %(lease)s FROM held WHERE t.id = held.id
RETURNING t.task_id, t.token"""

_LEN = f"""
SELECT count(*) FROM {{tasks}}
WHERE queue = %(queue)s AND (state IN (0, 3) OR (state = 1 AND run_at <= {NOW}))"""

# Blocked rows (state 4, waiting on dependencies) are not counted.
_STATS = f"""
SELECT state, run_at <= {NOW}, count(*) FROM {{tasks}} WHERE queue = %(queue)s AND state < 4
GROUP BY 1, 2"""

_BURIED = """
SELECT task_id, data, reason, buried_at FROM {tasks}
WHERE queue = %(queue)s AND state = 2 ORDER BY id"""

#: Appended to ``Statements.buried``, one page of it: the OFFSET walks the
#: ``buried`` index (queue, id), and only the page's rows are read.
BURIED_PAGE: Final = " LIMIT %(limit)s OFFSET %(offset)s"

_DROP = "DELETE FROM {tasks} WHERE queue = %(queue)s"

_REQUEUE = f"""
UPDATE {{tasks}}
SET id = DEFAULT, state = 0, run_at = {NOW}, data = coalesce(%(data)s::bytea, data),
    attempts = 0, reason = NULL, buried_at = NULL
WHERE queue = %(queue)s AND task_id = %(task_id)s AND state = 2
RETURNING pg_notify(%(channel)s, '') IS NULL"""

_PURGE_ONE = "DELETE FROM {tasks} WHERE queue = %(queue)s AND task_id = %(task_id)s AND state = 2"
_PURGE_ALL = "DELETE FROM {tasks} WHERE queue = %(queue)s AND state = 2"

#: A skip scan over the (queue, ...) indexes would be faster on many rows per
#: queue; this is an operator's read (``alligator info``), not a hot path.
_QUEUES = "SELECT DISTINCT queue FROM {tasks} ORDER BY queue"

# A task stored only when the queue holds no task of that id and no live mark
# of it, with its mark, in ONE statement. The mark's row is the lock: of
# concurrent calls one inserts it (or revives an expired one), the others
# meet it on the unique index and change nothing; the task is inserted only
# from the row the mark wrote. Up to 100 expired marks of the queue go too.
_PUSH_ABSENT = f"""
WITH
mark AS (
    INSERT INTO {{marks}} AS m (queue, key, at, expires)
    SELECT %(queue)s, %(task_id)s, {NOW}, {NOW} + %(ttl)s
    WHERE NOT EXISTS (
        SELECT 1 FROM {{tasks}} WHERE queue = %(queue)s AND task_id = %(task_id)s)
    ON CONFLICT (queue, key) DO UPDATE SET at = excluded.at, expires = excluded.expires
        WHERE m.expires <= {NOW}
    RETURNING 1),
written AS (
    INSERT INTO {{tasks}} (queue, task_id, data, priority, run_at, state)
    SELECT %(queue)s, %(task_id)s, %(data)s::bytea, %(priority)s::integer, {_DUE},
           CASE WHEN {_DUE} <= {NOW} THEN 0 ELSE 3 END
    FROM mark
    ON CONFLICT (queue, task_id) DO NOTHING
    RETURNING 1),
swept AS (
    DELETE FROM {{marks}} AS x USING (
        SELECT key FROM {{marks}}
        WHERE queue = %(queue)s AND expires <= {NOW} AND key <> %(task_id)s
        LIMIT 100 FOR UPDATE SKIP LOCKED) AS old
    WHERE x.queue = %(queue)s AND x.key = old.key)
SELECT (SELECT count(*) FROM written),
       CASE WHEN EXISTS (SELECT FROM written) THEN pg_notify(%(channel)s, '') END IS NULL"""

_MARK = f"""
INSERT INTO {{marks}} AS m (queue, key, at, expires)
VALUES (%(queue)s, %(key)s, {NOW}, {NOW} + %(ttl)s)
ON CONFLICT (queue, key) DO UPDATE SET
    at = CASE WHEN m.expires > {NOW} THEN m.at ELSE excluded.at END,
    expires = CASE WHEN m.expires > {NOW} THEN greatest(m.expires, excluded.expires)
                   ELSE excluded.expires END
RETURNING at"""

_DROP_MARKS = "DELETE FROM {marks} WHERE queue = %(queue)s"

# In the field order of :class:`Statements`.
_TEMPLATES: Final = (
    _PUSH_MANY,
    _PUSH_ONE,
    _PUSH_FRESH,
    _RESERVE,
    _POP,
    _GET,
    _ACK,
    _RELEASE,
    _BURY,
    _RENEW_MANY,
    _LEN,
    _STATS,
    _BURIED,
    _DROP,
    _REQUEUE,
    _PURGE_ONE,
    _PURGE_ALL,
    _QUEUES,
    _PUSH_ABSENT,
    _MARK,
    _DROP_MARKS,
)
