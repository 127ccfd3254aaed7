"""What bounds a running task: its time limit, and what a pool can see of it.

A task past its time limit is stopped by ``SIGALRM`` where the worker runs in
the main thread (a single worker, and every ``--processes`` child): the
alarm raises :class:`~alligator.exceptions.TaskTimeoutError` inside the task,
which then fails like any other (retried or buried with "timed out after N
s"). Python code is interrupted between bytecodes; a C call that holds the
GIL (a catastrophic regex, say) is not, so a pool also watches each child's
:class:`Beacon` and kills a child whose task is still running well past its
limit: the task comes back by lease, and ``max_deliveries`` buries it if it
keeps doing that. Worker threads (``--threads``) cannot take a signal; there
the pool's kill is the only limit.

A beacon is a small memory-mapped file per pool child, one record per worker
thread: the id of the task running and its deadline. Writing it costs a
memory store per task, and it survives the child's death, so the pool can
say which task a dead child was running.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import signal
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Final

from alligator.exceptions import TaskTimeoutError

__all__ = ["BEACON_ENV", "Beacon", "BeaconSlot", "time_limit"]

#: Environment variable naming a pool child's beacon file.
BEACON_ENV: Final = "ALLIGATOR_POOL_BEACON"

#: One record: deadline (monotonic seconds, 0 for none), id length, id bytes.
_RECORD: Final = struct.Struct(">dH")
_ID_BYTES: Final = 246
_RECORD_BYTES: Final = _RECORD.size + _ID_BYTES


@contextlib.contextmanager
def time_limit(seconds: float | None, task_id: str) -> Iterator[None]:
    """Raise :class:`TaskTimeoutError` in the block once ``seconds`` have passed.

    Only in the main thread (where signals are delivered) and where
    ``setitimer`` exists; elsewhere the block runs unbounded.
    """
    if (
        seconds is None
        or threading.current_thread() is not threading.main_thread()
        or not hasattr(signal, "setitimer")
    ):
        yield
        return
    running = True

    def alarm(signum: int, frame: FrameType | None) -> None:
        if running:  # a late alarm after the block must not hit the worker's code
            raise TaskTimeoutError(f"task {task_id} timed out after {seconds:g} s")

    # Someone else's alarm (a test runner's timeout, say) is put back afterwards.
    previous = signal.signal(signal.SIGALRM, alarm)
    other, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        running = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if other:
            signal.setitimer(signal.ITIMER_REAL, max(other - (time.monotonic() - started), 1e-3))


class Beacon:
    """A child's memory-mapped record of what its workers run, readable by its pool.

    Args:
        path: The file (created by the pool, one per child).
        slots: Records in it: one per worker thread of the child.
    """

    def __init__(self, path: str | Path, slots: int = 1) -> None:
        self.path = Path(path)
        self.slots = slots
        size = _RECORD_BYTES * slots
        with self.path.open("a+b") as file:
            if os.fstat(file.fileno()).st_size < size:
                file.truncate(size)
            self._map = mmap.mmap(file.fileno(), size)

    def slot(self, index: int) -> BeaconSlot:
        """The record of one worker thread."""
        if not 0 <= index < self.slots:
            raise IndexError(f"beacon has {self.slots} slots, not {index + 1}")
        return BeaconSlot(self._map, index * _RECORD_BYTES)

    def running(self) -> list[tuple[str, float | None]]:
        """The tasks the child's workers are running: id and monotonic deadline."""
        found = []
        for index in range(self.slots):
            offset = index * _RECORD_BYTES
            deadline, length = _RECORD.unpack_from(self._map, offset)
            if length:
                start = offset + _RECORD.size
                task_id = self._map[start : start + length].decode("utf-8", "replace")
                found.append((task_id, deadline or None))
        return found

    def clear(self) -> None:
        """Forget every record (a fresh child starts in the same file)."""
        self._map[:] = bytes(len(self._map))

    def close(self) -> None:
        self._map.close()


class BeaconSlot:
    """The record one worker writes before each task and clears after it."""

    def __init__(self, mapped: mmap.mmap, offset: int) -> None:
        self._map = mapped
        self._offset = offset

    def running(self, task_id: str, limit: float | None) -> None:
        raw = task_id.encode("utf-8", "replace")[:_ID_BYTES]
        deadline = 0.0 if limit is None else time.monotonic() + limit
        start = self._offset + _RECORD.size
        self._map[start : start + len(raw)] = raw
        _RECORD.pack_into(self._map, self._offset, deadline, len(raw))

    def idle(self) -> None:
        _RECORD.pack_into(self._map, self._offset, 0.0, 0)
