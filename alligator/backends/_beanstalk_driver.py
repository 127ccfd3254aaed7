"""The beanstalkd driver: settings and limits, one guarded connection, error translation.

Kept apart from :mod:`alligator.backends.beanstalk_backend` so that module
reads as the mapping of Alligator's protocol onto beanstalkd commands, while
this one owns what makes that mapping safe:

* range checks done before a command is sent (greenstalk's connection falls
  out of step after a ``BAD_FORMAT``), and the payload size checked against
  the server's ``max-job-size`` before a ``put``;
* the lock that serialises a connection greenstalk does not make
  thread-safe, the tube it uses and the tubes it watches, and its
  ``generation``, which tells reservations of a lost connection apart;
* the translation of driver and socket errors (:data:`ERRORS`, through
  :func:`~alligator.exceptions.translated`), after which the connection is
  dropped, because greenstalk may be out of step with the server.

How queues and task ids map onto tubes and jobs is
:mod:`alligator.backends._beanstalk_names`.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Final
from urllib.parse import parse_qsl, urlsplit

import greenstalk
import msgspec

# Tubes and task ids (_beanstalk_names) stay importable from the driver, where
# the backend's other modules (_beanstalk_records, _beanstalk_schedule) look.
from alligator.backends._beanstalk_names import (
    BURIED_SUFFIX,
    HEADER,
    MAGIC,
    SCHEDULE_SUFFIX,
    format_task_id,
    frame,
    parse_job_id,
    parse_task_id,
    unframe,
    validate_queue_name,
)
from alligator.exceptions import (
    AlligatorError,
    BackendConnectionError,
    BackendError,
    ConfigurationError,
    Family,
    InvalidTaskError,
    PayloadTooLarge,
    translated,
)
from alligator.priority import check_priority

__all__ = [
    "BURIED_SUFFIX",
    "ERRORS",
    "HEADER",
    "MAGIC",
    "SCHEDULE_SUFFIX",
    "Connection",
    "Settings",
    "check_uint32",
    "delay_seconds",
    "delete_quietly",
    "format_task_id",
    "frame",
    "native_priority",
    "parse_dsn",
    "parse_job_id",
    "parse_task_id",
    "unframe",
    "validate_queue_name",
]

DEFAULT_PORT: Final = 11300
#: Beanstalkd's own default is 2**31 too: the middle of the range, so tasks can
#: be made both more and less urgent than the default.
#: beanstalkd's priority of Alligator's priority 0 (its own default): Alligator's
#: scale (-2**31 .. 2**31 - 1, lower first) shifted onto beanstalkd's 0 .. 2**32 - 1.
PRIORITY_OFFSET: Final = 2**31
DEFAULT_TTR: Final = 30.0
DEFAULT_SOCKET_TIMEOUT: Final = 10.0
MAX_UINT32: Final = 2**32 - 1

#: How greenstalk's and the socket's errors become ours. greenstalk asserts on
#: malformed frames and ``int()`` may fail on garbage: either way the stream
#: can no longer be trusted, like after any unexpected protocol answer.
ERRORS: Final[Mapping[type[Exception], Family]] = {
    OSError: BackendConnectionError,  # ConnectionError and socket.timeout included
    EOFError: BackendConnectionError,
    greenstalk.Error: BackendError,
    AssertionError: BackendError,
    ValueError: BackendError,
}
_DRIVER_ERRORS: Final = tuple(ERRORS)


def check_uint32(what: str, value: int, minimum: int = 0) -> int:
    """Refuse a value beanstalkd would answer with ``BAD_FORMAT``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"beanstalkd {what} must be an int, got {value!r}")
    if not minimum <= value <= MAX_UINT32:
        raise ConfigurationError(
            f"beanstalkd {what} must be between {minimum} and {MAX_UINT32}, got {value}"
        )
    return value


def ttr_seconds(lease: float) -> int:
    """A lease in seconds as beanstalkd's whole-second TTR (at least 1)."""
    if (
        isinstance(lease, bool)
        or not isinstance(lease, int | float)
        or not math.isfinite(lease)
        or lease <= 0
    ):
        raise ConfigurationError(f"beanstalkd TTR must be a positive number, got {lease!r}")
    return check_uint32("TTR", max(1, math.ceil(lease)), minimum=1)


