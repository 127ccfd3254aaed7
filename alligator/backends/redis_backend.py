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
(see :mod:`alligator.backends._redis_scripts` for the key layout), so it is
atomic on the server and costs one round trip; all keys of a queue share the
hash tag ``{namespace:queue}``, so each script runs on a single Cluster slot,
and each declares every key it touches. A reserved task is leased with a
token (a random per-client prefix plus a counter); an expired lease goes back
to ready at the next reserve, and a stale token changes nothing. Delivery is
at-least-once. Durability is Redis's own: run it with AOF (``appendonly
yes``) if a restart must lose nothing.

Time is the server's: every script reads ``TIME``, so leases and due times
are judged by one clock whatever the workers' machines say (a client built
with ``clock=``, for tests, sends its own time instead). A malformed entry
written into a queue's keys by something other than Alligator is buried by
the script that meets it (as ``corrupt:<n>``, with the reason), never left to
fail a call half-way. A script whose reply is lost after it was sent is
re-sent only if running it twice gives the same answer; otherwise
:class:`~alligator.exceptions.OutcomeUnknownError` is raised.

Priorities (:mod:`alligator.priority`): a task of priority 0 (any task pushed
without one) is a ``ready`` stream entry as above; the others wait in a
sorted set of their own scored by priority, which only a queue using them
has, and keep their priority through delays, leases and burials. A reserve
takes negative priorities first, then the stream, then positive ones.

Cost per task: a push of a new id is one script call (a push that replaces an
id the queue holds costs a second one); :meth:`Client.reserve_many` acks the
tasks a worker finished and leases the next ones in one call (the
:class:`~alligator.protocols.PrefetchClient` protocol). A due task that was
never reserved takes one stream entry plus one small index entry in Redis.
Finding a task by id (``get``, ``cancel``, a replacing push) reads its index
entry and the one stream entry it names: O(log n) whatever its state. On a
single server the driver packs the script calls and sends them on a pooled
connection, skipping redis-py's per-command work; a ``NOSCRIPT`` reply
(restart, ``SCRIPT FLUSH``) loads the script and retries.

Queue names: the first push of each client to a queue adds its name to the
SET ``{<namespace>}:queues`` (one ``SADD``, once per client and queue; a
SET of its own slot, as no script can reach it on a Cluster), which
:meth:`Client.queues` reads, leaving out the queues that are empty now.
Names are never removed, so a producer that named a queue once never has
to again.

Idle workers do not poll: when nothing is due, :meth:`Client.reserve` blocks
on the queue's notify list (``BLPOP``) until a push wakes it, the next delayed
task or lease deadline comes due, or its timeout ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from alligator.backends import _redis_scripts as lua
from alligator.backends import _redis_steps as steps
from alligator.backends._checks import (
    check_due,
    check_priority,
    check_task_id,
    check_ttl,
)
from alligator.backends._redis_buried import BuriedTasks
from alligator.backends._redis_calls import DEFAULT_NAMESPACE
from alligator.backends._redis_driver import as_bytes, as_float, as_int, as_list, parse_dsn
from alligator.backends._redis_flow import Flow
from alligator.backends._redis_leases import Leases
from alligator.backends._redis_results import Results
from alligator.exceptions import (
    BackendConnectionError,
    InvalidTaskError,
    OutcomeUnknownError,
)
from alligator.protocols import AsyncProducer
from alligator.records import PushItem, QueueStats

__all__ = ["DEFAULT_NAMESPACE", "Client"]

#: Lease of the reserve inside :meth:`Client.pop` (and of the task ``get``
#: takes by id), acked at once: if the ack never comes, the task is back then.
_POP_LEASE = 60.0


