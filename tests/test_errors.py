"""Failures: retries with backoff, the on_error grant, burial, corrupt payloads.

Every scenario runs on every built-in backend. Where the backend takes an
injected clock (``Gator(clock=...)`` and its client) a retry's delay is
observed by moving that clock, never by sleeping. beanstalkd keeps time on
its server: there the backoff is one real second, the checks that a task is
not due yet come straight after the failure (a second of margin, whatever the
machine's load), and the retry is waited for as a condition, with a lower
bound on how long it took.
"""

from __future__ import annotations

import time

import pytest

from alligator import Backoff, Gator, Worker, codecs
from alligator.constants import ENVELOPE_VERSION
from alligator.records import QueueStats
from alligator.wire import Envelope
from tests import tasks
from tests.conftest import FakeClock
from tests.fixtures import Backend
from tests.servers import wait_until

#: Backoff base with an injected clock, and on beanstalkd (whole real seconds).
BASE = 100.0
REAL_BASE = 1.0


class Retries:
    """A Gator (backoff ``base * 2 ** (n - 1)``, no jitter) and the time its retries wait."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.clock = FakeClock(1_000_000.0) if backend.clocked else None
        self.base = BASE if backend.clocked else REAL_BASE
        self.gator = backend.gator(self.clock, backoff=Backoff(base=self.base, factor=2, jitter=0))
        self.failed_at = 0.0

    def now(self) -> float:
        return self.clock() if self.clock is not None else time.monotonic()

    def run_one(self) -> bool:
        """Run one task if one is due now; the time is noted as the latest failure's."""
        self.failed_at = self.now()
        return Worker(self.gator, poll_timeout=0).check_and_run_task()

    def not_yet_due(self, backoff: float) -> None:
        """The task released with ``backoff`` is still waiting (3/4 of it later, if clocked)."""
        if self.clock is not None:
            self.clock.now = self.failed_at + 0.75 * backoff
        assert not Worker(self.gator, poll_timeout=0).check_and_run_task()

    def runs_after(self, backoff: float) -> None:
        """The task released with ``backoff`` runs once it is due, and not before."""
        started = self.failed_at
        if self.clock is not None:
            self.clock.now = started + 1.25 * backoff
            assert self.run_one()
            return
        wait_until(self.run_one, backoff + 10, 0.02, f"the retry after {backoff}s")
        assert time.monotonic() - started >= 0.75 * backoff


@pytest.fixture
def retries(any_backend: Backend) -> Retries:
    return Retries(any_backend)


def test_failed_task_is_released_with_a_backoff_then_runs_again(retries: Retries) -> None:
    gator = retries.gator
    # Given a task that fails once, with retries left
    with gator.options(retries=2) as opts:
        opts.task(tasks.fail_times, "flaky", 1)
    # When a worker runs it and it fails
    assert retries.run_one()
    # Then it is back in the queue, delayed, not reservable yet
    assert gator.broker.stats("q") == QueueStats(delayed=1)
    assert gator.len() == 1
    retries.not_yet_due(retries.base)
    # And once the backoff has passed it is due and succeeds
    retries.runs_after(retries.base)
    assert tasks.CALLS["flaky"] == 2
    assert gator.len() == 0
    assert gator.broker.stats("q") == QueueStats()


def test_out_of_retries_is_buried_with_error_and_traceback(retries: Retries) -> None:
    gator = retries.gator
    # Given a task that always fails, with one retry
    with gator.options(retries=1) as opts:
        task = opts.task(tasks.fail, "always broken")
    # When it fails, waits its backoff, and fails again
    assert retries.run_one()
    retries.runs_after(retries.base)
    # Then it is buried, never dropped, with the error and its traceback
    assert tasks.CALLS["always broken"] == 2
    assert gator.len() == 0
    buried = gator.broker.buried("q")
    assert len(buried) == 1
    reason = buried[0].reason
    assert "Traceback" in reason
    assert "ValueError: always broken" in reason
    assert "tests/tasks.py" in reason
    assert gator.broker.stats("q") == QueueStats(buried=1)
    # (known by its own id where a retry keeps it: not on beanstalkd, which
    # stores a retried task, its attempts counted in the payload, as a new job)
    if retries.backend.name != "beanstalk":
        assert [b.task_id for b in buried] == [task.task_id]


