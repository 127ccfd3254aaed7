"""Keeps the leases a worker holds alive from a background thread.

A task that runs longer than its lease would otherwise be handed to a second
worker. One daemon thread per worker and queue renews every reservation the
worker holds (the running task, and with prefetch the tasks leased ahead and
those whose ack waits for the next claim) every third of the lease (the one
the backend granted, when that is shorter than the one asked for).

The worker publishes what it holds by plain attribute assignment
(:meth:`Heartbeat.watch`, :meth:`Heartbeat.hold`, :meth:`Heartbeat.add`,
:meth:`Heartbeat.discard`, :meth:`Heartbeat.clear`), always from one thread
(a concurrent worker's claims thread): no lock and no thread hand-off per
task. The renewer reads a snapshot at its
own pace, so a renewal may race with a settlement; a refused renewal is only
reported when the reservation is still held afterwards.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from alligator.exceptions import AlligatorError
from alligator.protocols import PrefetchClient, ReliableClient
from alligator.records import Reservation

log = logging.getLogger("alligator.worker")

__all__ = ["Heartbeat"]


class Heartbeat:
    """Renews the leases of whatever reservations the worker last published.

    Args:
        broker: The backend; its ``renew_many`` is used when ``prefetch`` is it.
        queue_name: The queue the reservations came from.
        lease: Seconds each renewal extends a lease by.
        prefetch: ``broker`` as a :class:`PrefetchClient`, if it is one (one
            round trip renews every held lease).
    """

    def __init__(
        self,
        broker: ReliableClient,
        queue_name: str,
        lease: float,
        prefetch: PrefetchClient | None = None,
    ) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.lease = lease
        self.prefetch = prefetch
        #: The reservations held now; replaced whole, never mutated in place.
        self.held: tuple[Reservation, ...] = ()
        self._period = lease / 3
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.renewals = 0
        #: When the last renewal that kept every held lease was sent (monotonic seconds).
        self.renewed_at = 0.0

    def watch(self, reservation: Reservation) -> None:
        """Renew ``reservation`` (only) until :meth:`clear`."""
        self.hold((reservation,))

    def hold(self, reservations: Sequence[Reservation]) -> None:
        """Renew exactly ``reservations`` from now on (replaces what was held)."""
        self.held = tuple(reservations)
        if self._thread is None:
            self._start()
        for reservation in self.held:
            # A lease granted shorter than the renewer's period: wake it now.
            if reservation.lease is not None and reservation.lease / 3 < self._period:
                self._wake.set()
                break

    def add(self, reservation: Reservation) -> None:
        """Renew ``reservation`` too, along with what is held already (a concurrent worker)."""
        self.hold((*self.held, reservation))

    def discard(self, reservation: Reservation) -> None:
        """Stop renewing ``reservation``; the others held are renewed still."""
        self.held = tuple(r for r in self.held if r is not reservation)

    def clear(self) -> None:
        """Stop renewing; a renewal already in flight may still land (harmlessly)."""
        self.held = ()

    def close(self) -> None:
        """Stop the renewer thread and wait for it."""
        self._closed = True
        self.held = ()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="alligator-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            if self._closed:
                return
            held = self.held
            lease = min((self.lease_of(r) for r in held), default=self.lease)
            self._period = lease / 3
            self._wake.wait(self._period)
            self._wake.clear()
            held = self.held
            if held and not self._closed:
                self._renew(held, min(self.lease_of(r) for r in held))

    def lease_of(self, reservation: Reservation) -> float:
        """The lease to keep for ``reservation``: the shorter of asked and granted."""
        if reservation.lease is None:
            return self.lease
        return min(self.lease, reservation.lease)

    def _renew(self, held: tuple[Reservation, ...], lease: float) -> None:
        sent = time.monotonic()
        try:
            if self.prefetch is not None:
                flags = self.prefetch.renew_many(self.queue_name, held, lease)
            else:
                flags = [self.broker.renew(self.queue_name, r, lease) for r in held]
        except AlligatorError as exc:
            log.warning("could not renew %d lease(s) on %r: %s", len(held), self.queue_name, exc)
            return
        self.renewals += 1
        if all(flags):
            self.renewed_at = sent
        still_held = self.held
        for reservation, renewed in zip(held, flags, strict=False):
            if not renewed and reservation in still_held:
                log.warning(
                    "lease of task %s was lost; another worker may run it too",
                    reservation.task_id,
                )
