"""Schedulers as real processes, on every backend that can run one.

* Three ``alligator scheduler`` processes run one every-second entry for a
  few seconds: every tick is enqueued exactly once (each process logs what
  it enqueued; the logs together name each tick once) and none is missed
  (the ticks in the queue are consecutive). locmem lives in one process,
  so it is not here; on beanstalkd the second and third schedulers are
  refused with a clear error instead, and the first does the work.
* One scheduler killed with SIGKILL between two ticks and started again a
  few seconds later: ``skip`` leaves the missed ticks out, ``once`` adds
  the latest of them, ``all`` catches every one up.
* ``latergator --schedule`` runs the scheduler beside a worker, which runs
  the ticks; SIGTERM ends both with status 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator, codecs
from alligator.schedules import Schedule
from tests.conftest import ROOT, stop_process
from tests.servers import wait_until

pytestmark = pytest.mark.slow

#: The backends a scheduler process can share with others (locmem is in-process).
SHARED = ["sqlite", "redis", "redis-cluster", "postgresql", "beanstalk"]


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop_process(proc)


def spawn(
    dsn: str,
    log: Path,
    schedule: str,
    *,
    command: tuple[str, ...] = ("-m", "alligator", "scheduler"),
) -> subprocess.Popen[bytes]:
    """A scheduler (or latergator) process of ``tests.schedule_app:<schedule>``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *command, dsn, "--schedule", f"tests.schedule_app:{schedule}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def started(log: Path) -> bool:
    text = log.read_text()
    return "scheduler started" in text or "error:" in text


def enqueued(log: Path) -> list[str]:
    """The task ids a scheduler logged as enqueued by itself."""
    return [
        line.split("enqueued ", 1)[1].split(" on ", 1)[0]
        for line in log.read_text().splitlines()
        if " enqueued " in line
    ]


def drain(dsn: str, queue: str = "ticks") -> list[str]:
    """The tick ids of every task in the queue (read from the payloads), taking them off."""
    with Gator(dsn, queue_name=queue) as gator:
        found: list[str] = []
        while (held := gator.broker.reserve(queue, 60.0)) is not None:
            found.append(codecs.decode(held.data).task_id)
            gator.broker.ack(queue, held)
    return found


def seconds_of(ids: list[str], entry: str) -> list[int]:
    """The ticks of ``entry`` among ``ids``, as epoch seconds, sorted."""
    import datetime as dt

    found = []
    for task_id in ids:
        name, _, stamp = task_id.partition("@")
        if name == entry:
            when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            found.append(int(when.timestamp()))
    return sorted(found)


def mid_second() -> None:
    """Sleep until the middle of a second: far from any every-second tick."""
    time.sleep((0.5 - time.time() % 1.0) % 1.0)


@pytest.mark.parametrize("any_dsn", SHARED, indirect=True)
def test_three_schedulers_enqueue_each_tick_exactly_once(
    any_dsn: str,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    request: pytest.FixtureRequest,
) -> None:
    backend = request.node.callspec.params["any_dsn"]
    logs = [tmp_path / f"scheduler-{n}.log" for n in range(3)]
    # Given three schedulers of one every-second entry, started together
    for log in logs:
        procs.append(spawn(any_dsn, log, "every_second"))
    for log in logs:
        wait_until(lambda log=log: started(log), 30, 0.05, message="start-up")  # type: ignore[misc]
    # When they run for a few seconds
    time.sleep(4.5)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    codes = [proc.wait(timeout=30) for proc in procs]
    ids = drain(any_dsn)
    ticks = seconds_of(ids, "second")
    if backend == "beanstalk":
        # Then on beanstalkd one runs, and the others are refused, saying why
        assert sorted(codes) == [0, 2, 2], [log.read_text() for log in logs]
        refused = [log.read_text() for log, code in zip(logs, codes, strict=True) if code == 2]
        assert all("another scheduler is running for queue 'ticks'" in text for text in refused)
    else:
        # Then all three ran and stopped cleanly
        assert codes == [0, 0, 0], [log.read_text() for log in logs]
    # And each tick was enqueued by exactly one of them
    claimed = Counter(task_id for log in logs for task_id in enqueued(log))
    assert [task_id for task_id, n in claimed.items() if n != 1] == []
    assert sorted(claimed) == sorted(ids)
    # And no tick was missed: the ticks in the queue are consecutive seconds
    assert len(ticks) >= 3
    assert ticks == list(range(ticks[0], ticks[-1] + 1))


