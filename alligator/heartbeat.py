"""Keeps the lease of the running task alive from a background thread.

A task that runs longer than its lease would otherwise be handed to a second
worker. One daemon thread per worker renews the current reservation every
third of its lease (the one the backend granted, when that is shorter than
the one asked for); it sleeps on a condition while the worker is idle.
"""

from __future__ import annotations

import logging
import threading

from alligator.exceptions import AlligatorError
from alligator.protocols import ReliableClient
from alligator.records import Reservation

log = logging.getLogger("alligator.worker")

__all__ = ["Heartbeat"]


class Heartbeat:
    """Renews the lease of whatever reservation :meth:`watch` was last given."""

    def __init__(self, broker: ReliableClient, queue_name: str, lease: float) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.lease = lease
        self._cond = threading.Condition()
        self._current: Reservation | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self.renewals = 0

    def watch(self, reservation: Reservation) -> None:
        """Start renewing ``reservation`` until :meth:`clear`."""
        with self._cond:
            self._current = reservation
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="alligator-heartbeat", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def clear(self) -> None:
        """Stop renewing; waits for a renewal in flight to finish."""
        with self._cond:
            self._current = None
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._current = None
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if self._current is None:
                    self._cond.wait()
                    continue
                watched = self._current
                lease = self.lease_of(watched)
                self._cond.wait(timeout=lease / 3)
                if self._closed or self._current is not watched:
                    continue
                self._renew(watched, lease)

    def lease_of(self, reservation: Reservation) -> float:
        """The lease to keep for ``reservation``: the shorter of asked and granted."""
        if reservation.lease is None:
            return self.lease
        return min(self.lease, reservation.lease)

    def _renew(self, reservation: Reservation, lease: float) -> None:
        try:
            held = self.broker.renew(self.queue_name, reservation, lease)
        except AlligatorError as exc:
            log.warning("could not renew the lease of task %s: %s", reservation.task_id, exc)
            return
        self.renewals += 1
        if not held:
            log.warning(
                "lease of task %s was lost; another worker may run it too",
                reservation.task_id,
            )
