"""The state of a Redis client and its script calls on a queue's keys: the base of its parts.

:class:`alligator.backends.redis_backend.Client` is assembled from mixins
(leases, buried tasks, flow control, outcomes); the key layout and the way
one Lua script is called on a queue's keys, which they all use, live here,
below every one of them, so each part calls down into this module.
"""

from __future__ import annotations

import itertools
import secrets
import zlib
from collections.abc import Callable, Sequence

from alligator.backends import _redis_scripts as lua
from alligator.backends._checks import QueueNames
from alligator.backends._redis_driver import Connection, Reply, parse_dsn
from alligator.exceptions import ConfigurationError

__all__ = ["DEFAULT_NAMESPACE", "ScriptCalls"]

#: Key prefix used when neither the DSN nor the constructor names one.
DEFAULT_NAMESPACE = "alligator"


class ScriptCalls:
    """A client's connection, namespace and key caches, and its script calls."""

    def __init__(
        self,
        conn_string: str,
        *,
        clock: Callable[[], float] | None = None,
        namespace: str | None = None,
        retries: int = 3,
    ) -> None:
        """Connect lazily to the server the DSN names.

        Args:
            conn_string: A DSN as :mod:`alligator.backends.redis_backend` describes.
            clock: Epoch seconds, for tests: every due time and lease
                deadline is then taken from it instead of the server's
                ``TIME``. All clients of one queue must share a time base,
                so leave it out in production.
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
        self._redis = Connection(target, retries=retries)
        self._keys: dict[str, dict[str, str]] = {}
        self._names = QueueNames()
        self._declared: dict[tuple[str, str], list[str]] = {}
        self._token_prefix = secrets.token_hex(8) + "."
        self._counter = itertools.count(1)
        #: The SET of queue names (see the module notes), and the names this client added.
        self._queues_key = f"{{{self.namespace}}}:queues"
        self._named: set[str] = set()

    # -- keys ---------------------------------------------------------------

    def keys(self, queue_name: str) -> tuple[str, ...]:
        """The queue's fixed keys (``ready`` first); all share one hash tag (one slot)."""
        return tuple(self._fixed(queue_name).values())

    def _fixed(self, queue_name: str) -> dict[str, str]:
        found = self._keys.get(queue_name)
        if found is None:
            self._names.check(queue_name)
            tag = f"{{{self.namespace}:{queue_name}}}"
            found = {suffix: f"{tag}:{suffix}" for suffix in lua.KEY_SUFFIXES}
            self._keys[queue_name] = found
        return found

    def _script_keys(self, script: lua.Script, queue_name: str) -> list[str]:
        found = self._declared.get((script.source, queue_name))
        if found is None:
            fixed = self._fixed(queue_name)
            found = [fixed[name] for name in script.keys]
            self._declared[(script.source, queue_name)] = found
        return found

    def _bucket(self, queue_name: str, task_id: str) -> str:
        """The index bucket key of ``task_id``: CRC32 of the id, so every client agrees."""
        n = zlib.crc32(task_id.encode("utf-8", "surrogateescape")) % lua.INDEX_BUCKETS
        return f"{{{self.namespace}:{queue_name}}}:i:{n:x}"

    def _run(
        self,
        script: lua.Script,
        queue_name: str,
        args: Sequence[bytes | str],
        ids: Sequence[str] = (),
    ) -> Reply:
        return self._execute(self._step(script, queue_name, args, ids))

    def _step(
        self,
        script: lua.Script,
        queue_name: str,
        args: Sequence[bytes | str],
        ids: Sequence[str] = (),
    ) -> lua.Call:
        """The call of ``script`` on the queue's keys (and the index buckets of ``ids``)."""
        keys = self._script_keys(script, queue_name)
        if ids:
            keys = keys + [self._bucket(queue_name, task_id) for task_id in ids]
        return lua.Call(script, keys, args)

    def _name(self, queue_name: str) -> None:
        """Add the queue to the SET of queue names, the first time this client pushes to it."""
        if queue_name not in self._named:
            self._names.check(queue_name)
            self._redis.add_member(self._queues_key, queue_name)
            self._named.add(queue_name)

    def _execute(self, call: lua.Call) -> Reply:
        if call.script is None:
            self._redis.add_member(call.keys[0], str(call.args[0]))
            return None
        return self._redis.run(call.script.source, call.keys, call.args, resend=call.script.resend)

    def _now(self) -> str:
        """The injected clock's time, or ``""``: the script then reads the server's ``TIME``."""
        if self._clock is None:
            return ""
        # repr() round-trips a float exactly; Redis parses it back bit for bit.
        return repr(float(self._clock()))

    def _token(self) -> str:
        # A random per-client prefix plus a counter: unguessable by other
        # clients and unique per lease, without a syscall per reserve. The
        # script appends ".<n>" per task of a batch.
        return f"{self._token_prefix}{next(self._counter)}"
