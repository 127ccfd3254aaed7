"""A private beanstalkd per test, on a free loopback port, with a binlog.

Each test gets its own server (beanstalkd starts in milliseconds), so job
ids, tubes and counters never leak between tests, and a test may restart or
kill its server. The binlog (``-b``) lets restart tests check persistence.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator.backends.beanstalk_backend import Client
from tests.fixtures import beanstalkd_server
from tests.servers import ServerProcess


@pytest.fixture
def beanstalkd(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running beanstalkd with a binlog directory under ``tmp_path``."""
    server = beanstalkd_server(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dsn(beanstalkd: ServerProcess) -> str:
    return f"beanstalk://127.0.0.1:{beanstalkd.port}"


@pytest.fixture
def client(dsn: str) -> Iterator[Client]:
    """A client whose jobs get a 10 s TTR (expiry tests make their own 1 s one)."""
    made = Client(dsn, ttr=10)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def other(dsn: str) -> Iterator[Client]:
    """A second client: another connection, as a second worker would have."""
    made = Client(dsn, ttr=10)
    try:
        yield made
    finally:
        made.close()


QUEUE = "emails"
