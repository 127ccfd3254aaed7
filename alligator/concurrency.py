"""Many tasks at once in one worker: the event loop behind ``Worker(gator, concurrency=N)``.

An ``async def`` task runs on one event loop, up to ``concurrency`` at a time;
a plain-function task of the same queue runs in a pool of ``threads`` threads,
so it never blocks the loop. Both take the route of a single worker's task
(:meth:`~alligator.Worker.conclude`, the claim strategy's ``settle``,
:meth:`~alligator.Worker.report`): the same acks, retries, burials, leases
and hooks.

Every call to the backend (claims, acks, releases, burials) is made by one
*claims thread*, so the loop never waits on a socket and the claim strategy
is only ever used from one thread. The loop hands it the tasks that finished
since the last call together with the number of free slots, and gets back
the next claims in one hop: with a prefetching backend (locmem, SQLite,
Redis, PostgreSQL) that is one ``reserve_many`` round trip, which also acks
the successes. While tasks run and nothing is due, the queue is looked at
again every ``nap_time``; when nothing runs, the claims thread blocks on the
backend for up to ``poll_timeout``. Each running task's lease is renewed by
the worker's heartbeat thread, along with the others.

Stopping (SIGINT/SIGTERM, :meth:`~alligator.Worker.interrupt`,
``max_tasks``): no more claims; running coroutines get ``grace`` seconds to
finish and be settled; the rest are cancelled and released, due at once, so
another worker runs them (nothing acked that did not finish). A second
signal ends the grace period at once. Plain-function tasks already running
in threads cannot be cancelled: the worker waits for them, as a
single-threaded worker waits for its current task. For the same reason a
plain task past its time limit is failed at once (retried or buried), but
its thread stays busy until the function returns.

A coroutine that blocks the loop (``time.sleep``, a synchronous driver, long
CPU work) stalls every other task; a watchdog thread notices when the loop
has not turned for ``lag_warning`` seconds and logs which task is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

from alligator._signals import stop_signals
from alligator.claiming import Claim
from alligator.consumer import Outcome, Settlement
from alligator.exceptions import AlligatorError, TaskTimeoutError
from alligator.limits import limits_of
from alligator.protocols import Task
from alligator.tasks import Task as BuiltinTask

if TYPE_CHECKING:
    from alligator.workers import Worker

__all__ = ["LagWatch", "serve"]

log = logging.getLogger("alligator.worker")


class _Finished(NamedTuple):
    """A claim whose task ran (or could not be decoded, or was put back), waiting to be settled."""

    claim: Claim
    task: Task[Any] | None
    result: Any
    error: BaseException | None
    started: float
    #: Over a limit: put back unstarted by ``Consumer.admit`` (no delivery).
    deferred: Outcome | None = None


class _Settled(NamedTuple):
    """What the claims thread did with one finished claim."""

    finished: _Finished
    outcome: Outcome
    settled: list[Settlement]


class _Exchange(NamedTuple):
    """One hop to the claims thread and back."""

    settled: list[_Settled]
    claims: list[Claim]
    acks: list[Settlement]
    error: AlligatorError | None


def serve(worker: Worker) -> None:
    """Run ``worker``'s loop concurrently until it is asked to stop (see the module notes)."""
    _Loop(worker).run()


