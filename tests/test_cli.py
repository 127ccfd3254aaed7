"""The commands: ``python -m alligator worker|info`` and ``latergator``, as processes.

Signal tests send SIGTERM/SIGINT to a real worker process while its task
waits on a flag file the test writes, so "during the task" is a fact, not a
guess about timing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alligator import Gator
from tests import tasks
from tests.conftest import ROOT, spawn_worker
from tests.servers import wait_until

LATERGATOR = Path(sys.executable).with_name("latergator")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_info_json_prints_the_backend_counts(sqlite_dsn: str) -> None:
    # Given a queue with two ready tasks and one delayed
    gator = Gator(sqlite_dsn, queue_name="q")
    gator.task(tasks.add, 1, 2)
    gator.task(tasks.add, 3, 4)
    with gator.options(delay_by=3600) as opts:
        opts.task(tasks.add, 5, 6)
    # When info runs
    done = _run(sys.executable, "-m", "alligator", "info", sqlite_dsn, "--queue", "q", "--json")
    # Then it prints what the backend reports
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    stats = gator.broker.stats("q")
    assert counts == {
        "queue": "q",
        "ready": stats.ready,
        "delayed": stats.delayed,
        "reserved": stats.reserved,
        "buried": stats.buried,
    }
    assert (counts["ready"], counts["delayed"]) == (2, 1)


def test_latergator_runs_max_tasks_and_exits_0(sqlite_dsn: str, ledger: Path) -> None:
    # Given three tasks
    gator = Gator(sqlite_dsn, queue_name="q")
    for key in ("a", "b", "c"):
        gator.task(tasks.record, str(ledger), key)
    # When latergator runs with --max-tasks 2
    assert LATERGATOR.exists()
    done = _run(
        str(LATERGATOR), sqlite_dsn, "--queue", "q", "--import", "tests.tasks", "--max-tasks", "2"
    )
    # Then it ran two in order, exited 0, and left one
    assert done.returncode == 0, done.stderr
    assert tasks.read_ledger(ledger) == ["a", "b"]
    assert gator.len() == 1


def test_unknown_scheme_exits_2_with_a_clear_message() -> None:
    done = _run(sys.executable, "-m", "alligator", "info", "nosuch://x", "--queue", "q")
    assert done.returncode == 2
    assert "no backend for scheme 'nosuch'" in done.stderr
    assert "sqlite" in done.stderr
    assert "Traceback" not in done.stderr


def test_worker_with_a_bad_dsn_exits_2() -> None:
    done = _run(str(LATERGATOR), "nosuch://x")
    assert done.returncode == 2
    assert "no backend for scheme 'nosuch'" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_sqlite_directory_exits_2(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 'missing' / 'q.db'}"
    done = _run(sys.executable, "-m", "alligator", "worker", dsn, "--max-tasks", "1")
    assert done.returncode == 2
    assert "does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "missing").exists()


def test_import_of_a_missing_module_exits_2(sqlite_dsn: str) -> None:
    done = _run(str(LATERGATOR), sqlite_dsn, "--import", "no_such_module_zz", "--max-tasks", "1")
    assert done.returncode == 2
    assert "--import no_such_module_zz: cannot import it" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_finishes_and_acks_the_current_task_then_exits_0(
    signum: signal.Signals,
    sqlite_dsn: str,
    ledger: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
) -> None:
    # Given a worker process running a task that waits for a flag file
    gator = Gator(sqlite_dsn, queue_name="q")
    started, flag = tmp_path / "started", tmp_path / "flag"
    gator.task(tasks.wait_for_flag, str(ledger), "t1", str(started), str(flag))
    proc = spawn_worker(sqlite_dsn, tmp_path / "worker.log", "--nap-time", "0.05")
    procs.append(proc)
    wait_until(started.exists, timeout=30, message="the task to start")
    # When the signal arrives mid-task, and the task is then let finish
    proc.send_signal(signum)
    flag.write_text("go")
    # Then the process exits 0 after finishing and acking the task
    assert proc.wait(timeout=30) == 0, (tmp_path / "worker.log").read_text()
    assert tasks.read_ledger(ledger) == ["t1"]
    assert gator.len() == 0
    assert gator.broker.stats("q") == type(gator.broker.stats("q"))()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # After the command name: state is field 3, utime field 14, stime field 15.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_an_idle_worker_does_not_burn_cpu(
    sqlite_dsn: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given an idle worker process on an empty queue
    log = tmp_path / "worker.log"
    proc = spawn_worker(sqlite_dsn, log, "--nap-time", "0.05")
    procs.append(proc)
    wait_until(lambda: "starting" in log.read_text(), timeout=30, message="worker start")
    # When it idles for a second of wall time
    before = _cpu_seconds(proc.pid)
    time.sleep(1.0)  # the measurement window, not a wait for an event
    used = _cpu_seconds(proc.pid) - before
    # Then it used only a small fraction of a CPU
    print(f"idle worker CPU: {used:.3f}s in 1s")
    assert used < 0.3, f"idle worker used {used:.2f}s CPU in 1s"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