def test_second_retry_waits_longer(retries: Retries) -> None:
    gator = retries.gator
    with gator.options(retries=2) as opts:
        opts.task(tasks.fail_times, "twice", 2)
    assert retries.run_one()
    retries.runs_after(retries.base)
    # The second backoff is twice the first: still waiting at 1.5 times the first
    retries.not_yet_due(2 * retries.base)
    retries.runs_after(2 * retries.base)
    assert tasks.CALLS["twice"] == 3
    assert gator.len() == 0


def test_on_error_hook_granting_a_retry_gives_one_more_try(retries: Retries) -> None:
    gator = retries.gator
    # Given a task with no retries whose on_error does task.retries += 1 once
    with gator.options(on_error=tasks.grant_one_more) as opts:
        opts.task(tasks.fail, "hooked")
    # When it fails, it is released instead of buried
    assert retries.run_one()
    assert gator.broker.stats("q") == QueueStats(delayed=1)
    # And the extra try runs; then, with no more grants, it is buried
    retries.runs_after(retries.base)
    assert tasks.CALLS["hooked"] == 2
    assert gator.broker.stats("q") == QueueStats(buried=1)


def _payload(module: str, name: str) -> bytes:
    envelope = Envelope(version=ENVELOPE_VERSION, task_id="x", module=module, callable=name)
    return codecs.JSON.encode(envelope)


def test_corrupt_payloads_are_buried_and_the_worker_keeps_going(any_backend: Backend) -> None:
    # Given corrupt payloads pushed raw, followed by a good task
    gator = any_backend.gator()
    good = _payload("tests.tasks", "add")
    bad = {
        "random": b"\x8f\x00\xff\x13garbage\x01\x02",
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "unknown-module": _payload("no_such_module_zz", "f"),
        "unknown-callable": _payload("tests.tasks", "no_such_function"),
        "future-version": codecs.JSON.encode(
            Envelope(
                version=ENVELOPE_VERSION + 1, task_id="x", module="tests.tasks", callable="add"
            )
        ),
    }
    # (under the id each push returned: beanstalkd picks its own)
    names = {gator.broker.push("q", task_id, data): task_id for task_id, data in bad.items()}
    gator.task(tasks.add, 40, 2)
    # When a worker runs through them
    worker = Worker(gator, recycle_after=len(bad) + 1, poll_timeout=0.05)
    worker.run_forever()
    # Then every bad one is buried with a reason naming the problem
    reasons = {names[b.task_id]: b.reason for b in gator.broker.buried("q")}
    assert set(reasons) == set(bad)
    for reason in reasons.values():
        assert reason.startswith("cannot decode payload")
    assert "no_such_module_zz" in reasons["unknown-module"]
    assert "no_such_function" in reasons["unknown-callable"]
    assert "version" in reasons["future-version"]
    assert "DecodeError" in reasons["truncated"]
    # And the good task queued after them ran
    assert tasks.EVENTS == [("add", 40, 2)]
    assert (worker.deliveries, worker.tasks_complete) == (len(bad) + 1, 1)
    assert gator.len() == 0


def test_buried_payload_is_kept_as_pushed(locmem_gator: Gator) -> None:
    raw = b"\x00not a task\xff"
    locmem_gator.broker.push("q", "raw", raw)
    Worker(locmem_gator, recycle_after=1, poll_timeout=0.05).run_forever()
    [buried] = locmem_gator.broker.buried("q")
    assert buried.data == raw
