"""The conformance kit on beanstalkd, in real time (its clock cannot be injected).

beanstalkd picks job ids itself, while the kit pushes under ids it chooses
and expects them back (and expects a push of an existing id to replace that
task). :class:`CallerIds` bridges only that: it maps the kit's ids to job ids,
emulates replace-on-push by deleting the old job first, and does a release
with a new payload as push + ack so it learns the new job id. Everything else
(order, states, counts, leases and stale tokens, bury reasons, binary bodies)
is the backend's own behaviour.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import greenstalk
import msgspec
from hypothesis import settings

from alligator.backends.beanstalk_backend import Client
from alligator.records import BuriedTask, PushItem, QueueStats, Reservation
from alligator.testing.clock import Clock
from alligator.testing.machine import (
    DEFAULT_SETTINGS,
    run_client_machine,
    run_reliable_client_machine,
)

FEW = settings(DEFAULT_SETTINGS, max_examples=25)


class CallerIds:
    """A beanstalkd client seen through ids chosen by the caller."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.jobs: dict[tuple[str, str], str] = {}
        self.names: dict[tuple[str, str], str] = {}

    def _map(self, queue: str, name: str, job: str) -> None:
        self.jobs[queue, name] = job
        self.names[queue, job] = name

    def _unmap(self, queue: str, job: str) -> None:
        name = self.names.pop((queue, job), None)
        if name is not None:
            del self.jobs[queue, name]

    def _forget(self, queue: str, name: str) -> None:
        job = self.jobs.get((queue, name))
        if job is None:
            return
        self._unmap(queue, job)
        with self.client._conn.session() as conn, contextlib.suppress(greenstalk.NotFoundError):
            conn.delete(int(job))

    def _named(self, queue: str, reservation: Reservation) -> Reservation:
        name = self.names[queue, reservation.task_id]
        return msgspec.structs.replace(reservation, task_id=name)

    def _job(self, queue: str, reservation: Reservation) -> Reservation:
        job = self.jobs.get((queue, reservation.task_id), "0")
        return msgspec.structs.replace(reservation, task_id=job)

    def len(self, queue_name: str) -> int:
        return self.client.len(queue_name)

    def stats(self, queue_name: str) -> QueueStats:
        return self.client.stats(queue_name)

    def drop_all(self, queue_name: str) -> None:
        self.client.drop_all(queue_name)
        for queue, job in list(self.names):
            if queue == queue_name:
                self._unmap(queue, job)

    def push(
        self, queue_name: str, task_id: str, data: bytes, delay_until: float | None = None
    ) -> str:
        self._forget(queue_name, task_id)
        self._map(queue_name, task_id, self.client.push(queue_name, task_id, data, delay_until))
        return task_id

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        return [self.push(queue_name, *item) for item in items]

    def pop(self, queue_name: str) -> bytes | None:
        reservation = self.client.reserve(queue_name, lease=3600)
        if reservation is None:
            return None
        assert self.client.ack(queue_name, reservation)
        self._unmap(queue_name, reservation.task_id)
        return reservation.data

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        job = self.jobs.get((queue_name, task_id))
        data = None if job is None else self.client.get(queue_name, job)
        if job is not None and data is not None:
            self._unmap(queue_name, job)
        return data

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        reservation = self.client.reserve(queue_name, lease, timeout)
        return None if reservation is None else self._named(queue_name, reservation)

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        done = self.client.ack(queue_name, self._job(queue_name, reservation))
        if done:
            self._forget(queue_name, reservation.task_id)
        return done

    def release(
        self,
        queue_name: str,
        reservation: Reservation,
        data: bytes | None = None,
        delay_until: float | None = None,
    ) -> bool:
        held = self._job(queue_name, reservation)
        if data is None or data == reservation.data:
            return self.client.release(queue_name, held, None, delay_until)
        if not self.client.renew(queue_name, held, 3600):
            return False
        job = self.client.push(queue_name, reservation.task_id, data, delay_until)
        assert self.client.ack(queue_name, held)
        self._unmap(queue_name, held.task_id)
        self._map(queue_name, reservation.task_id, job)
        return True

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        return self.client.bury(queue_name, self._job(queue_name, reservation), reason)

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        return self.client.renew(queue_name, self._job(queue_name, reservation), lease)

    def buried(self, queue_name: str) -> list[BuriedTask]:
        return [
            msgspec.structs.replace(task, task_id=self.names[queue_name, task.task_id])
            for task in self.client.buried(queue_name)
        ]

    def close(self) -> None:
        self.client.close()


def test_reliable_contract_in_real_time(dsn: str) -> None:
    def make(clock: Clock) -> CallerIds:
        return CallerIds(Client(dsn, ttr=3600))

    run_reliable_client_machine(make, real_time=True, settings=FEW)


def test_plain_contract_in_real_time(dsn: str) -> None:
    def make(clock: Clock) -> CallerIds:
        return CallerIds(Client(dsn, ttr=3600))

    run_client_machine(make, real_time=True, settings=FEW)
