"""The Gator on beanstalkd: ids, priorities and the granted lease."""

from __future__ import annotations

from pathlib import Path

from alligator import Gator, Worker
from alligator.backends._beanstalk_names import parse_job_id
from tests import process_tasks as tasks


def test_a_task_priority_is_honoured_and_the_id_is_the_job_id(dsn: str, tmp_path: Path) -> None:
    # Given three tasks pushed in order, the last one the most urgent
    ledger = f"{tmp_path}/ledger"
    with Gator(dsn, queue_name="prio") as gator:
        with gator.options(priority=0) as opts:
            first = opts.task(tasks.record, ledger, "first")
            second = opts.task(tasks.record, ledger, "second")
        with gator.options(priority=-1) as opts:
            urgent = opts.task(tasks.record, ledger, "urgent")
        # Then each id is beanstalkd's numeric job id, then the job's check
        assert all(parse_job_id(t.task_id) for t in (first, second, urgent))
        # When a worker drains the queue
        Worker(gator, max_tasks=3, poll_timeout=0.2).run_forever()
    # Then the urgent task ran first, the others in push order
    with open(ledger, encoding="utf-8") as lines:
        assert [line.split()[0] for line in lines] == ["urgent", "first", "second"]


def test_a_reservation_reports_the_ttr_as_its_lease(dsn: str) -> None:
    # Given a job pushed with a 7 s TTR
    with Gator(f"{dsn}?ttr=7", queue_name="ttr") as gator:
        gator.task(tasks.record, "/dev/null", "x")
        # When a worker asks for a longer lease
        reservation = gator.consumer(lease=60).reserve(1)
    # Then the reservation says the lease it really has
    assert reservation is not None
    assert reservation.lease == 7.0
