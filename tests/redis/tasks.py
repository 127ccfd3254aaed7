"""Task functions the Redis worker tests run in real worker processes.

Each appends a line ``<what> <pid>`` to a ledger file with one ``O_APPEND``
write, so concurrent workers never interleave and the test can count exactly
what ran, and where.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def note(ledger: str, line: str) -> None:
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def record(ledger: str, key: str) -> str:
    """One ledger line per execution."""
    note(ledger, key)
    return key


def record_when_open(ledger: str, key: str, gate: str) -> str:
    """Wait (up to a minute) for the file ``gate`` to exist, then record ``key``."""
    deadline = time.monotonic() + 60
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    note(ledger, key)
    return key


def hang_first_time(ledger: str) -> str:
    """Hang (until killed) on the first run; succeed on any later run."""
    first = not Path(ledger).exists()
    note(ledger, "start")
    if first:
        time.sleep(600)
    note(ledger, "done")
    return "ok"


def take_a_while(ledger: str, seconds: float) -> str:
    """Run several lease periods, relying on the worker's lease renewals."""
    note(ledger, "start")
    time.sleep(seconds)
    note(ledger, "done")
    return "ok"


def lines(ledger: Path) -> list[str]:
    """The first word of each ledger line (what ran)."""
    if not ledger.exists():
        return []
    return [line.split()[0] for line in ledger.read_text().splitlines()]
