"""``python -m alligator info``: counts per queue, JSON Lines, and --watch rates."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from alligator import Gator
from alligator.cli.info import rates
from alligator.constants import Status
from alligator.records import QueueStats
from tests import tasks
from tests.conftest import ROOT
from tests.test_pool import backend_dsn, single_server

__all__ = ["backend_dsn", "single_server"]


def _info(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alligator", "info", *argv],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _fill(dsn: str) -> dict[str, QueueStats]:
    """Two queues in every state: ready, delayed, reserved and buried."""
    with Gator(dsn, queue_name="mail") as mail, Gator(dsn, queue_name="images") as images:
        for i in range(3):
            mail.task(tasks.add, i, 1)
        with mail.options(delay_by=3600) as opts:
            opts.task(tasks.add, 9, 9)
        images.task(tasks.fail, "bad image")
        images.task(tasks.add, 5, 5)
        assert tasks.status_of(images.pop()) == Status.FAILED  # fails for good: buried
        assert images.consumer(lease=600).reserve() is not None  # held by a worker
        return {"mail": mail.broker.stats("mail"), "images": images.broker.stats("images")}


def test_info_json_matches_the_backend_counts_for_each_queue(backend_dsn: str) -> None:
    # Given two queues with tasks in every state
    expected = _fill(backend_dsn)
    # When info runs on both as JSON
    done = _info(backend_dsn, "--queue", "mail", "--queue", "images", "--json")
    # Then one JSON line per queue, in the order asked, matches the backend
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines == [
        {
            "queue": name,
            **{k: getattr(stats, k) for k in ("ready", "delayed", "reserved", "buried")},
        }
        for name, stats in expected.items()
    ]
    assert lines[0] | {"queue": "_"} == {
        "queue": "_", "ready": 3, "delayed": 1, "reserved": 0, "buried": 0
    }  # fmt: skip
    assert lines[1] | {"queue": "_"} == {
        "queue": "_", "ready": 0, "delayed": 0, "reserved": 1, "buried": 1
    }  # fmt: skip


def test_info_prints_a_table_for_people(sqlite_dsn: str) -> None:
    _fill(sqlite_dsn)
    done = _info(sqlite_dsn, "--queue", "mail", "--queue", "images")
    assert done.returncode == 0, done.stderr
    header, mail, images = done.stdout.splitlines()
    assert header.split() == ["queue", "ready", "delayed", "reserved", "buried"]
    assert mail.split() == ["mail", "3", "1", "0", "0"]
    assert images.split() == ["images", "0", "0", "1", "1"]


def test_watch_prints_samples_with_rates(sqlite_dsn: str) -> None:
    # Given a queue with work in it
    _fill(sqlite_dsn)
    # When info watches it for two samples
    done = _info(sqlite_dsn, "--queue", "mail", "--json", "--watch", "0.1", "--count", "2")
    # Then the first sample has no rate yet and the second has one (nothing moved: zero)
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert (first["done_per_s"], first["buried_per_s"]) == (None, None)
    assert (second["done_per_s"], second["buried_per_s"]) == (0.0, 0.0)
    assert second["ready"] == 3


def test_rates_count_acks_as_the_drop_in_outstanding_minus_new_buried() -> None:
    # Given 10 tasks acked and 2 buried in two seconds, with no new arrivals
    before = QueueStats(ready=20, delayed=0, reserved=2, buried=1)
    after = QueueStats(ready=8, delayed=0, reserved=2, buried=3)
    # Then the rates are 5 done and 1 buried a second
    assert rates(before, after, 2.0) == {"done_per_s": 5.0, "buried_per_s": 1.0}
    # And arrivals outpacing the workers show as a negative net rate
    grown = QueueStats(ready=30, delayed=0, reserved=2, buried=1)
    assert rates(before, grown, 2.0)["done_per_s"] == -5.0