@pytest.mark.parametrize("any_dsn", ["sqlite", "redis", "postgresql", "beanstalk"], indirect=True)
def test_a_scheduler_killed_and_restarted_applies_each_misfire_policy(
    any_dsn: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given a scheduler of three every-second entries: skip, once, all
    first = spawn(any_dsn, tmp_path / "first.log", "policies")
    procs.append(first)
    wait_until(lambda: started(tmp_path / "first.log"), 30, 0.05, message="start-up")
    time.sleep(2.0)
    # When it is killed between two ticks, and started again 3.5 s later
    mid_second()
    first.kill()
    first.wait(10)
    killed_at = time.time()
    time.sleep(3.0)
    second = spawn(any_dsn, tmp_path / "second.log", "policies")
    procs.append(second)
    wait_until(lambda: started(tmp_path / "second.log"), 30, 0.05, message="restart")
    time.sleep(2.0)
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0, (tmp_path / "second.log").read_text()
    ids = drain(any_dsn)
    skip, once, every = (seconds_of(ids, name) for name in ("skip", "once", "all"))
    # Then "all" caught every missed tick up: no gap
    assert every == list(range(every[0], every[-1] + 1)), every
    missed = [t for t in every if t not in skip]
    assert len(missed) >= 2, (skip, every)
    assert all(t > killed_at - 1 for t in missed), (missed, killed_at)
    # And "skip" left them out, "once" enqueued the latest of them alone
    assert sorted(set(once) - set(skip)) == [max(missed)], (skip, once)
    assert set(skip) <= set(once) <= set(every)


def test_latergator_runs_a_scheduler_beside_its_worker(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    dsn = f"sqlite:///{tmp_path / 'queue.db'}"
    log = tmp_path / "latergator.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "alligator", "worker", dsn, "-q", "ticks", "--import",
             "tests.tasks", "--schedule", "tests.schedule_app:every_second"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    procs.append(proc)
    wait_until(lambda: len(enqueued(log)) >= 3, 30, 0.05, message="three ticks")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log.read_text()
    # And the worker ran the ticks (the queue holds at most the last one)
    assert len(drain(dsn)) <= 1 < len(enqueued(log))


def test_scheduler_list_prints_each_entry_with_its_next_fire_times() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "alligator", "scheduler", "redis://127.0.0.1:1/0",
         "--schedule", "tests.schedule_app:listed", "--list", "--count", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "report: cron '30 2 * * *' Europe/Berlin, queue 'ticks', misfire once"
    assert lines[1] == "  runs tests.tasks:add(1, 2)"
    assert lines[2].startswith("  next ") and lines[2].endswith(":30:00Z)")
    assert "02:30:00+0" in lines[2]
    assert lines[4].startswith("cleanup: every 1h, queue 'maintenance', misfire all (up to 100)")
    assert len(lines) == 8


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("tests.schedule_app", "expected MODULE:ATTRIBUTE"),
        ("tests.nowhere:schedule", "cannot import it"),
        ("tests.schedule_app:missing", "has no attribute 'missing'"),
        ("tests.schedule_app:gator", "is a Gator, not an alligator.schedules.Schedule"),
    ],
)
def test_a_bad_schedule_reference_is_a_usage_error(reference: str, message: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "alligator", "scheduler", "sqlite:///unused.db", "--schedule",
         reference, "--list"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert message in done.stderr


def test_the_schedule_module_defines_what_the_tests_expect() -> None:
    from tests import schedule_app

    assert isinstance(schedule_app.every_second, Schedule)
    assert [e.name for e in schedule_app.policies] == ["skip", "once", "all"]