class _Loop:
    def __init__(self, worker: Worker) -> None:
        assert worker.concurrency is not None
        self.worker = worker
        self.concurrency = worker.concurrency
        self.strategy = worker._strategy
        #: Running tasks, by their claim.
        self.active: dict[asyncio.Future[Any], Claim] = {}
        #: Those of them that run a plain function in a thread (never cancelled).
        self.plain: set[asyncio.Future[Any]] = set()
        #: Coroutine tasks cancelled at the end of the grace period.
        self.cancelled: set[asyncio.Future[Any]] = set()
        self.finished: list[_Finished] = []
        #: Cancelled at shutdown: released for another worker once they stopped.
        self.given_back: list[Claim] = []
        self.hurry = False
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._claims = ThreadPoolExecutor(1, thread_name_prefix="alligator-claims")
        self._threads = ThreadPoolExecutor(worker.threads, thread_name_prefix="alligator-task")

    # -- the loop's life ---------------------------------------------------

    def run(self) -> None:
        try:
            with stop_signals(self._on_signal, then="keep"):
                asyncio.run(self._main())
        finally:
            self._threads.shutdown(wait=True)
            self._claims.shutdown(wait=True)

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
        watch = LagWatch(self._loop, self.worker.lag_warning, self.worker.ident())
        watch.start()
        try:
            await self._serve()
        finally:
            try:
                await self._drain()
            finally:
                self.worker._waker = None
                watch.stop()
                await self._call(self.worker._close_strategy)

    async def _call(self, func: Any, *args: Any) -> Any:
        """``func(*args)`` on the claims thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._claims, func, *args)

    # -- claiming ----------------------------------------------------------

    async def _serve(self) -> None:
        worker = self.worker
        errors = 0
        while worker.keep_running and worker._may_start() >= 0:
            room = self._room()
            if room == 0 and not self.finished:
                await self._changes(None)
                continue
            busy = bool(self.active or self.finished)
            exchange = await self._exchange(room, 0.0 if busy else worker.poll_timeout)
            if exchange.error is not None:
                errors += 1
                await self._pause(exchange.error, errors)
            elif exchange.claims:
                errors = 0
            for claim in exchange.claims:
                self._start(claim)
            if not exchange.claims and self.active and not self.finished:
                await self._changes(worker.nap_time)

    def _room(self) -> int:
        """How many more tasks may start now: free slots, within ``max_tasks``/``recycle_after``."""
        free = self.concurrency - len(self.active)
        left = self.worker._may_start()
        if left < 0:
            return 0
        if left > 0:
            free = min(free, left - len(self.active) - len(self.finished))
        return max(free, 0)

    async def _changes(self, timeout: float | None) -> None:
        """Wait until a task finishes, a stop is asked for, or ``timeout`` passes."""
        changed = self._changed
        assert changed is not None
        if not changed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
        changed.clear()

    async def _exchange(self, room: int, wait: float) -> _Exchange:
        """Settle what finished and claim up to ``room`` tasks, in one hop to the claims thread."""
        finished, self.finished = self.finished, []
        exchange: _Exchange = await self._call(self._on_claims_thread, finished, room, wait)
        worker = self.worker
        for done, outcome, settled in exchange.settled:
            if done.deferred is not None:
                continue  # put back unstarted: neither reported nor counted
            if done.task is None and done.error is not None:
                worker._reporter.undecodable(worker.ident(), _as_exception(done.error))
            worker.count(worker.report(done.claim, outcome, settled, done.started))
        worker._reporter.settled(exchange.acks)
        return exchange

    def _on_claims_thread(self, finished: list[_Finished], room: int, wait: float) -> _Exchange:
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
            return _Exchange(settled, claims, acks, exc)
        return _Exchange(settled, claims, acks, None)

    def _settle(self, done: _Finished) -> _Settled | None:
        claim, task, result, error = done.claim, done.task, done.result, done.error
        worker = self.worker
        try:
            if done.deferred is not None:
                self.strategy.settle(claim, done.deferred)
                return _Settled(done, done.deferred, [])
            if task is None:
                outcome = claim.consumer.bury_undecodable(claim.reservation, _as_exception(error))
            else:
                outcome = worker.conclude(claim, task, result, error)
            # A task under limits holds its slots until its ack: settle it now.
            limited = task is not None and bool(limits_of(getattr(task, "func", None)))
            return _Settled(done, outcome, self.strategy.settle(claim, outcome, now=limited))
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
        """Release cancelled tasks, due at once, for another worker (claims thread)."""
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
            self.finished.append(_Finished(claim, None, None, exc, started))
            return
        # Admission under limits asks the backend (one round trip, on the loop,
        # for limited tasks only): past a limit the task goes back unstarted.
        deferred = claim.consumer.admit(claim.reservation, task)
        if deferred is not None:
            self.finished.append(_Finished(claim, task, None, None, started, deferred))
            return
        limit = self.worker.timeout if task.timeout is None else task.timeout
        if isinstance(task, BuiltinTask) and task.is_coroutine:
            runner = asyncio.create_task(_awaited(task, limit), name=_name(task))
        else:
            runner = asyncio.create_task(self._in_thread(task, limit))
            self.plain.add(runner)
        self.active[runner] = claim
        runner.add_done_callback(lambda f: self._done(f, task, started))

    def _done(self, runner: asyncio.Future[Any], task: Task[Any], started: float) -> None:
        claim = self.active.pop(runner)
        self.plain.discard(runner)
        if runner in self.cancelled or runner.cancelled():
            self.cancelled.discard(runner)
            self.given_back.append(claim)
        else:
            result, error = runner.result()
            self.finished.append(_Finished(claim, task, result, error, started))
        changed = self._changed
        if changed is not None:
            changed.set()

    async def _in_thread(
        self, task: Task[Any], limit: float | None
    ) -> tuple[Any, BaseException | None]:
        """Run a plain-function task in a pool thread; past ``limit`` it fails, the thread runs on.

        A thread cannot be interrupted: a task past its time limit is failed
        (retried or buried) at once, and what its thread does afterwards is
        ignored, but the thread stays busy until the function returns.
        """
        running = asyncio.get_running_loop().run_in_executor(self._threads, _ran, task)
        if limit is None:
            return await running
        try:
            return await asyncio.wait_for(asyncio.shield(running), limit)
        except TimeoutError:
            log.warning(
                "%s: task %s timed out after %gs in a thread, which cannot be stopped: it is "
                "failed now, and its thread stays busy until the function returns",
                self.worker.ident(),
                task.task_id,
                limit,
                extra={"task_id": task.task_id},
            )
            return None, TaskTimeoutError(f"task {task.task_id} timed out after {limit:g} s")

    async def _drain(self) -> None:
        """Let running tasks finish within the grace period; cancel and release the rest."""
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
            await self._call(self._give_back, given_back)

    async def _settle_finished(self) -> None:
        if self.finished:
            await self._exchange(0, 0.0)


async def _awaited(task: BuiltinTask[Any], limit: float | None) -> tuple[Any, BaseException | None]:
    """Run a coroutine task; its failure (even ``SystemExit``) is its own, not the loop's."""
    try:
        return (await task.run_async(limit)).result, None
    except asyncio.CancelledError:
        if _cancelling():
            raise  # the worker cancelled it (shutdown): not the task's failure
        return None, asyncio.CancelledError("the task cancelled itself")
    except BaseException as exc:
        return None, exc


