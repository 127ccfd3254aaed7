"""Task functions run by real worker processes in the backend suites, and their ledger.

Each execution appends ``<what> <pid>`` to a ledger file with one
``O_APPEND`` write, so concurrent workers never interleave lines and a test
can count exactly what ran, how often and where.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.servers import wait_until

ROOT = Path(__file__).resolve().parents[1]


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


class Workers:
    """Starts ``python -m alligator worker`` processes and reaps them, whatever the test did."""

    def __init__(self, dsn: str, queue: str, tmp_path: Path) -> None:
        self.dsn = dsn
        self.queue = queue
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, lease: float) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "alligator", "worker", self.dsn, "--queue", self.queue,
             "--lease", str(lease), "--import", __name__],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        self.procs.append(proc)
        return proc

    def wait_started(self, timeout: float = 30.0) -> None:
        """Wait until every worker's loop is up (it checked the backend and logged its start).

        A server crashed before a worker finished starting makes that worker
        exit at once (the start-up check), which a restart test must not take
        for a worker that failed to reconnect.
        """
        logs = [self.tmp_path / f"worker-{n}.log" for n in range(len(self.procs))]
        wait_until(
            lambda: all("starting" in log.read_text() for log in logs),
            timeout,
            0.05,
            message="every worker to start",
        )

    def stop_all(self) -> list[int]:
        """SIGTERM every worker (finish, ack, exit 0); SIGKILL stragglers."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        codes: list[int] = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(15))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait(10))
        return codes
