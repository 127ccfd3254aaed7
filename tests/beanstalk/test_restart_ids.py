"""beanstalkd restarted without a binlog reuses job ids: an old id must not reach a new job.

Without ``-b`` every job is lost on a restart and ids start again at 1, so
the id a producer kept from before the restart names an unrelated new job.
``get``/``cancel``, ``requeue`` and ``purge`` check the task's identity inside
the job before they touch it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator.backends.beanstalk_backend import Client
from alligator.records import QueueStats
from tests.beanstalk.conftest import QUEUE
from tests.fixtures import beanstalkd_server
from tests.servers import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def no_binlog(tmp_path: Path) -> Iterator[ServerProcess]:
    server = beanstalkd_server(tmp_path, binlog=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_an_id_from_before_a_restart_does_not_take_a_new_job(no_binlog: ServerProcess) -> None:
    # Given a task pushed before beanstalkd restarts without a binlog
    client = Client(f"beanstalk://127.0.0.1:{no_binlog.port}", ttr=10)
    old_id = client.push(QUEUE, "old", b"the old task")
    no_binlog.restart()
    client.close()
    # And a new task that got the same job id from the restarted server
    new_id = client.push(QUEUE, "new", b"an unrelated new task")
    # When the old id is fetched or cancelled / Then the new task is not touched
    assert client.get(QUEUE, old_id) is None
    assert client.stats(QUEUE) == QueueStats(ready=1)
    # And the two ids differ though beanstalkd gave both tasks the same job number
    assert new_id != old_id
    assert new_id.split("-")[0] == old_id.split("-")[0]
    # And the new id still finds it
    assert client.get(QUEUE, new_id) == b"an unrelated new task"
    client.close()


def test_an_old_id_cannot_requeue_or_purge_a_new_buried_job(no_binlog: ServerProcess) -> None:
    client = Client(f"beanstalk://127.0.0.1:{no_binlog.port}", ttr=10)
    old_id = client.push(QUEUE, "old", b"old")
    no_binlog.restart()
    client.close()
    client.push(QUEUE, "new", b"new")
    held = client.reserve(QUEUE, 10)
    assert held is not None
    assert client.bury(QUEUE, held, "broken")
    # When the pre-restart id is requeued or purged / Then the new buried job stays
    assert client.requeue(QUEUE, old_id) is None
    assert client.purge(QUEUE, old_id) == 0
    [buried] = client.buried(QUEUE)
    assert buried.task_id == held.task_id != old_id
    client.close()
