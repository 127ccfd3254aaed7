"""At-least-once on beanstalkd: reserve, ack, release, bury, renew (touch), TTR expiry."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import greenstalk
import pytest

from alligator.backends._beanstalk_names import parse_job_id
from alligator.backends.beanstalk_backend import Client
from alligator.protocols import ReliableClient
from alligator.records import QueueStats, Reservation
from tests.beanstalk.conftest import QUEUE
from tests.servers import ServerProcess, wait_until


@pytest.fixture
def short(dsn: str) -> Iterator[Client]:
    """A client whose jobs get beanstalkd's shortest TTR, 1 s."""
    made = Client(dsn, ttr=1)
    try:
        yield made
    finally:
        made.close()


def reserve_soon(client: Client, timeout: float = 5.0) -> Reservation:
    """Reserve with a blocking wait; fail the test if nothing comes."""
    reservation = client.reserve(QUEUE, lease=1, timeout=timeout)
    assert reservation is not None, "no job became ready in time"
    return reservation


def test_client_satisfies_the_reliable_protocol(client: Client) -> None:
    checked: ReliableClient = client
    assert isinstance(checked, ReliableClient)


def test_reserve_hides_the_job_until_ack(client: Client, other: Client) -> None:
    # Given a pushed task reserved by one worker
    job_id = client.push(QUEUE, "t", b"work")
    reservation = client.reserve(QUEUE, lease=10)
    assert reservation is not None
    assert (reservation.task_id, reservation.data, reservation.attempts) == (job_id, b"work", 1)
    # Then a second worker gets nothing
    assert other.reserve(QUEUE, lease=10) is None
    assert client.stats(QUEUE) == QueueStats(reserved=1)
    # When it is acked the job is gone, and a second ack is refused
    assert client.ack(QUEUE, reservation)
    assert not client.ack(QUEUE, reservation)
    assert client.stats(QUEUE) == QueueStats()


def test_reserve_blocks_until_a_push(
    client: Client, other: Client, beanstalkd: ServerProcess
) -> None:
    # Given a worker waiting on an empty queue
    got: list[Reservation | None] = []
    waiter = threading.Thread(target=lambda: got.append(client.reserve(QUEUE, 10, timeout=10)))
    waiter.start()
    wait_until(
        lambda: other.stats(QUEUE).reserved == 0 and _waiting(beanstalkd) == 1,
        message="the worker to block in reserve",
    )
    # When a producer pushes
    other.push(QUEUE, "t", b"wake")
    waiter.join(10)
    # Then the blocked reserve returns it
    assert [r.data for r in got if r is not None] == [b"wake"]


def _waiting(beanstalkd: ServerProcess) -> int:
    """Connections blocked in a reserve on the tube, asked on a connection of our own."""
    with greenstalk.Client(("127.0.0.1", beanstalkd.port)) as conn:
        try:
            return int(conn.stats_tube(QUEUE)["current-waiting"])
        except greenstalk.NotFoundError:  # no one uses or watches the tube yet
            return 0


def test_reservation_of_another_client_is_refused(client: Client, other: Client) -> None:
    client.push(QUEUE, "t", b"x")
    reservation = client.reserve(QUEUE, lease=10)
    assert reservation is not None
    assert not other.ack(QUEUE, reservation)
    assert not other.renew(QUEUE, reservation, 10)
    assert not other.release(QUEUE, reservation)
    assert not other.bury(QUEUE, reservation, "no")
    assert not client.ack("other-queue", reservation)
    assert client.ack(QUEUE, reservation)


def test_stale_reservation_refused_after_ttr_expiry(short: Client, other: Client) -> None:
    # Given a job reserved by a worker that then stalls past its 1 s TTR
    short.push(QUEUE, "t", b"x")
    stale = reserve_soon(short)
    # When its TTR runs out and beanstalkd hands it to a second worker. The
    # stalled worker's own stats-tube calls are what the wait polls with:
    # beanstalkd 1.12 sometimes keeps an expired job reserved while its
    # holder's connection stays silent, and frees it on the holder's next
    # command (or when the connection closes, as a killed worker's does).
    wait_until(lambda: short.stats(QUEUE).ready == 1, message="TTR expiry")
    fresh = reserve_soon(other)
    assert fresh.task_id == stale.task_id and fresh.attempts == 2
    # Then the first worker's ack, release, renew and bury are refused
    assert not short.ack(QUEUE, stale)
    assert not short.release(QUEUE, stale)
    assert not short.renew(QUEUE, stale, 1)
    assert not short.bury(QUEUE, stale, "late")
    # And the second worker still owns it
    assert other.ack(QUEUE, fresh)


