"""A worker's claim buffer over a :class:`~alligator.protocols.PrefetchClient`.

Instead of one ``reserve`` and one ``ack`` round trip per task, a
prefetching worker makes one ``reserve_many`` call per batch: it acks the
tasks that ran since the last call (deferred acks) and leases the next batch.
At-least-once delivery is unchanged: every task keeps its own lease and
token, the heartbeat renews every lease held (unstarted, running, and
finished but not yet acked), the unstarted ones are released (due at once)
when the worker stops, and a crash leaves them all to expire and run
elsewhere.

The batch size adapts: a moving average of task run time sizes each batch to
what the worker finishes within :data:`WINDOW` seconds (at least one, at most
:data:`MAX_BATCH`), growing by doubling, so a worker never hoards slow tasks
that idle workers could be running.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import cast

from alligator.consumer import Settlement
from alligator.exceptions import AlligatorError
from alligator.heartbeat import Heartbeat
from alligator.protocols import PrefetchClient, ResultPrefetchClient
from alligator.records import Reservation
from alligator.results import Results

__all__ = ["GREEDY_BATCH", "MAX_BATCH", "WINDOW", "Prefetcher"]

log = logging.getLogger("alligator.worker")

#: Seconds of work a worker leases ahead of itself.
WINDOW = 0.03
#: The most tasks leased in one call.
MAX_BATCH = 64
#: The most tasks a concurrent worker leases in one call: its free slots are
#: filled at once, up to this many (one round trip for 200 slots, not four).
GREEDY_BATCH = 256
#: Weight of the newest run time in the moving average.
_ALPHA = 0.2
#: Share of a lease that may pass since it was granted or renewed before a
#: buffered task is no longer started (the rest is margin for the round trip).
_SAFE_SHARE = 0.8


class Prefetcher:
    """Leases tasks of one queue ahead, and acks finished ones with the next claim.

    Args:
        client: The backend, as a prefetch client.
        queue_name: The queue leased from.
        lease: Seconds each task is leased for.
        heartbeat: Renews what this buffer holds.
        results: Where outcomes are kept, when the queue's backend keeps
            them itself: deferred acks then store them (its
            ``reserve_many`` must take ``results``).
        window: Seconds of work to lease ahead.
        max_batch: Most tasks per call.
    """

    def __init__(
        self,
        client: PrefetchClient,
        queue_name: str,
        lease: float,
        heartbeat: Heartbeat,
        *,
        results: Results | None = None,
        window: float = WINDOW,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.client = client
        self.queue_name = queue_name
        self.lease = lease
        self.heartbeat = heartbeat
        self.window = window
        self.max_batch = max_batch
        self.buffer: collections.deque[Reservation] = collections.deque()
        self._done: list[Reservation] = []
        #: Outcome records of the deferred acks, one per ``_done`` entry (results on).
        self._records: list[bytes] = []
        self.results = results if results is not None and results.queue is not None else None
        self._average: float | None = None
        self._last_batch = 1
        self._leased_at = 0.0
        #: Fill each batch up to the limit asked for (a concurrent worker's
        #: free slots) instead of sizing it to ``window`` seconds of work.
        self.greedy = False
        #: Tasks handed out and not settled yet, by identity: still renewed
        #: when a batch is acked and the next one leased while they run.
        self._running: dict[int, Reservation] = {}

    # -- the hot path ------------------------------------------------------

    def take(self) -> Reservation | None:
        """The next leased task already in the buffer, without a round trip.

        Not one whose lease may have run out: after a stall (SIGSTOP, a long
        GC pause, a swapped-out process) neither the buffer nor its renewals
        moved, and another worker may be running those tasks by now. Then
        the whole buffer is dropped (leased together, renewed together) and
        left to the backend, and ``None`` is returned so a fresh batch is
        leased.
        """
        if not self.buffer:
            return None
        # Everything held is renewed together: the buffer since its lease, or
        # the last renewal, whichever came later.
        since = max(self._leased_at, self.heartbeat.renewed_at)
        if time.monotonic() - since < self.lease * _SAFE_SHARE:
            found = self.buffer.popleft()
            self._running[id(found)] = found
            return found
        stale = len(self.buffer)
        self.buffer.clear()
        self.heartbeat.hold(list(self._running.values()))
        log.warning(
            "%d prefetched task(s) of %r were held %.1fs without a renewal (the worker "
            "stalled?): their leases may have run out, so they are left to the backend",
            stale,
            self.queue_name,
            time.monotonic() - since,
        )
        return None

    def defer_ack(self, reservation: Reservation, record: bytes | None = None) -> None:
        """Ack ``reservation`` (storing ``record``) with the next claim.

        The settlements that claim returns say whether the ack landed.
        """
        self._running.pop(id(reservation), None)
        self._done.append(reservation)
        if self.results is not None:
            self._records.append(record or b"")

    def observe(self, seconds: float) -> None:
        """Fold one task's run time into the moving average."""
        average = self._average
        self._average = seconds if average is None else average + _ALPHA * (seconds - average)

    def batch_size(self, limit: int) -> int:
        """How many tasks to lease next: ~``window`` seconds of work, at most ``limit``."""
        average = self._average
        if self.greedy:
            size = max(self.max_batch, GREEDY_BATCH)
        elif average is None:
            size = 1  # nothing measured yet: the first task may be slow
        else:
            target = int(self.window / average) if average > 0 else self.max_batch
            size = max(1, min(target, self.max_batch, 2 * self._last_batch))
        return max(1, min(size, limit))

    def fetch(self, limit: int, timeout: float) -> tuple[Reservation | None, list[Settlement]]:
        """Ack what finished, lease the next batch (waiting up to ``timeout``).

        Finished tasks are acked before any wait: with acks pending, a
        non-blocking call goes first and a blocking one follows only if it
        found nothing.

        Returns:
            The first task of the new batch (``None``: nothing came due in
            time), and how the deferred acks went.
        """
        count = self.batch_size(limit)
        self._last_batch = count
        done, records = self._done, self._records
        # What is held but still running is about to be settled (the buffer
        # is empty): stop renewing it so a renewal racing the ack is not
        # reported as lost.
        running = list(self._running.values())
        self.heartbeat.hold(running)
        settled: list[Settlement] = []
        if done:
            self._done, self._records = [], []
            try:
                flags, leased = self._reserve_many(count, done, records)
            except BaseException:
                self._done, self._records = done + self._done, records + self._records
                self.heartbeat.hold(running + self._done)
                raise
            settled = _settlements(done, flags)
            if not leased and timeout > 0:
                leased = self._lease(count, timeout)
        else:
            leased = self._lease(count, timeout)
        if not leased:
            return None, settled
        # The leases began between the call and its answer: the answer's time
        # is off by a round trip at most, which the safe share leaves room for.
        self._leased_at = time.monotonic()
        self.heartbeat.hold(running + leased)
        self.buffer.extend(leased[1:])
        self._running[id(leased[0])] = leased[0]
        return leased[0], settled

    def forget(self, reservation: Reservation) -> None:
        """Stop renewing a task that was settled another way (released or buried)."""
        self._running.pop(id(reservation), None)
        self.heartbeat.discard(reservation)

    # -- stopping ----------------------------------------------------------

    def flush(self) -> list[Settlement]:
        """Ack every finished task now, in one call leasing nothing.

        A concurrent worker stopping at ``max_tasks`` has up to a batch of
        them (200 acks one by one cost about 1% of a 20,000-task drain).
        Should that call fail, each task is acked on its own.
        """
        done, self._done = self._done, []
        records, self._records = self._records, []
        if done:
            try:
                flags, _ = self._reserve_many(0, done, records)
            except AlligatorError as exc:
                log.warning("could not ack %d task(s) at once (%s): one by one", len(done), exc)
            else:
                return _settlements(done, flags)
        settled = []
        for i, reservation in enumerate(done):
            try:
                if self.results is not None and self.results.queue is not None:
                    acked = self.results.queue.complete(
                        self.queue_name, reservation, result=records[i], ttl=self.results.ttl
                    )
                else:
                    acked = self.client.ack(self.queue_name, reservation)
            except AlligatorError as exc:
                log.warning("could not ack task %s: %s", reservation.task_id, exc)
                acked = False
            settled.append(Settlement(reservation, acked))
        _warn_lost(settled)
        return settled

    def release_unstarted(self) -> None:
        """Give back the leased tasks that never started, due at once."""
        while self.buffer:
            reservation = self.buffer.popleft()
            try:
                self.client.release(self.queue_name, reservation)
            except AlligatorError as exc:
                log.warning(
                    "could not release prefetched task %s (its lease will expire): %s",
                    reservation.task_id,
                    exc,
                )

    def stop(self) -> list[Settlement]:
        """Ack the finished, release the unstarted, and stop renewing."""
        try:
            return self.flush()
        finally:
            self.release_unstarted()
            self.heartbeat.clear()

    # -- internals ---------------------------------------------------------

    def _reserve_many(
        self, count: int, done: list[Reservation], records: list[bytes]
    ) -> tuple[list[bool], list[Reservation]]:
        """Ack ``done`` (storing their outcomes, results on) and lease up to ``count``, no wait."""
        results = self.results
        if results is None:
            return self.client.reserve_many(self.queue_name, self.lease, count, 0.0, done)
        fused = cast(ResultPrefetchClient, self.client)
        return fused.reserve_many(
            self.queue_name, self.lease, count, 0.0, done, results=records, ttl=results.ttl
        )

    def _lease(self, count: int, timeout: float) -> list[Reservation]:
        _, leased = self.client.reserve_many(self.queue_name, self.lease, count, timeout)
        return leased


def _settlements(done: list[Reservation], flags: list[bool]) -> list[Settlement]:
    settled = [Settlement(r, i < len(flags) and flags[i]) for i, r in enumerate(done)]
    _warn_lost(settled)
    return settled


def _warn_lost(settled: list[Settlement]) -> None:
    for reservation, acked in settled:
        if not acked:
            log.warning("lease of task %s was lost before its ack", reservation.task_id)