class Client(Leases, BuriedTasks, Results, Flow):
    """Every client protocol (up to ``FailedTasksClient`` and ``ResultPrefetchClient``) on Redis.

    The connection, the key layout and the script calls every part shares
    are :class:`~alligator.backends._redis_calls.ScriptCalls`; leases (one
    or a prefetched batch) come from
    :class:`~alligator.backends._redis_leases.Leases`, buried tasks from
    :class:`~alligator.backends._redis_buried.BuriedTasks`, outcomes and
    dependencies (:class:`~alligator.protocols.ResultClient`) from
    :class:`~alligator.backends._redis_results.Results`, unique tasks and
    limits from :class:`~alligator.backends._redis_flow.Flow`.

    Thread-safe: each thread sends its script calls on its own pooled
    connection (returned when the thread ends; taken anew after a fork), and
    a blocked :meth:`reserve` waits on another pooled connection.
    """

    def asyncio(self) -> AsyncProducer:
        """The producer calls of this client over ``redis.asyncio`` (an :class:`AsyncGator`'s).

        The same operations (:mod:`alligator.backends._redis_steps`), sent
        on a connection pool of their own; closed by its ``aclose()``.
        """
        from alligator.backends._redis_async import AsyncConnection, Producer

        return Producer(self, AsyncConnection(parse_dsn(self.conn_string)))

    # -- the 1.0 contract ---------------------------------------------------

    def len(self, queue_name: str) -> int:
        """Ready plus delayed tasks (an expired lease counts as ready)."""
        stats = self.stats(queue_name)
        return stats.ready + stats.delayed

    def drop_all(self, queue_name: str) -> None:
        """Delete every key of the queue (its marks and index buckets too), in one ``DEL``.

        Outcomes stay, as on every backend, and so does ``doomed``: the
        dependents a failure buried whose outcomes are still to be stored.
        """
        fixed = self._script_keys(lua.DROP, queue_name)  # the keys drop.lua declares
        tag = f"{{{self.namespace}:{queue_name}}}"
        buckets = [f"{tag}:i:{n:x}" for n in range(lua.INDEX_BUCKETS)]
        limits = [
            self._limit_key(queue_name, as_bytes(name).decode())
            for name in as_list(self._run(lua.LIMIT_KEYS, queue_name, ()))
        ]
        self._redis.run(lua.DROP.source, [*fixed, *buckets, *limits], (), resend=lua.DROP.resend)

    def push(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        priority: int | None = None,
    ) -> str:
        """Store (or replace) a task and wake one blocked reserver; one round trip.

        Raises:
            InvalidTaskError: An empty or unencodable id, a due time that is
                not a finite number, or a priority out of range.
            TaskInProgressError: The id is leased to a worker right now.
        """
        return self.push_many(queue_name, [PushItem(task_id, data, delay_until, priority)])[0]

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        """Store several tasks in one script call: all are stored or none.

        A second call is made only when an id is already in the queue (a
        replacement), never for fresh ids. A waiting, delayed or buried task
        is replaced; a task whose lease is held is not.

        Raises:
            InvalidTaskError: An empty or unencodable id, or a due time that
                is not a finite number (nothing is stored).
            TaskInProgressError: An id is leased to a worker right now
                (nothing is stored).
        """
        return steps.run(steps.push_steps(self, queue_name, items), self._execute)

    # -- AbsentPushClient ------------------------------------------------------

    def push_absent(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        ttl: float,
        priority: int | None = None,
    ) -> bool:
        """Store a task unless the queue holds its id or a live mark of it; one script.

        The mark is a member of the queue's ``marks`` ZSET scored by its
        expiry (so it lives in the queue's slot, and ``drop_all`` deletes
        it). Never re-sent after a lost reply: that raises
        :class:`~alligator.exceptions.OutcomeUnknownError`, and calling
        again is safe (it answers ``False`` if the first call stored the
        task). The task is ordered by ``priority`` as a plain push's is.
        """
        check_task_id(task_id)
        check_due(delay_until)
        check_ttl(ttl)
        rank = check_priority(priority)
        self._name(queue_name)
        due = "" if delay_until is None else repr(float(delay_until))
        args = (self._now(), task_id, data, due, repr(float(ttl)), str(rank) if rank else "")
        return as_int(self._run(lua.PUSH_ABSENT, queue_name, args, (task_id,))) == 1

    def mark(self, queue_name: str, key: str, ttl: float) -> float:
        """Mark ``key`` unless it is marked (one script); return when it was first marked."""
        check_task_id(key)
        check_ttl(ttl)
        reply = self._run(lua.MARK, queue_name, (self._now(), key, repr(float(ttl))))
        return as_float(reply) or 0.0

    def pop(self, queue_name: str) -> bytes | None:
        """Remove and return the oldest due task (a reserve, then an ack).

        Two round trips, but nothing is lost between them: a client that dies
        after the first never returned the task, and its short lease expires.
        """
        while True:
            _, found = self.reserve_many(queue_name, _POP_LEASE, 1)
            if not found:
                return None
            if self.ack(queue_name, found[0]):
                return found[0].data

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        """Remove and return a waiting task; ``None`` if unknown, leased or buried.

        O(log n) whatever the task's state. Two calls, each safe to send
        again after a lost reply: the task is leased by id under a fresh
        token (a second send with that token returns the same payload), then
        acked. If the ack is never confirmed the task is not lost: its lease
        expires after 60 s and it is ready again.

        Raises:
            OutcomeUnknownError: The task was taken but its removal could not
                be confirmed (it comes back in 60 s unless it was removed).
        """
        try:
            check_task_id(task_id)
        except InvalidTaskError:
            return None
        token = self._token()
        args = (self._now(), task_id, token, repr(_POP_LEASE))
        reply = self._run(lua.TAKE, queue_name, args, (task_id,))
        if reply is None:
            return None
        data = as_bytes(reply)
        ack = (self._now(), task_id, token)
        keys = [*self._script_keys(lua.ACK, queue_name), self._bucket(queue_name, task_id)]
        try:
            self._redis.run(lua.ACK.source, keys, ack, resend=True)
        except BackendConnectionError as exc:
            raise OutcomeUnknownError(
                f"redis: task {task_id!r} was taken off queue {queue_name!r} but its removal "
                f"was not confirmed; unless it was removed, it is ready again in "
                f"{_POP_LEASE:.0f} s: {exc}"
            ) from exc
        return data

    def cancel(
        self,
        queue_name: str,
        task_id: str,
        *,
        result: bytes | None = None,
        ttl: float = 0.0,
        dependents_reason: str = "",
    ) -> tuple[bytes, list[str]] | None:
        """Remove a waiting task: its payload and the dependents buried, or ``None``.

        With ``result`` (results on) it is :meth:`ResultClient.cancel
        <alligator.protocols.ResultClient.cancel>`: a blocked task can be
        canceled too, its outcome is kept and its dependents are buried, in
        one script call. Without, it is :meth:`get` (which leaves blocked
        tasks alone).
        """
        if result is not None:
            return self.cancel_waiting(
                queue_name, task_id, result=result, ttl=ttl, dependents_reason=dependents_reason
            )
        data = self.get(queue_name, task_id)
        return None if data is None else (data, [])

    # -- inspection -----------------------------------------------------------

    def stats(self, queue_name: str) -> QueueStats:
        """Counts by state, read-only: an expired lease and a due delayed task count as ready."""
        return steps.run(steps.stats_steps(self, queue_name), self._execute)

    def queues(self) -> list[str]:
        """Named queues that hold a task now (a :class:`~alligator.protocols.QueueLister`).

        One ``SMEMBERS``, then one stats call per name.
        """
        names = self._redis.members(self._queues_key)
        return sorted(name for name in names if self.stats(name) != QueueStats())

    def ping(self) -> bool:
        """Whether the server answers; raises :class:`BackendConnectionError` if not."""
        return self._redis.ping()

    def close(self) -> None:
        """Close pooled connections; a blocked reserve in another thread fails."""
        with contextlib.suppress(BackendConnectionError):
            self._redis.close()
