"""What every built-in backend does with text it cannot store (issue 13).

A queue name with lone surrogates (what ``os.fsdecode`` makes of undecodable
bytes) raised a raw ``UnicodeEncodeError`` inside some backends; a burial
reason holding one (a traceback quoting such a file name) killed the worker
that tried to bury. Names are refused with a ``ConfigurationError`` naming
the queue, on every backend; reasons are stored with the character escaped.
"""

from __future__ import annotations

import pytest

from alligator.capabilities import capabilities_of
from alligator.exceptions import ConfigurationError, InvalidTaskError
from alligator.protocols import ReliableClient
from alligator.records import PushItem, QueueStats
from alligator.testing.support import unique_queue_name
from tests.fixtures import Backend
from tests.servers import wait_until

NAMES = ["bad\udcffname", "\ud800"]


@pytest.mark.parametrize("name", NAMES, ids=["escaped-byte", "lone-surrogate"])
def test_a_queue_name_that_cannot_be_stored_is_a_configuration_error_naming_it(
    any_backend: Backend, name: str
) -> None:
    client = any_backend.client()
    assert isinstance(client, ReliableClient)
    try:
        for call in (
            lambda: client.push(name, "t", b"x"),
            lambda: client.reserve(name, 30),
            lambda: client.len(name),
            lambda: client.stats(name),
        ):
            with pytest.raises(ConfigurationError, match="queue name") as caught:
                call()
            assert repr(name) in str(caught.value)
    finally:
        client.close()


def test_a_task_id_that_cannot_be_stored_is_an_invalid_task(any_backend: Backend) -> None:
    client = any_backend.client()
    assert isinstance(client, ReliableClient)
    queue = unique_queue_name("ids")
    try:
        if capabilities_of(client).assigns_ids:
            # The server picks the id (beanstalkd): the one given is never stored.
            assert client.push(queue, "bad\ud800", b"x") != "bad\ud800"
            return
        with pytest.raises(InvalidTaskError, match="task id"):
            client.push(queue, "bad\ud800", b"x")
        with pytest.raises(InvalidTaskError, match="task id"):
            client.push_many(queue, [PushItem("ok", b"x"), PushItem("\udcff", b"x")])
        assert client.stats(queue) == QueueStats()
    finally:
        client.close()


def test_a_burial_reason_with_undecodable_text_is_stored_escaped(any_backend: Backend) -> None:
    # Given a task that failed with a message quoting an undecodable file name
    client = any_backend.client()
    assert isinstance(client, ReliableClient)
    try:
        client.push("q", "t", b"x")
        held = None

        def leased() -> bool:
            nonlocal held
            held = client.reserve("q", 30)
            return held is not None

        wait_until(leased, 10, message="the task to be reserved")
        assert held is not None
        # When it is buried / Then the bury succeeds and the reason reads back escaped
        assert client.bury("q", held, "OSError: cannot open /tmp/caf\udce9.txt")
        [buried] = client.buried("q")
        assert buried.reason == "OSError: cannot open /tmp/caf\\udce9.txt"
    finally:
        client.close()
