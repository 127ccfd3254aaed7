"""What beanstalkd does not keep, kept by the client: held reservations, bury reasons.

**Held reservations** (:class:`Holds`, in memory): beanstalkd's ``delete``
also removes a *ready* job, which is what a job whose TTR ran out becomes,
so an ack must know whether the reservation is still this connection's.
Each reserved job is recorded with a token and the TTR deadline the client
times itself, from just *before* the reserve (or ``touch``) was sent, so it
is never later than the server's.

**Bury reasons** (in a companion tube, on the server): beanstalkd stores no
reason with a buried job, so before burying, the client
puts a small record ``{job_id, reason, buried_at}`` in ``<queue>.buried``,
a tube no worker watches. Listing reserves every record (and releases them
again), pairs each with its still-buried job, and deletes records whose job
is gone. Two listings at the same moment may each see only part. Reasons
longer than the server's max job size are cut in the middle.

Requeueing and purging buried jobs live here too: besides the job, each
must clean up its records, and a record is only ever read or deleted here.
"""

from __future__ import annotations

import itertools
import time
from typing import Final, NamedTuple

import greenstalk
import msgspec

from alligator.backends._beanstalk_driver import (
    BURIED_SUFFIX,
    HEADER,
    Connection,
    delete_quietly,
    format_task_id,
    frame,
    parse_job_id,
    unframe,
)
from alligator.records import BuriedTask, Reservation

__all__ = ["BuryRecord", "Held", "Holds", "list_buried", "purge", "put_record", "requeue"]

#: An ack deletes without a ``touch`` first only while more than this share of
#: the TTR (and at least ``_MIN_SAFETY_MARGIN`` seconds) is left, so a delete
#: delayed in flight still reaches the server inside the lease.
_SAFETY_FRACTION: Final = 0.25
_MIN_SAFETY_MARGIN: Final = 1.0

#: Bury records are bookkeeping: most urgent, and their TTR only matters while listing.
RECORD_PRIORITY: Final = 0
RECORD_TTR: Final = 60

#: Room kept for the record's framing when its reason must be shortened.
_RECORD_OVERHEAD: Final = 64


class Held(NamedTuple):
    """A job the connection holds reserved."""

    token: str
    queue: str
    job: greenstalk.Job[bytes]
    priority: int
    ttr: int
    #: ``time.monotonic()`` by which the server may hand the job out again.
    deadline: float
    #: The connection that reserved it; a reconnect lost the reservation.
    generation: int


class Holds:
    """The jobs one :class:`~alligator.backends._beanstalk_driver.Connection` holds.

    beanstalkd ties a reservation to the connection that made it, so this
    ledger lives as long as the client's connection object; every method is
    called inside a session, under the connection's lock.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._held: dict[int, Held] = {}
        self._tokens = itertools.count(1)

    def hold(
        self, tube: str, job: greenstalk.Job[bytes], stats: greenstalk.StatsJob, sent: float
    ) -> Held:
        """Record a job just reserved; ``sent`` is when the reserve was sent."""
        generation = self._conn.generation
        token = f"{generation}.{job.id}.{next(self._tokens)}"
        deadline = sent + stats["ttr"]
        held = Held(token, tube, job, stats["pri"], stats["ttr"], deadline, generation)
        self._held[job.id] = held
        return held

    def holding(
        self, queue_name: str, reservation: Reservation, *, forget: bool = True
    ) -> Held | None:
        """The held job if ``reservation`` is this connection's latest of it.

        Sends nothing: the token refuses a reservation from another client,
        from a connection since lost, or one this connection reserved again
        after its TTR ran out. Whether the server still counts the job as
        ours is the caller's check (``release``/``bury`` answer NOT_FOUND
        otherwise; :meth:`still_ours` before a ``delete``). With ``forget``
        the job is dropped from the ledger as the caller is about to end
        the reservation.
        """
        found = parse_job_id(reservation.task_id)
        held = None if found is None else self._held.get(found)
        if held is None or held.token != reservation.token or held.queue != queue_name:
            return None
        if held.generation != self._conn.generation:
            # Reserved on a connection since lost: beanstalkd made the job
            # ready again, and a delete from this one would remove it.
            del self._held[held.job.id]
            return None
        if forget:
            del self._held[held.job.id]
        return held

    def forget(self, held: Held) -> None:
        """Drop a job from the ledger (its reservation is ending)."""
        self._held.pop(held.job.id, None)

    def forget_tube(self, tube: str) -> list[int]:
        """Drop every held job of ``tube`` from the ledger; their ids."""
        ids = [i for i, h in self._held.items() if h.queue == tube]
        for found in ids:
            del self._held[found]
        return ids

    def clear(self) -> None:
        """Forget every held job (the connection is being closed)."""
        self._held.clear()

    def still_ours(self, client: greenstalk.Client[bytes], held: Held) -> bool:
        """Whether a ``delete`` of the held job can only hit our reservation.

        Well before the client's own (early) deadline the job is certainly
        still reserved by this connection: beanstalkd gives a reservation up
        only at TTR expiry or when the connection closes (:meth:`holding`
        refuses jobs reserved before a reconnect). Closer to it, ``touch``
        asks the server, at the cost of one more round trip.
        """
        margin = max(_MIN_SAFETY_MARGIN, held.ttr * _SAFETY_FRACTION)
        if time.monotonic() + margin < held.deadline:
            return True
        return self.touch(client, held)

    def touch(self, client: greenstalk.Client[bytes], held: Held) -> bool:
        """``touch``: NOT_FOUND unless this connection holds the job; moves the deadline."""
        sent = time.monotonic()
        try:
            client.touch(held.job)
        except greenstalk.NotFoundError:
            self._held.pop(held.job.id, None)
            return False
        if held.job.id in self._held:
            self._held[held.job.id] = held._replace(deadline=sent + held.ttr)
        return True


class BuryRecord(msgspec.Struct, array_like=True, frozen=True):
    """Why a job was buried: the body of a job in the queue's companion tube."""

    job_id: int
    reason: str
    buried_at: float


