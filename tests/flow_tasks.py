"""Task functions with declared limits, for the flow-control tests (importable by workers)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from alligator import Limit, limited
from tests.tasks import CALLS, append_line


@limited(Limit(concurrency=2))
def two_at_once(ledger: str, n: int, seconds: float) -> None:
    """Record ``n start end`` around a short nap; at most two run at once."""
    start = time.time()
    time.sleep(seconds)
    append_line(ledger, f"{n} {start!r} {time.time()!r}")


@limited(Limit(rate=20, period=1.0))
def twenty_a_second(ledger: str, n: int) -> None:
    """Record ``n start``; at most 20 start in any second."""
    append_line(ledger, f"{n} {time.time()!r}")


@limited(Limit(concurrency=1, per="merchant_id"))
def charge(ledger: str, merchant_id: int, n: int, seconds: float) -> None:
    """One charge per merchant at a time; merchants run side by side."""
    start = time.time()
    time.sleep(seconds)
    append_line(ledger, f"{merchant_id} {n} {start!r} {time.time()!r}")


def keyless(ledger: str, n: int) -> None:
    """No limits: a plain task."""
    append_line(ledger, str(n))


@limited(Limit(concurrency=1))
def one_at_a_time(ledger: str, name: str, started: str, flag: str) -> None:
    """Say it started (``started``), wait for ``flag`` when one is named, record ``name``."""
    if started:
        Path(started).touch()
    deadline = time.monotonic() + 30.0
    while flag and not Path(flag).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    append_line(ledger, name)


@limited(Limit(concurrency=1))
async def alone(seconds: float) -> None:
    """A coroutine limited to one running at once; counts its peak in ``tasks.CALLS``."""
    CALLS["alone"] += 1
    CALLS["alone-running"] += 1
    CALLS["alone-peak"] = max(CALLS["alone-peak"], CALLS["alone-running"])
    try:
        await asyncio.sleep(seconds)
    finally:
        CALLS["alone-running"] -= 1
