"""How a worker claims tasks: one at a time, or leased ahead in batches.

Both strategies have the same three methods, and a worker picks one when its
loop starts:

* ``claim(limit)`` leases the next task of the first queue (in priority
  order) that has one due, and keeps its lease renewed while it runs;
* ``settle(claim, outcome)`` finishes the claim once the worker knows the
  outcome: a success is acked (at once, or with the next claim), a task the
  consumer already released or buried is no longer renewed;
* ``close()`` settles what is still held and stops the renewals.

Acks that land later than their task ran come back from ``claim`` and
``close`` as :class:`~alligator.consumer.Settlement` records, for the worker
to report. Several queues are consumed in strict priority order: a task of
the second queue is claimed only when the first has none due. No backend can
yet block on several queues at once, so a multi-queue claim checks them all
without waiting, then blocks on the first for at most ``nap_time``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

from alligator.capabilities import prefetch_view
from alligator.consumer import Consumer, Outcome, Settlement
from alligator.heartbeat import Heartbeat
from alligator.prefetch import Prefetcher
from alligator.records import Reservation

__all__ = ["Claim", "OneByOne", "Prefetching"]


class Claim(NamedTuple):
    """A leased task and the consumer of the queue it came from."""

    consumer: Consumer
    reservation: Reservation

    @property
    def queue(self) -> str:
        return self.consumer.queue_name


class _Waits(NamedTuple):
    poll_timeout: float
    nap_time: float

    @property
    def short(self) -> float:
        """The wait on the first of several queues."""
        return min(self.nap_time, self.poll_timeout)


class OneByOne:
    """One ``reserve`` and one ``ack`` per task: the Alligator 1.0 way.

    Args:
        consumers: The queues, highest priority first.
        poll_timeout: Longest blocking wait for a task.
        nap_time: Longest wait on the first of several queues.
    """

    def __init__(
        self, consumers: Sequence[Consumer], *, poll_timeout: float, nap_time: float
    ) -> None:
        self.consumers = tuple(consumers)
        self.waits = _Waits(poll_timeout, nap_time)
        self._heartbeats: dict[str, Heartbeat] = {}
        #: Several claims run at once (an asyncio worker): each claim's lease is
        #: renewed along with the others, rather than instead of the last one.
        self.concurrent = False

    def claim(
        self,
        limit: int = 0,
        consumers: Sequence[Consumer] | None = None,
        *,
        wait: float | None = None,
    ) -> tuple[Claim | None, list[Settlement]]:
        """Lease the next due task of ``consumers`` (default: all), in order.

        One queue is waited on for up to ``poll_timeout``; of several, each
        is tried without waiting, then the first is waited on for at most
        ``nap_time``. ``wait`` overrides both (``0``: do not wait).
        """
        consumers = self.consumers if consumers is None else consumers
        waits = self.waits if wait is None else _Waits(wait, wait)
        if len(consumers) == 1:
            return self._held(consumers[0], consumers[0].reserve(waits.poll_timeout)), []
        found = self.first_due(consumers)
        if found is None and waits.short > 0:
            found = self._held(consumers[0], consumers[0].reserve(waits.short))
        return found, []

    def first_due(self, consumers: Sequence[Consumer] | None = None) -> Claim | None:
        """Lease a task of the first queue that has one due now, without waiting."""
        for consumer in self.consumers if consumers is None else consumers:
            found = self._held(consumer, consumer.reserve())
            if found is not None:
                return found
        return None

    def settle(self, claim: Claim, outcome: Outcome, *, now: bool = False) -> list[Settlement]:
        """Stop renewing ``claim``, and ack it now if it succeeded (``now``: always so)."""
        heartbeat = self._heartbeats.get(claim.queue)
        if heartbeat is not None:
            heartbeat.discard(claim.reservation)
        if outcome.action != "ack":
            return []
        acked = claim.consumer.ack(claim.reservation, outcome.record)
        return [Settlement(claim.reservation, acked)]

    def close(self) -> list[Settlement]:
        """Stop the renewer threads; nothing is left to settle."""
        heartbeats, self._heartbeats = self._heartbeats, {}
        for heartbeat in heartbeats.values():
            heartbeat.close()
        return []

    def _held(self, consumer: Consumer, found: Reservation | None) -> Claim | None:
        """``found`` as a claim whose lease is renewed from now on."""
        if found is None:
            return None
        heartbeat = self._heartbeat(consumer)
        if heartbeat is not None:
            if self.concurrent:
                heartbeat.add(found)
            else:
                heartbeat.watch(found)
        return Claim(consumer, found)

    def _heartbeat(self, consumer: Consumer) -> Heartbeat | None:
        if not consumer.capabilities.reliable:
            return None  # nothing to renew: a 1.0 client's pop already removed the task
        heartbeat = self._heartbeats.get(consumer.queue_name)
        if heartbeat is None:
            heartbeat = Heartbeat(
                consumer.broker,
                consumer.queue_name,
                consumer.lease,
                prefetch_view(consumer.broker, consumer.capabilities),
            )
            self._heartbeats[consumer.queue_name] = heartbeat
        return heartbeat


class Prefetching:
    """Leases tasks of the first queue in batches and acks them with the next claim.

    Lower-priority queues are claimed one task at a time (by a
    :class:`OneByOne`), and only when the first queue has nothing due. See
    :mod:`alligator.prefetch` for the batch sizing and the guarantees.

    Args:
        consumers: The queues, highest priority first; the first one's
            backend must be a :class:`~alligator.protocols.PrefetchClient`.
        poll_timeout: Longest blocking wait for a task.
        nap_time: Longest wait on the first of several queues.
    """

    def __init__(
        self, consumers: Sequence[Consumer], *, poll_timeout: float, nap_time: float
    ) -> None:
        first = consumers[0]
        client = prefetch_view(first.broker, first.capabilities)
        if client is None:
            raise ValueError(f"{type(first.broker).__name__} cannot prefetch")
        self.first = first
        self.others = OneByOne(consumers[1:], poll_timeout=poll_timeout, nap_time=nap_time)
        self.waits = _Waits(poll_timeout, nap_time)
        heartbeat = Heartbeat(first.broker, first.queue_name, first.lease, client)
        self.prefetcher = Prefetcher(
            client, first.queue_name, first.lease, heartbeat, results=first.results
        )
        self._started = 0.0

    @property
    def concurrent(self) -> bool:
        """Several claims run at once (an asyncio worker): batches fill the free slots."""
        return self.prefetcher.greedy

    @concurrent.setter
    def concurrent(self, value: bool) -> None:
        self.prefetcher.greedy = self.others.concurrent = value

    def claim(
        self,
        limit: int = 0,
        consumers: Sequence[Consumer] | None = None,
        *,
        wait: float | None = None,
    ) -> tuple[Claim | None, list[Settlement]]:
        """The next buffered task, else a new batch (with the finished tasks' acks).

        ``limit`` caps the batch at the tasks the worker may still start (0:
        no cap). ``wait`` overrides the longest wait for a task (``0``: none).

        ``consumers`` other than the worker's own, highest first, are
        claimed one at a time.
        """
        if consumers is not None and (not consumers or consumers[0] is not self.first):
            return self.others.claim(limit, consumers, wait=wait)
        self._started = time.perf_counter()
        prefetcher = self.prefetcher
        found = prefetcher.take()
        if found is not None:
            return Claim(self.first, found), []
        limit = limit if limit > 0 else prefetcher.max_batch
        waits = self.waits if wait is None else _Waits(wait, wait)
        if not self.others.consumers:
            found, settled = prefetcher.fetch(limit, waits.poll_timeout)
            return self._claim(found), settled
        found, settled = prefetcher.fetch(limit, 0.0)
        if found is None:
            other = self.others.first_due()
            if other is not None:
                return other, settled
            if waits.short > 0:
                found, more = prefetcher.fetch(limit, waits.short)
                settled += more
        return self._claim(found), settled

    def settle(self, claim: Claim, outcome: Outcome, *, now: bool = False) -> list[Settlement]:
        """Defer a success's ack to the next claim; stop renewing anything else.

        ``now``: ack a success at once instead (it holds a limit's slot until
        its ack, and the next claim may be far off).
        """
        if claim.consumer is not self.first:
            return self.others.settle(claim, outcome)
        self.prefetcher.observe(time.perf_counter() - self._started)
        if now and outcome.action == "ack":
            self.prefetcher.forget(claim.reservation)
            return [
                Settlement(claim.reservation, self.first.ack(claim.reservation, outcome.record))
            ]
        if outcome.action == "ack":
            record, results = outcome.record, self.first.results
            if record is not None and results is not None and results.queue is None:
                results.keep(claim.reservation.task_id, record)  # a store apart: kept now
                record = None
            self.prefetcher.defer_ack(claim.reservation, record)
        else:
            self.prefetcher.forget(claim.reservation)  # released or buried: no longer ours
        return []

    def close(self) -> list[Settlement]:
        """Ack the finished tasks, give back the unstarted ones, stop the renewals."""
        try:
            return self.prefetcher.stop()
        finally:
            self.prefetcher.heartbeat.close()
            self.others.close()

    def _claim(self, found: Reservation | None) -> Claim | None:
        return None if found is None else Claim(self.first, found)
