"""Every built-in backend names the queues that hold tasks (``QueueLister``).

``alligator info`` without ``-q`` shows them, and a worker started on an
empty queue names them; both rely on this one method.
"""

from __future__ import annotations

import pytest

from alligator.capabilities import queue_lister_view
from alligator.protocols import QueueLister
from tests import tasks
from tests.fixtures import Backend


def lister(backend: Backend) -> QueueLister:
    gator = backend.gator()
    found = queue_lister_view(gator.backend, gator.capabilities)
    assert found is not None, f"{backend.name} declares no QueueLister"
    return found


@pytest.fixture
def names(queue_name: str) -> tuple[str, str, str]:
    """Three queue names of this test's own (beanstalkd's server is shared)."""
    return f"{queue_name}a", f"{queue_name}b", f"{queue_name}c"


def mine(found: list[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in found if name in names]


def test_queues_names_every_queue_with_a_task_in_any_state(
    any_backend: Backend, names: tuple[str, str, str]
) -> None:
    # Given a ready task on one queue, a delayed one on another, a buried one on a third
    ready, delayed, buried = names
    any_backend.gator(queue_name=ready).task(tasks.add, 1, 2)
    with any_backend.gator(queue_name=delayed).options(delay_by=3600) as opts:
        opts.task(tasks.add, 1, 2)
    graveyard = any_backend.gator(queue_name=buried)
    graveyard.task(tasks.fail, "buried")  # raises, with no retries: buried
    graveyard.pop()
    assert graveyard.broker.stats(buried).buried == 1
    # When the backend lists its queues
    found = lister(any_backend).queues()
    # Then all three are named, sorted
    assert mine(found, names) == sorted(names)
    assert found == sorted(found)


def test_an_emptied_queue_is_not_listed(any_backend: Backend, names: tuple[str, str, str]) -> None:
    # Given two queues with a task each
    keep, empty, _ = names
    for name in (keep, empty):
        any_backend.gator(queue_name=name).task(tasks.add, 1, 2)
    # When one is drained
    assert any_backend.gator(queue_name=empty).pop() is not None
    # Then only the other is listed
    assert mine(lister(any_backend).queues(), names) == [keep]
