"""The 1.0 contract on beanstalkd: push, len, get, pop, drop_all, limits, names."""

from __future__ import annotations

import time

import pytest

from alligator.backends._beanstalk_names import parse_job_id
from alligator.backends.beanstalk_backend import Client, validate_queue_name
from alligator.exceptions import ConfigurationError, InvalidTaskError, PayloadTooLarge
from alligator.records import PushItem, QueueStats
from tests.beanstalk.conftest import QUEUE
from tests.servers import wait_until


def test_push_returns_beanstalkd_job_id_that_get_accepts(client: Client) -> None:
    # Given a pushed task whose own id is a uuid
    job_id = client.push(QUEUE, "6f1c0a8e-uuid-of-the-envelope", b"payload")
    # Then the id that counts is beanstalkd's numeric job id and the job's check
    number, check = job_id.split("-")
    assert number.isdigit() and len(check) == 8
    # When it is fetched by that id
    # Then it is removed and returned
    assert client.get(QUEUE, job_id) == b"payload"
    assert client.get(QUEUE, job_id) is None
    assert client.len(QUEUE) == 0


def test_get_ignores_other_tubes_and_bad_ids(client: Client) -> None:
    job_id = client.push(QUEUE, "t", b"x")
    assert client.get("other", job_id) is None
    assert client.get(QUEUE, "not-a-number") is None
    assert client.get(QUEUE, "999999") is None
    assert client.len(QUEUE) == 1


def test_get_leaves_reserved_and_buried_jobs(client: Client) -> None:
    # Given one reserved and one buried job
    reserved_id = client.push(QUEUE, "a", b"a")
    reservation = client.reserve(QUEUE, lease=10)
    assert reservation is not None and reservation.task_id == reserved_id
    buried_id = client.push(QUEUE, "b", b"b")
    second = client.reserve(QUEUE, lease=10)
    assert second is not None and client.bury(QUEUE, second, "broken")
    # Then get refuses both: only waiting tasks can be cancelled
    assert client.get(QUEUE, reserved_id) is None
    assert client.get(QUEUE, buried_id) is None
    assert client.stats(QUEUE) == QueueStats(reserved=1, buried=1)


def test_missing_tube_counts_zero(client: Client) -> None:
    assert client.len("never-used") == 0
    assert client.stats("never-used") == QueueStats()
    assert client.buried("never-used") == []
    assert client.pop("never-used") is None


def test_len_counts_ready_and_delayed(client: Client) -> None:
    client.push(QUEUE, "a", b"now")
    client.push(QUEUE, "b", b"later", delay_until=time.time() + 3600)
    assert client.len(QUEUE) == 2
    assert client.stats(QUEUE) == QueueStats(ready=1, delayed=1)
    # A delayed task is not popped before it is due
    assert client.pop(QUEUE) == b"now"
    assert client.pop(QUEUE) is None


def test_delayed_task_becomes_due(client: Client) -> None:
    # Given a task delayed by one second (beanstalkd's clock cannot be injected)
    client.push(QUEUE, "a", b"soon", delay_until=time.time() + 1)
    assert client.pop(QUEUE) is None
    # Then it is popped once due
    popped: list[bytes] = []

    def due() -> bool:
        data = client.pop(QUEUE)
        if data is not None:
            popped.append(data)
        return bool(popped)

    wait_until(due, timeout=5, interval=0.05, message="delayed job to become ready")
    assert popped == [b"soon"]


def test_past_delay_is_ready_now(client: Client) -> None:
    client.push(QUEUE, "a", b"x", delay_until=time.time() - 100)
    assert client.stats(QUEUE).ready == 1


def test_fifo_within_a_priority_and_priority_first(client: Client) -> None:
    # Alligator's scale (lower first, 0 the default) on beanstalkd's native one
    client.push(QUEUE, "1", b"first")
    client.push(QUEUE, "2", b"second", priority=0)
    client.push(QUEUE, "3", b"urgent", priority=-(2**31))
    client.push(QUEUE, "4", b"lazy", priority=2**31 - 1)
    assert [client.pop(QUEUE) for _ in range(5)] == [b"urgent", b"first", b"second", b"lazy", None]


def test_priorities_map_onto_beanstalkds_native_ones(client: Client) -> None:
    ids = client.push_many(QUEUE, [PushItem("a", b"a", None, -5), PushItem("b", b"b")])
    ids.append(client.push(QUEUE, "c", b"c", priority=7))
    with client._conn.session() as conn:
        native = [conn.stats_job(parse_job_id(i) or 0)["pri"] for i in ids]
    assert native == [2**31 - 5, 2**31, 2**31 + 7]


