"""The Redis driver: DSN parsing, one typed connection over redis-py, error translation.

redis-py is typed, but its command results are loose unions (``bytes | str |
None``, or untyped for scripts) and the client is not generic over
``decode_responses``. This module is the one place that talks to redis-py:
every result it hands back is narrowed (:mod:`alligator.backends._redis_replies`),
and every driver exception becomes one of the :mod:`alligator.exceptions`
family (with :func:`~alligator.exceptions.translated` and :data:`ERRORS`,
classified in :mod:`alligator.backends._redis_errors`), so the backend above
it is plain typed Python.

Script calls on a single server are sent by
:class:`~alligator.backends._redis_pooled.PooledScripts` (packed by hand on a
per-thread pooled connection, skipping redis-py's per-command work); a Redis
Cluster client routes every call through redis-py, which picks the node by
key slot. Either way, a call whose reply is lost after the request was sent
is sent again only if its script is marked safe to re-send; any other raises
:class:`~alligator.exceptions.OutcomeUnknownError`, never a blind second run
that could, say, remove a task and hand its payload to nobody.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis
import redis.exceptions as rexc
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from alligator.backends._redis_errors import (
    CONNECTION_ERRORS,
    ERRORS,
    NOT_SENT,
    outcome_unknown,
)
from alligator.backends._redis_pooled import PooledScripts
from alligator.backends._redis_replies import (
    Reply,
    as_bytes,
    as_float,
    as_int,
    as_list,
    bulk_or_none,
    narrow,
)
from alligator.backends._redis_resp import ScriptPacker, sha_of
from alligator.exceptions import (
    BackendError,
    ConfigurationError,
    Translation,
    translated,
)

# Reply and its narrowing, ERRORS and the lost-reply rules live in their own
# modules; the backend's other modules (_redis_steps, _redis_flow,
# _redis_results, _redis_async) import them from here, the driver.
__all__ = [
    "ERRORS",
    "SCHEMES",
    "Connection",
    "Reply",
    "Target",
    "as_bytes",
    "as_float",
    "as_int",
    "as_list",
    "narrow",
    "parse_dsn",
    "redacted",
]

#: Schemes this backend accepts; the ``+cluster`` ones select Redis Cluster.
SCHEMES: Final = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")

#: Query parameters consumed here rather than passed on to redis-py.
_OWN_PARAMS: Final = ("namespace",)

#: One translation per action, built once: a script call is the hot path.
_CONNECT: Final = translated(ERRORS, "redis: connect failed")
_SCRIPT: Final = translated(ERRORS, "redis: script failed")
_BLPOP: Final = translated(ERRORS, "redis: blpop failed")
_PING: Final = translated(ERRORS, "redis: ping failed")
_CLOSE: Final = translated(ERRORS, "redis: close failed")
_SET: Final = translated(ERRORS, "redis: set command failed")
_RESULT: Final = translated(ERRORS, "redis: reading an outcome failed")


@dataclass(frozen=True)
class Target:
    """What a DSN asks for: where the server is, and the key namespace."""

    url: str
    cluster: bool = False
    extra_nodes: tuple[tuple[str, int], ...] = ()
    namespace: str | None = None
    socket_timeout: float = 5.0


def parse_dsn(dsn: str) -> Target:
    """Split an Alligator Redis DSN into a redis-py URL and our own options.

    ``redis+cluster://h1:p1,h2:p2/?namespace=x`` becomes the redis-py URL
    ``redis://h1:p1/`` plus the other startup nodes; ``namespace`` is ours and
    never reaches redis-py, every other query option does.

    Raises:
        ConfigurationError: Unknown scheme, or a malformed host list.
    """
    parts = urlsplit(dsn)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigurationError(f"not a Redis DSN (scheme {scheme!r}): {redacted(dsn)!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    own = {k: v for k, v in query if k in _OWN_PARAMS}
    rest = [(k, v) for k, v in query if k not in _OWN_PARAMS]
    namespace = own.get("namespace")
    socket_timeout = _socket_timeout(dict(rest), dsn)
    if not scheme.endswith("+cluster"):
        # Not geturl(): it drops the empty authority of unix:///path.sock.
        query_text = f"?{urlencode(rest)}" if rest else ""
        url = f"{scheme}://{parts.netloc}{parts.path}{query_text}"
        return Target(url=url, namespace=namespace, socket_timeout=socket_timeout)
    base = scheme.removesuffix("+cluster")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    nodes = [_host_port(h, dsn) for h in hosts.split(",") if h]
    if not nodes:
        raise ConfigurationError(f"a cluster DSN needs at least one host:port: {redacted(dsn)!r}")
    if parts.path not in ("", "/", "/0"):
        raise ConfigurationError(f"Redis Cluster has only database 0: {redacted(dsn)!r}")
    host, port = nodes[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    url = parts._replace(scheme=base, netloc=netloc, path="", query=urlencode(rest)).geturl()
    return Target(
        url=url,
        cluster=True,
        extra_nodes=tuple(nodes[1:]),
        namespace=namespace,
        socket_timeout=socket_timeout,
    )


def _bad_options(url: str) -> Translation:
    # redis-py rejects malformed URLs and query options with ValueError.
    return translated({ValueError: ConfigurationError}, f"redis: unusable DSN {redacted(url)!r}")


def redacted(dsn: str) -> str:
    """The DSN with any password masked, for error messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", dsn)