def delay_seconds(delay_until: float | None, now: float | None = None) -> int:
    """Whole seconds from now until ``delay_until``; rounded up so never early."""
    if delay_until is None:
        return 0
    if not math.isfinite(delay_until):
        raise ConfigurationError(f"delay_until must be a finite timestamp, got {delay_until!r}")
    now = time.time() if now is None else now
    return check_uint32("delay", max(0, math.ceil(delay_until - now)))


def native_priority(priority: int | None, default: int = PRIORITY_OFFSET) -> int:
    """beanstalkd's priority for Alligator's ``priority`` (``default``, native, for ``None``).

    Raises:
        InvalidTaskError: ``priority`` is out of Alligator's range.
    """
    if priority is None:
        return default
    return check_priority(priority) + PRIORITY_OFFSET


def _default_priority(priority: int | None) -> int:
    """The DSN's ``priority=`` (Alligator's scale) as beanstalkd's, refused with a clear error."""
    try:
        return native_priority(priority)
    except InvalidTaskError as exc:
        raise ConfigurationError(f"beanstalk DSN option priority: {exc}") from None


class Settings(msgspec.Struct, frozen=True):
    """What a ``beanstalk://`` DSN and the constructor's keywords configure."""

    host: str
    port: int
    ttr: int
    #: beanstalkd's own priority of pushes that name none (from Alligator's scale).
    priority: int
    socket_timeout: float


def parse_dsn(
    conn_string: str,
    *,
    ttr: float | None,
    priority: int | None,
    socket_timeout: float | None,
) -> Settings:
    """Read ``beanstalk://host:port?ttr=S&priority=N&timeout=S``; keywords win."""
    parts = urlsplit(conn_string)
    if parts.scheme.lower() != "beanstalk":
        raise ConfigurationError(f"not a beanstalk:// DSN: {conn_string!r}")
    if parts.path not in ("", "/"):
        raise ConfigurationError(
            f"beanstalk DSN takes no path ({parts.path!r}): the queue name is the tube"
        )
    try:
        port = parts.port or DEFAULT_PORT
        query = dict(parse_qsl(parts.query, strict_parsing=bool(parts.query)))
        unknown = set(query) - {"ttr", "priority", "timeout"}
        if unknown:
            raise ConfigurationError(
                f"unknown beanstalk DSN option(s) {sorted(unknown)}; known: ttr, priority, timeout"
            )
        ttr_value = float(query["ttr"]) if ttr is None and "ttr" in query else ttr
        pri_value = int(query["priority"]) if priority is None and "priority" in query else priority
        timeout_value = (
            float(query["timeout"])
            if socket_timeout is None and "timeout" in query
            else socket_timeout
        )
    except ValueError as exc:
        if isinstance(exc, ConfigurationError):
            raise
        raise ConfigurationError(f"bad beanstalk DSN {conn_string!r}: {exc}") from exc
    timeout = DEFAULT_SOCKET_TIMEOUT if timeout_value is None else timeout_value
    if not (math.isfinite(timeout) and timeout > 0):
        raise ConfigurationError(f"beanstalk socket timeout must be > 0, got {timeout!r}")
    return Settings(
        host=parts.hostname or "localhost",
        port=port,
        ttr=ttr_seconds(DEFAULT_TTR if ttr_value is None else ttr_value),
        priority=_default_priority(pri_value),
        socket_timeout=timeout,
    )


