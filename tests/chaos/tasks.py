"""The chaos task: a little work, then one ledger line per run."""

from __future__ import annotations

import time

from tests.tasks import append_line


def record(ledger: str, key: str, pause: float) -> str:
    """Work for ``pause`` seconds (so kills land mid-task), then record ``key``."""
    time.sleep(pause)
    append_line(ledger, key)
    return key