def test_stale_token_refused_when_the_same_client_reserves_again(short: Client) -> None:
    # Given a reservation that expired and was taken again by the same connection
    short.push(QUEUE, "t", b"x")
    stale = reserve_soon(short)
    wait_until(lambda: short.stats(QUEUE).ready == 1, message="TTR expiry")
    fresh = reserve_soon(short)
    assert fresh.task_id == stale.task_id
    # Then only the newest token works
    assert not short.ack(QUEUE, stale)
    assert short.ack(QUEUE, fresh)


def test_expired_and_unreserved_job_is_not_deleted_by_a_stale_ack(short: Client) -> None:
    short.push(QUEUE, "t", b"x")
    stale = reserve_soon(short)
    wait_until(lambda: short.stats(QUEUE).ready == 1, message="TTR expiry")
    assert not short.ack(QUEUE, stale)
    assert short.len(QUEUE) == 1


def test_touch_keeps_a_job_from_a_second_connection(short: Client, other: Client) -> None:
    # Given a job with a 1 s TTR held by a worker that renews from a heartbeat thread
    short.push(QUEUE, "t", b"long task")
    reservation = reserve_soon(short)
    stop = threading.Event()
    renewals: list[bool] = []

    def heartbeat() -> None:
        while not stop.wait(0.3):
            renewals.append(short.renew(QUEUE, reservation, 1))

    beat = threading.Thread(target=heartbeat)
    beat.start()
    try:
        # When a second worker waits for three TTRs
        taken = other.reserve(QUEUE, lease=1, timeout=3)
    finally:
        stop.set()
        beat.join()
    # Then it never gets the job, and the holder can still ack it
    assert taken is None
    assert renewals and all(renewals)
    assert short.ack(QUEUE, reservation)


def test_release_keeps_id_and_counts_attempts(client: Client) -> None:
    job_id = client.push(QUEUE, "t", b"x")
    first = reserve_soon(client)
    assert client.release(QUEUE, first)
    second = reserve_soon(client)
    assert (second.task_id, second.data, second.attempts) == (job_id, b"x", 2)
    # Unchanged bytes count as no new payload: the id is kept too
    assert client.release(QUEUE, second, data=b"x")
    assert reserve_soon(client).task_id == job_id


def test_release_with_new_payload_changes_the_id(client: Client) -> None:
    job_id = client.push(QUEUE, "t", b"v1", priority=5)
    reservation = reserve_soon(client)
    assert client.release(QUEUE, reservation, data=b"v2")
    again = reserve_soon(client)
    assert again.data == b"v2" and again.task_id != job_id
    assert client.stats(QUEUE) == QueueStats(reserved=1)
    # The priority and TTR of the job are kept
    with client._conn.session() as conn:
        stats = conn.stats_job(parse_job_id(again.task_id) or 0)
    assert (stats["pri"], stats["ttr"]) == (2**31 + 5, 10)


def test_release_with_delay(client: Client) -> None:
    client.push(QUEUE, "t", b"x")
    reservation = reserve_soon(client)
    assert client.release(QUEUE, reservation, delay_until=time.time() + 1)
    assert client.stats(QUEUE) == QueueStats(delayed=1)
    assert client.reserve(QUEUE, lease=1, timeout=5) is not None


def test_bury_reason_is_recoverable(client: Client, other: Client) -> None:
    # Given two tasks buried with reasons, one of them with a huge traceback
    first_id = client.push(QUEUE, "a", b"\x00bad payload\xff")
    second_id = client.push(QUEUE, "b", b"out of retries")
    traceback = "Traceback (most recent call last):\n" + "  frame\n" * 20_000 + "ValueError: boom"
    before = time.time()
    assert client.bury(QUEUE, reserve_soon(client), "cannot decode payload")
    assert client.bury(QUEUE, reserve_soon(client), traceback)
    # When another process lists them
    buried = other.buried(QUEUE)
    # Then ids, payloads, reasons and times are there, oldest first
    assert [(b.task_id, b.data) for b in buried] == [
        (first_id, b"\x00bad payload\xff"),
        (second_id, b"out of retries"),
    ]
    assert buried[0].reason == "cannot decode payload"
    assert buried[1].reason.startswith("Traceback") and buried[1].reason.endswith(
        "ValueError: boom"
    )
    assert "bytes cut" in buried[1].reason
    assert before <= buried[0].buried_at <= buried[1].buried_at <= time.time()
    # And stats count them; the records do not count as tasks, and listing is repeatable
    assert client.stats(QUEUE) == QueueStats(buried=2)
    assert client.len(QUEUE) == 0
    assert other.buried(QUEUE) == buried


