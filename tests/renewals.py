"""Lease tests on an injected clock: heartbeats observed, never raced against.

A worker's heartbeat renews its leases every third of the lease in real time,
but a backend on a :class:`~tests.conftest.FakeClock` measures the leases
themselves in fake time, which moves only when the test says so. A test
therefore waits until a renewal that began at the current fake time has
landed, and only then moves the clock, by less than the lease: a machine
that stalls only delays the next renewal, it cannot make a lease run out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from alligator.protocols import ReliableClient
from alligator.records import Reservation
from tests.servers import wait_until

__all__ = ["RenewalSpy", "hold_through"]


class RenewalSpy:
    """Records the fake time at which each of the broker's lease renewals began.

    It wraps ``renew`` and ``renew_many`` on the broker instance (through
    ``monkeypatch``), before a Worker is built on it.
    """

    def __init__(
        self, broker: ReliableClient, clock: Callable[[], float], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.clock = clock
        #: The clock's time when each renewal that has returned was called.
        self.began: list[float] = []
        for name in ("renew", "renew_many"):
            original = getattr(broker, name, None)
            if original is not None:
                monkeypatch.setattr(broker, name, self._spy(original))

    def _spy(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def renew(*args: Any, **kwargs: Any) -> Any:
            began = self.clock()
            result = original(*args, **kwargs)
            self.began.append(began)
            return result

        return renew

    def wait_for_one_now(self, timeout: float = 10.0) -> None:
        """Wait until a renewal that began at the clock's current time has returned."""
        now = self.clock()
        wait_until(
            lambda: any(t >= now for t in self.began[-4:]),
            timeout,
            message=f"a lease renewal at fake time {now}",
        )


def hold_through(
    spy: RenewalSpy,
    advance: Callable[[float], None],
    steal: Callable[[], Reservation | None],
    lease: float,
    periods: float = 4.0,
) -> list[Reservation]:
    """Move the clock ``periods`` leases on, in steps a renewal covers; return what was stolen.

    Each step waits for a renewal at the current time (its lease then ends a
    full ``lease`` later), moves the clock 0.6 of a lease, and lets another
    consumer try to take work.
    """
    stolen: list[Reservation] = []
    for _ in range(round(periods / 0.6)):
        spy.wait_for_one_now()
        advance(0.6 * lease)
        found = steal()
        if found is not None:
            stolen.append(found)
    return stolen