class Connection:
    """One lazily (re)opened greenstalk connection behind a re-entrant lock.

    greenstalk is not thread-safe, and beanstalkd ties a reservation to the
    connection that made it (only that connection may ``touch``, ``release``
    or ``bury`` the job), so a Worker's heartbeat thread must renew through
    the very connection its main thread reserved on: every command holds
    :attr:`lock`. ``generation`` grows on each reconnect; reservations made
    on an older generation died with their connection (beanstalkd releases
    a closed connection's jobs at once).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.generation = 0
        self.max_job_size = 0
        self.where = f"beanstalkd at {settings.host}:{settings.port}"
        self._client: greenstalk.Client[bytes] | None = None
        self._sock: socket.socket | None = None
        self._used = greenstalk.DEFAULT_TUBE
        self._watched: set[str] = {greenstalk.DEFAULT_TUBE}
        self._errors = translated(ERRORS, self.where)

    def _open(self) -> greenstalk.Client[bytes]:
        sock = socket.create_connection(
            (self.settings.host, self.settings.port), timeout=self.settings.socket_timeout
        )
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            client: greenstalk.Client[bytes] = greenstalk.Client(sock, encoding=None)
            # Asked once per connection: a restarted server may have a new -z.
            self.max_job_size = client.stats()["max-job-size"]
        except BaseException:
            sock.close()
            raise
        self._sock, self._client = sock, client
        self._used, self._watched = greenstalk.DEFAULT_TUBE, {greenstalk.DEFAULT_TUBE}
        self.generation += 1
        return client

    def drop(self) -> None:
        """Close the connection; the next command opens a new one."""
        with self.lock:
            client, self._client, self._sock = self._client, None, None
            if client is not None:
                with contextlib.suppress(OSError):
                    client.close()

    @contextlib.contextmanager
    def session(self, wait: float = 0.0) -> Iterator[greenstalk.Client[bytes]]:
        """Hold the connection for a sequence of commands.

        Args:
            wait: Seconds the server may legitimately take to answer (a
                blocking reserve); added to the socket timeout.

        Raises:
            BackendConnectionError: the server cannot be reached or the
                connection broke; it is dropped and reopened on the next call.
            BackendError: an unexpected protocol answer; the connection is
                dropped too, because greenstalk may be out of step with it.
        """
        with self.lock, self._errors:
            try:
                client = self._client if self._client is not None else self._open()
                assert self._sock is not None
                self._sock.settimeout(self.settings.socket_timeout + wait)
                yield client
            except AlligatorError:
                raise
            except _DRIVER_ERRORS:
                self.drop()
                raise

    def use(self, client: greenstalk.Client[bytes], tube: str) -> None:
        """``use`` a tube only when it is not already the used one (saves a round trip)."""
        if self._used != tube:
            client.use(tube)
            self._used = tube

    def watch_only(self, client: greenstalk.Client[bytes], tube: str) -> None:
        """Make ``tube`` the only watched tube, so reserve takes from it alone."""
        if self._watched == {tube}:
            return
        if tube not in self._watched:
            client.watch(tube)
            self._watched.add(tube)
        for other in sorted(self._watched - {tube}):
            client.ignore(other)
            self._watched.discard(other)

    # -- puts ----------------------------------------------------------------

    def check_size(self, data: bytes, header: int = 0) -> None:
        """Refuse an oversized payload before sending it; called inside a session.

        ``header`` is what the body adds to ``data`` (Alligator's check, see
        :func:`~alligator.backends._beanstalk_names.frame`): the payload may
        use what is left of the job size.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ConfigurationError(f"beanstalkd job bodies are bytes, got {type(data).__name__}")
        limit = self.max_job_size - header
        if len(data) > limit:
            extra = f", less the {header}-byte header Alligator adds" if header else ""
            raise PayloadTooLarge(
                f"task payload is {len(data):,} bytes but {self.where} accepts at most "
                f"{limit:,} bytes per task (max-job-size {self.max_job_size:,}{extra}). Use "
                f"a compressing codec (e.g. codec='msgpack+bz2') or start beanstalkd with a "
                f"larger -z."
            )

    def put(
        self, client: greenstalk.Client[bytes], data: bytes, pri: int, delay: int, ttr: int
    ) -> int:
        """Put a job in the used tube; its id."""
        try:
            return client.put(data, priority=pri, delay=delay, ttr=ttr)
        except greenstalk.JobTooBigError as exc:  # the server's -z changed under us
            raise PayloadTooLarge(
                f"task payload is {len(data):,} bytes, over the max-job-size of "
                f"{self.where}. Use a compressing codec (e.g. codec='msgpack+bz2') "
                "or start beanstalkd with a larger -z."
            ) from exc


def delete_quietly(client: greenstalk.Client[bytes], job_id: int) -> None:
    """Delete a job that may already be gone or be held by another connection."""
    with contextlib.suppress(greenstalk.NotFoundError):
        client.delete(job_id)
