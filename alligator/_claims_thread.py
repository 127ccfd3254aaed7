"""The one thread through which a concurrent worker talks to its backend.

Every call to the backend (claims, acks, releases, burials) is made here, so
the event loop of :mod:`alligator.concurrency` never waits on a socket and
the claim strategy is only ever used from one thread. The loop hands over
the tasks that finished since the last hop with the number of free slots,
and gets back the next claims in one hop (:meth:`ClaimsThread.exchange`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from alligator.claiming import Claim
from alligator.consumer import Outcome, Settlement
from alligator.exceptions import AlligatorError
from alligator.limits import limits_of
from alligator.protocols import Task

if TYPE_CHECKING:
    from alligator.workers import Worker

__all__ = ["ClaimsThread", "Exchange", "Finished", "Settled", "as_exception"]

log = logging.getLogger("alligator.worker")

T = TypeVar("T")


class Finished(NamedTuple):
    """A claim whose task ran (or could not be decoded, or was put back), waiting to be settled."""

    claim: Claim
    task: Task[Any] | None
    result: Any
    error: BaseException | None
    started: float
    #: Over a limit: put back unstarted by ``Consumer.admit`` (no delivery).
    deferred: Outcome | None = None


class Settled(NamedTuple):
    """What the claims thread did with one finished claim."""

    finished: Finished
    outcome: Outcome
    settled: list[Settlement]


class Exchange(NamedTuple):
    """One hop to the claims thread and back."""

    settled: list[Settled]
    claims: list[Claim]
    acks: list[Settlement]
    error: AlligatorError | None


class ClaimsThread:
    """Settles, claims and releases for one concurrent worker, on a thread of its own.

    Args:
        worker: Whose claim strategy (read once) and outcomes are used.
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.strategy = worker._strategy
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="alligator-claims")

    async def call(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` on the claims thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, func, *args)

    async def exchange(self, finished: list[Finished], room: int, wait: float) -> Exchange:
        """Settle ``finished`` and claim up to ``room`` tasks, waiting up to ``wait`` for one."""
        return await self.call(self._exchange, finished, room, wait)

    async def give_back(self, claims: Sequence[Claim]) -> None:
        """Release tasks cancelled at shutdown, due at once, for another worker."""
        await self.call(self._give_back, claims)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)

    # -- on the claims thread ----------------------------------------------

    def _exchange(self, finished: list[Finished], room: int, wait: float) -> Exchange:
        settled = [s for s in map(self._settle, finished) if s is not None]
        claims: list[Claim] = []
        acks: list[Settlement] = []
        try:
            while len(claims) < room:
                found, more = self.strategy.claim(room - len(claims), wait=0.0 if claims else wait)
                acks += more
                if found is None:
                    break
                claims.append(found)
        except AlligatorError as exc:
            return Exchange(settled, claims, acks, exc)
        return Exchange(settled, claims, acks, None)

    def _settle(self, done: Finished) -> Settled | None:
        claim, task, result, error = done.claim, done.task, done.result, done.error
        worker = self.worker
        try:
            if done.deferred is not None:
                self.strategy.settle(claim, done.deferred)
                return Settled(done, done.deferred, [])
            if task is None:
                outcome = claim.consumer.bury_undecodable(claim.reservation, as_exception(error))
            else:
                outcome = worker.conclude(claim, task, result, error)
            # A task under limits holds its slots until its ack: settle it now.
            limited = task is not None and bool(limits_of(getattr(task, "func", None)))
            return Settled(done, outcome, self.strategy.settle(claim, outcome, now=limited))
        except AlligatorError as exc:
            log.warning(
                "%s could not settle task %s (%s); its lease will expire and it runs again",
                worker.ident(),
                claim.reservation.task_id,
                exc,
            )
            self._forget(claim)
            return None

    def _forget(self, claim: Claim, released: bool = False) -> None:
        """Stop renewing a claim that this worker will not settle."""
        self.strategy.settle(claim, Outcome(None, None, None, "retry", released))

    def _give_back(self, claims: Sequence[Claim]) -> None:
        for claim in claims:
            try:
                released = claim.consumer.broker.release(claim.queue, claim.reservation)
            except AlligatorError as exc:
                log.warning("could not release task %s (its lease will expire): %s", claim, exc)
                released = False
            self._forget(claim, released)
            log.info(
                "task %s was cancelled at shutdown and %s",
                claim.reservation.task_id,
                "released for redelivery" if released else "comes back when its lease expires",
                extra={"task_id": claim.reservation.task_id, "queue": claim.queue},
            )


def as_exception(error: BaseException | None) -> Exception:
    """The decoding error of an undecodable payload (always an ``Exception``)."""
    assert isinstance(error, Exception)
    return error