def _cancelling() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


def _ran(task: Task[Any]) -> tuple[Any, BaseException | None]:
    """Run a plain-function task (in a pool thread)."""
    try:
        return task.run().result, None
    except BaseException as exc:
        return None, exc


def _name(task: BuiltinTask[Any]) -> str:
    func = task.func
    return f"{task.task_id} {getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}"


def _as_exception(error: BaseException | None) -> Exception:
    assert isinstance(error, Exception)
    return error


class LagWatch:
    """Warns when the event loop has not turned for ``threshold`` seconds, naming the culprit.

    The loop stamps the time every quarter of ``threshold``; a daemon thread
    reads the stamp at the same pace. A stall is reported once, with the
    task running on the loop at that moment (named ``<task id> <function>``).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, threshold: float, ident: str) -> None:
        self.loop = loop
        self.threshold = threshold
        self.ident = ident
        self.beat = time.monotonic()
        #: Stalls reported so far.
        self.stalls = 0
        self._stop = threading.Event()
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self.threshold <= 0:
            return
        self._tick()
        threading.Thread(target=self._watch, name="alligator-loop-lag", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()

    def _tick(self) -> None:
        self.beat = time.monotonic()
        if not self._stop.is_set():
            self._handle = self.loop.call_later(self.threshold / 4, self._tick)

    def _watch(self) -> None:
        reported = 0.0
        while not self._stop.wait(self.threshold / 4):
            beat = self.beat
            lag = time.monotonic() - beat
            if lag < self.threshold or beat == reported:
                continue
            reported = beat
            self.stalls += 1
            culprit = asyncio.current_task(self.loop)
            name = (
                "no task (the loop's own code)" if culprit is None else f"task {culprit.get_name()}"
            )
            log.warning(
                "%s: the event loop has been blocked for %.2fs by %s; a coroutine task that "
                "blocks (time.sleep, a synchronous client, long CPU work) stalls every other "
                "task: await asyncio.sleep / an async client, use asyncio.to_thread, or make "
                "it a plain def task (run in the worker's threads)",
                self.ident,
                lag,
                name,
                extra={"lag": lag, "task": None if culprit is None else culprit.get_name()},
            )
