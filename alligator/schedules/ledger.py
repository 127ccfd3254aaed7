"""The ledger over push-if-absent: what lets any number of schedulers share one schedule.

Two kinds of marks, both the backend's (:class:`~alligator.protocols.AbsentPushClient`):

* **A tick's mark** is made by the ``push_absent`` that enqueued it, under
  the tick's task id (``<entry name>@<tick in UTC>``). While the task is in
  the queue its id is taken anyway; the mark keeps it taken after the task
  ran and was acked, for as long as any scheduler could still try that tick:
  until the entry's ``limit + 1`` later ticks have come (the misfire look-back,
  at least one) plus :data:`MARK_SLACK`. So a scheduler that is slow, or one
  that restarts and looks back for missed ticks, finds the tick taken and
  enqueues nothing.
* **An entry's mark** (``<name>@since:<fingerprint of its timing>``) holds
  when any scheduler first ran the entry as it is now defined. Ticks before
  it are never caught up: a new or retimed entry starts afresh. It lives
  :data:`SINCE_TTL` past the last scheduler start or keep-alive, so a removed
  entry is forgotten a month after it stopped being run.

Nothing else is kept: a scheduler holds no state of its own, and a removed
entry simply stops being fired (no tick is ever enqueued ahead of its time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from alligator.protocols import AbsentPushClient

__all__ = ["MARK_SLACK", "SINCE_TTL", "MarksLedger"]

#: How long past its look-back a tick's mark is kept: covers clocks of
#: schedulers and server that disagree by up to this much.
MARK_SLACK: Final = 300.0

#: How long an entry's mark lives past the last scheduler that ran the entry.
SINCE_TTL: Final = 30 * 86400.0


class MarksLedger:
    """A :class:`~alligator.protocols.ScheduleLedger` over an AbsentPushClient's marks."""

    def __init__(self, client: AbsentPushClient) -> None:
        self.client = client

    def start(self, entries: Sequence[tuple[str, str]]) -> list[float]:
        return [self.client.mark(queue, key, SINCE_TTL) for queue, key in entries]

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
        return self.client.push_absent(
            queue_name, task_id, data, ttl=ttl + MARK_SLACK, priority=priority
        )

    def keep_alive(self, entries: Sequence[tuple[str, str]]) -> None:
        self.start(entries)

    def close(self) -> None:
        """Nothing to release: the client is the Gator's."""
