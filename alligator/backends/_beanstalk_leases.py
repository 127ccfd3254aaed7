"""Leases on beanstalkd: reserve, ack (``delete``), release, bury, renew (``touch``).

Mixed into :class:`alligator.backends.beanstalk_backend.Client`, so that
module reads as the queue contract; its docstring says how each operation
maps onto beanstalkd and why an ack may ``touch`` before it deletes. A
reservation is tied to the connection that made it; the client's own
bookkeeping (:class:`~alligator.backends._beanstalk_records.Holds`) refuses
a stale token before anything is sent.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

import greenstalk

from alligator.backends import _beanstalk_records as records
from alligator.backends._beanstalk_driver import (
    check_uint32,
    delay_seconds,
    delete_quietly,
)
from alligator.backends._beanstalk_names import (
    HEADER,
    format_task_id,
    frame,
    unframe,
    validate_queue_name,
)
from alligator.backends._checks import safe_text
from alligator.records import Reservation

if TYPE_CHECKING:
    from alligator.backends._beanstalk_driver import Connection

__all__ = ["Leases"]

log = logging.getLogger("alligator.backends.beanstalk")


class Leases:
    """The lease methods of :class:`~alligator.protocols.ReliableClient` on beanstalkd."""

    if TYPE_CHECKING:  # provided by the client
        _conn: Connection
        _holds: records.Holds
        _warned_lease: bool

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        """Reserve the most urgent ready job, blocking up to ``timeout`` (whole seconds).

        ``lease`` cannot change the job's TTR, which was fixed at put.
        """
        tube = validate_queue_name(queue_name)
        wait = check_uint32("reserve timeout", math.ceil(max(0.0, timeout)))
        with self._conn.session(wait=wait) as client:
            self._conn.watch_only(client, tube)
            sent = time.monotonic()
            try:
                job = client.reserve(wait)
            except greenstalk.TimedOutError:
                return None
            except greenstalk.DeadlineSoonError:
                # This connection holds a job whose TTR ends within a second;
                # beanstalkd answers that instead of waiting.
                return None
            stats = client.stats_job(job)
            held = self._holds.hold(tube, job, stats, sent)
        if lease > stats["ttr"] and not self._warned_lease:
            self._warned_lease = True
            log.warning(
                "worker lease %.1fs exceeds job %s's TTR of %ss, fixed when it was pushed; "
                "beanstalkd will hand the task to another worker after %ss unless renewed: "
                "raise the producers' ttr (beanstalk://...?ttr=) or lower the lease",
                lease,
                job.id,
                stats["ttr"],
                stats["ttr"],
            )
        check, data = unframe(job.body)
        return Reservation(
            task_id=format_task_id(job.id, check),
            data=data,
            token=held.token,
            attempts=stats["reserves"],
            lease=float(stats["ttr"]),
        )

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        """Delete the job, only if this connection still holds it."""
        with self._conn.session() as client:
            held = self._holds.holding(queue_name, reservation)
            if held is None or not self._holds.still_ours(client, held):
                return False
            client.delete(held.job)
            return True

    def release(
        self,
        queue_name: str,
        reservation: Reservation,
        data: bytes | None = None,
        delay_until: float | None = None,
    ) -> bool:
        """Make the job ready again after the delay; a new body gives it a new id."""
        delay = delay_seconds(delay_until)
        with self._conn.session() as client:
            if data is not None and data != reservation.data:
                self._conn.check_size(data, HEADER)
            held = self._holds.holding(queue_name, reservation)
            if held is None:
                return False
            check, payload = unframe(held.job.body)
            if data is None or data == payload:
                try:  # NOT_FOUND unless this connection still holds the job
                    client.release(held.job, priority=held.priority, delay=delay)
                except greenstalk.NotFoundError:
                    return False
            else:
                if not self._holds.still_ours(client, held):
                    return False
                body = data if check is None else frame(data, check)
                self._conn.use(client, held.queue)
                self._conn.put(client, body, held.priority, delay, held.ttr)
                client.delete(held.job)
            return True

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        """Record the reason in ``<queue>.buried``, then bury the job natively."""
        with self._conn.session() as client:
            held = self._holds.holding(queue_name, reservation, forget=False)
            if held is None:
                return False
            record_id = records.put_record(
                self._conn, client, held.queue, held.job.id, safe_text(reason)
            )
            self._holds.forget(held)
            try:
                client.bury(held.job, priority=held.priority)
            except greenstalk.NotFoundError:
                delete_quietly(client, record_id)
                return False
            return True

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        """``touch``: restart the job's TTR countdown (its TTR, not ``lease``)."""
        with self._conn.session() as client:
            held = self._holds.holding(queue_name, reservation, forget=False)
            return held is not None and self._holds.touch(client, held)
