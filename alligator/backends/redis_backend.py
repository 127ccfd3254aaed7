"""Redis backend: atomic Lua scripts, leases, delays, blocking wait, Cluster ready.

DSNs:

* ``redis://[user:password@]host:port/db`` -- plain TCP.
* ``rediss://...`` -- TLS (redis-py's ``ssl_*`` query options pass through).
* ``unix:///path/to/redis.sock?db=N`` -- a Unix socket.
* ``redis+cluster://host:port[,host:port...]`` (or ``rediss+cluster://``) --
  Redis Cluster; one reachable node is enough, the others are discovered.
  Only database 0 exists on a cluster.

Every DSN accepts ``?namespace=NAME`` (default ``alligator``): the first part
of every key, so two applications sharing one Redis never see each other's
queues. All other query options go to redis-py unchanged.

Guarantees: every operation that touches more than one key is one Lua script
(see :mod:`alligator.backends.redis_scripts` for the key layout), so it is
atomic on the server and costs one round trip; all keys of a queue share the
hash tag ``{namespace:queue}``, so each script runs on a single Cluster slot.
A reserved task is leased with a random token; an expired lease goes back to
ready the next time any client reads the queue, and a stale token changes
nothing. Delivery is at-least-once. Durability is Redis's own: run it with
AOF (``appendonly yes``) if a restart must lose nothing.

Idle workers do not poll: when nothing is due, :meth:`Client.reserve` blocks
on the queue's notify list (``BLPOP``) until a push wakes it, the next delayed
task or lease deadline comes due, or its timeout ends.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Sequence

from alligator.backends import redis_scripts as lua
from alligator.backends.redis_adapter import (
    RedisAdapter,
    Reply,
    as_bytes,
    as_float,
    as_int,
    as_list,
    parse_dsn,
)
from alligator.exceptions import BackendConnectionError, ConfigurationError, InvalidTaskError
from alligator.records import BuriedTask, PushItem, QueueStats, Reservation

__all__ = ["DEFAULT_NAMESPACE", "Client"]

#: Key prefix used when neither the DSN nor the constructor names one.
DEFAULT_NAMESPACE = "alligator"

#: Longest single BLPOP, so a changed clock or a lost wake-up costs at most this.
_MAX_BLOCK = 5.0


class Client:
    """A :class:`~alligator.protocols.ReliableClient` on Redis or Redis Cluster.

    Thread-safe: redis-py pools connections, and every operation is one
    script call (a blocked :meth:`reserve` holds one pooled connection).
    """

    def __init__(
        self,
        conn_string: str,
        *,
        clock: Callable[[], float] = time.time,
        namespace: str | None = None,
        retries: int = 3,
    ) -> None:
        """Connect lazily to the server the DSN names.

        Args:
            conn_string: A DSN as described in the module docstring.
            clock: Epoch seconds; every due time and lease deadline is taken
                from it, so tests can inject a fake one. All clients of one
                queue must share a time base.
            namespace: Key prefix; overrides the DSN's ``namespace`` option.
            retries: How often redis-py retries a command after a connection
                error before :class:`BackendConnectionError` is raised.

        Raises:
            ConfigurationError: Malformed DSN or namespace.
        """
        target = parse_dsn(conn_string)
        self.namespace = namespace or target.namespace or DEFAULT_NAMESPACE
        if any(c in self.namespace for c in ":{}"):
            raise ConfigurationError(
                f"a Redis namespace may not contain ':', '{{' or '}}': {self.namespace!r}"
            )
        self.conn_string = conn_string
        self._clock = clock
        self._redis = RedisAdapter(target, retries=retries)
        self._keys: dict[str, tuple[str, ...]] = {}

    # -- keys ---------------------------------------------------------------

    def keys(self, queue_name: str) -> tuple[str, ...]:
        """The queue's keys in script order; all share one hash tag (one slot)."""
        found = self._keys.get(queue_name)
        if found is None:
            tag = f"{{{self.namespace}:{queue_name}}}"
            found = tuple(f"{tag}:{suffix}" for suffix in lua.KEY_SUFFIXES)
            self._keys[queue_name] = found
        return found

    def _run(self, source: str, queue_name: str, *args: bytes | str) -> Reply:
        return self._redis.run(source, self.keys(queue_name), args)

    def _now(self) -> str:
        # repr() round-trips a float exactly; Redis parses it back bit for bit.
        return repr(float(self._clock()))

    # -- the 1.0 contract ---------------------------------------------------

    def len(self, queue_name: str) -> int:
        """Ready plus delayed tasks (expired leases count once recovered)."""
        stats = self.stats(queue_name)
        return stats.ready + stats.delayed

    def drop_all(self, queue_name: str) -> None:
        """Delete every key of the queue in one atomic ``DEL``."""
        self._run(lua.DROP, queue_name)

    def push(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
    ) -> str:
        """Store (or replace) a task and wake one blocked reserver; one round trip."""
        self.push_many(queue_name, [PushItem(task_id, data, delay_until)])
        return task_id

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        """Store several tasks in one script call: all are stored or none."""
        if not items:
            return []
        if any(not item.task_id for item in items):
            raise InvalidTaskError("a task id may not be empty")
        args: list[bytes | str] = [self._now()]
        for item in items:
            due = "" if item.delay_until is None else repr(float(item.delay_until))
            args += (item.task_id, item.data, due)
        self._run(lua.PUSH, queue_name, *args)
        return [item.task_id for item in items]

    def pop(self, queue_name: str) -> bytes | None:
        """Reserve and delete the oldest due task in one script (at-most-once)."""
        reply = as_list(self._run(lua.RESERVE, queue_name, self._now(), "0", "", "1", "1"))
        if as_bytes(reply[0]) == b"":
            return None
        return as_bytes(reply[1])

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        """Remove and return a waiting task; ``None`` if unknown, leased or buried."""
        reply = self._run(lua.TAKE, queue_name, self._now(), task_id)
        return None if reply is None else as_bytes(reply)

    def cancel(self, queue_name: str, task_id: str) -> bool:
        """Remove a waiting task; ``True`` if there was one."""
        return self.get(queue_name, task_id) is not None

    # -- leases ---------------------------------------------------------------

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        """Lease the oldest due task, blocking up to ``timeout`` seconds.

        Raises:
            BackendConnectionError: The server is unreachable (a worker backs
                off and calls again; its leases, if lost, simply expire).
        """
        found = self.reserve_many(queue_name, lease, 1, timeout)
        return found[0] if found else None

    def reserve_many(
        self, queue_name: str, lease: float, count: int, timeout: float = 0.0
    ) -> list[Reservation]:
        """Lease up to ``count`` due tasks in one round trip, oldest first."""
        give_up = time.monotonic() + timeout
        notify = self.keys(queue_name)[-1]
        token = secrets.token_hex(8)
        while True:
            reply = as_list(
                self._run(
                    lua.RESERVE, queue_name, self._now(), repr(float(lease)), token, str(count), "0"
                )
            )
            if as_bytes(reply[0]) != b"":
                return [
                    Reservation(
                        task_id=as_bytes(reply[i]).decode(),
                        data=as_bytes(reply[i + 1]),
                        token=as_bytes(reply[i + 2]).decode(),
                        attempts=as_int(reply[i + 3]),
                    )
                    for i in range(0, len(reply), 4)
                ]
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                return []
            wait = min(remaining, _MAX_BLOCK, self._redis.longest_block)
            for next_due in (as_float(reply[1]), as_float(reply[2])):
                if next_due is not None:
                    wait = min(wait, max(next_due - self._clock(), 0.0))
            self._redis.blpop(notify, wait)

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        """Delete a task that ran; ``False`` (nothing changed) if the lease was lost."""
        return self._held(lua.ACK, queue_name, reservation)

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
        return self._held(lua.BURY, queue_name, reservation, reason)

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        """Move the lease deadline to ``lease`` seconds from now."""
        return self._held(lua.RENEW, queue_name, reservation, repr(float(lease)))

    def _held(
        self, source: str, queue_name: str, reservation: Reservation, *args: bytes | str
    ) -> bool:
        reply = self._run(
            source, queue_name, self._now(), reservation.task_id, reservation.token, *args
        )
        return as_int(reply) == 1

    # -- inspection -----------------------------------------------------------

    def stats(self, queue_name: str) -> QueueStats:
        """Counts by state, after recovering expired leases."""
        counts = [as_int(r) for r in as_list(self._run(lua.STATS, queue_name, self._now()))]
        return QueueStats(ready=counts[0], delayed=counts[1], reserved=counts[2], buried=counts[3])

    def buried(self, queue_name: str) -> list[BuriedTask]:
        """Buried tasks with their reasons, oldest first."""
        rows = as_list(self._run(lua.BURIED, queue_name))
        return [
            BuriedTask(
                task_id=as_bytes(rows[i]).decode(),
                data=as_bytes(rows[i + 1]),
                reason=as_bytes(rows[i + 2]).decode(),
                buried_at=as_float(rows[i + 3]) or 0.0,
            )
            for i in range(0, len(rows), 4)
        ]

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Make a buried task ready now (attempts from 0): one atomic script."""
        flag = "0" if data is None else "1"
        reply = self._run(lua.REQUEUE, queue_name, self._now(), task_id, flag, data or b"")
        return task_id if as_int(reply) == 1 else None

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Delete one or every buried task in one atomic script."""
        args = () if task_id is None else (task_id,)
        return as_int(self._run(lua.PURGE, queue_name, *args))

    def ping(self) -> bool:
        """Whether the server answers; raises :class:`BackendConnectionError` if not."""
        return self._redis.ping()

    def close(self) -> None:
        """Close pooled connections; a blocked reserve in another thread fails."""
        with contextlib.suppress(BackendConnectionError):
            self._redis.close()
