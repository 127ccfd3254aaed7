"""Unique keys and limits of the Redis backend, mixed into its client.

Each decision is one Lua script (``push_unique.lua``, ``acquire.lua``; the
layout is in :mod:`alligator.backends._redis_scripts`), so it is atomic on the
server, judged by the server's clock, and runs on the queue's Cluster slot:
every key it touches carries the queue's hash tag.

A unique push needs the index bucket of the task holding the key, which only
the key's entry names: the client reads the entry first (a read-only script),
then sends the push with that bucket declared and the entry it saw; the
script stores nothing and says so when the entry changed in between, and
the client reads again. The decision itself is the script's alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from alligator.backends import _redis_scripts as lua
from alligator.backends._checks import check_due, check_task_id
from alligator.backends._redis_driver import as_bytes, as_int, as_list
from alligator.exceptions import BackendError, InvalidTaskError
from alligator.records import LimitSlot, LimitUsage, Reservation

if TYPE_CHECKING:
    from alligator.backends._redis_driver import Connection, Reply

__all__ = ["Flow"]

#: Reads and pushes a unique push tries before giving up (each retry means
#: another producer changed the key's entry in the meantime).
_UNIQUE_TRIES = 100


class Flow:
    """The :class:`~alligator.protocols.UniqueClient` and ``LimitClient`` methods."""

    if TYPE_CHECKING:  # provided by the client
        namespace: str
        _redis: Connection

        def _run(
            self,
            script: lua.Script,
            queue_name: str,
            args: Sequence[bytes | str],
            ids: Sequence[str] = (),
        ) -> Reply: ...

        def _bucket(self, queue_name: str, task_id: str) -> str: ...

        def _script_keys(self, script: lua.Script, queue_name: str) -> list[str]: ...

        def _now(self) -> str: ...

        def _name(self, queue_name: str) -> None: ...

    def _limit_key(self, queue_name: str, key: str) -> str:
        return f"{{{self.namespace}:{queue_name}}}:lim:{key}"

    def push_unique(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        unique_key: str,
        while_running: bool = False,
    ) -> tuple[str, bool]:
        """Store the task unless a queued task holds ``unique_key``: one script decides."""
        check_task_id(task_id)
        check_due(delay_until)
        self._name(queue_name)
        due = "" if delay_until is None else repr(float(delay_until))
        for _ in range(_UNIQUE_TRIES):
            seen = as_bytes(self._run(lua.UNIQUE_HOLDER, queue_name, (unique_key,))).decode()
            holder = seen.rpartition(" ")[0] or task_id
            buckets = (self._bucket(queue_name, task_id), self._bucket(queue_name, holder))
            keys = [*self._script_keys(lua.PUSH_UNIQUE, queue_name), *buckets]
            args = (
                self._now(),
                unique_key,
                seen,
                task_id,
                data,
                due,
                "1" if while_running else "0",
            )
            reply = as_list(self._redis.run(lua.PUSH_UNIQUE.source, keys, args))
            code, named = as_int(reply[0]), as_bytes(reply[1]).decode()
            if code == 1:
                return task_id, True
            if code == 2:
                return named, False
            if code == 3:
                raise InvalidTaskError(
                    f"task id {task_id!r} is already in queue {queue_name!r}: a unique push "
                    "needs a fresh id on Redis (leave task_id unset)"
                )
        raise BackendError(f"unique key {unique_key!r} kept changing: gave up after retries")

    def acquire(
        self, queue_name: str, reservation: Reservation, limits: Sequence[LimitSlot]
    ) -> float:
        """Admit a reserved task under every limit or none: one script."""
        args: list[bytes | str] = [self._now(), reservation.task_id, reservation.token]
        keys = list(self._script_keys(lua.ACQUIRE, queue_name))
        for limit in limits:
            keys.append(self._limit_key(queue_name, limit.key))
            args += (limit.key, str(limit.concurrency), str(limit.rate), repr(limit.period))
        return float(as_bytes(self._redis.run(lua.ACQUIRE.source, keys, args)))

    def limit_usage(self, queue_name: str) -> list[LimitUsage]:
        """Each limit key used on the queue, with its current use."""
        names = sorted(
            as_bytes(k).decode() for k in as_list(self._run(lua.LIMIT_KEYS, queue_name, ()))
        )
        keys = [
            *self._script_keys(lua.LIMIT_USAGE, queue_name),
            *(self._limit_key(queue_name, name) for name in names),
        ]
        rows = as_list(
            self._redis.run(lua.LIMIT_USAGE.source, keys, [self._now(), *names], resend=True)
        )
        found: list[LimitUsage] = []
        for row in rows:
            key, spec, running, recent = as_list(row)
            c, r, p = as_bytes(spec).decode().split(" ")
            found.append(
                LimitUsage(
                    as_bytes(key).decode(),
                    concurrency=int(c),
                    running=as_int(running),
                    rate=int(r),
                    period=float(p),
                    recent=as_int(recent),
                )
            )
        return found
