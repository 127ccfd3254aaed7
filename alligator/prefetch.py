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
from collections.abc import Callable

from alligator.exceptions import AlligatorError
from alligator.heartbeat import Heartbeat
from alligator.protocols import PrefetchClient
from alligator.records import Reservation

__all__ = ["MAX_BATCH", "WINDOW", "Prefetcher"]

log = logging.getLogger("alligator.worker")

#: Seconds of work a worker leases ahead of itself.
WINDOW = 0.03
#: The most tasks leased in one call.
MAX_BATCH = 64
#: Weight of the newest run time in the moving average.
_ALPHA = 0.2

#: Called once a deferred ack is known: the reservation, whether the ack
#: landed (``False``: the lease had been lost), and the note given with it.
Settled = Callable[[Reservation, bool, object], None]


class Prefetcher:
    """Leases tasks of one queue ahead, and acks finished ones with the next claim.

    Args:
        client: The backend, as a prefetch client.
        queue_name: The queue leased from.
        lease: Seconds each task is leased for.
        heartbeat: Renews what this buffer holds.
        on_settled: Told the fate of every deferred ack.
        window: Seconds of work to lease ahead.
        max_batch: Most tasks per call.
    """

    def __init__(
        self,
        client: PrefetchClient,
        queue_name: str,
        lease: float,
        heartbeat: Heartbeat,
        on_settled: Settled,
        *,
        window: float = WINDOW,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.client = client
        self.queue_name = queue_name
        self.lease = lease
        self.heartbeat = heartbeat
        self.on_settled = on_settled
        self.window = window
        self.max_batch = max_batch
        self.buffer: collections.deque[Reservation] = collections.deque()
        self._done: list[Reservation] = []
        self._notes: list[object] = []
        self._average: float | None = None
        self._last_batch = 1

    # -- the hot path ------------------------------------------------------

    def take(self) -> Reservation | None:
        """The next leased task already in the buffer, without a round trip."""
        return self.buffer.popleft() if self.buffer else None

    def defer_ack(self, reservation: Reservation, note: object = None) -> bool:
        """Ack ``reservation`` with the next claim; the real answer goes to ``on_settled``."""
        self._done.append(reservation)
        self._notes.append(note)
        return True

    def observe(self, seconds: float) -> None:
        """Fold one task's run time into the moving average."""
        average = self._average
        self._average = seconds if average is None else average + _ALPHA * (seconds - average)

    def batch_size(self, limit: int) -> int:
        """How many tasks to lease next: ~``window`` seconds of work, at most ``limit``."""
        average = self._average
        if average is None:
            size = 1  # nothing measured yet: the first task may be slow
        else:
            target = int(self.window / average) if average > 0 else self.max_batch
            size = max(1, min(target, self.max_batch, 2 * self._last_batch))
        return max(1, min(size, limit))

    def fetch(self, limit: int, timeout: float) -> Reservation | None:
        """Ack what finished, lease the next batch (waiting up to ``timeout``); return its first.

        Finished tasks are acked before any wait: with acks pending, a
        non-blocking call goes first and a blocking one follows only if it
        found nothing.
        """
        count = self.batch_size(limit)
        self._last_batch = count
        done, notes = self._done, self._notes
        # What is held is about to be settled (the buffer is empty): stop
        # renewing it so a renewal racing the ack is not reported as lost.
        self.heartbeat.clear()
        if done:
            self._done, self._notes = [], []
            try:
                flags, leased = self.client.reserve_many(
                    self.queue_name, self.lease, count, 0.0, done
                )
            except BaseException:
                self._done, self._notes = done + self._done, notes + self._notes
                self.heartbeat.hold(self._done)
                raise
            self._report(done, flags, notes)
            if not leased and timeout > 0:
                leased = self._lease(count, timeout)
        else:
            leased = self._lease(count, timeout)
        if not leased:
            return None
        self.heartbeat.hold(leased)
        self.buffer.extend(leased[1:])
        return leased[0]

    def forget(self, reservation: Reservation) -> None:
        """Stop renewing a task that was settled another way (released or buried)."""
        self.heartbeat.hold([r for r in self.heartbeat.held if r is not reservation])

    # -- stopping ----------------------------------------------------------

    def flush(self) -> None:
        """Ack every finished task now (one call per task: a stop is rare)."""
        done, notes = self._done, self._notes
        self._done, self._notes = [], []
        for i, reservation in enumerate(done):
            try:
                acked = self.client.ack(self.queue_name, reservation)
            except AlligatorError as exc:
                log.warning("could not ack task %s: %s", reservation.task_id, exc)
                acked = False
            self.on_settled(reservation, acked, notes[i])

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

    def stop(self) -> None:
        """Ack the finished, release the unstarted, and stop renewing."""
        try:
            self.flush()
        finally:
            self.release_unstarted()
            self.heartbeat.clear()

    # -- internals ---------------------------------------------------------

    def _lease(self, count: int, timeout: float) -> list[Reservation]:
        _, leased = self.client.reserve_many(self.queue_name, self.lease, count, timeout)
        return leased

    def _report(self, done: list[Reservation], flags: list[bool], notes: list[object]) -> None:
        for i, reservation in enumerate(done):
            self.on_settled(reservation, i < len(flags) and flags[i], notes[i])
