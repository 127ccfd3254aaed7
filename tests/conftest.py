"""Fixtures shared by the core tests (backend-specific dirs have their own)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from alligator import Gator
from alligator.backends.locmem_backend import reset_stores
from tests import tasks
from tests.fixtures import (  # noqa: F401  (registered once here: one server of each per session)
    any_backend,
    any_dsn,
    queue_name,
    shared_beanstalkd,
    shared_cluster,
    shared_postgres,
    shared_redis,
)

#: ``pytester`` runs the conformance kit against broken clients in a nested session.
pytest_plugins = ["pytester"]


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    """Forget locmem stores and in-process task records between tests."""
    reset_stores()
    tasks.reset()
    yield
    reset_stores()
    tasks.reset()


@pytest.fixture
def locmem_dsn() -> str:
    return f"locmem://test-{uuid.uuid4().hex}"


@pytest.fixture
def locmem_gator(locmem_dsn: str) -> Gator:
    return Gator(locmem_dsn, queue_name="q")


@pytest.fixture
def sqlite_dsn(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'queue.db'}"


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.txt"


ROOT = Path(__file__).resolve().parent.parent


def spawn_worker(
    dsn: str, log: Path, *extra: str, command: Sequence[str] = ("-m", "alligator", "worker")
) -> subprocess.Popen[bytes]:
    """A worker process importing ``tests.tasks``; its log goes to ``log``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *command, dsn, "--queue", "q", "--import", "tests.tasks", *extra],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Make sure a test's process is gone, whatever the test did."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test started: killed (if still running) when it ends."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop_process(proc)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Collect what the tests left behind before pytest's own last collection.

    A socket left for the garbage collector warns when collected, and
    pytest turns that warning into an error *after* every test has passed.
    The one source found (a closed Redis Cluster client whose node pools
    redis-py left open; its close() now disconnects them, and
    tests/redis/test_connection.py checks it) failed 1 fresh-clone run in 3.
    Collected here, such a warning is dropped; a leak collected during a
    test still fails that test.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
