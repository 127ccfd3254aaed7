"""The chaos harness: worker processes, a killer, a ledger, and the verdict.

Tasks are ``tests.tasks.record(ledger, key)``: each run appends its key to a
ledger file with one ``O_APPEND`` write, so the ledger is the ground truth of
what ran, however workers die. The harness enqueues the tasks, starts real
``python -m alligator worker`` processes, SIGKILLs a random one about every
second (starting a replacement) or SIGSTOPs one past its lease and
SIGCONTs it later, optionally disrupts the server once mid-run, and waits
until every key is in the ledger and the queue is empty.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alligator import Gator
from alligator.exceptions import BackendError
from tests import tasks
from tests.chaos import tasks as chaos_tasks
from tests.servers import wait_until

ROOT = Path(__file__).resolve().parents[2]

#: Every report of this session, printed in the terminal summary.
REPORTS: list[Report] = []


@dataclass
class Report:
    """What one chaos run did and found."""

    backend: str
    tasks: int
    kills: int = 0
    stops: int = 0
    restarts: int = 0
    lost: int = 0
    duplicates: int = 0
    buried: int = 0
    fuzzed: int = 0
    wall: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.fuzzed:
            return f"{self.backend:<30} fuzzed={self.fuzzed:<4} buried={self.buried}"
        return (
            f"{self.backend:<30} tasks={self.tasks:<5} kills={self.kills:<3} stops={self.stops:<3} "
            f"restarts={self.restarts} lost={self.lost} duplicates={self.duplicates:<3} "
            f"buried={self.buried} wall={self.wall:.1f}s"
        )


class Workers:
    """Worker processes of one run; every one is reaped whatever happens."""

    def __init__(self, dsn: str, queue: str, lease: float, logdir: Path) -> None:
        self.dsn, self.queue, self.lease, self.logdir = dsn, queue, lease, logdir
        self.live: list[subprocess.Popen[bytes]] = []
        self.started = 0
        #: Paused workers and the monotonic time at which each is resumed.
        self.paused: dict[subprocess.Popen[bytes], float] = {}

    def start(self) -> None:
        log = (self.logdir / f"worker-{self.started}.log").open("wb")
        self.started += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", "alligator", "worker", self.dsn, "--queue", self.queue,
             "--lease", str(self.lease), "--import", "tests.chaos.tasks", "--log-level", "WARNING"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        self.live.append(proc)

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL a random worker and start its replacement."""
        victim = rng.choice(self.live)
        victim.kill()
        victim.wait(10)
        self.live.remove(victim)
        self.start()

    def pause_one(self, rng: random.Random, seconds: float) -> bool:
        """SIGSTOP a running worker for ``seconds``; whether one was paused."""
        running = [proc for proc in self.live if proc not in self.paused]
        if not running:
            return False
        victim = rng.choice(running)
        victim.send_signal(signal.SIGSTOP)
        self.paused[victim] = time.monotonic() + seconds
        return True

    def resume_due(self, now: float) -> None:
        for proc, due in list(self.paused.items()):
            if now >= due:
                proc.send_signal(signal.SIGCONT)
                del self.paused[proc]

    def stop(self) -> None:
        self.resume_due(float("inf"))
        for proc in self.live:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.live:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.live.clear()


def enqueue(gator: Gator, ledger: Path, count: int, pause: float, chunk: int = 1000) -> list[str]:
    keys = [str(i) for i in range(count)]
    for start in range(0, count, chunk):
        with gator.batch() as batch:
            for key in keys[start : start + chunk]:
                batch.task(chaos_tasks.record, str(ledger), key, pause)
    return keys


def _settled(gator: Gator) -> bool:
    try:
        stats = gator.broker.stats(gator.queue_name)
    except BackendError:
        return False
    return stats.ready + stats.delayed + stats.reserved == 0


def run_chaos(
    backend: str,
    dsn: str,
    queue: str,
    workdir: Path,
    *,
    count: int,
    kill_every: float | None = 1.0,
    stop_every: float | None = None,
    disrupt: Callable[[], bool] | None = None,
    lease: float = 2.0,
    workers: int = 4,
    pause: float = 0.004,
    timeout: float = 100.0,
    seed: int = 0,
) -> Report:
    """Enqueue ``count`` tasks, drain them under fire, and report.

    ``stop_every`` pauses a worker (SIGSTOP) for twice the lease about that
    often: its leases expire while it is frozen, its tasks go to others, and
    when it wakes it must not start the stale tasks it had prefetched.
    """
    report = Report(backend, count)
    ledger = workdir / "ledger"
    rng = random.Random(seed)
    started = time.monotonic()
    with Gator(dsn, queue_name=queue, codec="msgpack") as gator:
        keys = enqueue(gator, ledger, count, pause)
        pool = Workers(dsn, queue, lease, workdir)
        try:
            for _ in range(workers):
                pool.start()
            next_kill = time.monotonic() + (kill_every or 0)
            next_stop = time.monotonic() + (stop_every or 0)
            disrupted = False
            deadline = time.monotonic() + timeout
            while True:
                done = len(set(tasks.read_ledger(ledger)))
                if done >= count:
                    break
                now = time.monotonic()
                if now > deadline:
                    raise TimeoutError(f"{backend}: only {done}/{count} tasks ran")
                if disrupt is not None and not disrupted and done >= count // 2:
                    disrupted = True
                    # Counted only when the disruption says it took effect.
                    report.restarts += 1 if disrupt() else 0
                if kill_every is not None and now >= next_kill:
                    pool.kill_one(rng)
                    report.kills += 1
                    next_kill = now + kill_every * rng.uniform(0.5, 1.5)
                if stop_every is not None and now >= next_stop:
                    report.stops += 1 if pool.pause_one(rng, lease * 2) else 0
                    next_stop = now + stop_every * rng.uniform(0.5, 1.5)
                pool.resume_due(now)
                time.sleep(0.05)

            # Tasks of killed workers come back after their lease and run again;
            # a worker still frozen wakes when its pause is over, as in the run.
            def settled() -> bool:
                pool.resume_due(time.monotonic())
                return _settled(gator)

            wait_until(settled, 60, 0.1, message=f"{backend} queue to empty")
        finally:
            pool.stop()
        runs = Counter(tasks.read_ledger(ledger))
        report.lost = sum(1 for key in keys if runs[key] == 0)
        report.duplicates = sum(runs.values()) - len(runs)
        report.buried = gator.broker.stats(queue).buried
    report.wall = time.monotonic() - started
    REPORTS.append(report)
    return report
