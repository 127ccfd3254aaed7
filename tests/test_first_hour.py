"""The first hour of a new user, replayed: the traps of issue 14, each closed.

The command-line tests run the real console scripts (``latergator``,
``alligator``) of this virtualenv, without ``PYTHONPATH``, from a temporary
directory holding a small application package, ``fh_app``, exactly as the
README tells a new user to do.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from alligator import Backoff, Gator, Status, Worker
from alligator.backends.locmem_backend import Client as LocmemClient
from alligator.dsn import display_dsn
from tests.conftest import FakeClock
from tests.fixtures import DISKLESS, redis_server
from tests.servers import free_port, wait_until

BIN = Path(sys.executable).parent
LATERGATOR = str(BIN / "latergator")
ALLIGATOR = str(BIN / "alligator")

#: The application a new user writes: plain functions in a package.
APP_TASKS = """\
from pathlib import Path


def write(path: str, text: str) -> str:
    Path(path).write_text(text)
    return text


def fail(message: str, code: int = 1) -> None:
    raise ValueError(message)
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory holding the package ``fh_app``, importable by this process too.

    One per module: a worker caches the callables it imported, so the app's
    functions must stay the same objects from test to test. Each test keeps
    its own queue file (see :func:`db`).
    """
    root = tmp_path_factory.mktemp("app")
    package = root / "fh_app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(APP_TASKS)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    yield root
    sys.path.remove(str(root))


@pytest.fixture
def db(app: Path) -> Iterator[str]:
    """A queue file name of this test's own, relative to the app's directory."""
    name = f"q-{uuid.uuid4().hex[:8]}.db"
    yield name
    for path in app.glob(f"{name}*"):
        path.unlink()


def app_tasks() -> ModuleType:
    return importlib.import_module("fh_app.tasks")


def run(*argv: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a command as a user would: no PYTHONPATH, from ``cwd``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


# -- 1. the worker imports the app from the working directory ---------------------


@pytest.mark.parametrize(
    "command", [[LATERGATOR], [ALLIGATOR, "worker"]], ids=["latergator", "alligator"]
)
def test_both_console_scripts_import_the_app_from_the_working_directory(
    command: list[str], app: Path, db: str, tmp_path: Path
) -> None:
    # Given a task of the app, enqueued on a SQLite file in the app's directory
    out = tmp_path / "out.txt"
    with Gator(f"sqlite:///{app / db}") as gator:
        gator.task(app_tasks().write, str(out), "ran")
    # When the README's worker command runs from that directory
    done = run(*command, f"sqlite://{db}", "--max-tasks", "1", cwd=app)
    # Then the worker imported the app and ran the task
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "ran"
    assert "UnknownModuleError" not in done.stderr


def test_a_worker_that_cannot_import_the_app_says_so_once_with_the_fix(
    app: Path, db: str, tmp_path: Path
) -> None:
    # Given two tasks of the app
    dsn = f"sqlite:///{app / db}"
    with Gator(dsn) as gator:
        for text in ("a", "b"):
            gator.task(app_tasks().write, str(tmp_path / text), text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # When a worker runs where the app is not importable
    done = run(LATERGATOR, dsn, "--recycle-after", "2", cwd=elsewhere)
    # Then it says once, at ERROR, which module is missing and how to fix it
    assert done.returncode == 0, done.stderr
    explained = lines_with(done.stderr, "cannot import module 'fh_app' (")
    assert len(explained) == 1, done.stderr
    assert " ERROR " in explained[0]
    assert "from its directory" in explained[0]
    assert f"working directory now: {elsewhere}" in explained[0]
    assert "PYTHONPATH" in explained[0]
    assert "alligator failed requeue DSN --all" in explained[0]
    # And the tasks are buried (kept), not run
    with Gator(dsn) as gator:
        assert gator.broker.stats("all").buried == 2


# -- 6. logs and printing ---------------------------------------------------------


def test_a_status_prints_its_name_and_still_equals_the_1_0_integer() -> None:
    # Given a task's status
    status = Status.WAITING
    # Then it prints as its name, and compares (and encodes) as 1.0's integer
    assert (str(status), f"{status}", f"{status:>8}") == ("WAITING", "WAITING", " WAITING")
    integers = [0, 1, 2, 3, 4, 5]  # 1.0's WAITING .. CANCELED, as stored
    assert list(Status)[:6] == integers and status == integers[0]
    assert (Status.BLOCKED, Status.RUNNING) == (6, 7)  # added by 2.0, after 1.0's
    assert int(Status.RETRYING) == 4 and f"{Status.DELAYED:d}" == "3"


def test_print_task_status_shows_the_name(
    capsys: pytest.CaptureFixture[str], app: Path, tmp_path: Path
) -> None:
    with Gator("locmem://status") as gator:
        task = gator.task(app_tasks().write, str(tmp_path / "x"), "x")
        print(task.status)
        Worker(gator, max_tasks=1).run_forever()
    assert capsys.readouterr().out == "WAITING\n"


def messages(caplog: pytest.LogCaptureFixture, level: int, needle: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno == level and needle in r.getMessage()
    ]


def test_each_retry_logs_one_info_line_with_the_real_delay(
    app: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a task with two retries, on a clock the test moves, with a known backoff
    caplog.set_level(logging.DEBUG, logger="alligator")
    clock = FakeClock(1_000.0)
    gator = Gator(
        "locmem://retries",
        backend_class=lambda dsn: LocmemClient(dsn, clock=clock),
        clock=clock,
        backoff=Backoff(base=30, factor=2, jitter=0),
    )
    with gator.options(retries=2) as opts:
        task = opts.task(app_tasks().fail, "upstream down")
    # When a worker runs it three times, each time once the retry is due
    for wait in (0, 30, 60):
        clock.advance(wait)
        Worker(gator, recycle_after=1).run_forever()
    # Then each retry was one INFO line: id, function, attempt, error, the backoff delay
    name = "fh_app.tasks.fail"
    assert messages(caplog, logging.INFO, "failed on attempt") == [
        f"task {task.task_id} ({name}) failed on attempt 1: ValueError: upstream down; "
        "retrying in 30.00s (retries left: 1)",
        f"task {task.task_id} ({name}) failed on attempt 2: ValueError: upstream down; "
        "retrying in 60.00s (retries left: 0)",
    ]
    assert gator.broker.stats("all").buried == 1
    # And the DEBUG lines give the run time as a run time, not as a delay
    debug = messages(caplog, logging.DEBUG, f"task {task.task_id} from 'all'")
    assert [line.split(": ", 1)[1].split(" (")[0] for line in debug] == ["retry", "retry", "bury"]
    assert all(" (ran " in line and "retry in" not in line for line in debug), debug


# -- 9. mypy sees an editable install ---------------------------------------------

ROOT = Path(__file__).resolve().parent.parent

USER_CODE = """\
from alligator import Gator, Task


