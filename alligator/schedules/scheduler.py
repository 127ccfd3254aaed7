"""Running a schedule: enqueue each entry's ticks as they come due.

The loop sleeps until the next tick of any entry (an ``Event`` wait: no
polling, no CPU while idle; it also wakes once an hour to keep the
entries' records alive), enqueues what is due, and goes back to sleep.
SIGINT/SIGTERM (or :meth:`Scheduler.interrupt`) wake it and end it at once:
a tick is either enqueued or not, there is nothing to finish.

On start, each entry's floor comes from the ledger (when the entry was
first run, or last fired): ticks after it that nobody enqueued are
misfires, caught up as the entry's policy says. While running, a tick the
loop reaches late (a stalled process, a backend that was down) is handled
by the same rule.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from alligator._signals import stop_signals
from alligator.capabilities import absent_push_view
from alligator.exceptions import (
    BackendConnectionError,
    ConfigurationError,
    OutcomeUnknownError,
)
from alligator.protocols import ScheduleLedger, ScheduleLedgerClient
from alligator.schedules.ledger import MarksLedger
from alligator.schedules.ticks import tick_stamp

if TYPE_CHECKING:
    from alligator.gator import Gator
    from alligator.schedules.schedule import Entry, Schedule

__all__ = ["KEEP_ALIVE", "Fired", "Scheduler", "ledger_for"]

log = logging.getLogger("alligator.schedules")

#: Seconds between two keep-alives of the entries' records (the longest sleep).
KEEP_ALIVE: Final = 3600.0

#: Longest pause before trying again after the backend could not be reached.
MAX_RETRY: Final = 30.0


class Fired(NamedTuple):
    """One tick the scheduler handled."""

    #: The entry's name.
    entry: str
    #: The tick (epoch seconds).
    tick: float
    #: The task id of the tick.
    task_id: str
    #: ``True`` if this scheduler enqueued it, ``False`` if another one already had.
    enqueued: bool


def ledger_for(gator: Gator) -> ScheduleLedger:
    """The ledger a scheduler on ``gator``'s backend uses.

    Raises:
        ConfigurationError: The backend can neither push-if-absent nor keep
            a ledger of its own.
    """
    absent = absent_push_view(gator.broker, gator.capabilities)
    if absent is not None:
        return MarksLedger(absent)
    if gator.capabilities.schedule_ledger:
        backend: ScheduleLedgerClient = gator.backend  # type: ignore[assignment]
        return backend.schedule_ledger()
    raise ConfigurationError(
        f"{type(gator.backend).__module__}.{type(gator.backend).__name__} cannot run "
        "schedules: it offers neither push-if-absent (AbsentPushClient) nor a ledger of its "
        "own (ScheduleLedgerClient)"
    )


class Scheduler:
    """Enqueues a :class:`~alligator.schedules.Schedule`'s ticks, each exactly once.

    Args:
        schedule: The entries.
        gator: Pushes through this Gator's backend, codec and signing key
            instead of the schedule's (the CLI passes the one its DSN names).
            Entries without a queue of their own go to the schedule's Gator's
            queue either way.
        clock: Epoch seconds; tests pass a fake one and call
            :meth:`run_pending` themselves.
        ledger: Overrides the ledger :func:`ledger_for` picks.
    """

    def __init__(
        self,
        schedule: Schedule,
        *,
        gator: Gator | None = None,
        clock: Callable[[], float] = time.time,
        ledger: ScheduleLedger | None = None,
    ) -> None:
        self.schedule = schedule
        self.gator = schedule.gator if gator is None else gator
        self.clock = clock
        self.ledger = ledger_for(self.gator) if ledger is None else ledger
        self.entries: list[Entry[Any]] = list(schedule)
        self.queues = [
            schedule.gator.queue_name if e.queue is None else e.queue for e in self.entries
        ]
        self.cursors: list[float] = []
        self.fired: list[Fired] = []
        self._stop = threading.Event()
        self._kept_alive = 0.0
        self._retry_at = 0.0
        self._retry = 0.0

    def __repr__(self) -> str:
        return f"<Scheduler of {len(self.entries)} entries on {self.gator!r}>"

    @property
    def keys(self) -> list[tuple[str, str]]:
        """Each entry's ``(queue, key)`` record in the ledger."""
        return [(q, e.key) for q, e in zip(self.queues, self.entries, strict=True)]

    def start(self) -> None:
        """Open the ledger: each entry's floor (see the module notes)."""
        self.cursors = self.ledger.start(self.keys)
        self._kept_alive = self.clock()
        for entry, floor in zip(self.entries, self.cursors, strict=True):
            log.info(
                "entry %s: %s, misfire %r, ticks after %s count", entry.name,
                entry.trigger.describe(), entry.misfire, tick_stamp(floor),
            )  # fmt: skip

    def run_pending(self) -> list[Fired]:
        """Enqueue every tick due now; what was handled, oldest first per entry.

        Raises:
            BackendConnectionError: The backend could not be reached; the
                ticks not enqueued yet are tried again at the next call (by
                then perhaps missed, and handled by the misfire policy).
        """
        if not self.cursors:
            self.start()
        now = self.clock()
        handled: list[Fired] = []
        for n, entry in enumerate(self.entries):
            for tick in entry.due(self.cursors[n], now, self.schedule.grace):
                handled.append(self._fire(n, entry, tick))
                self.cursors[n] = tick
            last = entry.trigger.at_or_before(now)
            if last is not None and last > self.cursors[n]:
                self.cursors[n] = last  # missed ticks the policy left alone
        if now - self._kept_alive >= KEEP_ALIVE:
            self.ledger.keep_alive(self.keys)
            self._kept_alive = now
        self.fired.extend(handled)
        return handled

    def _fire(self, n: int, entry: Entry[Any], tick: float) -> Fired:
        queue = self.queues[n]
        task = entry.task(tick)
        data = self.gator.payloads.encode(task, queue)
        # Kept until every tick a scheduler might still try instead has come.
        horizon = tick
        for _ in range(max(entry.misfire.limit, 1) + 1):
            nxt = entry.trigger.after(horizon)
            if nxt is None:
                break
            horizon = nxt
        ttl = max(horizon - tick, 1.0) + self.schedule.grace
        enqueued = self.ledger.fire(
            queue, entry.key, tick, task.task_id, data, ttl=ttl, priority=task.priority
        )
        if enqueued:
            log.info("enqueued %s on %s", task.task_id, queue)
        else:
            log.debug("%s was already enqueued (by another scheduler)", task.task_id)
        return Fired(entry.name, tick, task.task_id, enqueued)

    def next_wake(self) -> float:
        """When the loop should wake: the next tick of any entry, or the next keep-alive."""
        wake = self._kept_alive + KEEP_ALIVE
        for n, entry in enumerate(self.entries):
            nxt = entry.trigger.after(self.cursors[n] if self.cursors else self.clock())
            if nxt is not None:
                wake = min(wake, nxt)
        return max(wake, self._retry_at)

    def interrupt(self) -> None:
        """Stop the loop now (thread-safe, and safe in a signal handler)."""
        self._stop.set()

    def run_forever(self) -> int:
        """Enqueue ticks until interrupted (SIGINT/SIGTERM in the main thread); 0 when done.

        Raises:
            ConfigurationError: Another scheduler holds the ledger (beanstalkd).
        """
        with stop_signals(lambda signum: self.interrupt(), then="default"):
            try:
                self._loop()
            finally:
                self.ledger.close()
        log.info("scheduler stopped (%d ticks handled)", len(self.fired))
        return 0

    def _loop(self) -> None:
        if not self.cursors:
            self.start()
        log.info("scheduler started with %d entries", len(self.entries))
        while not self._stop.is_set():
            try:
                self.run_pending()
                self._retry = 0.0
                self._retry_at = 0.0
            except (BackendConnectionError, OutcomeUnknownError) as exc:
                # Safe to try again: a tick already enqueued is refused the second time.
                self._retry = min(max(self._retry * 2, 1.0), MAX_RETRY)
                self._retry_at = self.clock() + self._retry
                log.warning("backend unreachable (%s); trying again in %.0f s", exc, self._retry)
            self._stop.wait(max(self.next_wake() - self.clock(), 0.0))
