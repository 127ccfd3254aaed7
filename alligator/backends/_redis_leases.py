"""Leases on Redis: reserve (one or a prefetched batch), ack, release, bury, renew.

Mixed into :class:`alligator.backends.redis_backend.Client`, so that module
reads as the queue contract. Each call is one Lua script (``reserve.lua``,
``ack.lua``, ``release.lua``, ``bury.lua``, ``renew.lua``; the layout is in
:mod:`alligator.backends._redis_scripts`). Whatever settles a lease (an ack,
also those a prefetching reserve carries, a release, a burial, a renewal)
checks its token first, so a stale token changes nothing. A reserve that
finds nothing due blocks on the queue's notify list (``BLPOP``), never
polling.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from alligator.backends import _redis_scripts as lua
from alligator.backends._checks import safe_text
from alligator.backends._redis_calls import ScriptCalls
from alligator.backends._redis_driver import Reply, as_bytes, as_float, as_int, as_list
from alligator.backends._redis_results import milliseconds
from alligator.exceptions import ConfigurationError
from alligator.records import Reservation

__all__ = ["Leases"]

#: Longest single BLPOP, so a changed clock or a lost wake-up costs at most this.
_MAX_BLOCK = 5.0


class Leases(ScriptCalls):
    """The lease methods of :class:`~alligator.protocols.PrefetchClient` (and its result acks)."""

    if TYPE_CHECKING:  # provided by the client's Results mixin

        def result_key(self, queue_name: str, task_id: str) -> str: ...

        def _call(
            self,
            script: lua.Script,
            queue_name: str,
            extra: Sequence[str],
            args: Sequence[bytes | str],
        ) -> Reply: ...

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        """Lease the oldest due task, blocking up to ``timeout`` seconds.

        Raises:
            BackendConnectionError: The server is unreachable (a worker backs
                off and calls again; its leases, if lost, simply expire).
        """
        _, found = self.reserve_many(queue_name, lease, 1, timeout)
        return found[0] if found else None

    def reserve_many(
        self,
        queue_name: str,
        lease: float,
        count: int,
        timeout: float = 0.0,
        done: Sequence[Reservation] = (),
        *,
        results: Sequence[bytes] = (),
        ttl: float = 0.0,
    ) -> tuple[list[bool], list[Reservation]]:
        """Ack ``done`` and lease up to ``count`` due tasks in one script call.

        Each task gets its own token and deadline. With ``results`` (one
        outcome per task of ``done``, kept ``ttl`` seconds) each ack is a
        :meth:`complete`: outcome kept, dependents released, in that same
        call. When none is due the call blocks (``BLPOP`` on the notify list)
        up to ``timeout`` seconds and tries again without the acks, which
        were already applied.
        """
        give_up = time.monotonic() + timeout
        keys = [self._bucket(queue_name, r.task_id) for r in done]
        head: list[bytes | str] = [self._now(), repr(float(lease)), self._token(), str(count)]
        args = [*head, ""]
        if results:
            if len(results) != len(done):
                raise ConfigurationError("reserve_many needs one result per task of done")
            keys += (self.result_key(queue_name, r.task_id) for r in done)
            args[-1] = milliseconds(ttl)
            for r, result in zip(done, results, strict=True):
                args += (r.task_id, r.token, result)
        else:
            for r in done:
                args += (r.task_id, r.token)
        acks: list[bool] | None = None
        while True:
            reply = as_list(self._call(lua.RESERVE, queue_name, keys, args))
            if acks is None:
                acks = [as_int(flag) == 1 for flag in as_list(reply[0])]
            tasks = as_list(reply[1])
            if tasks:
                return acks, [
                    Reservation(
                        # The script buries ids that are not UTF-8 before leasing.
                        task_id=as_bytes(tasks[i]).decode(),
                        data=as_bytes(tasks[i + 1]),
                        token=as_bytes(tasks[i + 2]).decode(),
                        attempts=as_int(tasks[i + 3]),
                    )
                    for i in range(0, len(tasks), 4)
                ]
            remaining = give_up - time.monotonic()
            if count < 1 or remaining <= 0:
                return acks, []
            wait = min(remaining, _MAX_BLOCK, self._redis.longest_block)
            now = as_float(reply[4]) or 0.0  # the script's clock: the server's, or ours
            for next_due in (as_float(reply[2]), as_float(reply[3])):
                if next_due is not None:
                    wait = min(wait, max(next_due - now, 0.0))
            if wait > 0:
                self._redis.blpop(self._fixed(queue_name)["notify"], wait)
            keys = []
            args = [self._now(), repr(float(lease)), self._token(), str(count), ""]

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        """Delete a task that ran; ``False`` (nothing changed) if the lease was lost."""
        args = (self._now(), reservation.task_id, reservation.token)
        return as_int(self._run(lua.ACK, queue_name, args, (reservation.task_id,))) == 1

    def release(
        self,
        queue_name: str,
        reservation: Reservation,
        data: bytes | None = None,
        delay_until: float | None = None,
    ) -> bool:
        """Put a leased task back (new payload, delay) at the back of its due time."""
        due = "" if delay_until is None else repr(float(delay_until))
        flag = "0" if data is None else "1"
        return self._held(lua.RELEASE, queue_name, reservation, flag, data or b"", due)

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        """Keep a leased task aside with ``reason``; it is never reserved again."""
        return self._held(lua.BURY, queue_name, reservation, safe_text(reason))

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        """Move the lease deadline to ``lease`` seconds from now."""
        return self.renew_many(queue_name, [reservation], lease)[0]

    def renew_many(
        self, queue_name: str, reservations: Sequence[Reservation], lease: float
    ) -> list[bool]:
        """Renew several leases in one script call; one flag per reservation."""
        if not reservations:
            return []
        args: list[bytes | str] = [self._now(), repr(float(lease))]
        for r in reservations:
            args += (r.task_id, r.token)
        return [as_int(flag) == 1 for flag in as_list(self._run(lua.RENEW, queue_name, args))]

    def _held(
        self, script: lua.Script, queue_name: str, reservation: Reservation, *args: bytes | str
    ) -> bool:
        head = (self._now(), reservation.task_id, reservation.token)
        return as_int(self._run(script, queue_name, (*head, *args))) == 1
