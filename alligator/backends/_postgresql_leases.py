"""Leases of the PostgreSQL backend, mixed into its client: claims, wake-ups, settlements.

A claim is one statement (:data:`~alligator.backends._postgresql_sql.Statements.reserve`) that
acks the tasks a prefetching worker finished and leases the next batch, so
:meth:`Leases.reserve_many` costs one round trip and one commit. When nothing
is due the call waits on the client's :class:`~alligator.backends._postgresql_listen.Listener`
(or polls every ``poll`` seconds), and remembers that the queue was empty so
an idle worker sends no queries until a wake-up, a due time, or
:data:`QUIET_RECHECK` seconds say it may have changed.

Renewals, acks, releases and burials match the lease token and an unexpired
deadline, and commit without waiting for the WAL flush (``durable=False``,
see :mod:`alligator.backends._postgresql_pool`): at-least-once delivery absorbs the loss of
the last few of them in a server crash.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from alligator.backends._checks import safe_text
from alligator.backends._postgresql_state import ClientState
from alligator.records import Reservation

if TYPE_CHECKING:
    from alligator.backends._checks import QueueNames
    from alligator.backends._postgresql_driver import Target
    from alligator.backends._postgresql_janitor import Janitor
    from alligator.backends._postgresql_listen import Listener
    from alligator.backends._postgresql_pool import Database
    from alligator.backends._postgresql_sql import Statements

__all__ = ["QUIET_RECHECK", "Leases", "Quiet"]

#: Longest an idle worker trusts "this queue is empty" without a wake-up.
QUIET_RECHECK: Final = 30.0

#: Pause before claiming again when a due row was skipped because another held it.
_LOCKED_PAUSE: Final = 0.005


class Quiet(NamedTuple):
    """What a claim that found nothing learnt: nothing is due before ``next_due``."""

    generation: int
    next_due: float | None
    now: float
    since: float  # monotonic


class Leases(ClientState):
    """The :class:`~alligator.protocols.PrefetchClient` lease methods of the PostgreSQL client."""

    if TYPE_CHECKING:  # provided by the client
        target: Target
        _db: Database
        _sql: Statements
        _names: QueueNames
        _clock: Callable[[], float] | None
        _janitor: Janitor
        _listener: Listener | None
        _quiet: dict[str, Quiet]
        _closing: threading.Event
        _token_prefix: str
        _counter: Iterator[int]

        def _complete_many(
            self,
            queue_name: str,
            done: Sequence[Reservation],
            results: Sequence[bytes],
            ttl: float,
        ) -> list[bool]: ...

    # -- leases --------------------------------------------------------------

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        """Lease the first due task, waiting up to ``timeout`` seconds for one."""
        _, found = self.reserve_many(queue_name, lease, 1, timeout)
        return found[0] if found else None

    def _claim(
        self, queue_name: str, lease: float, count: int, done: Sequence[Reservation]
    ) -> tuple[set[tuple[str, str]], list[Reservation], tuple[float | None, float]]:
        params = {
            "queue": self._names.check(queue_name),
            "ids": [r.task_id for r in done],
            "tokens": [r.token for r in done],
            "count": max(count, 0),
            "lease": float(lease),
            "prefix": f"{self._token_prefix}{next(self._counter)}.",
            "now": self._now(),
        }
        acked: set[tuple[str, str]] = set()
        leased: list[tuple[Any, ...]] = []
        hint: tuple[float | None, float] = (None, 0.0)
        for row in self._db.rows(self._sql.reserve, params, durable=False):
            kind = row[0]
            if kind == 0:
                leased.append(row)
            elif kind == 1:
                acked.add((row[1], row[3]))
            else:
                hint = (row[8], row[9])
        leased.sort(key=lambda r: (r[5], r[6], r[7]))  # priority, due, id
        self._janitor.changed(len(leased) + len(acked))
        return acked, [Reservation(r[1], r[2], r[3], r[4]) for r in leased], hint

    def reserve_many(
        self,
        queue_name: str,
        lease: float,
        count: int,
        timeout: float = 0.0,
        done: Sequence[Reservation] = (),
        *,
        results: Sequence[bytes] = (),
        ttl: float = 0.0,
    ) -> tuple[list[bool], list[Reservation]]:
        """Ack ``done`` and lease up to ``count`` due tasks in ONE statement.

        When none is due the call waits up to ``timeout`` seconds for a
        wake-up or the next due time, then claims again (without the acks,
        which were committed). A queue this client found empty, with no
        wake-up since, is not claimed from again until it may have changed.
        With ``results`` (one per task of ``done``, kept ``ttl`` seconds) the
        acks complete their tasks (:meth:`complete`), in one transaction before the claim.
        """
        if results:
            flags = self._complete_many(queue_name, done, results, ttl)
            return flags, self.reserve_many(queue_name, lease, count, timeout)[1]
        deadline = time.monotonic() + timeout
        listener = self._listener
        channel = self._channel(queue_name)
        acks: list[bool] | None = None
        must_claim = bool(done)  # the acks go out even when the queue looks empty
        waits = listener is not None and timeout > 0
        listening = waits and listener is not None and listener.is_listening(channel)
        while True:
            seen = 0
            if listener is not None and listening:
                seen = listener.generation(channel)
            quiet = self._quiet.get(queue_name)
            if must_claim or not listening or not self._still_quiet(quiet, seen):
                must_claim = False
                acked, leased, hint = self._claim(queue_name, lease, count, done)
                if acks is None:
                    acks = _flags(done, acked)
                    done = ()
                if leased or count < 1:
                    return acks, leased
                if waits and not listening:
                    # LISTEN only once there is nothing to do (a busy worker never
                    # pays for it), then claim again: a push committed between the
                    # first claim and the LISTEN is seen by the second.
                    assert listener is not None
                    listener.listen(channel)
                    listening = must_claim = True
                    continue
                quiet = Quiet(seen, hint[0], hint[1], time.monotonic())
                if listening:
                    self._quiet[queue_name] = quiet
            acks = [] if acks is None else acks
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closing.is_set():
                return acks, []
            wait = min(remaining, self._until_due(quiet))
            if listener is not None:
                listener.wait(channel, seen, wait)
            else:
                self._closing.wait(min(wait, self.target.poll or wait))

    def _estimated_now(self, quiet: Quiet) -> float:
        if self._clock is not None:
            return self._clock()
        return quiet.now + (time.monotonic() - quiet.since)

    def _still_quiet(self, quiet: Quiet | None, seen: int) -> bool:
        """Whether a claim now would surely find nothing (so it is skipped)."""
        if quiet is None or quiet.generation != seen:
            return False
        if time.monotonic() - quiet.since >= QUIET_RECHECK:
            return False
        return quiet.next_due is None or self._estimated_now(quiet) < quiet.next_due

    def _until_due(self, quiet: Quiet | None) -> float:
        """Seconds until the claim should be tried again without a wake-up."""
        if quiet is None:
            return 0.0
        recheck = QUIET_RECHECK - (time.monotonic() - quiet.since)
        if quiet.next_due is None:
            return max(recheck, 0.0)
        # A due row the claim skipped is locked by another claim or transaction:
        # look again shortly rather than spin.
        return max(min(recheck, quiet.next_due - self._estimated_now(quiet)), _LOCKED_PAUSE)

    def _held(self, queue_name: str, reservation: Reservation) -> dict[str, Any]:
        return {
            "queue": self._names.check(queue_name),
            "task_id": reservation.task_id,
            "token": reservation.token,
            "now": self._now(),
        }

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        """Delete a task whose lease is still held."""
        acked = self._db.count(self._sql.ack, self._held(queue_name, reservation), durable=False)
        self._janitor.changed(2 * acked)  # its claim's row version and itself
        return acked > 0

    def release(
        self,
        queue_name: str,
        reservation: Reservation,
        data: bytes | None = None,
        delay_until: float | None = None,
    ) -> bool:
        """Make a held task waiting again (behind those due), with new ``data`` if given."""
        params = self._held(queue_name, reservation)
        params.update(data=data, due=delay_until, channel=self._channel(queue_name))
        changed = self._db.count(self._sql.release, params, durable=False) > 0
        if changed:
            self._changed(queue_name)
        return changed

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        """Keep a held task aside with ``reason``; it is never reserved again."""
        params = self._held(queue_name, reservation)
        params["reason"] = safe_text(reason)
        return self._db.count(self._sql.bury, params, durable=False) > 0

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        """Move a held lease's deadline to ``lease`` seconds from now."""
        return self.renew_many(queue_name, [reservation], lease)[0]

    def renew_many(
        self, queue_name: str, reservations: Sequence[Reservation], lease: float
    ) -> list[bool]:
        """Renew several held leases in one statement; one flag each."""
        if not reservations:
            return []
        params = {
            "queue": self._names.check(queue_name),
            "ids": [r.task_id for r in reservations],
            "tokens": [r.token for r in reservations],
            "lease": float(lease),
            "now": self._now(),
        }
        rows = self._db.rows(self._sql.renew_many, params, durable=False)
        renewed = {(row[0], row[1]) for row in rows}
        return [(r.task_id, r.token) in renewed for r in reservations]


def _flags(done: Sequence[Reservation], acked: set[tuple[str, str]]) -> list[bool]:
    """One flag per reservation of ``done``: a lease acked twice counts once."""
    flags = []
    for r in done:
        key = (r.task_id, r.token)
        flags.append(key in acked)
        acked.discard(key)
    return flags
