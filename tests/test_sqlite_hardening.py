"""Issue 13 on SQLite: rows written by hand, a file replaced under workers, big drops.

Each test reproduces a hole an adversarial review found: a task id that is
not UTF-8 rolled back every batch and stalled the queue for good; text in
``run_at`` killed idle workers with ``TypeError``; a database file deleted
under running workers left them serving the old one; ``drop_all`` of a big
queue held the write lock longer than ``busy_timeout``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator.backends.sqlite_backend import Client
from alligator.exceptions import (
    BackendConnectionError,
    BackendError,
    TaskInProgressError,
)
from alligator.records import PushItem, QueueStats
from tests.test_locmem_backend import FakeClock

Q = "q"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(path: Path, clock: FakeClock) -> Iterator[Client]:
    made = Client(f"sqlite:///{path}", clock=clock)
    made.push(Q, "warm", b"x")  # the table exists
    assert made.get(Q, "warm") == b"x"
    yield made
    made.close()


def insert_raw(path: Path, task_id: object, data: object, run_at: object, state: int = 0) -> None:
    """A row written by hand, not by Alligator."""
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute(
            "INSERT INTO alligator_tasks (queue, task_id, data, run_at, state)"
            " VALUES (?, ?, ?, ?, ?)",
            (Q, task_id, data, run_at, state),
        )
    conn.close()


def insert_sql(path: Path, values: str) -> None:
    """A row whose values are SQL expressions (for types Python cannot bind)."""
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute(
            f"INSERT INTO alligator_tasks (queue, task_id, data, run_at) VALUES ('{Q}', {values})"
        )
    conn.close()


def drain(client: Client) -> list[str]:
    got: list[str] = []
    while True:
        _, leased = client.reserve_many(Q, 30, 4)
        if not leased:
            return got
        got += [r.task_id for r in leased]
        flags, _ = client.reserve_many(Q, 30, 0, done=leased)
        assert all(flags)


@pytest.mark.parametrize(
    "values",
    [
        "CAST(X'C328626164' AS TEXT), X'01', 0",  # an id that is not UTF-8
        "X'616263', X'01', 0",  # an id stored as a BLOB
        "42, X'01', 0",  # an id stored as a number (TEXT affinity makes it '42')
        "'text-data', CAST(X'FF00' AS TEXT), 0",  # a payload that is not UTF-8 text
        "'text-data-2', 'a text payload', 0",  # a payload stored as TEXT
    ],
    ids=["non-utf8-id", "blob-id", "int-id", "non-utf8-text-data", "text-data"],
)
def test_a_row_with_a_bad_id_or_payload_never_stalls_the_queue(
    client: Client, path: Path, values: str
) -> None:
    # Given good tasks around a row written by hand
    client.push_many(Q, [PushItem(f"a{i}", b"x") for i in range(3)])
    insert_sql(path, values)
    client.push_many(Q, [PushItem(f"b{i}", b"x") for i in range(3)])
    # When workers drain the queue in batches
    got = drain(client)
    # Then every good task came out once, and nothing is left waiting
    assert sorted(g for g in got if g[0] in "ab" and len(g) == 2) == [
        "a0", "a1", "a2", "b0", "b1", "b2"
    ]  # fmt: skip
    assert client.stats(Q).ready == 0
    # And the row is either delivered (bytes, a text id the worker can ack) or buried
    leftover = [g for g in got if g not in ("a0", "a1", "a2", "b0", "b1", "b2")]
    buried = client.buried(Q)
    assert len(leftover) + len(buried) == 1
    for b in buried:
        assert b.reason and isinstance(b.data, bytes) and b.task_id.isprintable()


def test_a_non_utf8_id_is_buried_under_a_printable_id(client: Client, path: Path) -> None:
    insert_sql(path, "CAST(X'C328626164' AS TEXT), X'01', 0")
    assert client.reserve_many(Q, 30, 5) == ([], [])
    [buried] = client.buried(Q)
    assert "c328626164" in buried.reason and buried.task_id.isprintable()
    assert client.purge(Q, buried.task_id) == 1


@pytest.mark.parametrize("run_at", ["soon", b"\x00\x01"], ids=["text", "blob"])
def test_a_run_at_that_is_not_a_number_is_buried_and_idle_workers_live(
    client: Client, path: Path, run_at: object
) -> None:
    # Given a row whose run_at is not a number, alone in the queue
    insert_raw(path, "odd", b"payload", run_at)
    # When an idle worker waits for a task / Then it neither crashes nor gets the row
    assert client.reserve(Q, 30, timeout=0.2) is None
    _, leased = client.reserve_many(Q, 30, 5, timeout=0.2)
    assert leased == []
    # And the row is buried with a reason, and good tasks still flow
    [buried] = client.buried(Q)
    assert buried.task_id == "odd" and "run_at" in buried.reason
    client.push(Q, "good", b"x")
    held = client.reserve(Q, 30, timeout=1)
    assert held is not None and held.task_id == "good"


def test_pushing_the_id_of_a_running_task_is_refused(client: Client, clock: FakeClock) -> None:
    client.push_many(Q, [PushItem("running", b"v1"), PushItem("waiting", b"w1")])
    held = client.reserve(Q, 30)
    assert held is not None and held.task_id == "running"
    with pytest.raises(TaskInProgressError) as caught:
        client.push(Q, "running", b"v2")
    assert caught.value.task_id == "running"
    with pytest.raises(TaskInProgressError):
        client.push_many(Q, [PushItem("fresh", b"f"), PushItem("running", b"v2")])
    client.push(Q, "waiting", b"w2")
    assert client.stats(Q) == QueueStats(ready=1, reserved=1)
    assert client.ack(Q, held)
    assert client.get(Q, "waiting") == b"w2"
    client.push(Q, "slow", b"s1")
    assert client.reserve(Q, 30) is not None
    clock.advance(31)
    client.push(Q, "slow", b"s2")
    assert client.get(Q, "slow") == b"s2"


@pytest.mark.parametrize("gone", ["", "-wal", "-shm"], ids=["db", "wal", "shm"])
def test_a_database_file_deleted_under_a_worker_is_noticed(path: Path, gone: str) -> None:
    # Given a worker's client that has been using the file
    worker = Client(f"sqlite:///{path}")
    worker.push(Q, "before", b"x")
    assert worker.reserve(Q, 30) is not None
    # When one of its files is deleted, then a producer starts and pushes a task
    os.remove(f"{path}{gone}")
    deadline = time.monotonic() + 10
    pushed = False
    held = None
    errors: list[str] = []
    while held is None and time.monotonic() < deadline:
        if not pushed:
            producer = Client(f"sqlite:///{path}")
            try:
                producer.push(Q, "after", b"x")
                pushed = True
            except BackendConnectionError as exc:
                errors.append(f"producer: {exc}")  # the old files are still open somewhere
            producer.close()
        try:
            held = worker.reserve(Q, 30, timeout=0.1)
        except BackendError as exc:  # as a worker does: log, back off, try again
            errors.append(f"worker: {exc}")
            time.sleep(0.05)
    # Then the worker reopened the file and took the producer's task
    assert pushed, errors
    assert held is not None and held.task_id == "after", errors
    worker.close()


def test_drop_all_of_a_big_queue_lets_other_writers_in(path: Path) -> None:
    # Given a queue big enough that one DELETE of it (0.6 to 1 s here) outlasts
    # another client's busy_timeout
    n = 600_000
    client = Client(f"sqlite:///{path}")
    client.push(Q, "warm", b"x")
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO alligator_tasks (queue, task_id, data, run_at) VALUES (?, ?, ?, ?)",
            ((Q, f"t{i}", b"x" * 40, 0.0) for i in range(n)),
        )
        conn.execute("COMMIT")
    conn.close()
    impatient = Client(f"sqlite:///{path}", busy_timeout=0.3)
    impatient.len("other")  # connected before the drop starts
    # When the queue is dropped, and another client pushes while a DELETE runs
    deleting = threading.Event()
    client._db.connection().set_trace_callback(
        lambda statement: deleting.set() if statement.startswith("DELETE") else None
    )
    errors: list[Exception] = []

    def push_meanwhile() -> None:
        assert deleting.wait(10)
        time.sleep(0.05)  # the DELETE holds the write lock by now
        try:
            impatient.push("other", "t", b"x")
        except Exception as exc:
            errors.append(exc)

    pusher = threading.Thread(target=push_meanwhile)
    pusher.start()
    client.drop_all(Q)
    pusher.join()
    # Then the other push got in within its busy_timeout, and the queue is empty
    assert errors == []
    assert client.len(Q) == 0 and impatient.len("other") == 1
    client.close()
    impatient.close()
