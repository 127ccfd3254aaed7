"""Faithful to the released Alligator 1.0.0 where the docs say "as in 1.0".

Each behaviour below was read from the 1.0.0 wheel (``gator.py``,
``tasks.py``, ``workers.py``, ``utils.py``): run methods return the Task,
importable bound methods are named as 1.0 named them, functions of
``__main__`` run where this process consumes, the ``alligator`` command,
and the original documentation's SQLite client on its own DSN.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator, Status, Task, Worker
from alligator.codecs import decode
from alligator.constants import ALL
from alligator.exceptions import NoResultError
from alligator.utils import determine_name
from tests import tasks
from tests.conftest import ROOT
from tests.seed import jobs
from tests.seed.sqlite_backend import Client as SQLiteClient
from tests.seed.sqlite_backend import quote_identifier


def test_eager_tasks_come_back_finished_with_their_result(locmem_gator: Gator) -> None:
    # Given the three ways to enqueue, each with is_async=False
    direct = locmem_gator.push(Task(is_async=False), tasks.add, 1, 2)
    with locmem_gator.options(is_async=False) as opts:
        through_options = opts.task(tasks.add, 3, 4)
    # Then each returned Task ran here and holds the function's return value
    assert (direct.status, direct.result) == (Status.SUCCESS, 3)
    assert (through_options.status, through_options.result) == (Status.SUCCESS, 7)
    assert locmem_gator.len() == 0


def test_a_queued_task_has_no_result_to_read_here(locmem_gator: Gator) -> None:
    queued = locmem_gator.task(tasks.add, 1, 2)
    with pytest.raises(NoResultError):
        _ = queued.result


def test_pop_get_and_execute_return_the_task(locmem_gator: Gator) -> None:
    # Given two queued tasks and one prepared here
    first = locmem_gator.task(tasks.add, 1, 1)
    second = locmem_gator.task(tasks.add, 2, 2)
    prepared = Task[int]().to_call(tasks.add, 3, 3)
    # When each run method runs one
    got = locmem_gator.get(second.task_id)
    popped = locmem_gator.pop()
    executed = locmem_gator.execute(prepared)
    # Then each returns the finished task, its result set
    assert got is not None and (got.task_id, got.result) == (second.task_id, 4)
    assert popped is not None and (popped.task_id, popped.result) == (first.task_id, 2)
    assert executed is prepared and executed.result == 6
    # And with nothing left, pop and get give None
    assert locmem_gator.pop() is None
    assert locmem_gator.get(first.task_id) is None


def test_pop_of_a_payload_it_cannot_decode_returns_a_failed_task(locmem_gator: Gator) -> None:
    locmem_gator.broker.push("q", "junk", b"\x00junk")
    popped = locmem_gator.pop()
    assert popped is not None and (popped.task_id, popped.status) == ("junk", Status.FAILED)
    assert [b.task_id for b in locmem_gator.broker.buried("q")] == ["junk"]


def test_a_bound_method_the_module_exposes_is_named_as_1_0_named_it(
    locmem_gator: Gator,
) -> None:
    # 1.0's determine_name gave __name__: "choice", not "Random.choice"
    assert determine_name(random.choice) == "choice"
    assert determine_name(tasks.bump) == "bump"
    # And such a method enqueues by module and that name, and runs in a worker
    task = locmem_gator.task(random.choice, ["only"])
    bumped = locmem_gator.task(tasks.bump, 5)
    [data] = [r.data for r in [locmem_gator.broker.reserve("q", 30)] if r is not None]
    envelope = decode(data)
    assert (envelope.module, envelope.callable) == ("random", "choice")
    assert tasks.result_of(locmem_gator.get(bumped.task_id)) >= 1
    assert task.task_id != bumped.task_id


def _run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT)},
        check=False,
    )


def test_functions_of_main_run_where_this_process_consumes(tmp_path: Path) -> None:
    # Given a script that defines its task in __main__
    done = _run_script(
        tmp_path,
        """
        from alligator import Gator, Task, Worker
        from alligator.exceptions import NotImportableError

        def double(n: int) -> int:
            return 2 * n

        # locmem: this process is the worker, so it can run __main__'s function
        local = Gator("locmem://script")
        local.task(double, 21)
        worker = Worker(local, max_tasks=1, poll_timeout=0.05)
        worker.run_forever()
        print("locmem", worker.tasks_complete)

        # is_async=False on any backend: it runs here and now
        shared = Gator("sqlite://script.db")
        print("eager", shared.push(Task(is_async=False), double, 4).result)

        # queued on a backend another process consumes: refused at enqueue
        try:
            shared.task(double, 1)
        except NotImportableError as exc:
            print("refused", "__main__" in str(exc))
        print("left", shared.len())
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["locmem 1", "eager 8", "refused True", "left 0"]


def test_the_alligator_command_is_python_m_alligator(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "alligator"
    with Gator(f"sqlite://{tmp_path / 'q.db'}") as gator:
        gator.task(tasks.add, 1, 2)  # info looks at a store; it never creates one
    done = subprocess.run(
        [str(command), "info", f"sqlite://{tmp_path / 'q.db'}", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"queue": "all"' in done.stdout
    usage = subprocess.run(
        [str(command), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert usage.returncode == 0 and usage.stdout.startswith("usage: alligator")


@pytest.fixture
def myapp_queue_db() -> Iterator[Path]:
    """The original documentation's database, /tmp/myapp_queue.db, with its table."""
    path = Path("/tmp/myapp_queue.db")
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE {quote_identifier(ALL)} (task_id TEXT, data BLOB)")
    conn.commit()
    conn.close()
    yield path
    path.unlink(missing_ok=True)


def test_the_seed_sqlite_client_on_its_printed_dsn(
    myapp_queue_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the guide's code exactly as printed, run from another directory
    monkeypatch.chdir(tmp_path)
    gator = Gator("sqlite:///tmp/myapp_queue.db", backend_class=SQLiteClient)
    gator.task(jobs.add, 2, 3)
    # Then the task landed in /tmp/myapp_queue.db, not in ./tmp
    assert not (tmp_path / "tmp").exists()
    assert SQLiteClient("sqlite:///tmp/myapp_queue.db").len(ALL) == 1
    # And a worker on the same DSN runs it
    worker = Worker(Gator("sqlite:///tmp/myapp_queue.db", backend_class=SQLiteClient), max_tasks=1)
    assert worker.run_forever() == 0
    assert jobs.calls[-1] == ("add", (2, 3))