def test_buried_task_kicked_and_acked_leaves_no_record(client: Client) -> None:
    job_id = client.push(QUEUE, "a", b"x")
    assert client.bury(QUEUE, reserve_soon(client), "first failure")
    with client._conn.session() as conn:
        conn.kick_job(parse_job_id(job_id) or 0)
    # A kicked job is no longer listed as buried
    assert client.buried(QUEUE) == []
    again = reserve_soon(client)
    assert again.task_id == job_id
    assert client.bury(QUEUE, again, "second failure")
    assert [b.reason for b in client.buried(QUEUE)] == ["second failure"]
    with client._conn.session() as conn:
        conn.kick_job(parse_job_id(job_id) or 0)
    assert client.ack(QUEUE, reserve_soon(client))
    # Listing cleans the records of jobs that are gone
    assert client.buried(QUEUE) == []
    assert client.stats(QUEUE + "x") == QueueStats()
    with client._conn.session() as conn:
        assert conn.stats_tube(QUEUE + ".buried")["current-jobs-ready"] == 0


def test_pop_is_reserve_and_delete(client: Client) -> None:
    client.push(QUEUE, "t", b"x")
    assert client.pop(QUEUE) == b"x"
    assert client.stats(QUEUE) == QueueStats()


def server_counts(beanstalkd: ServerProcess) -> dict[str, int]:
    """beanstalkd's own per-command counters, read on a separate connection."""
    with greenstalk.Client(("127.0.0.1", beanstalkd.port)) as admin:
        stats = admin.stats()
    return {
        "touch": stats["cmd-touch"],
        "delete": stats["cmd-delete"],
        "stats-job": stats["cmd-stats-job"],
    }


def test_an_ack_well_inside_the_ttr_is_one_delete(
    beanstalkd: ServerProcess, client: Client
) -> None:
    # Given a job reserved under a 10 s TTR
    client.push(QUEUE, "t", b"x")
    reservation = reserve_soon(client)
    before = server_counts(beanstalkd)
    # When it is acked at once
    assert client.ack(QUEUE, reservation)
    # Then the ack was a single delete: no touch needed to prove the lease
    after = server_counts(beanstalkd)
    assert after["delete"] - before["delete"] == 1
    assert after["touch"] == before["touch"]
    assert client.stats(QUEUE) == QueueStats()


def test_an_ack_near_the_deadline_touches_first(beanstalkd: ServerProcess, short: Client) -> None:
    # Given a job whose 1 s TTR leaves no safety margin for a blind delete
    short.push(QUEUE, "t", b"x")
    reservation = reserve_soon(short)
    before = server_counts(beanstalkd)
    # When it is acked
    assert short.ack(QUEUE, reservation)
    # Then the server was asked (touch) before the delete
    after = server_counts(beanstalkd)
    assert after["touch"] - before["touch"] == 1
    assert after["delete"] - before["delete"] == 1


def test_release_and_bury_need_no_touch(beanstalkd: ServerProcess, client: Client) -> None:
    # Given two reserved jobs
    client.push(QUEUE, "a", b"retry me")
    client.push(QUEUE, "b", b"bury me")
    first, second = reserve_soon(client), reserve_soon(client)
    before = server_counts(beanstalkd)
    # When one is released and the other buried
    assert client.release(QUEUE, first)
    assert client.bury(QUEUE, second, "boom")
    # Then neither touched the job first (beanstalkd refuses both for a job
    # this connection does not hold), and both took effect
    assert server_counts(beanstalkd)["touch"] == before["touch"]
    assert client.stats(QUEUE) == QueueStats(ready=1, buried=1)
