"""Many tasks at once in one worker: the event loop behind ``Worker(gator, concurrency=N)``.

An ``async def`` task runs on one event loop, up to ``concurrency`` at a time;
a plain-function task of the same queue runs in a pool of ``threads`` threads,
so it never blocks the loop. Both take the route of a single worker's task
(:meth:`~alligator.Worker.conclude`, the claim strategy's ``settle``,
:meth:`~alligator.Worker.report`): the same acks, retries, burials, leases,
hooks, metrics and traces. Each task runs inside the worker's observers'
context (the in-progress gauge, the ``process`` span), entered in its
coroutine or its thread (``alligator._task_runs``), and its outcome is
counted on the loop once it is settled.

Every call to the backend (claims, acks, releases, burials) is made by one
*claims thread* (``alligator._claims_thread``), so the loop never waits
on a socket and the claim strategy is only ever used from one thread. The
loop hands it the tasks that finished since the last call together with the
number of free slots, and gets back the next claims in one hop: with a
prefetching backend (locmem, SQLite, Redis, PostgreSQL) that is one
``reserve_many`` round trip, which also acks the successes. While tasks take
under 30 ms on average, as many tasks again as there are slots are claimed
ahead and wait on the loop, each starting as a slot frees: the next round
trip (mostly the backend's own time) then overlaps the tasks that run,
instead of following them. Slow tasks are never claimed ahead, so they are
not hoarded from other workers. While tasks
run and nothing is due, the queue is looked at again every ``nap_time``;
when nothing runs, the claims thread blocks on the backend for up to
``poll_timeout``. Each running task's lease is renewed by the worker's
heartbeat thread, along with the others.

Stopping (SIGINT/SIGTERM, :meth:`~alligator.Worker.interrupt`,
``max_tasks``): no more claims; tasks claimed ahead are released unstarted,
due at once; running coroutines get ``grace`` seconds to
finish and be settled; the rest are cancelled and released, due at once, so
another worker runs them (nothing acked that did not finish). A second
signal ends the grace period at once. Plain-function tasks already running
in threads cannot be cancelled: the worker waits for them, as a
single-threaded worker waits for its current task. For the same reason a
plain task past its time limit is failed at once (retried or buried), but
its thread stays busy until the function returns.

A coroutine that blocks the loop (``time.sleep``, a synchronous driver, long
CPU work) stalls every other task; a watchdog thread notices when the loop
has not turned for ``lag_warning`` seconds and logs which task is running
(``LagWatch``, in ``alligator._loop_lag``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

from alligator._claims_thread import ClaimsThread, Exchange, Finished, as_exception
from alligator._loop_lag import LagWatch
from alligator._signals import stop_signals
from alligator._task_runs import awaited, in_thread, runner_name
from alligator.claiming import Claim
from alligator.exceptions import AlligatorError
from alligator.protocols import Task
from alligator.tasks import Task as BuiltinTask

if TYPE_CHECKING:
    from alligator.workers import Worker

__all__ = ["LagWatch", "serve"]

log = logging.getLogger("alligator.worker")


#: Tasks quicker than this on average (seconds) are claimed a batch ahead.
_AHEAD_PACE = 0.03
#: Weight of the newest run time in :attr:`_Loop.pace`.
_PACE_WEIGHT = 0.1


class _Running(NamedTuple):
    """A task running on the loop or in a thread: what it settles, and its lag-watch name."""

    claim: Claim
    task: Task[Any]
    started: float


def serve(worker: Worker) -> None:
    """Run ``worker``'s loop concurrently until it is asked to stop (see the module notes)."""
    _Loop(worker).run()


