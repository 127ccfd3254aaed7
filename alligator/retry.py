"""How long a failed task waits before its next try."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from alligator.exceptions import ConfigurationError

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: ``base * factor ** (attempt - 1)``, capped.

    Jitter spreads retries of tasks that failed together (a database outage)
    so they do not all come back in the same instant: the delay is scaled by
    a random factor in ``[1 - jitter, 1]``.

    Attributes:
        base: Delay before the first retry, in seconds.
        factor: Growth per attempt.
        maximum: Upper bound of any delay.
        jitter: Fraction of the delay that is randomised (0 disables it).
    """

    base: float = 1.0
    factor: float = 2.0
    maximum: float = 300.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        values = (self.base, self.factor, self.maximum, self.jitter)
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ConfigurationError(f"backoff values must be finite and >= 0: {self!r}")
        if self.jitter > 1:
            raise ConfigurationError(f"backoff jitter must be within [0, 1], got {self.jitter}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
        exponent = max(attempt - 1, 0)
        try:
            raw = self.base * self.factor**exponent
        except OverflowError:
            raw = self.maximum
        capped = min(raw, self.maximum)
        if self.jitter:
            capped *= 1 - random.random() * self.jitter
        return capped
