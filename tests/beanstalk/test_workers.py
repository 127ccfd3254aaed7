"""Real worker processes on beanstalkd: the cases of :mod:`tests.worker_cases`.

Exactly-once draining by four processes, TTR recovery after kill -9, and
``touch`` keeping a long task from a second worker (jobs get a 1 s TTR, so a
lost worker is noticed fast).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator
from tests.process_tasks import Workers
from tests.worker_cases import (  # noqa: F401 (collected here, for beanstalkd)
    QUEUE,
    test_four_workers_run_10000_tasks_exactly_once,
    test_long_task_is_not_handed_to_a_second_worker,
    test_worker_killed_mid_task_task_runs_again_after_the_lease,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def workers(dsn: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(dsn, QUEUE, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def gator(dsn: str) -> Iterator[Gator]:
    """A producer whose jobs get a 1 s TTR, so a lost worker is noticed fast."""
    made = Gator(f"{dsn}?ttr=1", queue_name=QUEUE)
    try:
        yield made
    finally:
        made.broker.close()
