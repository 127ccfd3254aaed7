"""beanstalkd backend (``beanstalk://host:port``) through greenstalk.

Install with ``pip install 'alligator[beanstalk]'``. The DSN takes options
``?ttr=SECONDS&priority=N&timeout=SECONDS`` (constructor keywords win).

How Alligator's protocol maps onto beanstalkd:

* **Queue = tube.** Names must be valid tubes (see :func:`validate_queue_name`);
  a bad one is a :class:`~alligator.exceptions.ConfigurationError`.
* **Ids are beanstalkd's job ids plus a check**: ``<job id>-<8 hex digits>``.
  The ``task_id`` passed to :meth:`Client.push` is ignored (beanstalkd picks
  ids): the id ``push`` returns is the one ``get``/``cancel`` accept and the
  one a :class:`~alligator.records.Reservation` carries. Job ids are
  server-wide and restart at 1 when beanstalkd restarts without a binlog
  (``-b DIR``); with a binlog they continue and every job (reserved ones come
  back ready) survives. So that an id kept from before such a restart never
  reaches an unrelated new job, every body starts with a small header (see
  :func:`~alligator.backends._beanstalk_names.frame`) holding a random
  check, which is the id's second part: ``get``, ``requeue`` and ``purge``
  compare it before they touch a job. A job put by other tools has no header:
  its id is the job id alone and its body is handed out as it is.
* **The lease is the job's TTR, fixed at put time** from this client's ``ttr``
  (default 30 s). ``reserve``'s ``lease`` cannot change it and ``renew``
  (beanstalkd ``touch``) restarts the countdown from the job's own TTR, so a
  worker's lease should not exceed the producers' ``ttr``; a warning is logged
  when it does. TTR is whole seconds, at least 1; delays are rounded up to
  whole seconds so a task never runs early.
* **Ack is ``delete``, release is ``release``** with the job's priority and
  the delay. ``release`` and ``bury`` answer NOT_FOUND unless this very
  connection holds the job, so they need no check first. ``delete`` does not:
  it also removes a *ready* job, which is what a job whose TTR ran out
  becomes. So an ack deletes at once only while the lease certainly runs:
  the client times each job's TTR itself (from just *before* the reserve or
  touch was sent, so its deadline is never later than the server's) and, more
  than a safety margin (a quarter of the TTR, at least 1 s) before that
  deadline, sends the ``delete`` alone; later it first ``touch``es the job
  (NOT_FOUND: the lease is lost, nothing is deleted). A stale token is
  refused by the client's own per-connection bookkeeping before anything is
  sent (:class:`~alligator.backends._beanstalk_records.Holds`). Round trips
  per task: reserve, ``stats-job`` (TTR, priority and ``reserves`` are in no
  other answer), delete.
  Beanstalkd cannot change a job's body, so ``release`` with a new payload
  puts the new body first, then deletes the old job (with the same check as
  an ack; at-least-once: a crash in between leaves both, never neither):
  **the job id changes**.
  A release with ``data=None`` (or the same bytes) keeps the id, and the
  retry count is still known: ``Reservation.attempts`` is beanstalkd's own
  ``reserves`` counter of the job.
* **Bury is native** (the job stays in its tube, ``stats`` counts it, ``kick``
  revives it with the same id). beanstalkd keeps no reason, so before burying,
  a small record ``{job_id, reason, buried_at}`` is put in the companion tube
  ``<queue>.buried``, which no worker watches; :meth:`Client.buried` pairs
  those records with the buried jobs (see
  :mod:`alligator.backends._beanstalk_records`).
  So it offers no :class:`~alligator.protocols.BuriedPages`: the records of
  a tube can only be read by reserving every one of them (the latest record
  of a job reburied after a kick comes last, and stale ones must be paired
  off), and the order is by burial time, known only once all are read. A
  bounded page read cannot exist; the dashboard and ``alligator failed
  list`` read them all with :meth:`Client.buried`.
* **Priority**: ``push(..., priority=N)`` and ``push_many`` items take
  Alligator's scale (:mod:`alligator.priority`: -2**31 .. 2**31 - 1, lower
  first, default 0), put as beanstalkd's native ``N + 2**31`` (0 most urgent
  .. 2**32 - 1, 2**31 its own default), so the order is the same as on every
  other backend; among equal priorities order is FIFO by job id. Release,
  bury and kick keep a job's priority.
* **Counts** come from ``stats-tube``; a tube beanstalkd dropped (no jobs, no
  watchers) counts 0. ``len`` is ready + delayed.
* ``get`` removes a ready or delayed job of that tube; a reserved or buried one
  is left alone (``None``). ``drop_all`` deletes the tube's ready, delayed and
  buried jobs and its bury records; jobs reserved by *other* connections
  cannot be deleted by anyone but their holder, and come back after their TTR.
* ``push_many`` is not atomic on the server (beanstalkd has no transactions):
  on a failure the jobs already put are deleted, best effort.
* **Schedules**: no push-if-absent, so one scheduler per queue (a lock
  tube ``<queue>.sched``, its state kept there too); a second one is
  refused with a clear error (see
  :mod:`alligator.backends._beanstalk_schedule`).
* Payloads over the server's ``max-job-size`` (65,535 bytes unless started
  with ``-z``) raise :class:`~alligator.exceptions.PayloadTooLarge` before
  anything is sent.

One connection per client, guarded by a lock (see
:class:`~alligator.backends._beanstalk_driver.Connection`): a blocking ``reserve``
holds it for up to its timeout, so a heartbeat renewing from another thread
waits behind it. Driver and socket errors become
:class:`~alligator.exceptions.BackendError` /
:class:`~alligator.exceptions.BackendConnectionError`; the connection is then
reopened lazily on the next call, and reservations of the old connection are
lost (beanstalkd already made those jobs ready again).
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Sequence
from typing import Final

import greenstalk

from alligator.backends import _beanstalk_records as records
from alligator.backends._beanstalk_buried import BuriedTasks
from alligator.backends._beanstalk_driver import (
    Connection,
    delay_seconds,
    delete_quietly,
    native_priority,
    parse_dsn,
)
from alligator.backends._beanstalk_leases import Leases
from alligator.backends._beanstalk_names import (
    BURIED_SUFFIX,
    HEADER,
    format_task_id,
    frame,
    parse_task_id,
    unframe,
    validate_queue_name,
)
from alligator.backends._beanstalk_schedule import SCHEDULE_SUFFIX, BeanstalkLedger
from alligator.records import PushItem, QueueStats

__all__ = ["Client", "validate_queue_name"]

log = logging.getLogger("alligator.backends.beanstalk")


class Client(Leases, BuriedTasks):
    """A :class:`~alligator.protocols.ReliableClient` on one beanstalkd server.

    Leases come from :class:`~alligator.backends._beanstalk_leases.Leases`,
    buried tasks from :class:`~alligator.backends._beanstalk_buried.BuriedTasks`.
    """

    #: The Gator calls this at construction so a bad tube name fails early.
    validate_queue_name = staticmethod(validate_queue_name)
    #: Job ids are beanstalkd's (:class:`~alligator.protocols.IdAssigningClient`).
    assigns_ids: Final = True

    def __init__(
        self,
        conn_string: str,
        *,
        ttr: float | None = None,
        priority: int | None = None,
        socket_timeout: float | None = None,
    ) -> None:
        """Configure the client; nothing connects until the first command.

        Args:
            conn_string: ``beanstalk://host[:port][?ttr=S&priority=N&timeout=S]``.
            ttr: Lease of every job this client puts, in seconds (rounded up,
                at least 1; default 30).
            priority: Priority of pushes that name none, in Alligator's scale
                (default 0, beanstalkd's 2**31).
            socket_timeout: Seconds to wait for the server beyond a reserve's
                own timeout before the connection counts as lost (default 10).
        """
        self.settings = parse_dsn(
            conn_string, ttr=ttr, priority=priority, socket_timeout=socket_timeout
        )
        self._conn = Connection(self.settings)
        self._holds = records.Holds(self._conn)
        self._warned_lease = False
        # The checks of task ids (see the module docstring): random, and
        # cheap to draw on every push.
        self._checks = random.Random(secrets.randbits(64))

    def __repr__(self) -> str:
        return f"<beanstalk Client {self.settings.host}:{self.settings.port}>"

    # -- the 1.0 contract --------------------------------------------------

    def len(self, queue_name: str) -> int:
        """Ready plus delayed jobs of the tube."""
        stats = self.stats(queue_name)
        return stats.ready + stats.delayed

    def push(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        priority: int | None = None,
    ) -> str:
        """Put a job; returns beanstalkd's job id (``task_id`` is not used).

        Raises:
            PayloadTooLarge: ``data`` exceeds the server's max job size.
            ConfigurationError: delay out of beanstalkd's range.
            InvalidTaskError: priority out of Alligator's range.
        """
        tube = validate_queue_name(queue_name)
        pri = self._priority(priority)
        delay = delay_seconds(delay_until)
        check = self._checks.getrandbits(32)
        with self._conn.session() as client:
            self._conn.check_size(data, HEADER)
            body = frame(data, check)
            self._conn.use(client, tube)
            return format_task_id(
                self._conn.put(client, body, pri, delay, self.settings.ttr), check
            )

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        """Put several jobs; on failure the ones already put are deleted (best effort)."""
        tube = validate_queue_name(queue_name)
        pris = [self._priority(item.priority) for item in items]
        delays = [delay_seconds(item.delay_until) for item in items]
        checks = [self._checks.getrandbits(32) for _ in items]
        done: list[int] = []
        with self._conn.session() as client:
            for item in items:
                self._conn.check_size(item.data, HEADER)
            bodies = [frame(item.data, check) for item, check in zip(items, checks, strict=True)]
            self._conn.use(client, tube)
            try:
                for body, pri, delay in zip(bodies, pris, delays, strict=True):
                    done.append(self._conn.put(client, body, pri, delay, self.settings.ttr))
            except BaseException:
                self._undo_puts(done)
                raise
        return [format_task_id(job_id, check) for job_id, check in zip(done, checks, strict=True)]

    def pop(self, queue_name: str) -> bytes | None:
        """Reserve and delete at once (at-most-once), or ``None`` if nothing is ready."""
        tube = validate_queue_name(queue_name)
        with self._conn.session() as client:
            self._conn.watch_only(client, tube)
            try:
                job = client.reserve(0)
            except (greenstalk.TimedOutError, greenstalk.DeadlineSoonError):
                return None
            client.delete(job)
            return unframe(job.body)[1]

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        """Remove and return a ready or delayed job of this tube by id.

        The job must carry the check the id names (see the module
        docstring): an id from before a restart without a binlog never
        removes the unrelated job that now has its number.
        """
        tube = validate_queue_name(queue_name)
        found = parse_task_id(task_id)
        if found is None:
            return None
        job_id, check = found
        with self._conn.session() as client:
            try:
                stats = client.stats_job(job_id)
                if stats["tube"] != tube or stats["state"] not in ("ready", "delayed"):
                    return None
                stored, data = unframe(client.peek(job_id).body)
                if stored != check:
                    return None
                # Refused (NOT_FOUND) if another connection reserved it meanwhile.
                client.delete(job_id)
            except greenstalk.NotFoundError:
                return None
            return data

    def drop_all(self, queue_name: str) -> None:
        """Delete every job of the tube that any connection may delete, and its records."""
        tube = validate_queue_name(queue_name)
        with self._conn.session() as client:
            for held_id in self._holds.forget_tube(tube):
                delete_quietly(client, held_id)
            for name in (tube, tube + BURIED_SUFFIX):
                self._conn.use(client, name)
                for peek in (client.peek_ready, client.peek_delayed, client.peek_buried):
                    while True:
                        try:
                            job = peek()
                        except greenstalk.NotFoundError:
                            break
                        delete_quietly(client, job.id)

    # -- inspection -----------------------------------------------------------

    def stats(self, queue_name: str) -> QueueStats:
        """Counts from ``stats-tube``; a tube beanstalkd does not know counts 0."""
        tube = validate_queue_name(queue_name)
        with self._conn.session() as client:
            try:
                stats = client.stats_tube(tube)
            except greenstalk.NotFoundError:
                return QueueStats()
        return QueueStats(
            ready=stats["current-jobs-ready"],
            delayed=stats["current-jobs-delayed"],
            reserved=stats["current-jobs-reserved"],
            buried=stats["current-jobs-buried"],
        )

    def queues(self) -> list[str]:
        """Tubes holding any job, from ``list-tubes`` (a :class:`~alligator.protocols.QueueLister`).

        The companion tubes of bury reasons (``<queue>.buried``) and of
        schedulers (``<queue>.sched``) are not queues; one ``stats-tube`` per
        tube leaves out the empty ones (``default``, and tubes a client still
        uses or watches).
        """
        with self._conn.session() as client:
            tubes = [t for t in client.tubes() if not t.endswith((BURIED_SUFFIX, SCHEDULE_SUFFIX))]
        return sorted(tube for tube in tubes if self.stats(tube) != QueueStats())

    # -- schedules -------------------------------------------------------------

    def schedule_ledger(self) -> BeanstalkLedger:
        """A scheduler's ledger (a :class:`~alligator.protocols.ScheduleLedgerClient`).

        One scheduler per queue: see :mod:`alligator.backends._beanstalk_schedule`.
        """
        return BeanstalkLedger(self)

    def close(self) -> None:
        """Close the connection; beanstalkd makes the jobs it held ready again."""
        with self._conn.lock:
            self._holds.clear()
            self._conn.drop()

    # -- helpers -----------------------------------------------------------

    def _priority(self, priority: int | None) -> int:
        return native_priority(priority, self.settings.priority)

    def _undo_puts(self, job_ids: list[int]) -> None:
        try:
            with self._conn.session() as client:
                for job_id in job_ids:
                    delete_quietly(client, job_id)
        except Exception:  # the original error matters more; the server may be gone
            log.warning("could not delete %d jobs of a failed push_many", len(job_ids))
