"""Fixtures shared by the core tests (backend-specific dirs have their own)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator
from alligator.backends.locmem_backend import reset_stores
from tests import tasks


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
