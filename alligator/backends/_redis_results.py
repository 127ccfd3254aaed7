"""Outcomes and dependencies on Redis: the :class:`~alligator.protocols.ResultClient` methods.

Mixed into :class:`alligator.backends.redis_backend.Client`, so that module
keeps reading as the queue contract. Each settlement is one Lua script
(``redis_lua/complete.lua``, ``fail.lua``, ``withdraw.lua``, and
``reserve.lua`` for the fused acks of a prefetching worker): the ack (or
burial), the outcome's write and the release (or burial) of dependents
happen in one atomic call, so a worker killed between running a task and
settling it leaves no outcome for a task that runs again, and no dependent
is released twice. Dependencies live within a queue: every key involved
carries the queue's hash tag, so each script runs on one Cluster slot.

An outcome is the key ``{<namespace>:<queue>}:r:<task id>``: a LIST of one
element, a flag byte then the record, expiring by ``PEXPIRE`` after
``result_ttl`` (Redis's own expiry: nothing scans for old outcomes). A
reader blocks on that key with ``BLMOVE key key``, which returns the element
and leaves it in place, so every waiter wakes on the write and none polls.
See :mod:`alligator.backends._redis_scripts` for the rest of the layout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from alligator.backends import _redis_scripts as lua
from alligator.backends._checks import QueueNames, check_items, check_task_id
from alligator.backends._redis_driver import Connection, Reply, as_bytes, as_int, as_list
from alligator.exceptions import (
    ConfigurationError,
    InvalidTaskError,
    TaskInProgressError,
    TaskNotFoundError,
)
from alligator.records import PushItem, QueueState, Reservation, TaskState

__all__ = ["Results"]

#: The flag byte before each stored record (see ``redis_lua/lib/keep.lua``).
_FLAG: Final = 1

_STATES: Final[dict[str, QueueState]] = {
    "ready": "ready",
    "delayed": "delayed",
    "reserved": "reserved",
    "blocked": "blocked",
    "buried": "buried",
}


def milliseconds(ttl: float) -> str:
    """An outcome's lifetime as ``PEXPIRE`` takes it: whole milliseconds, at least 1."""
    if not (isinstance(ttl, int | float) and 0 < ttl < 1e12):
        raise ConfigurationError(f"an outcome's ttl must be seconds > 0, got {ttl!r}")
    return str(max(1, math.ceil(ttl * 1000)))