def add(a: int, b: int) -> int:
    return a + b


gator = Gator("locmem://")
task: Task[int] = gator.task(add, 1, 2)
gator.task(add, 1, "2")
"""


def test_mypy_sees_an_editable_install_in_a_fresh_venv(tmp_path: Path) -> None:
    # Given a fresh virtualenv with Alligator installed editable, as `pip install -e .` does
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = run(
        sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
        "--no-deps", "--editable", str(ROOT),
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    # When mypy --strict checks user code against that environment (not this checkout)
    (tmp_path / "user.py").write_text(USER_CODE)
    checked = run(
        sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--no-error-summary",
        "--python-executable", str(python), "user.py",
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    # Then it finds the package and its types: only the wrong argument is reported
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, checked.stdout + checked.stderr
    # (gator.task is overloaded for plain and async def functions: no variant matches)
    assert errors[0].startswith('user.py:10: error: No overload variant of "task"')
    assert '"int", "str"' in errors[0] and "[call-overload]" in errors[0]


# -- 6 and 10. failed show: any argument order, and the call it buried -------------


@pytest.mark.parametrize(
    "order",
    [
        ["DSN", "--queue", "mail", "ID"],
        ["DSN", "ID", "--queue", "mail"],
        ["-q", "mail", "DSN", "ID"],
    ],
    ids=["option-between", "option-last", "option-first"],
)
def test_failed_show_takes_options_anywhere_and_prints_the_call(
    order: list[str], app: Path, db: str
) -> None:
    # Given a task buried on queue "mail"
    with Gator(f"sqlite:///{app / db}", queue_name="mail") as gator:
        task = gator.task(app_tasks().fail, "no such user", code=7)
        Worker(gator, recycle_after=1).run_forever()
        assert gator.broker.stats("mail").buried == 1
    # When `failed show` runs with the options in any place
    argv = [{"DSN": f"sqlite://{db}", "ID": task.task_id}.get(arg, arg) for arg in order]
    done = run(ALLIGATOR, "failed", "show", *argv, cwd=app)
    # Then it finds the task and prints the call with its arguments, and the traceback
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"task:      {task.task_id}"
    assert "call:      fh_app.tasks.fail('no such user', code=7)" in lines
    assert lines[-1] == "ValueError: no such user"


# -- 5. mistakes that look like an idle queue ---------------------------------------


def spawn(*argv: str, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start a command as a user would (no PYTHONPATH), its output going to ``log``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def test_a_worker_names_its_backend_and_points_at_the_queues_that_have_tasks(
    app: Path, db: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given tasks on queues "emails" and "images", none on the default queue
    for queue, count in (("emails", 3), ("images", 1)):
        with Gator(f"sqlite:///{app / db}", queue_name=queue) as gator:
            for n in range(count):
                gator.task(app_tasks().write, str(tmp_path / f"{queue}{n}"), "x")
    # When a worker starts on the default queue, with a relative DSN
    log = tmp_path / "worker.log"
    proc = spawn(LATERGATOR, f"sqlite://{db}", cwd=app, log=log)
    procs.append(proc)
    wait_until(lambda: "other queues" in log.read_text(), timeout=30, message="the hint")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    text = log.read_text()
    # Then its start-up line names the queue and the SQLite file's absolute path
    (started,) = lines_with(text, "starting & consuming")
    assert f"consuming 'all' on sqlite://{app / db} " in started
    # And one INFO line names the queues that have tasks and how to consume them
    (hint,) = lines_with(text, "other queues")
    assert " INFO " in hint
    assert "no task waits on 'all'" in hint
    assert "'emails' (3 waiting), 'images' (1 waiting)" in hint
    assert "-q/--queue NAME" in hint


def test_a_worker_with_tasks_on_its_queue_says_nothing_of_the_others(
    app: Path, db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alligator")
    dsn = f"sqlite:///{app / db}"
    with Gator(dsn, queue_name="emails") as other:
        other.task(app_tasks().write, str(tmp_path / "e"), "x")
    with Gator(dsn) as gator:
        gator.task(app_tasks().write, str(tmp_path / "a"), "x")
        Worker(gator, max_tasks=1).run_forever()
    assert messages(caplog, logging.INFO, "other queues") == []


def test_display_dsn_masks_passwords_and_makes_a_sqlite_path_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert display_dsn("sqlite://queue.db") == f"sqlite://{tmp_path / 'queue.db'}"
    assert display_dsn("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert display_dsn("redis://u:pw@h/0?password=pw&db=1") == "redis://u:***@h/0?password=***&db=1"
    assert display_dsn("beanstalk://h:11300") == "beanstalk://h:11300"


def test_info_without_a_queue_lists_every_queue_that_has_tasks(
    app: Path, db: str, tmp_path: Path
) -> None:
    # Given tasks on two queues, and a queue whose one task was buried
    dsn = f"sqlite:///{app / db}"
    for queue in ("emails", "images"):
        with Gator(dsn, queue_name=queue) as gator:
            gator.task(app_tasks().write, str(tmp_path / queue), "x")
    with Gator(dsn, queue_name="reports") as gator:
        gator.task(app_tasks().fail, "no data")
        gator.pop()
    # When info runs with no -q
    done = run(ALLIGATOR, "info", f"sqlite://{db}", cwd=app)
    # Then every queue with tasks is shown, sorted
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert rows == [
        ["queue", "ready", "delayed", "reserved", "buried"],
        ["emails", "1", "0", "0", "0"],
        ["images", "1", "0", "0", "0"],
        ["reports", "0", "0", "0", "1"],
    ]


def test_info_on_an_empty_backend_says_so(app: Path, db: str) -> None:
    with Gator(f"sqlite:///{app / db}") as gator:
        assert gator.len() == 0  # creates the file
    done = run(ALLIGATOR, "info", f"sqlite://{db}", cwd=app)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"no queue of sqlite://{app / db} holds tasks\n"


@pytest.mark.parametrize(
    "command",
    [["info"], ["failed", "list"], ["failed", "show", "ID"], ["failed", "purge", "--all"]],
    ids=["info", "failed-list", "failed-show", "failed-purge"],
)
def test_looking_at_a_sqlite_file_that_does_not_exist_is_an_error(
    command: list[str], app: Path, tmp_path: Path
) -> None:
    # Given a DSN naming a file that does not exist (the wrong working directory, say)
    # When info or failed looks at it
    done = run(ALLIGATOR, *command[:2], "sqlite://missing.db", *command[2:], cwd=tmp_path)
    # Then it exits 2 with one line naming the file, and creates nothing
    assert done.returncode == 2
    assert done.stderr == (
        f"error: SQLite database '{tmp_path / 'missing.db'}' (relative to the working "
        f"directory, {tmp_path}) does not exist, so it holds no tasks; this command never "
        "creates it\n"
    )
    assert not (tmp_path / "missing.db").exists()


def test_failed_list_on_a_queue_with_nothing_buried_says_so_and_where_to_look(
    app: Path, db: str
) -> None:
    # Given a task buried on queue "reports" and nothing buried on the default queue
    with Gator(f"sqlite:///{app / db}", queue_name="reports") as gator:
        task = gator.task(app_tasks().fail, "no data")
        gator.pop()
    # When failed list and failed show look at the default queue
    listed = run(ALLIGATOR, "failed", "list", f"sqlite://{db}", cwd=app)
    shown = run(ALLIGATOR, "failed", "show", f"sqlite://{db}", task.task_id, cwd=app)
    # Then they say so, and name the queue where the task is buried
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == (
        f"no buried tasks on queue 'all' of sqlite://{app / db}; queues with buried tasks: "
        "'reports' (1) (name one with --queue)\n"
    )
    assert shown.returncode == 2
    assert shown.stderr == (
        f"error: no buried task {task.task_id!r} on queue 'all'; it is buried on queue 'reports'\n"
    )


# -- 7. a backend that is down ------------------------------------------------------

BACKOFF_LINE = re.compile(r" WARNING .* backend .* failed \(.*\); retrying in (?P<delay>[\d.]+)s$")


def backed_off(log: Path, steps: int) -> bool:
    return log.read_text().count("retrying in") >= steps


@pytest.mark.parametrize(
    "command", [[LATERGATOR], [ALLIGATOR, "worker", "--processes", "2"]], ids=["worker", "pool"]
)
def test_a_backend_down_at_start_up_is_one_line_and_exit_1(command: list[str], app: Path) -> None:
    # Given a Redis DSN (with a password) on a port nothing listens on
    dsn = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    # When a worker starts
    done = run(*command, dsn, cwd=app)
    # Then it exits 1 at once with one line naming the backend and the way out
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: cannot reach the backend {dsn.replace('s3cret', '***')} (")
    assert "Connection refused" in line
    assert line.endswith("start it or fix the DSN, or pass --wait-for-backend to wait for it")


def test_wait_for_backend_waits_with_one_line_per_back_off_step(
    app: Path, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given a worker told to wait for a backend that is down
    log = tmp_path / "worker.log"
    dsn = f"redis://127.0.0.1:{free_port()}/0"
    proc = spawn(LATERGATOR, dsn, "--wait-for-backend", cwd=app, log=log)
    procs.append(proc)
    # When it has backed off four times
    wait_until(lambda: backed_off(log, 4), timeout=30, message="four back-off steps")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    # Then each step was one WARNING line with its delay, and nothing else was logged
    text = log.read_text()
    assert "Traceback" not in text
    problems = [line for line in text.splitlines() if " INFO " not in line]
    delays = [float(m["delay"]) for m in map(BACKOFF_LINE.search, problems) if m]
    assert len(delays) == len(problems), text
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]


def test_a_redis_outage_mid_run_logs_one_line_per_step_and_the_worker_carries_on(
    app: Path, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    # Given a worker consuming a Redis of this test's own
    server = redis_server(tmp_path, *DISKLESS)
    server.start()
    try:
        dsn = f"redis://127.0.0.1:{server.port}/0"
        log = tmp_path / "worker.log"
        proc = spawn(LATERGATOR, dsn, cwd=app, log=log)
        procs.append(proc)
        before, after = tmp_path / "before", tmp_path / "after"
        with Gator(dsn) as gator:
            gator.task(app_tasks().write, str(before), "x")
        wait_until(before.exists, timeout=30, message="the first task")
        # When the server stops for a while, then comes back
        server.stop()
        wait_until(lambda: backed_off(log, 4), timeout=30, message="four back-off steps")
        server.start()
        with Gator(dsn) as gator:
            gator.task(app_tasks().write, str(after), "x")
        # Then the worker runs the next task once the server is back
        wait_until(after.exists, timeout=30, message="the task after the outage")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        server.stop()
    # And the outage was one WARNING line per back-off step, with no traceback
    text = log.read_text()
    assert "Traceback" not in text
    problems = [line for line in text.splitlines() if " INFO " not in line]
    assert problems and all(BACKOFF_LINE.search(line) for line in problems), text


# -- 10. the docs ---------------------------------------------------------------------

DOC_FILES = [
    *sorted((ROOT / "docs").glob("*.rst")),
    *sorted((ROOT / "docs" / "examples").rglob("*.py")),
    ROOT / "README.md",
]


#: Where a file the docs name by its bare name may live.
SOURCE_DIRS = ("alligator", "benchmarks", "docs", "tests")


@pytest.mark.parametrize("page", DOC_FILES, ids=lambda path: path.name)
def test_the_docs_point_only_at_files_that_exist(page: Path) -> None:
    text = page.read_text()
    named = re.findall(r"``([\w./-]+\.(?:md|rst|toml))``", text)
    named += re.findall(r"\]\(([^)#:]+)\)", text)  # Markdown links, not URLs
    # A bare name (``results.md``) may live in the directory the sentence names.
    missing = [
        name
        for name in named
        if not (ROOT / name).exists()
        and ("/" in name or not any(any((ROOT / d).rglob(name)) for d in SOURCE_DIRS))
    ]
    assert missing == []


@pytest.mark.parametrize("page", DOC_FILES, ids=lambda path: path.name)
def test_the_docs_speak_plainly(page: Path) -> None:
    # The project's own shorthand for where it came from means nothing to a reader.
    assert re.findall(r"\bseed\b|\bseed's\b", page.read_text(), re.IGNORECASE) == []


def test_failed_show_prints_the_call_of_a_signed_payload(app: Path, db: str) -> None:
    # Given a signed task, buried
    with Gator(f"sqlite:///{app / db}", signing_key=b"k" * 32) as gator:
        task = gator.task(app_tasks().fail, "signed")
        gator.pop()
    # When failed show runs (showing runs nothing, so it needs no key)
    done = run(ALLIGATOR, "failed", "show", f"sqlite://{db}", task.task_id, cwd=app)
    # Then the call is read from inside the signed envelope
    assert done.returncode == 0, done.stderr
    assert "call:      fh_app.tasks.fail('signed')" in done.stdout.splitlines()
