"""A worker killed between running a task and settling it, on SQLite, with results on.

The function has returned (its ``on_success`` hook blocks on a flag file)
when the worker process gets SIGKILL: the outcome, the ack and the release
of the dependent were to be one transaction, so none of them happened. The
task runs again; only that run's outcome is ever stored, and the dependent
is released, and runs, once.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator, Status
from alligator.backends.sqlite_backend import Client as Sqlite
from tests import tasks
from tests.conftest import spawn_worker, stop_process
from tests.servers import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop_process(proc)


def test_kill_9_between_run_and_ack_leaves_no_outcome_and_releases_once(
    sqlite_dsn: str, ledger: Path, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given a task whose worker will stop after it ran, before it settles, and a dependent
    gator = Gator(sqlite_dsn, queue_name="q", results=True)
    with gator.options(on_success=tasks.hold_before_the_ack) as opts:
        parent = opts.task(tasks.run_and_tag, str(ledger))
    with gator.options(depends_on=[parent]) as opts:
        child = opts.task(tasks.record, str(ledger), "child")
    worker = ["--results", "--lease", "1", "--nap-time", "0.05"]
    first = spawn_worker(sqlite_dsn, tmp_path / "first.log", *worker)
    procs.append(first)
    returned = Path(f"{ledger}.returned")
    wait_until(returned.exists, timeout=30, message="the task to run")
    # When the worker is killed with SIGKILL there
    first.kill()
    first.wait(timeout=10)
    # Then the task ran, but no outcome is stored and its dependent still waits
    assert tasks.read_ledger(ledger) == [returned.read_text()]
    assert Sqlite(sqlite_dsn).fetch_result("q", parent.task_id) is None
    assert gator.status(parent.task_id) in (Status.RUNNING, Status.RETRYING)
    assert gator.status(child.task_id) == Status.BLOCKED
    # When another worker takes over once the lease ran out
    Path(f"{ledger}.go").write_text("go")
    second = spawn_worker(sqlite_dsn, tmp_path / "second.log", *worker)
    procs.append(second)
    # Then the dependent's outcome comes, after the task's second run
    assert child.wait(timeout=30) == "child"
    first_run, second_run, child_run = tasks.read_ledger(ledger)
    assert (first_run != second_run, child_run) == (True, "child")
    # And the stored outcome is the second run's; the dependent ran once
    assert parent.wait(timeout=0) == second_run
    second.terminate()
    assert second.wait(timeout=30) == 0, (tmp_path / "second.log").read_text()
    assert tasks.read_ledger(ledger).count("child") == 1
    assert gator.broker.stats("q") == type(gator.broker.stats("q"))()
    gator.close()


def test_worker_options_turn_results_on(tmp_path: Path) -> None:
    # Given the worker command's options for each way of keeping outcomes
    from alligator.cli import build_parser
    from alligator.cli.worker import _gator

    dsn = f"sqlite:///{tmp_path}/q.db"
    store = f"sqlite:///{tmp_path}/outcomes.db"
    parse = build_parser().parse_args
    # When the worker's Gator is made from them
    plain = _gator(parse(["worker", dsn]))
    own = _gator(parse(["worker", dsn, "--results", "--result-ttl", "60"]))
    apart = _gator(parse(["worker", dsn, "--result-store", store]))
    try:
        # Then outcomes are off, kept with the ack, or kept in the other store
        assert plain.results is None
        assert own.results is not None and own.results.queue is own.broker
        assert own.results.ttl == 60
        assert apart.results is not None and apart.results.queue is None
        assert isinstance(apart.results.store, Sqlite) and apart.results.store.path.endswith(
            "outcomes.db"
        )
    finally:
        for gator in (plain, own, apart):
            gator.close()