def test_binary_payloads_round_trip(client: Client) -> None:
    payloads = [b"", b"\r\n", b"a\r\nb\x00c\xff", bytes(range(256)), b"\xff\xfe" * 1000]
    for data in payloads:
        client.push(QUEUE, "t", data)
    got = [client.reserve(QUEUE, lease=10) for _ in payloads]
    assert [r.data for r in got if r is not None] == payloads


def test_oversized_payload_names_size_limit_and_fix(client: Client) -> None:
    # Given beanstalkd's default max job size of 65,535 bytes, 8 of them Alligator's header
    client.push(QUEUE, "fits", b"x" * 65_527)
    # When a larger payload is pushed
    with pytest.raises(PayloadTooLarge) as caught:
        client.push(QUEUE, "big", b"x" * 65_528)
    # Then the error names the size, the limit and the fixes
    message = str(caught.value)
    assert "65,528" in message and "65,527" in message and "65,535" in message
    assert "msgpack+bz2" in message and "-z" in message
    # And the connection is still usable
    assert client.len(QUEUE) == 1
    assert client.pop(QUEUE) == b"x" * 65_527


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("-leading-dash", "start with '-'"),
        ("has space", "letters, digits"),
        ("ünïcode", "letters, digits"),
        ("star*", "letters, digits"),
        ("", "non-empty"),
        ("q" * 194, "limit is 193"),
        ("emails.buried", "reserves"),
    ],
)
def test_illegal_queue_names_are_configuration_errors(client: Client, name: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why):
        validate_queue_name(name)
    # And every operation refuses them before sending anything
    with pytest.raises(ConfigurationError):
        client.push(name, "t", b"x")
    with pytest.raises(ConfigurationError):
        client.reserve(name, lease=1)


def test_legal_unusual_queue_names_work(client: Client) -> None:
    for name in ["a+b/c;d.e$f_g(h)", "Q" * 193, "1-digit-first"]:
        assert validate_queue_name(name) == name
        job_id = client.push(name, "t", b"x")
        assert client.get(name, job_id) == b"x"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"priority": -(2**31) - 1}, InvalidTaskError),
        ({"priority": 2**31}, InvalidTaskError),
        ({"delay_until": float("inf")}, ConfigurationError),
    ],
)
def test_out_of_range_values_are_refused_before_sending(
    client: Client, kwargs: dict[str, float], error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.push(QUEUE, "t", b"x", **kwargs)  # type: ignore[arg-type]
    # The connection was not desynchronised
    assert client.push(QUEUE, "t", b"ok")
    assert client.pop(QUEUE) == b"ok"


def test_delay_beyond_beanstalkd_range_is_refused(client: Client) -> None:
    with pytest.raises(ConfigurationError, match="delay"):
        client.push(QUEUE, "t", b"x", delay_until=time.time() + 2**33)


@pytest.mark.parametrize(
    "dsn",
    [
        "redis://x",
        "beanstalk://h:1/path",
        "beanstalk://h:1?bogus=1",
        "beanstalk://h:1?ttr=x",
        "beanstalk://h:1?ttr=0",
        "beanstalk://h:1?priority=-2147483649",
    ],
)
def test_bad_dsns_are_configuration_errors(dsn: str) -> None:
    with pytest.raises(ConfigurationError):
        Client(dsn)


def test_dsn_options_and_defaults() -> None:
    assert Client("beanstalk://example").settings.port == 11300
    settings = Client("beanstalk://h:1?ttr=2.5&priority=-7&timeout=3").settings
    assert (settings.ttr, settings.priority, settings.socket_timeout) == (3, 2**31 - 7, 3.0)
    assert Client("beanstalk://example").settings.priority == 2**31  # Alligator's 0
    assert Client("beanstalk://h:1?ttr=2", ttr=9).settings.ttr == 9


def test_push_many_and_drop_all_every_state(client: Client) -> None:
    # Given ready, delayed and buried tasks
    ids = client.push_many(
        QUEUE, [PushItem("a", b"1"), PushItem("b", b"2"), PushItem("c", b"3", time.time() + 600)]
    )
    assert len(ids) == 3
    reservation = client.reserve(QUEUE, lease=10)
    assert reservation is not None and client.bury(QUEUE, reservation, "bad")
    client.push("elsewhere", "z", b"kept")
    # When the queue is dropped
    client.drop_all(QUEUE)
    # Then nothing is left of it, bury records included, and other tubes are untouched
    assert client.stats(QUEUE) == QueueStats()
    assert client.buried(QUEUE) == []
    assert client.len("elsewhere") == 1


def test_push_many_refuses_an_oversized_item_before_putting_any(client: Client) -> None:
    with pytest.raises(PayloadTooLarge):
        client.push_many(QUEUE, [PushItem("a", b"ok"), PushItem("b", b"x" * 70_000)])
    assert client.len(QUEUE) == 0
