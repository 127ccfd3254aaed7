"""The schedule ledger on beanstalkd: one scheduler per queue, and its state in a tube.

beanstalkd picks job ids itself and has no transactions, so it cannot
store a task only when its id is new (:class:`~alligator.protocols.AbsentPushClient`):
two schedulers would enqueue each tick twice. Instead the ledger admits
**one scheduler per queue** and refuses another with a clear error:

* **The lock** is watching the tube ``<queue>.sched``. A scheduler watches
  it, then reads ``current-watching`` of ``stats-tube``: 1 means it is the
  only one, and holds the lock for as long as its connection lives (a
  ``kill -9`` closes the connection, and beanstalkd forgets the watch at
  once: a restarted scheduler takes over without waiting for a lease). More
  than 1 means another scheduler holds it; it stops watching, waits a
  random moment and looks again, a few times, then gives up with
  :class:`~alligator.exceptions.ConfigurationError`. Two schedulers starting
  together can both see 2 and back off, never both see 1 (each looks after
  its own watch).
* **The state** is one small job per entry in the same tube, ``{"q":
  queue, "k": entry key, "t": last tick}``: read at start (the lock holder
  reserves them all and puts the newest of each back), replaced after each
  tick (a new job put, the old one deleted). A new entry's job holds the
  time it was first run, so it catches nothing up.

Before each tick the ledger checks, in one round trip, that its connection
still holds the lock; after a lost connection (a server restart) it takes
the lock again or raises. The task is pushed first and the state written
after, so a scheduler killed between the two (two round trips apart) fires
that tick again on restart under the ``once``/``all`` policies: at least
once, as every Alligator delivery.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import greenstalk

from alligator.backends._beanstalk_driver import SCHEDULE_SUFFIX, Connection
from alligator.exceptions import ConfigurationError

if TYPE_CHECKING:
    from alligator.backends.beanstalk_backend import Client

__all__ = ["SCHEDULE_SUFFIX", "BeanstalkLedger"]

log = logging.getLogger("alligator.backends.beanstalk")

#: Looks at the lock before giving up, and the longest random pause between two.
_TRIES: Final = 5
_PAUSE: Final = 0.3

#: TTR of a state job (it is only ever reserved by a starting lock holder).
_STATE_TTR: Final = 3600


class BeanstalkLedger:
    """A :class:`~alligator.protocols.ScheduleLedger` that admits one scheduler per queue."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._conn = Connection(client.settings)
        self._queues: list[str] = []
        self._generation = 0
        #: (queue, key) -> (state job id, the tick it holds)
        self._state: dict[tuple[str, str], tuple[int, float]] = {}

    def _lock_tube(self, queue: str) -> str:
        return queue + SCHEDULE_SUFFIX

    def _acquire(self, c: greenstalk.Client[bytes], queue: str) -> None:
        tube = self._lock_tube(queue)
        watching = 0
        for attempt in range(_TRIES):
            c.watch(tube)
            watching = int(c.stats_tube(tube)["current-watching"])
            if watching == 1:
                return
            c.ignore(tube)
            if attempt + 1 < _TRIES:
                time.sleep(random.uniform(0.05, _PAUSE))
        raise ConfigurationError(
            f"another scheduler is running for queue {queue!r} on {self._conn.where} (tube "
            f"{tube!r} is watched by {watching - 1} other connection(s)): beanstalkd cannot "
            "enqueue a tick only once for several schedulers, so one scheduler per queue may "
            "run; stop the other one, or use Redis, PostgreSQL or SQLite to run several"
        )

    def _lock(self, c: greenstalk.Client[bytes]) -> None:
        """Hold every queue's lock on this connection (again, after a reconnect)."""
        for queue in self._queues:
            self._acquire(c, queue)
        if greenstalk.DEFAULT_TUBE not in {self._lock_tube(q) for q in self._queues}:
            c.ignore(greenstalk.DEFAULT_TUBE)  # so reserve reads state jobs only
        self._generation = self._conn.generation

    def _check(self, c: greenstalk.Client[bytes]) -> None:
        """Raise unless this connection still holds the locks (one round trip)."""
        if self._generation != self._conn.generation:
            log.warning("reconnected to %s: taking the scheduler lock again", self._conn.where)
            self._lock(c)
            return
        for queue in self._queues:
            tube = self._lock_tube(queue)
            if int(c.stats_tube(tube)["current-watching"]) != 1:
                raise ConfigurationError(
                    f"the scheduler lock of queue {queue!r} (tube {tube!r}) is watched by "
                    "another connection: stopping, so that no tick is enqueued twice"
                )

    def start(self, entries: Sequence[tuple[str, str]]) -> list[float]:
        self._queues = sorted({queue for queue, _ in entries})
        found: dict[tuple[str, str], tuple[int, float]] = {}
        jobs: dict[int, greenstalk.Job[bytes]] = {}
        with self._conn.session() as c:
            self._lock(c)
            stale: list[int] = []
            while True:
                try:
                    job = c.reserve(timeout=0)
                except greenstalk.TimedOutError:
                    break
                try:
                    body = json.loads(job.body)
                    where, tick = (str(body["q"]), str(body["k"])), float(body["t"])
                except (ValueError, KeyError, TypeError):
                    log.warning("deleting a malformed scheduler state job: %r", job.body[:80])
                    stale.append(job.id)
                    continue
                kept = found.get(where)
                if kept is not None and kept[1] >= tick:
                    stale.append(job.id)
                    continue
                if kept is not None:
                    stale.append(kept[0])
                found[where] = (job.id, tick)
                jobs[job.id] = job
            for job_id in stale:
                c.delete(job_id)
            for job_id, _ in found.values():
                c.release(jobs[job_id])
        self._state = found
        now = time.time()
        floors: list[float] = []
        for queue, key in entries:
            held = found.get((queue, key))
            if held is None:
                self._save(queue, key, now)
                floors.append(now)
            else:
                floors.append(held[1])
        return floors

    def _save(self, queue: str, key: str, tick: float) -> None:
        body = json.dumps({"q": queue, "k": key, "t": tick}).encode()
        old = self._state.get((queue, key))
        with self._conn.session() as c:
            c.use(self._lock_tube(queue))
            job_id = c.put(body, ttr=_STATE_TTR)
            if old is not None:
                with contextlib.suppress(greenstalk.NotFoundError):
                    c.delete(old[0])
        self._state[(queue, key)] = (job_id, tick)

    def fire(
        self,
        queue_name: str,
        key: str,
        tick: float,
        task_id: str,
        data: bytes,
        *,
        ttl: float,
        priority: int | None = None,
    ) -> bool:
        held = self._state.get((queue_name, key))
        if held is not None and held[1] >= tick:
            return False
        with self._conn.session() as c:
            self._check(c)
        self.client.push(queue_name, task_id, data, priority=priority)
        self._save(queue_name, key, tick)
        return True

    def keep_alive(self, entries: Sequence[tuple[str, str]]) -> None:
        with self._conn.session() as c:
            self._check(c)

    def close(self) -> None:
        self._conn.drop()
