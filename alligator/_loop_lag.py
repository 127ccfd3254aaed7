"""Loop-lag detection for a concurrent worker: who blocked the event loop, and for how long.

A coroutine task that blocks (``time.sleep``, a synchronous driver, long CPU
work) stalls every other task of :mod:`alligator.concurrency`'s loop. The
loop itself cannot notice while it is blocked, so a thread watches it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["LagWatch"]

log = logging.getLogger("alligator.worker")


class LagWatch:
    """Warns when the event loop has not turned for ``threshold`` seconds, naming the culprit.

    The loop stamps the time every quarter of ``threshold``; a daemon thread
    reads the stamp at the same pace. A stall is reported once, with the
    task running on the loop at that moment (named ``<task id> <function>`` by
    ``name``, asked only then: the tasks are not named one by one as they start).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        threshold: float,
        ident: str,
        name: Callable[[asyncio.Task[Any]], str | None] | None = None,
    ) -> None:
        self.loop = loop
        self.name = name
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
            called = None if culprit is None else self._called(culprit)
            name = "no task (the loop's own code)" if called is None else f"task {called}"
            log.warning(
                "%s: the event loop has been blocked for %.2fs by %s; a coroutine task that "
                "blocks (time.sleep, a synchronous client, long CPU work) stalls every other "
                "task: await asyncio.sleep / an async client, use asyncio.to_thread, or make "
                "it a plain def task (run in the worker's threads)",
                self.ident,
                lag,
                name,
                extra={"lag": lag, "task": called},
            )

    def _called(self, culprit: asyncio.Task[Any]) -> str:
        named = None if self.name is None else self.name(culprit)
        return culprit.get_name() if named is None else named
