"""What periodic schedules stand on: push-if-absent and the scheduler's ledger.

Kept together because a scheduler fires through a :class:`ScheduleLedger`:
one over the marks of an :class:`AbsentPushClient`, shared by any number of
schedulers, or the backend's own (:class:`ScheduleLedgerClient`), one
scheduler at a time (see ``docs/schedules.rst``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from alligator.protocols._client import ReliableClient

__all__ = ["AbsentPushClient", "ScheduleLedger", "ScheduleLedgerClient"]


@runtime_checkable
class AbsentPushClient(ReliableClient, Protocol):
    """Stores a task only when its id is new: once per id, however many producers push it.

    What periodic schedules stand on (:mod:`alligator.schedules`): every
    scheduler pushes a tick under the same id, and exactly one push stores
    it. Ids are judged with *marks*: small records, per queue, of a key, the
    time it was first marked, and when the mark expires. A stored
    ``push_absent`` leaves a mark under the task's id, so an id stays taken
    for ``ttl`` seconds after its push, whatever became of the task (run
    and acked, purged): a producer that comes late, after the task already
    ran, still stores nothing. Marks expire by the backend's own TTL or an
    index on the expiry time, never a scan; ``drop_all`` forgets a queue's
    marks with its tasks. Times are the backend's (its server clock, or the
    injected one).
    """

    def push_absent(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        ttl: float,
        priority: int | None = None,
    ) -> bool:
        """Store the task unless its id is taken, and mark the id for ``ttl`` seconds; atomic.

        ``priority`` is honoured by a backend that orders by it (a
        :class:`PriorityClient`) and ignored by the others, as ``Gator`` does.

        The id is taken when the queue holds a task of that id in any state
        (ready, delayed, reserved, buried) or a live mark of that key
        (``push_absent`` stored it, or :meth:`mark` noted it, less than its
        ttl ago). A taken id changes nothing: no task replaced, no mark
        extended. Of any number of concurrent calls with one id, exactly one
        returns ``True``.

        Returns:
            ``True`` when the task was stored (and the mark made).
        """
        ...

    def mark(self, queue_name: str, key: str, ttl: float) -> float:
        """Note ``key`` now unless it is marked already; keep the mark ``ttl`` seconds more.

        Atomic: concurrent calls agree on one time. An existing live mark
        keeps its time and its expiry moves to ``ttl`` seconds from now if
        that is later.

        Returns:
            The time (epoch seconds, the backend's clock) the key was first
            marked: now, or when the live mark was made.
        """
        ...


class ScheduleLedger(Protocol):
    """Where a scheduler records what it fired, and how it fires a tick.

    Used by :mod:`alligator.schedules`.

    An entry is known by a key (its name and timing) on the queue its tasks
    go to. Over an :class:`AbsentPushClient` the ledger is the backend's
    marks, and any number of schedulers may share it; a backend without
    push-if-absent may offer a ledger of its own that lets one scheduler
    run at a time (:class:`ScheduleLedgerClient`).
    """

    def start(self, entries: Sequence[tuple[str, str]]) -> list[float]:
        """Open the ledger for ``(queue, key)`` entries; one floor per entry.

        Ticks after an entry's floor and missed (not fired) may be caught up
        by its misfire policy; a new entry's floor is now, so it catches
        nothing up. A ledger that admits one scheduler at a time raises
        :class:`~alligator.exceptions.ConfigurationError` when another holds it.
        """
        ...

    def fire(
        self,
        queue_name: str,
        key: str,
        tick: float,
        task_id: str,
        data: bytes,
        *,
        ttl: float,
        priority: int | None = None,
    ) -> bool:
        """Enqueue the task of one tick unless it was already; ``True`` when this call did.

        ``ttl``: how long the tick must stay known as fired.
        """
        ...

    def keep_alive(self, entries: Sequence[tuple[str, str]]) -> None:
        """Called now and then by a running scheduler: keep the entries' records alive."""
        ...

    def close(self) -> None:
        """Release what the ledger holds (a lock, a connection)."""
        ...


@runtime_checkable
class ScheduleLedgerClient(Protocol):
    """A backend without push-if-absent that keeps a scheduler's ledger itself (beanstalkd).

    Its ledger admits one scheduler per queue at a time, and refuses a
    second with a clear error instead of letting it enqueue ticks twice.
    """

    def schedule_ledger(self) -> ScheduleLedger:
        """A new ledger, with its own connection to the backend."""
        ...