_record_encoder: Final = msgspec.msgpack.Encoder()
_record_decoder: Final = msgspec.msgpack.Decoder(BuryRecord)


def encode_record(record: BuryRecord, max_size: int) -> bytes:
    """Encode a bury record, shortening a huge reason (keeping head and tail) to fit."""
    data = _record_encoder.encode(record)
    if len(data) <= max_size:
        return data
    budget = max(16, (max_size - _RECORD_OVERHEAD) // 2 - 16)
    raw = record.reason.encode()
    head = raw[:budget].decode(errors="ignore")
    tail = raw[-budget:].decode(errors="ignore")
    short = f"{head}\n[... {len(raw) - 2 * budget} bytes cut ...]\n{tail}"
    return _record_encoder.encode(msgspec.structs.replace(record, reason=short))


def decode_record(data: bytes) -> BuryRecord | None:
    """A bury record, or ``None`` for a body that is not one (left alone)."""
    try:
        return _record_decoder.decode(data)
    except msgspec.DecodeError:
        return None


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
            check, data = unframe(client.peek(job_id).body)
        except greenstalk.NotFoundError:
            # The job is gone (acked after a kick, deleted): its records too.
            for record_id, stale in records:
                if stale.job_id == job_id:
                    delete_quietly(client, record_id)
            continue
        task_id = format_task_id(job_id, check)
        found.append(BuriedTask(task_id, data, record.reason, record.buried_at))
    found.sort(key=lambda task: (task.buried_at, parse_job_id(task.task_id) or 0))
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


def requeue(
    conn: Connection,
    client: greenstalk.Client[bytes],
    tube: str,
    found: tuple[int, int | None],
    data: bytes | None,
) -> int | None:
    """Kick a buried job back to ready, or replace it when ``data`` is new; its job id.

    ``found`` is the job id and the check the task id names; a job carrying
    another check (an unrelated job with the same number, after a restart
    without a binlog) is left alone. ``kick-job`` is atomic and keeps the
    id, and beanstalkd's ``reserves`` count continues. A new body is put
    first and the buried job deleted after, so a crash in between leaves
    both, never neither; the new job has a new id. The job's bury records are
    deleted last (a leftover one is ignored by :func:`list_buried` once the
    job is no longer buried). ``None`` when the job is not buried in ``tube``.
    """
    job_id, check = found
    body = None if data is None or check is None else frame(data, check)
    if data is not None:
        conn.check_size(data, 0 if body is None else HEADER)
    try:
        stats = client.stats_job(job_id)
        if stats["tube"] != tube or stats["state"] != "buried":
            return None
        stored, payload = unframe(client.peek(job_id).body)
        if stored != check:
            return None
        if data is None or data == payload:
            client.kick_job(job_id)
            new_id = job_id
        else:
            conn.use(client, tube)
            new_id = conn.put(client, body or data, stats["pri"], 0, stats["ttr"])
            client.delete(job_id)
    except greenstalk.NotFoundError:
        return None  # kicked or deleted by someone else meanwhile
    forget_records(conn, client, tube, {job_id})
    return new_id


def purge(
    conn: Connection,
    client: greenstalk.Client[bytes],
    tube: str,
    found: tuple[int, int | None] | None,
) -> int:
    """Delete one (``found``: job id and check) or every buried job of ``tube``, then records."""
    deleted: set[int] = set()
    job_id = None if found is None else found[0]
    if found is None:
        conn.use(client, tube)
        while True:
            try:
                job = client.peek_buried()
            except greenstalk.NotFoundError:
                break
            delete_quietly(client, job.id)
            deleted.add(job.id)
    else:
        job_id, check = found
        try:
            stats = client.stats_job(job_id)
            if stats["tube"] != tube or stats["state"] != "buried":
                return 0
            if unframe(client.peek(job_id).body)[0] != check:
                return 0
            client.delete(job_id)
        except greenstalk.NotFoundError:
            return 0
        deleted.add(job_id)
    forget_records(conn, client, tube, None if job_id is None else deleted)
    return len(deleted)
