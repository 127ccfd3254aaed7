"""beanstalkd going away: errors are ours, the client reconnects, a binlog keeps jobs."""

from __future__ import annotations

import time

import pytest

from alligator.backends._beanstalk_names import parse_job_id
from alligator.backends.beanstalk_backend import Client
from alligator.exceptions import BackendConnectionError, BackendError
from alligator.records import QueueStats
from tests.beanstalk.conftest import QUEUE
from tests.servers import ServerProcess, free_port

pytestmark = pytest.mark.slow


def test_restart_with_binlog_keeps_jobs_and_client_recovers(
    beanstalkd: ServerProcess, client: Client
) -> None:
    # Given ready, delayed and reserved jobs on a server with a binlog
    ready_id = client.push(QUEUE, "a", b"ready")
    held_id = client.push(QUEUE, "b", b"held")
    client.push(QUEUE, "c", b"delayed", delay_until=time.time() + 3600)
    held = client.reserve(QUEUE, lease=10)
    assert held is not None and held.task_id == ready_id
    # When beanstalkd is killed and restarted
    beanstalkd.restart(kill=True)
    # Then the first call reports the lost connection as our error
    with pytest.raises(BackendConnectionError):
        client.len(QUEUE)
    # And the next one reconnects: every job is back, the reserved one ready again
    assert client.stats(QUEUE) == QueueStats(ready=2, delayed=1)
    # And the old reservation is dead
    assert not client.ack(QUEUE, held)
    # And ids continue from the binlog
    new_number, held_number = parse_job_id(client.push(QUEUE, "d", b"new")), parse_job_id(held_id)
    assert new_number is not None and held_number is not None and new_number > held_number
    got = sorted(r.data for r in iter(lambda: client.reserve(QUEUE, lease=10), None))
    assert got == [b"held", b"new", b"ready"]


def test_server_down_is_a_connection_error_then_recovery(
    beanstalkd: ServerProcess, client: Client
) -> None:
    client.push(QUEUE, "a", b"x")
    beanstalkd.stop()
    # While the server is down every call fails with our error, chained to the cause
    for _ in range(2):
        with pytest.raises(BackendConnectionError) as caught:
            client.push(QUEUE, "b", b"y")
        assert isinstance(caught.value, ConnectionError)
        assert caught.value.__cause__ is not None
    beanstalkd.start()
    # Once it is back the same client works again (the binlog kept the job)
    assert client.pop(QUEUE) == b"x"


def test_unreachable_server_is_a_connection_error() -> None:
    client = Client(f"beanstalk://127.0.0.1:{free_port()}", socket_timeout=2)
    with pytest.raises(BackendConnectionError, match=r"127\.0\.0\.1"):
        client.len(QUEUE)


def test_protocol_error_drops_the_connection(client: Client) -> None:
    # Given a command beanstalkd answers with an error we do not expect
    client.push(QUEUE, "a", b"x")
    with pytest.raises(BackendError), client._conn.session() as conn:
        conn.kick_job(10**9)  # NOT_FOUND, unexpected here
    # Then the client reconnects and keeps working
    assert client.pop(QUEUE) == b"x"
