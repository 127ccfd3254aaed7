"""The producer side: ``Gator`` builds tasks and hands them to a backend.

A Gator is bound to one backend and one queue. It encodes tasks under its
payload rules (codec, signing key, size limit, allow-list) and pushes them.
This module holds its settings and its public enqueue methods; the rest is
mixed in from modules that each hold one part: the push path
(:mod:`alligator.pushing`), the ``options``/``batch`` builders
(:mod:`alligator.options`), the consumer side of the same settings for a
Worker (``gator.consumer()``, ``gator.failed``: :mod:`alligator.consuming`),
the 1.0 methods that run a task here (``pop``, ``get``, ``execute``:
:mod:`alligator.inprocess`) and waiting on outcomes (:mod:`alligator.waiting`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Self, overload

from alligator import codecs, signing
from alligator import results as outcomes
from alligator._typing import P, R
from alligator.backends import backend_class_for
from alligator.capabilities import priority_view, unique_view
from alligator.compat import as_reliable
from alligator.constants import (
    ALL,
    DEFAULT_LEASE,
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_MAX_PAYLOAD,
    DEFAULT_RESULT_TTL,
)
from alligator.consuming import ConsumerSide
from alligator.exceptions import ConfigurationError
from alligator.inprocess import InProcess
from alligator.options import Building
from alligator.payloads import Payloads, check_allow_list
from alligator.protocols import Client, Codec
from alligator.pushing import Pushing
from alligator.retry import Backoff
from alligator.tasks import Task
from alligator.tracing import Tracing, tracing_for
from alligator.waiting import Waiting

__all__ = ["DEFAULT_DSN", "Gator"]

log = logging.getLogger("alligator.gator")

#: The embedded default: a SQLite file in the working directory.
DEFAULT_DSN = "sqlite://alligator.db"


class Gator(Building, Pushing, ConsumerSide, InProcess, Waiting):
    """Enqueues tasks on one queue of one backend.

    Args:
        conn_string: A DSN whose scheme picks the backend
            (``sqlite://path.db``, ``locmem://``, ``redis://...``,
            ``beanstalk://host:port``).
        queue_name: The queue tasks go to.
        task_class: Class used for new tasks and to decode payloads.
        backend_class: Overrides the class the scheme would pick; called with
            ``conn_string``.
        codec: Codec name (``"json"``, ``"msgpack"``, ``"json+bz2"``, ...) or object.
        lease: Seconds a worker holds a task before another may take it.
        backoff: Delay policy between retries.
        max_payload: Largest encoded task accepted at enqueue, in bytes.
        allowed_modules: When given, a decoded task (function and hooks) may
            only name callables from these modules and their submodules; any
            other payload is buried before anything is imported. ``None`` (the
            default) lets a payload name any importable callable.
        signing_key: Signs every payload this Gator writes (HMAC-SHA256) and
            makes it refuse, by burying, any payload it reads that is unsigned
            or not signed by a key it knows. See :mod:`alligator.signing`.
        verify_keys: Extra keys accepted when verifying, for key rotation.
        signature_max_age: With a ``signing_key``: refuse (bury) a signed
            payload that became due more than this many seconds ago, which
            bounds how long a captured payload can be replayed under its own
            queue and id. Longer than any queue backlog you expect.
        max_deliveries: Deliveries of a task that may end without a
            settlement (its worker died, or lost the lease) before the next
            one buries it; ``0`` for no cap. A task that crashes its worker
            (``os._exit``, a segfault) is then buried with the reason instead
            of killing worker after worker forever.
        clock: Source of the epoch seconds retry delays count from; give the
            backend's injected clock in tests.
        tracing: OpenTelemetry spans (``alligator[otel]``): ``True`` for the
            global tracer provider, or a :class:`~alligator.tracing.Tracing`.
            Each push is a ``send`` span whose context the task carries, and
            workers built on this Gator run each task in a ``process`` span.
        timestamps: Stamp each payload with its enqueue time, which the
            workers' ``alligator_task_queue_wait_seconds`` metric counts
            from. Off by default: the stamp is the envelope's last field, so
            it costs 23 bytes of msgpack (about 63 of JSON) per queued task.
    """

    def __init__(
        self,
        conn_string: str = DEFAULT_DSN,
        *,
        queue_name: str = ALL,
        task_class: type[Task[Any]] = Task,
        backend_class: Callable[[str], Client] | None = None,
        codec: str | Codec = "json",
        lease: float = DEFAULT_LEASE,
        backoff: Backoff | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        allowed_modules: Iterable[str] | None = None,
        signing_key: bytes | str | None = None,
        verify_keys: Iterable[bytes | str] = (),
        signature_max_age: float | None = None,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        results: bool | str = False,
        result_ttl: float = DEFAULT_RESULT_TTL,
        clock: Callable[[], float] = time.time,
        tracing: bool | Tracing = False,
        timestamps: bool = False,
    ) -> None:
        if not lease > 0:
            raise ConfigurationError(f"lease must be > 0 seconds, got {lease!r}")
        if max_payload <= 0:
            raise ConfigurationError(f"max_payload must be > 0 bytes, got {max_payload!r}")
        if max_deliveries < 0:
            raise ConfigurationError(f"max_deliveries must be >= 0, got {max_deliveries!r}")
        self.max_deliveries = max_deliveries
        self.conn_string = conn_string
        self.queue_name = queue_name
        self.task_class = task_class
        self.backend_class = backend_class
        self.codec = codecs.get_codec(codec)
        self.lease = float(lease)
        self.backoff = backoff or Backoff()
        self.max_payload = max_payload
        self.allowed_modules = check_allow_list(task_class, allowed_modules)
        verify_keys = tuple(verify_keys)
        if verify_keys and signing_key is None:
            raise ConfigurationError("verify_keys needs a signing_key as well")
        self.signer = signing.Signer(signing_key, verify_keys) if signing_key is not None else None
        if signature_max_age is not None and (self.signer is None or not signature_max_age > 0):
            raise ConfigurationError(
                f"signature_max_age needs a signing_key and a value > 0, got {signature_max_age!r}"
            )
        self.clock = clock
        self.backend: Client = self.build_backend(conn_string)
        self.broker, self.capabilities = as_reliable(self.backend)
        self.payloads = Payloads(
            task_class,
            self.codec,
            max_payload,
            self.allowed_modules,
            self.signer,
            in_process=self.capabilities.in_process,
            bind_ids=self.capabilities.reliable and not self.capabilities.assigns_ids,
            max_age=signature_max_age,
        )
        self._priority_broker = priority_view(self.broker, self.capabilities)
        self._unique_broker = unique_view(self.broker, self.capabilities)
        self.check_queue_name(queue_name)
        self.tracing = tracing_for(tracing)
        self.timestamps = timestamps
        self.results = outcomes.connect(
            results, result_ttl, self.broker, self.capabilities, queue_name
        )

    def __repr__(self) -> str:
        return f"<Gator {self.conn_string!r} queue={self.queue_name!r} codec={self.codec.name}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the backend's connections; the Gator may not be used afterwards."""
        self.broker.close()
        if self.results is not None:
            self.results.close()

    def build_backend(self, conn_string: str) -> Client:
        """Instantiate the backend client for ``conn_string`` (1.0 hook)."""
        backend_class = self.backend_class or backend_class_for(conn_string)
        client: Client = backend_class(conn_string)
        return client

    # -- producer API -------------------------------------------------------

    def len(self) -> int:
        """Tasks waiting in this queue (ready and delayed)."""
        return self.broker.len(self.queue_name)

    @overload
    def push(
        self,
        task: Task[R],
        func: Callable[P, Coroutine[Any, Any, R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Task[R]: ...
    @overload
    def push(
        self, task: Task[R], func: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> Task[R]: ...
    def push(
        self, task: Task[Any], func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs
    ) -> Task[Any]:
        """Enqueue ``task`` calling ``func(*args, **kwargs)``.

        With ``is_async=False`` the task runs here and now (hooks and retries
        included) instead, which is handy in tests.
        """
        task.to_call(func, *args, **kwargs)
        return self.submit(task)

    @overload
    def task(
        self, func: Callable[P, Coroutine[Any, Any, R]], *args: P.args, **kwargs: P.kwargs
    ) -> Task[R]: ...
    @overload
    def task(self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Task[R]: ...
    def task(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> Task[Any]:
        """Enqueue ``func(*args, **kwargs)`` with default options.

        ``func`` may be an ``async def`` function: the task is then typed by
        what its coroutine returns (``Task[bytes]`` for ``async def f() ->
        bytes``) and a worker awaits it.
        """
        task: Task[Any] = self.task_class()
        return self.push(task, func, *args, **kwargs)

    def within(self, connection: object) -> Gator:
        """A producer whose tasks join ``connection``'s open transaction.

        The returned Gator is a copy of this one whose ``task``, ``options``,
        ``batch`` and ``push`` insert through the caller's connection (a
        psycopg 3 ``Connection`` on the PostgreSQL backend), so each task
        commits or rolls back with the caller's own rows, and no worker hears
        of it before the commit. Everything else it shares with this Gator;
        closing it closes nothing.

        Raises:
            ConfigurationError: The backend cannot do this, or ``connection``
                is of another driver, closed, or to another database.
            BackendError: ``connection``'s transaction has already failed.
        """
        from alligator.transactional import within

        return within(self, connection)
