"""Task functions the worker tests run in real worker processes.

Each appends a line to a ledger file, which the test reads to learn what ran,
where and how often.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def _note(ledger: str, line: str) -> None:
    with Path(ledger).open("a", encoding="utf-8") as out:
        out.write(f"{line} {os.getpid()}\n")
        out.flush()


def hang_first_time(ledger: str) -> str:
    """Hang (until killed) on the first run; succeed on any later run."""
    first = not Path(ledger).exists()
    _note(ledger, "start")
    if first:
        time.sleep(600)
    _note(ledger, "done")
    return "ok"


def take_a_while(ledger: str, seconds: float) -> str:
    """Run longer than the job's TTR, relying on the worker's lease renewals."""
    _note(ledger, "start")
    time.sleep(seconds)
    _note(ledger, "done")
    return "ok"


def ledger_lines(ledger: Path) -> list[str]:
    """The first word of each ledger line (what happened)."""
    if not ledger.exists():
        return []
    return [line.split()[0] for line in ledger.read_text(encoding="utf-8").splitlines()]


def ledger_pids(ledger: Path, what: str) -> list[int]:
    """The worker pids that logged ``what``."""
    return [
        int(line.split()[1])
        for line in ledger.read_text(encoding="utf-8").splitlines()
        if line.split()[0] == what
    ]


def record(ledger: str, label: str) -> str:
    """Note ``label`` in the ledger, to check the order tasks ran in."""
    _note(ledger, label)
    return label