class Results:
    """The :class:`~alligator.protocols.ResultClient` methods of the Redis client."""

    if TYPE_CHECKING:  # provided by the client
        namespace: str
        _redis: Connection
        _names: QueueNames

        def _now(self) -> str: ...
        def _bucket(self, queue_name: str, task_id: str) -> str: ...
        def _script_keys(self, script: lua.Script, queue_name: str) -> list[str]: ...
        def _name(self, queue_name: str) -> None: ...

    def result_key(self, queue_name: str, task_id: str) -> str:
        """The key of a task's outcome, under the queue's hash tag.

        Raises:
            ConfigurationError: A queue name Redis cannot store.
        """
        return f"{{{self.namespace}:{self._names.check(queue_name)}}}:r:{task_id}"

    def _call(
        self, script: lua.Script, queue_name: str, extra: Sequence[str], args: Sequence[bytes | str]
    ) -> Reply:
        keys = [*self._script_keys(script, queue_name), *extra]
        return self._redis.run(script.source, keys, args, resend=script.resend)

    # -- the store -----------------------------------------------------------

    def store_result(self, queue_name: str, task_id: str, result: bytes, ttl: float) -> None:
        """Keep ``result`` for ``ttl`` seconds (Redis's own expiry), waking every waiter."""
        check_task_id(task_id)
        key = self.result_key(queue_name, task_id)
        self._call(lua.OUTCOME, queue_name, [key], (task_id, result, milliseconds(ttl)))

    def fetch_result(self, queue_name: str, task_id: str, timeout: float = 0.0) -> bytes | None:
        """The outcome, blocking on its key (``BLMOVE``, no polling) up to ``timeout`` s.

        ``None`` at once for an id no outcome can be stored under (empty, or
        not encodable).
        """
        try:
            check_task_id(task_id)
        except InvalidTaskError:
            return None
        key = self.result_key(queue_name, task_id)
        redis = self._redis
        if not timeout > 0:
            raw = redis.peek(key)
        else:
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                raw = redis.rotate(key, min(left, redis.longest_block))
                if raw is not None or time.monotonic() >= deadline:
                    break
        return None if raw is None else raw[_FLAG:]

    # -- settlements -----------------------------------------------------------

    def complete(
        self, queue_name: str, reservation: Reservation, *, result: bytes, ttl: float
    ) -> bool:
        """Ack, keep the outcome and release the dependents, in one script call."""
        task_id = reservation.task_id
        extra = [self._bucket(queue_name, task_id), self.result_key(queue_name, task_id)]
        args = (self._now(), task_id, reservation.token, result, milliseconds(ttl))
        return as_int(self._call(lua.COMPLETE, queue_name, extra, args)) == 1

    def fail(
        self,
        queue_name: str,
        reservation: Reservation,
        reason: str,
        *,
        result: bytes,
        ttl: float,
        dependents_reason: str,
    ) -> list[str] | None:
        """Bury, keep the outcome and bury every dependent (transitively), in one call."""
        task_id = reservation.task_id
        extra = [self.result_key(queue_name, task_id)]
        head = (self._now(), task_id, reservation.token, reason)
        args = (*head, result, milliseconds(ttl), dependents_reason)
        reply = self._call(lua.FAIL, queue_name, extra, args)
        return None if reply is None else _ids(reply)

    def cancel_waiting(
        self, queue_name: str, task_id: str, *, result: bytes, ttl: float, dependents_reason: str
    ) -> tuple[bytes, list[str]] | None:
        """:meth:`ResultClient.cancel`: remove a waiting task, keep its outcome, bury dependents."""
        try:
            check_task_id(task_id)
        except InvalidTaskError:
            return None
        extra = [self._bucket(queue_name, task_id), self.result_key(queue_name, task_id)]
        args = (self._now(), task_id, result, milliseconds(ttl), dependents_reason)
        reply = self._call(lua.WITHDRAW, queue_name, extra, args)
        if reply is None:
            return None
        payload, buried = as_list(reply)
        return as_bytes(payload), _ids(buried)

    # -- dependencies ------------------------------------------------------------

    def push_after(
        self, queue_name: str, items: Sequence[PushItem], depends_on: Sequence[Sequence[str]]
    ) -> list[str]:
        """Store tasks, each blocked until its dependencies succeeded: one call, all or nothing.

        Raises:
            TaskNotFoundError: A dependency is neither in the queue, nor an
                earlier item, nor has a stored outcome (nothing is stored).
            TaskInProgressError: An item's id is running (nothing is stored).
            InvalidTaskError: A bad id or due time, or a task depending on itself.
        """
        if len(items) != len(depends_on):
            raise InvalidTaskError("push_after needs one depends_on entry per item")
        if not items:
            return []
        check_items(items)
        names: dict[str, int] = {}
        for item, parents in zip(items, depends_on, strict=True):
            for parent in parents:
                check_task_id(parent)
                if parent == item.task_id:
                    raise InvalidTaskError(f"task {item.task_id} depends on itself")
                names.setdefault(parent, len(names) + 1)
        self._name(queue_name)
        extra = [self._bucket(queue_name, item.task_id) for item in items]
        for parent in names:
            extra += (self._bucket(queue_name, parent), self.result_key(queue_name, parent))
        args: list[bytes | str] = [self._now(), str(len(items)), str(len(names)), *names]
        for item, parents in zip(items, depends_on, strict=True):
            due = "" if item.delay_until is None else repr(float(item.delay_until))
            positions = [str(names[p]) for p in dict.fromkeys(parents)]
            args += (item.task_id, item.data, due, str(len(positions)), *positions)
        reply = self._call(lua.AFTER, queue_name, extra, args)
        if isinstance(reply, list):
            what, task_id, *rest = (as_bytes(r).decode() for r in reply)
            if what == "busy":
                raise TaskInProgressError(task_id, queue_name)
            raise TaskNotFoundError(
                f"task {task_id} depends on {rest[0]!r}, which queue {queue_name!r} does not "
                "hold and has no outcome of (never pushed, or its outcome expired)"
            )
        return [item.task_id for item in items]

    def task_state(self, queue_name: str, task_id: str) -> TaskState | None:
        """Where a task stands: blocked, ready, delayed, reserved or buried (one read-only call)."""
        try:
            check_task_id(task_id)
        except InvalidTaskError:
            return None
        extra = [self._bucket(queue_name, task_id)]
        reply = self._call(lua.STATE, queue_name, extra, (self._now(), task_id))
        if reply is None:
            return None
        state, attempts = as_list(reply)
        return TaskState(_STATES[as_bytes(state).decode()], as_int(attempts))


def _ids(reply: Reply) -> list[str]:
    return [as_bytes(r).decode() for r in as_list(reply)]