class _Loop:
    """The event loop's side of one concurrent worker: what runs, what may start, the drain.

    Only the loop's thread touches its state; the backend is the claims
    thread's (:class:`~alligator._claims_thread.ClaimsThread`).
    """

    def __init__(self, worker: Worker) -> None:
        assert worker.concurrency is not None
        self.worker = worker
        self.concurrency = worker.concurrency
        #: Running tasks, by their runner (named for the lag watch only when it reports).
        self.active: dict[asyncio.Future[Any], _Running] = {}
        #: Claimed ahead while every slot is busy: each starts as a slot frees.
        self.queued: collections.deque[Claim] = collections.deque()
        #: Moving average of the tasks' run times (seconds): only quick tasks
        #: are claimed ahead, so slow ones are never hoarded from other workers.
        self.pace = _AHEAD_PACE
        #: Those of them that run a plain function in a thread (never cancelled).
        self.plain: set[asyncio.Future[Any]] = set()
        #: Coroutine tasks cancelled at the end of the grace period.
        self.cancelled: set[asyncio.Future[Any]] = set()
        self.finished: list[Finished] = []
        #: Cancelled at shutdown: released for another worker once they stopped.
        self.given_back: list[Claim] = []
        self.hurry = False
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._claims = ClaimsThread(worker)
        self._threads = ThreadPoolExecutor(worker.threads, thread_name_prefix="alligator-task")

    # -- the loop's life ---------------------------------------------------

    def run(self) -> None:
        try:
            with stop_signals(self._on_signal, then="keep"):
                asyncio.run(self._main())
        finally:
            self._threads.shutdown(wait=True)
            self._claims.shutdown()

    def _on_signal(self, signum: int) -> None:
        worker = self.worker
        if worker._stop.is_set():
            log.info("%s got signal %d again; cancelling the running tasks", worker.ident(), signum)
            self.hurry = True
        else:
            log.info(
                "%s got signal %d; no more claims, %d running task(s) get %gs to finish",
                worker.ident(),
                signum,
                len(self.active),
                worker.grace,
            )
        worker.interrupt()

    def wake(self) -> None:
        """Make the loop look at its state now (thread-safe; a signal handler may call it)."""
        loop, changed = self._loop, self._changed
        if loop is not None and changed is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(changed.set)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self.worker._waker = self.wake
        watch = LagWatch(self._loop, self.worker.lag_warning, self.worker.ident(), self._name)
        watch.start()
        try:
            await self._serve()
        finally:
            try:
                await self._drain()
            finally:
                self.worker._waker = None
                watch.stop()
                await self._claims.call(self.worker._close_strategy)

    # -- claiming ----------------------------------------------------------

    async def _serve(self) -> None:
        worker = self.worker
        errors = 0
        while worker.keep_running and worker._may_start() >= 0:
            room = self._room()
            if room == 0 and not self.finished:
                await self._changes(None)
                continue
            busy = bool(self.active or self.finished or self.queued)
            exchange = await self._exchange(room, 0.0 if busy else worker.poll_timeout)
            if exchange.error is not None:
                errors += 1
                await self._pause(exchange.error, errors)
            elif exchange.claims:
                errors = 0
            for claim in exchange.claims:
                if len(self.active) < self.concurrency:
                    self._start(claim)
                else:
                    self.queued.append(claim)
            if not exchange.claims and self.active and not self.finished:
                await self._changes(worker.nap_time)

    def _room(self) -> int:
        """How many more tasks to claim: free slots, within ``max_tasks``/``recycle_after``.

        While tasks are quick (under :data:`_AHEAD_PACE` on average), as many
        again are claimed ahead and wait in :attr:`queued`: the next batch's
        round trip then runs while this one's tasks do, instead of after.
        """
        ahead = self.concurrency if self.pace < _AHEAD_PACE else 0
        held = len(self.active) + len(self.queued)
        free = self.concurrency + ahead - held
        left = self.worker._may_start()
        if left < 0:
            return 0
        if left > 0:
            free = min(free, left - held - len(self.finished))
        return max(free, 0)

    async def _changes(self, timeout: float | None) -> None:
        """Wait until a task finishes, a stop is asked for, or ``timeout`` passes."""
        changed = self._changed
        assert changed is not None
        if not changed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
        changed.clear()

    async def _exchange(self, room: int, wait: float) -> Exchange:
        """Settle what finished and claim up to ``room`` tasks, in one hop to the claims thread."""
        finished, self.finished = self.finished, []
        exchange = await self._claims.exchange(finished, room, wait)
        worker = self.worker
        for done, outcome, settled in exchange.settled:
            if done.deferred is not None:
                continue  # put back unstarted: neither reported nor counted
            if done.task is None and done.error is not None:
                worker._reporter.undecodable(worker.ident(), as_exception(done.error))
            worker.count(worker.report(done.claim, outcome, settled, done.started))
        worker._reporter.settled(exchange.acks)
        return exchange

    async def _pause(self, error: AlligatorError, errors: int) -> None:
        delay = min(5.0, 0.1 * 2 ** (errors - 1))
        self.worker._reporter.backend_failed(
            self.worker.ident(), self.worker.gator, error, delay, errors
        )
        await self._changes(delay)

    # -- running -----------------------------------------------------------

    def _start(self, claim: Claim) -> None:
        started = time.perf_counter()
        try:
            task = claim.consumer.decode(claim.reservation)
        except Exception as exc:
            self.finished.append(Finished(claim, None, None, exc, started))
            return
        # Admission under limits asks the backend (one round trip, on the loop,
        # for limited tasks only): past a limit the task goes back unstarted.
        deferred = claim.consumer.admit(claim.reservation, task)
        if deferred is not None:
            self.finished.append(Finished(claim, task, None, None, started, deferred))
            return
        worker = self.worker
        limit = worker.timeout if task.timeout is None else task.timeout
        # Built here, on the loop (its queue wait is now); entered where the task runs.
        observed = worker._reporter.running(claim, task)
        if isinstance(task, BuiltinTask) and task.is_coroutine:
            runner = asyncio.create_task(awaited(task, limit, observed))
        else:
            ran = in_thread(self._threads, task, limit, observed, worker.ident())
            runner = asyncio.create_task(ran)
            self.plain.add(runner)
        self.active[runner] = _Running(claim, task, started)
        runner.add_done_callback(self._done)

    def _name(self, runner: asyncio.Future[Any]) -> str | None:
        """How the lag watch names a running coroutine task (from its thread: one dict read)."""
        running = self.active.get(runner)
        if running is None or not isinstance(running.task, BuiltinTask):
            return None
        return runner_name(running.task)

    def _done(self, runner: asyncio.Future[Any]) -> None:
        claim, task, started = self.active.pop(runner)
        if self.plain:
            self.plain.discard(runner)
        if runner in self.cancelled or runner.cancelled():
            self.cancelled.discard(runner)
            self.given_back.append(claim)
        else:
            result, error = runner.result()
            self.finished.append(Finished(claim, task, result, error, started))
            self.pace += _PACE_WEIGHT * (time.perf_counter() - started - self.pace)
        if self.queued and self.worker.keep_running:
            self._start(self.queued.popleft())
        changed = self._changed
        if changed is not None:
            changed.set()

    async def _drain(self) -> None:
        """Let running tasks finish within the grace period; cancel and release the rest."""
        # Claimed ahead, never started: released for another worker now.
        self.given_back += self.queued
        self.queued.clear()
        deadline = time.monotonic() + self.worker.grace
        while self.active and not self.hurry:
            left = deadline - time.monotonic()
            coroutines = len(self.active) > len(self.plain)
            if left <= 0 and coroutines:
                break
            await self._settle_finished()
            await self._changes(max(left, 0.05) if coroutines else 0.5)
        for runner in list(self.active):
            if runner not in self.plain:
                self.cancelled.add(runner)
                runner.cancel()
        if self.active:
            await asyncio.wait(list(self.active))
        await self._settle_finished()
        if self.given_back:
            given_back, self.given_back = self.given_back, []
            await self._claims.give_back(given_back)

    async def _settle_finished(self) -> None:
        if self.finished:
            await self._exchange(0, 0.0)
