"""A worker process with results on, for the kill -9 test, and the tasks it runs.

Run as ``python -m tests.redis.result_worker DSN QUEUE LEASE``. The hook
:func:`hang_once` blocks the first task to finish (its function ran, its
ack not sent yet) while the file named by ``ALLIGATOR_TEST_HANG`` is absent,
after creating ``<that file>.hung``: the test kills the worker there.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from alligator import Gator, Task, Worker
from tests.process_tasks import note


def ran(ledger: str, key: str) -> str:
    """One ledger line per execution."""
    note(ledger, key)
    return key


def hang_once(task: Task[Any], value: object) -> None:
    """An ``on_success`` hook: hang (until killed) the first time, after the function ran."""
    gate = os.environ.get("ALLIGATOR_TEST_HANG", "")
    if not gate or Path(gate).exists():
        return
    Path(gate).touch()
    Path(f"{gate}.hung").write_text(str(value))
    time.sleep(600)


def main() -> None:
    dsn, queue, lease = sys.argv[1], sys.argv[2], float(sys.argv[3])
    gator = Gator(dsn, queue_name=queue, results=True, lease=lease)
    print("starting", flush=True)
    Worker(gator, lease=lease, poll_timeout=0.2).run_forever()


if __name__ == "__main__":
    main()
