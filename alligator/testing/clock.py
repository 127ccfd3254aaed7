"""Clocks for backend tests: a fake one that only moves when told to."""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "RealClock"]

#: A round start time: multiples of 0.5 s stay exact in binary floating point,
#: so due times and clock readings compare exactly.
DEFAULT_START = 1_700_000_000.0


class Clock(Protocol):
    """A source of epoch seconds, as a backend ``Client(..., clock=...)`` takes it."""

    def __call__(self) -> float: ...


class FakeClock:
    """Epoch seconds that advance only through :meth:`advance`.

    Injected into a client, it makes delay and lease tests deterministic and
    instant: nothing sleeps, a lease expires exactly when the test says so.
    A backend must still measure ``reserve(timeout=...)`` waits in real
    (monotonic) time, or a waiting reserve would never end under this clock.
    """

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward; never backward, as no backend expects that.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError(f"a clock only moves forward, not by {seconds}")
        with self._lock:
            self._now += seconds

    def __repr__(self) -> str:
        return f"FakeClock({self._now!r})"


class RealClock:
    """Wall-clock time, for backends that keep time on their server (beanstalkd)."""

    def __call__(self) -> float:
        return time.time()
