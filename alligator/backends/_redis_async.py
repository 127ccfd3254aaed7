"""The Redis backend's asyncio driver: ``redis.asyncio`` under the producer's calls.

:class:`Producer` runs the operations of :mod:`alligator.backends._redis_steps`
(the very code the blocking client runs) on :class:`AsyncConnection`, which
mirrors the blocking driver's rules with ``redis.asyncio``: scripts by SHA
(loaded on ``NOSCRIPT``), driver errors translated into Alligator's, and a
call whose reply was lost after it was sent never sent again unless the
script is safe to re-send (:class:`~alligator.exceptions.OutcomeUnknownError`
otherwise). A call that failed before reaching the server is retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
import redis.exceptions as rexc
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from alligator._deadlines import Deadlines
from alligator.backends import _redis_steps as steps
from alligator.backends._redis_driver import (
    _CLOSE,
    _CONNECT,
    _SCRIPT,
    _SET,
    Reply,
    Target,
    narrow,
)
from alligator.backends._redis_errors import CONNECTION_ERRORS, NOT_SENT, outcome_unknown
from alligator.backends._redis_resp import ScriptPacker, sha_of
from alligator.records import PushItem, QueueStats

if TYPE_CHECKING:
    from alligator.backends.redis_backend import Client

__all__ = ["AsyncConnection", "Producer"]

#: Attempts of a call that could not reach the server (connect or write failed).
_ATTEMPTS = 3


class AsyncConnection:
    """One ``redis.asyncio`` client (single server or cluster) with narrowed replies."""

    def __init__(self, target: Target) -> None:
        with _CONNECT:
            self._client: aioredis.Redis | RedisCluster
            if target.cluster:
                make_node: Callable[[str, int], ClusterNode] = ClusterNode
                nodes = [make_node(h, p) for h, p in target.extra_nodes]
                self._client = RedisCluster.from_url(target.url, startup_nodes=nodes or None)
            else:
                # No retries of its own: whether a call may be sent again is ours to say.
                self._client = aioredis.Redis.from_url(target.url, retry=Retry(NoBackoff(), 0))
        self._packer = ScriptPacker()
        self._execute: Callable[..., Any] = self._client.execute_command
        # A single server's calls skip redis-py's per-command work (as the
        # blocking driver does): a connection not in use is kept here and
        # reused; concurrent calls take more from the pool.
        self._pool: ConnectionPool | None = (
            None if isinstance(self._client, RedisCluster) else self._client.connection_pool
        )
        self._idle: list[AbstractConnection] = []
        #: The bound on one direct call, send and reply together (see _send_direct).
        self._timeout = target.socket_timeout
        self._deadlines = Deadlines(target.socket_timeout)

    async def call(self, call: steps.Call) -> Reply:
        """Make one call of an operation (see :mod:`alligator.backends._redis_steps`)."""
        script = call.script
        if script is None:
            with _SET:
                await self._execute("SADD", call.keys[0], call.args[0])
            return None
        head = self._packer.head(script.source)
        with _SCRIPT:
            try:
                reply = await self._send(head, call.keys, call.args, script.resend)
            except rexc.NoScriptError:
                # On a cluster, loaded on every primary: any of them may own the keys.
                await self._client.script_load(script.source)
                reply = await self._send(head, call.keys, call.args, script.resend)
        return narrow(reply)

    async def _send(
        self, head: bytes, keys: Sequence[str], args: Sequence[bytes | str], resend: bool
    ) -> object:
        pool = self._pool
        if pool is not None:
            return await self._send_direct(pool, self._packer.pack(head, keys, args), resend)
        command = ("EVALSHA", sha_of(head), len(keys), *keys, *args)
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await self._execute(*command)
            except CONNECTION_ERRORS as exc:
                sent = not any(words in str(exc) for words in NOT_SENT)
                if sent and not resend:
                    raise outcome_unknown(exc) from exc
                if attempt == _ATTEMPTS:
                    raise
                await asyncio.sleep(0.02 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_direct(self, pool: ConnectionPool, packed: bytes, resend: bool) -> object:
        for attempt in range(1, _ATTEMPTS + 1):
            idle = self._idle
            conn = idle.pop() if idle else await self._connect(pool)
            sent = False
            try:
                # One timer bounds every call out (Deadlines), instead of
                # redis-py's per-call socket timeouts (its write timeout is a
                # wait_for: a task per call) or a timer per call. A call past
                # it is a lost reply, as redis-py's would be.
                with self._deadlines.bound(conn):
                    await conn.send_packed_command(packed, check_health=False)
                    sent = True
                    reply = await conn.read_response()
            except (*CONNECTION_ERRORS, TimeoutError) as exc:
                await self._discard(pool, conn)
                if sent and not resend:
                    raise outcome_unknown(exc) from exc
                if attempt == _ATTEMPTS:
                    if isinstance(exc, rexc.RedisError):
                        raise
                    raise rexc.TimeoutError(f"no reply in {self._timeout}s") from exc
                await asyncio.sleep(0.02 * 2**attempt)
                continue
            except BaseException:
                await self._discard(pool, conn)  # a reply may be left unread: never reuse it
                raise
            idle.append(conn)
            if isinstance(reply, rexc.ResponseError):
                raise reply
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    async def _discard(self, pool: ConnectionPool, conn: AbstractConnection) -> None:
        """Close a connection whose call failed and give it back, with its own timeouts again."""
        conn.socket_timeout = self._timeout
        await conn.disconnect()
        await pool.release(conn)

    async def _connect(self, pool: ConnectionPool) -> AbstractConnection:
        # get_connection is unannotated in redis-py; this is its real shape.
        get: Callable[[], Awaitable[AbstractConnection]] = pool.get_connection
        conn = await get()
        # Kept for direct calls, bounded by _send_direct's own timer while here.
        conn.socket_timeout = None
        return conn

    async def aclose(self) -> None:
        pool, idle, self._idle = self._pool, self._idle, []
        with _CLOSE:
            if pool is not None:
                for conn in idle:
                    conn.socket_timeout = self._timeout
                    await pool.release(conn)
            await self._client.aclose()


class Producer:
    """A Redis client's producer calls on the event loop.

    An :class:`~alligator.protocols.AsyncProducer`: the client's keys, queue
    names and clock, its calls sent by an :class:`AsyncConnection`.
    """

    def __init__(self, client: Client, connection: AsyncConnection) -> None:
        self.client = client
        self.connection = connection

    async def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        return await steps.run_async(
            steps.push_steps(self.client, queue_name, items), self.connection.call
        )

    async def stats(self, queue_name: str) -> QueueStats:
        return await steps.run_async(
            steps.stats_steps(self.client, queue_name), self.connection.call
        )

    async def aclose(self) -> None:
        await self.connection.aclose()