def _socket_timeout(query: dict[str, str], dsn: str) -> float:
    # redis-py's default is 5 s; a BLPOP must return before it, or the read
    # times out and looks like a lost connection.
    raw = query.get("socket_timeout")
    if raw is None:
        return 5.0
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"socket_timeout must be seconds: {redacted(dsn)!r}") from None
    if not value > 0:
        raise ConfigurationError(f"socket_timeout must be > 0: {redacted(dsn)!r}")
    return value


def _host_port(text: str, dsn: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigurationError(f"expected host:port, got {text!r} in {redacted(dsn)!r}")
    return host.strip("[]"), int(port)


class Connection:
    """One redis-py client (single server or cluster) with narrowed results.

    Every method raises :class:`~alligator.exceptions.BackendConnectionError`
    when the server cannot be reached and
    :class:`~alligator.exceptions.BackendError` for any other redis-py error.
    """

    def __init__(self, target: Target, *, retries: int = 3) -> None:
        retry = Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.5), retries=retries)
        with _CONNECT, _bad_options(target.url):
            self._client: redis.Redis | RedisCluster
            if target.cluster:
                # ClusterNode's __init__ is unannotated; this is its real signature.
                make_node: Callable[[str, int], ClusterNode] = ClusterNode
                nodes = [make_node(h, p) for h, p in target.extra_nodes]
                self._client = RedisCluster.from_url(
                    target.url, startup_nodes=nodes or None, retry=retry
                )
            else:
                self._client = redis.Redis.from_url(target.url, retry=retry)
        self.cluster = target.cluster
        #: Longest BLPOP that surely ends before the socket read times out.
        self.longest_block = max(
            0.01, min(target.socket_timeout - 0.5, target.socket_timeout * 0.8)
        )
        self._packer = ScriptPacker()
        # execute_command is unannotated in redis-py; this is its real shape.
        self._execute: Callable[..., object] = self._client.execute_command
        # Scripts on a single server skip redis-py's per-command packing and
        # hooks (see :mod:`alligator.backends._redis_pooled`); a cluster
        # client routes by key itself. close() disconnects them all.
        self._pooled: PooledScripts | None = (
            None
            if isinstance(self._client, RedisCluster)
            else PooledScripts(self._client.connection_pool, retry, self._execute, self._packer)
        )

    def run(
        self,
        source: str,
        keys: Sequence[str],
        args: Sequence[bytes | str],
        *,
        resend: bool = False,
    ) -> Reply:
        """EVALSHA ``source``, loading it first if the server lacks it; narrow the reply.

        The SHA is computed here once; a ``NOSCRIPT`` reply (first use, a
        restarted server, ``SCRIPT FLUSH``) loads the script and retries once
        (the script did not run).

        Args:
            resend: Running the script twice gives the same answer, so it may
                be sent again when its reply was lost.

        Raises:
            OutcomeUnknownError: The reply was lost after the request was
                sent, and ``resend`` is off.
        """
        head = self._packer.head(source)
        with _SCRIPT:
            try:
                reply = self._call(head, keys, args, resend)
            except rexc.NoScriptError:
                self._client.script_load(source)
                reply = self._call(head, keys, args, resend)
        return narrow(reply)

    def _call(
        self, head: bytes, keys: Sequence[str], args: Sequence[bytes | str], resend: bool
    ) -> object:
        pooled = self._pooled
        if pooled is None:
            return self._cluster_call(head, keys, args, resend)
        return pooled.send(head, keys, args, resend)

    def _cluster_call(
        self, head: bytes, keys: Sequence[str], args: Sequence[bytes | str], resend: bool
    ) -> object:
        sha = sha_of(head)
        if resend:
            return self._execute("EVALSHA", sha, len(keys), *keys, *args)
        # One node, no retries after a lost reply: naming the target node
        # turns redis-py's cluster retries off (redirections still followed:
        # a MOVED or ASK reply means the script did not run).
        cluster = self._client
        assert isinstance(cluster, RedisCluster)
        # get_node_from_key is unannotated in redis-py; this is its real shape.
        find: Callable[[str], ClusterNode] = cluster.get_node_from_key
        try:
            node = find(keys[0])
        except rexc.RedisError:
            return self._execute("EVALSHA", sha, len(keys), *keys, *args)
        try:
            return self._execute("EVALSHA", sha, len(keys), *keys, *args, target_nodes=node)
        except CONNECTION_ERRORS as exc:
            if any(words in str(exc) for words in NOT_SENT):
                raise
            raise outcome_unknown(exc) from exc

    def blpop(self, key: str, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a wake-up token; ``True`` if one came."""
        with _BLPOP:
            reply: object = self._client.blpop([key], timeout=max(timeout, 0.001))
        return reply is not None

    def peek(self, key: str) -> bytes | None:
        """``LINDEX key 0``: the first element of a list, ``None`` if there is none."""
        with _RESULT:
            reply: object = self._client.lindex(key, 0)
        return bulk_or_none(reply)

    def rotate(self, key: str, timeout: float) -> bytes | None:
        """``BLMOVE key key RIGHT LEFT``: block up to ``timeout`` s for a list's element.

        The element is moved onto the same list, so it stays there for the
        next reader, and every client blocked on the key is served in turn.
        """
        # redis-py annotates the timeout as int; Redis takes seconds as a decimal.
        blmove: Callable[..., object] = self._client.blmove
        with _RESULT:
            reply = blmove(key, key, max(timeout, 0.001), "RIGHT", "LEFT")
        return bulk_or_none(reply)

    def add_member(self, key: str, member: str) -> None:
        """``SADD key member``."""
        with _SET:
            self._client.sadd(key, member)

    def members(self, key: str) -> list[str]:
        """``SMEMBERS key``, decoded."""
        with _SET:
            reply: object = self._client.smembers(key)
        if not isinstance(reply, set):
            raise BackendError(f"redis: expected a set reply, got {reply!r}")
        return [m.decode() if isinstance(m, bytes) else str(m) for m in reply]

    def ping(self) -> bool:
        with _PING:
            return bool(self._client.ping())

    def close(self) -> None:
        """Close every connection now, the cluster nodes' too.

        redis-py's cluster ``close()`` leaves each node's pool open (a node
        client built from a URL does not own its pool), so its sockets closed
        only when collected: inside a reference cycle, after the connection
        that would have closed them, with a ResourceWarning.
        """
        with _CLOSE:
            client = self._client
            if isinstance(client, RedisCluster):
                # get_nodes is unannotated in redis-py; this is its real shape.
                nodes: Callable[[], list[ClusterNode]] = client.get_nodes
                for node in nodes():
                    if node.redis_connection is not None:
                        node.redis_connection.connection_pool.disconnect()
            client.close()
