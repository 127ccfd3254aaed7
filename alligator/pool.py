"""Run workers like a service: a supervising parent over N worker processes.

:class:`Pool` starts each child as its own ``python -m alligator worker``
process (a fresh interpreter, not a fork), restarts a child that dies (with
an exponential back-off while it keeps dying young), starts a fresh one when
a child exits 0 after its ``--max-tasks`` (recycling), and on SIGTERM/SIGINT
forwards SIGTERM so every child finishes and acks its current task. A second
signal kills the children at once; their tasks come back when their leases
expire.

Why subprocesses running the worker CLI rather than ``multiprocessing``:
a child is exactly the single-worker command users already run and the
tests already cover (same options, same signal handling, same exit codes);
nothing has to be pickled across (DSNs with credentials, custom codec
registrations and ``--import`` side effects are simply re-done by the child);
and no open socket, SQLite handle or heartbeat thread of the parent can leak
into a child, which ``fork`` would risk and ``spawn`` would only avoid by
re-importing everything anyway.

Children run in their own session, so a terminal's Ctrl-C reaches only the
parent, which forwards it once; a child whose parent disappears (``kill -9``
of the pool) notices within a second and stops after its current task
(:func:`watch_parent`).

:func:`run_threads` is the in-process counterpart used by ``--threads``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from alligator._limits import BEACON_ENV, Beacon
from alligator._signals import stop_signals
from alligator.protocols import Worker

__all__ = ["PARENT_ENV", "Pool", "run_threads", "watch_parent"]

log = logging.getLogger("alligator.pool")

#: Set in each child's environment to the pool's pid (see :func:`watch_parent`).
PARENT_ENV = "ALLIGATOR_POOL_PARENT"


class _Slot:
    """One child position: restarted in place, numbered for the logs.

    Its beacon file outlives each child, so what a dead child was running
    can still be read.
    """

    def __init__(self, number: int, beacon: Beacon) -> None:
        self.number = number
        self.beacon = beacon
        self.killed = False  #: killed for a stuck task; not killed again while it dies
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.failures = 0
        self.start_at = 0.0


class Pool:
    """Supervises ``processes`` copies of a worker command.

    Args:
        command: The child's argv (a worker that stops after its current
            task on SIGTERM and exits 0).
        processes: How many children run at once.
        env: The children's environment (default: this one).
        min_uptime: A child that dies sooner counts as failing again, and its
            restart waits twice as long as the last one.
        max_backoff: Longest wait before restarting a failing child.
        poll_interval: How often the parent looks at its children.
        threads: Worker threads per child (records in each child's beacon).
        kill_grace: Seconds past a task's time limit after which the child
            running it is killed (a task stuck in C code that ``SIGALRM``
            could not interrupt); it comes back by lease.
        on_exit: Called with the pid of each child that exited, once it is
            reaped (the pool's metrics forget a dead child's gauges).
    """

    def __init__(
        self,
        command: Sequence[str],
        processes: int,
        *,
        env: Mapping[str, str] | None = None,
        min_uptime: float = 5.0,
        max_backoff: float = 30.0,
        poll_interval: float = 0.1,
        threads: int = 1,
        kill_grace: float = 5.0,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError(f"a pool needs at least one process, got {processes}")
        self._beacons = tempfile.TemporaryDirectory(prefix="alligator-pool-")
        self.command = list(command)
        self.env = {**(os.environ if env is None else env), PARENT_ENV: str(os.getpid())}
        self.min_uptime = min_uptime
        self.max_backoff = max_backoff
        self.poll_interval = poll_interval
        self.kill_grace = kill_grace
        self.on_exit = on_exit
        self.slots = [
            _Slot(n, Beacon(Path(self._beacons.name) / f"worker-{n}", threads))
            for n in range(processes)
        ]
        self.started = 0  #: children started so far, restarts included
        self._stopping = False
        self._signum = 0
        self._aborted = False
        self._wake = threading.Event()

    def pids(self) -> list[int]:
        """The pids of the children running now."""
        return [s.proc.pid for s in self.slots if s.proc is not None and s.proc.poll() is None]

    def run(self) -> int:
        """Supervise until stopped; 0 when every child stopped cleanly.

        Returns:
            0 after a first SIGTERM/SIGINT once all children exited 0; 1 if
            some child exited otherwise while stopping; ``128 + signum``
            after a second signal killed them.
        """
        log.info(
            "pool #%d starting %d worker processes",
            os.getpid(),
            len(self.slots),
            extra={"processes": len(self.slots)},
        )
        clean = True
        with stop_signals(self._on_signal, then="keep"), self._reaped():
            while True:
                now = time.monotonic()
                for slot in self.slots:
                    clean = self._reap(slot, now) and clean
                    if not self._stopping and slot.proc is None and slot.start_at <= now:
                        self._start(slot)
                    elif slot.proc is not None:
                        self._enforce_limits(slot, now)
                if self._stopping and all(slot.proc is None for slot in self.slots):
                    break
                self._wake.wait(self.poll_interval)
                self._wake.clear()
        if self._aborted:
            log.warning("pool #%d killed its workers", os.getpid())
            return 128 + self._signum
        log.info("pool #%d stopped; %d processes started in all", os.getpid(), self.started)
        return 0 if clean else 1

    def stop(self) -> None:
        """Ask every child to finish its current task and exit (SIGTERM)."""
        self._stopping = True
        for slot in self.slots:
            if slot.proc is not None and slot.proc.poll() is None:
                slot.proc.send_signal(signal.SIGTERM)
        self._wake.set()

    def kill(self) -> None:
        """Kill every child now; their tasks come back when their leases expire."""
        self._stopping = self._aborted = True
        for slot in self.slots:
            if slot.proc is not None and slot.proc.poll() is None:
                slot.proc.kill()
        self._wake.set()

    @contextlib.contextmanager
    def _reaped(self) -> Iterator[None]:
        """Kill and wait for any child still running when :meth:`run` itself fails."""
        try:
            yield
        finally:
            for slot in self.slots:
                if slot.proc is not None and slot.proc.poll() is None:
                    slot.proc.kill()
                    slot.proc.wait()
                slot.beacon.close()
            self._beacons.cleanup()

    def _enforce_limits(self, slot: _Slot, now: float) -> None:
        """Kill a child whose task is still running ``kill_grace`` past its time limit."""
        assert slot.proc is not None
        if slot.killed:
            return
        for task_id, deadline in slot.beacon.running():
            if deadline is not None and now > deadline + self.kill_grace:
                log.error(
                    "pool: task %s is still running %.1fs past its time limit (stuck where "
                    "SIGALRM cannot reach it?); killing worker #%d, the task comes back by lease",
                    task_id,
                    now - deadline,
                    slot.proc.pid,
                    extra={"slot": slot.number, "child_pid": slot.proc.pid, "task_id": task_id},
                )
                slot.proc.kill()
                slot.killed = True
                return

    def _on_signal(self, signum: int) -> None:
        if self._stopping:
            log.warning("pool #%d got signal %d again; killing workers", os.getpid(), signum)
            self._signum = signum
            self.kill()
            return
        log.info("pool #%d got signal %d; workers finish their current task", os.getpid(), signum)
        self._signum = signum
        self.stop()

    def _start(self, slot: _Slot) -> None:
        slot.beacon.clear()
        slot.killed = False
        slot.proc = subprocess.Popen(
            self.command,
            env={**self.env, BEACON_ENV: str(slot.beacon.path)},
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        slot.started = time.monotonic()
        self.started += 1
        log.info(
            "pool: worker %d started as #%d",
            slot.number,
            slot.proc.pid,
            extra={"slot": slot.number, "child_pid": slot.proc.pid},
        )

    def _reap(self, slot: _Slot, now: float) -> bool:
        """Notice a child that exited and plan its restart; ``False`` if it failed a stop."""
        if slot.proc is None:
            return True
        code = slot.proc.poll()
        if code is None:
            return True
        pid, slot.proc = slot.proc.pid, None
        if self.on_exit is not None:
            self.on_exit(pid)
        running = [task_id for task_id, _ in slot.beacon.running()]
        extra = {"slot": slot.number, "child_pid": pid, "exit_code": code, "tasks": running}
        # A child still starting up dies of the forwarded SIGTERM before its
        # worker handles signals; it held no task, so that is a clean stop too.
        # A child that exits 0 in the middle of a task (os._exit(0) in task
        # code) did not finish its tasks: it died.
        if not running and (code == 0 or (self._stopping and code == -signal.SIGTERM)):
            slot.failures = 0
            slot.start_at = now
            if not self._stopping:
                log.info(
                    "pool: worker #%d finished its tasks; starting a fresh one", pid, extra=extra
                )
            return True
        if self._aborted:
            return False
        slot.failures = slot.failures + 1 if now - slot.started < self.min_uptime else 1
        delay = 0.0 if slot.failures == 1 else min(self.max_backoff, 0.5 * 2 ** (slot.failures - 2))
        slot.start_at = now + delay
        if not self._stopping:
            log.warning(
                "pool: worker #%d died (exit code %d)%s; restarting in %.1fs",
                pid,
                code,
                f" while running task {', '.join(running)}" if running else "",
                delay,
                extra=extra,
            )
        # A death before the stop was handled by restarting; only one while
        # stopping makes the stop unclean.
        return not self._stopping


def watch_parent(parent: int, stop: Callable[[], None], interval: float = 1.0) -> threading.Thread:
    """Call ``stop`` once this process is no longer the child of ``parent``.

    Pool children run in their own session, so no terminal signal reaches
    them if the pool is killed outright; this daemon thread makes them finish
    their current task and exit instead of running on as orphans.
    """

    def run() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        log.warning("pool #%d is gone; stopping after the current task", parent)
        stop()

    thread = threading.Thread(target=run, name="alligator-parent-watch", daemon=True)
    thread.start()
    return thread


def run_threads(workers: Sequence[Worker]) -> None:
    """Run each worker in its own thread until all stop.

    The first SIGINT/SIGTERM asks every worker to finish its current task;
    a second one raises :class:`KeyboardInterrupt` here at once (the threads
    are daemons, so the process then exits; tasks come back by lease).
    """
    threads = [
        threading.Thread(target=w.run_forever, name=f"alligator-worker-{n}", daemon=True)
        for n, w in enumerate(workers)
    ]

    def interrupt(signum: int) -> None:
        log.info("got signal %d; %d worker threads finish their current task", signum, len(workers))
        # A thread that has not entered run_forever yet keeps the request too.
        for worker in workers:
            worker.interrupt()

    with stop_signals(interrupt, then="raise"):
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.1)
