"""Where beanstalkd's buried jobs keep their reasons: a companion tube.

beanstalkd stores no reason with a buried job, so before burying, the client
puts a small record ``{job_id, reason, buried_at}`` in ``<queue>.buried``,
a tube no worker watches. Listing reserves every record (and releases them
again), pairs each with its still-buried job, and deletes records whose job
is gone. Two listings at the same moment may each see only part.
"""

from __future__ import annotations

import contextlib
import time

import greenstalk

from alligator.backends._beanstalk import (
    BURIED_SUFFIX,
    BuryRecord,
    Connection,
    decode_record,
    encode_record,
)
from alligator.records import BuriedTask

__all__ = ["delete_quietly", "forget_records", "list_buried", "put_record", "read_records"]

#: Bury records are bookkeeping: most urgent, and their TTR only matters while listing.
RECORD_PRIORITY = 0
RECORD_TTR = 60


def put_record(
    conn: Connection, client: greenstalk.Client[bytes], tube: str, job_id: int, reason: str
) -> int:
    """Store the burial reason of ``job_id``; returns the record's own job id."""
    record = BuryRecord(job_id=job_id, reason=reason, buried_at=time.time())
    conn.use(client, tube + BURIED_SUFFIX)
    return client.put(
        encode_record(record, conn.max_job_size),
        priority=RECORD_PRIORITY,
        delay=0,
        ttr=RECORD_TTR,
    )


def read_records(
    conn: Connection, client: greenstalk.Client[bytes], tube: str
) -> list[tuple[int, BuryRecord]]:
    """Every bury record of ``tube``: reserve them all, then release them."""
    conn.watch_only(client, tube + BURIED_SUFFIX)
    taken: list[greenstalk.Job[bytes]] = []
    try:
        while True:
            try:
                taken.append(client.reserve(0))
            except (greenstalk.TimedOutError, greenstalk.DeadlineSoonError):
                break
    finally:
        for job in taken:
            client.release(job, priority=RECORD_PRIORITY, delay=0)
    records = []
    for job in taken:
        record = decode_record(job.body)
        if record is not None:
            records.append((job.id, record))
    return records


def list_buried(conn: Connection, client: greenstalk.Client[bytes], tube: str) -> list[BuriedTask]:
    """Buried jobs of ``tube`` with their latest reasons, oldest burial first."""
    records = read_records(conn, client, tube)
    latest: dict[int, tuple[int, BuryRecord]] = {}
    for record_id, record in records:
        seen = latest.get(record.job_id)
        if seen is None or seen[1].buried_at <= record.buried_at:
            latest[record.job_id] = (record_id, record)
    found: list[BuriedTask] = []
    for job_id, (_, record) in latest.items():
        try:
            stats = client.stats_job(job_id)
            if stats["tube"] != tube or stats["state"] != "buried":
                continue  # kicked, or a bury still in flight: keep the record
            body = client.peek(job_id).body
        except greenstalk.NotFoundError:
            # The job is gone (acked after a kick, deleted): its records too.
            for record_id, stale in records:
                if stale.job_id == job_id:
                    delete_quietly(client, record_id)
            continue
        found.append(BuriedTask(str(job_id), body, record.reason, record.buried_at))
    found.sort(key=lambda task: (task.buried_at, int(task.task_id)))
    return found


def forget_records(
    conn: Connection, client: greenstalk.Client[bytes], tube: str, job_ids: set[int] | None
) -> None:
    """Delete the bury records of ``job_ids`` (of jobs no longer buried when ``None``)."""
    for record_id, record in read_records(conn, client, tube):
        if job_ids is not None and record.job_id not in job_ids:
            continue
        if job_ids is None:
            try:
                if client.stats_job(record.job_id)["state"] == "buried":
                    continue
            except greenstalk.NotFoundError:
                pass
        delete_quietly(client, record_id)


def delete_quietly(client: greenstalk.Client[bytes], job_id: int) -> None:
    """Delete a job that may already be gone or be held by another connection."""
    with contextlib.suppress(greenstalk.NotFoundError):
        client.delete(job_id)
