"""Script calls on a single Redis server, packed by hand on one pooled connection per thread.

A script call is the hot path: redis-py's per-command packing, pool
hand-offs and hooks cost more than the round trip. So the ``EVALSHA`` is
packed by :mod:`alligator.backends._redis_resp` (each key's encoding cached)
and sent on a connection this
thread took from redis-py's pool once (again after a fork), which goes back
to the pool when the thread ends. The script's SHA and its loading on a
``NOSCRIPT`` reply stay with :class:`alligator.backends._redis_driver.Connection`,
which calls :meth:`PooledScripts.send`.

A call that fails before its request reached the server whole (it could not
connect, or could not write) is sent again, with redis-py's retries. A call
whose reply is lost after the request was sent may or may not have run: only
a script marked safe to re-send goes again; any other raises
:class:`~alligator.exceptions.OutcomeUnknownError`. Before such a call, a
connection that sat idle is checked for a server that went away meanwhile
(a restart), so that case is a plain reconnect.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Final

import redis
from redis.connection import Connection as PooledConnection  # what get_connection returns
from redis.retry import Retry

from alligator.backends._redis_errors import CONNECTION_ERRORS, outcome_unknown
from alligator.backends._redis_resp import ScriptPacker, sha_of

__all__ = ["PooledScripts"]

#: Seconds a thread's connection may sit unused before a call that must not
#: be re-sent first checks that the server did not close it meanwhile.
_IDLE_CHECK: Final = 1.0


class PooledScripts:
    """Packed ``EVALSHA`` calls on this thread's own connection of one server's pool.

    Args:
        pool: The redis-py client's pool the connections come from.
        retry: Its retry policy, for a request that could not be written.
        execute: Its ``execute_command``: redis-py's own path, which
            retries with backoff and reconnects, for a call safe to re-send.
        packer: The connection's packer (its heads and key encodings cached).
    """

    def __init__(
        self,
        pool: redis.ConnectionPool,
        retry: Retry,
        execute: Callable[..., object],
        packer: ScriptPacker,
    ) -> None:
        self._pool = pool
        self._retry = retry
        self._execute = execute
        self._packer = packer
        self._local = threading.local()

    def send(
        self, head: bytes, keys: Sequence[str], args: Sequence[bytes | str], resend: bool
    ) -> object:
        """Send one packed ``EVALSHA`` (``head`` names the SHA) and read its raw reply.

        Raises:
            OutcomeUnknownError: The reply was lost after the request was
                sent, and ``resend`` is off.
        """
        packed = self._packer.pack(head, keys, args)
        holder = self._holder()
        conn = holder.conn
        now = time.monotonic()
        if not resend and now - holder.used > _IDLE_CHECK:
            _drop_if_closed(conn)
        holder.used = now
        # send/read disconnect the connection themselves on any failure; it
        # reconnects on its next use.
        send: Callable[[list[bytes]], None] = conn.send_packed_command
        try:
            send([packed])
        except CONNECTION_ERRORS:
            # Nothing reached the server whole: sending again is safe.
            if resend:
                return self._execute("EVALSHA", sha_of(head), len(keys), *keys, *args)
            drop: Callable[[], None] = conn.disconnect
            self._retry.call_with_retry(lambda: send([packed]), lambda _: drop())
        try:
            return conn.read_response()
        except CONNECTION_ERRORS as exc:
            if not resend:
                raise outcome_unknown(exc) from exc
            # redis-py's own path retries with backoff and reconnects.
            return self._execute("EVALSHA", sha_of(head), len(keys), *keys, *args)

    def _holder(self) -> _Holder:
        """This thread's own pooled connection, taken once (again after a fork).

        It goes back to the pool when the thread ends (its thread-local holder
        is collected), so short-lived threads do not pile up connections.
        """
        local, pool = self._local, self._pool
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:
            holder = _Holder(pool.get_connection())
            weakref.finalize(holder, pool.release, holder.conn)
            local.holder = holder
            local.pid = pid
        found: _Holder = local.holder
        return found


class _Holder:
    """Owns one thread's connection; its finalizer returns it to the pool."""

    __slots__ = ("__weakref__", "conn", "used")

    def __init__(self, conn: PooledConnection) -> None:
        self.conn = conn
        self.used = time.monotonic()


def _drop_if_closed(conn: PooledConnection) -> None:
    """Disconnect a connection the server closed (or wrote to) while it sat idle.

    An idle connection has nothing to read; if it does, the server went away
    (or restarted) meanwhile, and the next send would only find out on the
    read, too late to tell a lost request from a lost reply.
    """
    try:
        stale = conn.can_read(timeout=0)
    except (*CONNECTION_ERRORS, OSError):
        stale = True
    if stale:
        drop: Callable[[], None] = conn.disconnect
        drop()
