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
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Final
from urllib.parse import parse_qsl, urlsplit

import greenstalk
import msgspec

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
#: Suffix of the companion tube that holds bury records (see the backend docs).
BURIED_SUFFIX: Final = ".buried"
#: The tube of a queue's scheduler lock and state (see ``_beanstalk_schedule``).
SCHEDULE_SUFFIX: Final = ".sched"
MAX_TUBE_BYTES: Final = 200
#: A queue name leaves room for the companion tube's suffix.
MAX_QUEUE_BYTES: Final = MAX_TUBE_BYTES - len(BURIED_SUFFIX)

_TUBE_RE: Final = re.compile(r"[A-Za-z0-9+/;.$_()][A-Za-z0-9\-+/;.$_()]*")

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


def validate_queue_name(name: str) -> str:
    """Check that ``name`` can be a beanstalkd tube, with room for its companion.

    Called at Gator construction so a bad name fails there, not as a protocol
    error on the first push.

    Returns:
        The name, unchanged.

    Raises:
        ConfigurationError: the name is empty, too long, uses characters
            beanstalkd refuses, starts with ``-`` or ends with the reserved
            ``.buried`` suffix.
    """
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"beanstalkd queue name must be a non-empty str, got {name!r}")
    if not _TUBE_RE.fullmatch(name):
        hint = " (it may not start with '-')" if name.startswith("-") else ""
        raise ConfigurationError(
            f"queue name {name!r} cannot be a beanstalkd tube{hint}: use only ASCII "
            "letters, digits and - + / ; . $ _ ( )"
        )
    if len(name) > MAX_QUEUE_BYTES:
        raise ConfigurationError(
            f"queue name is {len(name)} bytes; beanstalkd tubes hold at most "
            f"{MAX_TUBE_BYTES} bytes and Alligator needs {len(BURIED_SUFFIX)} of them for "
            f"the companion tube of buried tasks, so the limit is {MAX_QUEUE_BYTES}"
        )
    if name.endswith(BURIED_SUFFIX):
        raise ConfigurationError(
            f"queue name {name!r} ends with {BURIED_SUFFIX!r}, which Alligator reserves for "
            "the companion tube that records why tasks were buried"
        )
    if name.endswith(SCHEDULE_SUFFIX):
        raise ConfigurationError(
            f"queue name {name!r} ends with {SCHEDULE_SUFFIX!r}, which Alligator reserves for "
            "the tube of a queue's scheduler lock"
        )
    return name


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
        :func:`frame`): the payload may use what is left of the job size.
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


#: Starts the body of every job Alligator puts: then 4 bytes, the task's check.
MAGIC: Final = b"\xa7\x1cAG"
#: Bytes :func:`frame` puts before a payload.
HEADER: Final = len(MAGIC) + 4


def frame(data: bytes, check: int) -> bytes:
    """The job body for ``data``: a small header holding the task's check, then ``data``.

    A restarted beanstalkd without a binlog reuses job ids, so a job id alone
    cannot tell a task from an unrelated one put after the restart. The task
    id Alligator hands out is the job id *and* this check (see
    :func:`format_task_id`), and every operation by id compares them first.
    """
    return MAGIC + check.to_bytes(4, "big") + data


def unframe(body: bytes) -> tuple[int | None, bytes]:
    """The check and the payload of a job body; ``None`` for a body put by other tools."""
    if body[: len(MAGIC)] == MAGIC and len(body) >= HEADER:
        return int.from_bytes(body[len(MAGIC) : HEADER], "big"), body[HEADER:]
    return None, body


def format_task_id(job_id: int, check: int | None) -> str:
    """Alligator's id of a job: ``<job id>-<check in hex>``, or the job id alone."""
    return str(job_id) if check is None else f"{job_id}-{check:08x}"


def parse_task_id(task_id: str) -> tuple[int, int | None] | None:
    """The job id and check of an id :func:`format_task_id` made; ``None`` if it is not one."""
    if not isinstance(task_id, str) or not task_id.isascii():
        return None
    number, dash, check = task_id.partition("-")
    if not number.isdigit() or not 0 < int(number) <= 2**64 - 1:
        return None
    if not dash:
        return int(number), None
    if len(check) != 8 or any(c not in "0123456789abcdef" for c in check):
        return None
    return int(number), int(check, 16)


def parse_job_id(task_id: str) -> int | None:
    """The beanstalkd job id of Alligator's string id; ``None`` if it cannot be one."""
    found = parse_task_id(task_id)
    return None if found is None else found[0]


def delete_quietly(client: greenstalk.Client[bytes], job_id: int) -> None:
    """Delete a job that may already be gone or be held by another connection."""
    with contextlib.suppress(greenstalk.NotFoundError):
        client.delete(job_id)
