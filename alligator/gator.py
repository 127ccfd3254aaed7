"""The producer side: ``Gator`` builds tasks and hands them to a backend.

A Gator is bound to one backend and one queue. It encodes tasks under its
payload rules (codec, signing key, size limit, allow-list) and pushes them;
``gator.consumer()`` gives the consumer side of the same settings to a
Worker, and to the 1.0 methods that run a task here (``pop``, ``get``,
``execute``: :mod:`alligator.inprocess`, mixed in).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Self, cast, overload

from alligator import codecs, signing
from alligator import results as outcomes
from alligator._typing import RO, P, R
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
from alligator.consumer import Consumer
from alligator.exceptions import ConfigurationError, InvalidTaskError
from alligator.inprocess import InProcess
from alligator.limits import check_countable
from alligator.options import Batch, Options
from alligator.payloads import Payloads, check_allow_list
from alligator.protocols import Client, Codec, PriorityClient, QueueNameValidator, ResultClient
from alligator.records import Outgoing, PushItem
from alligator.retry import Backoff
from alligator.tasks import DelayUntil, Task, enqueue_time
from alligator.tracing import Tracing
from alligator.unique import OnDuplicate, push_unique
from alligator.waiting import Waiting

if TYPE_CHECKING:
    from alligator.failed import FailedTasks

__all__ = ["DEFAULT_DSN", "Gator"]

log = logging.getLogger("alligator.gator")

#: The embedded default: a SQLite file in the working directory.
DEFAULT_DSN = "sqlite://alligator.db"


class Gator(InProcess, Waiting):
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
        self.tracing = _tracing(tracing)
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

    def check_queue_name(self, queue_name: str) -> None:
        """Refuse a queue name the backend cannot hold (a ``ConfigurationError``)."""
        if not isinstance(queue_name, str) or not queue_name:
            raise ConfigurationError(f"queue_name must be a non-empty str, got {queue_name!r}")
        try:
            queue_name.encode()
        except UnicodeEncodeError as exc:
            raise ConfigurationError(
                f"queue name {queue_name!r} is not valid text (lone surrogates cannot be stored)"
            ) from exc
        if self.capabilities.queue_names:
            validator: QueueNameValidator = self.backend  # type: ignore[assignment]
            validator.validate_queue_name(queue_name)

    def consumer(
        self,
        queue_name: str | None = None,
        *,
        lease: float | None = None,
        nap_time: float = 0.1,
    ) -> Consumer:
        """The consumer side of this Gator's settings, for its queue or another one.

        Args:
            queue_name: Another queue of the same backend (default: this
                Gator's).
            lease: Seconds a reserved task is held (default: the Gator's).
            nap_time: Pause between polls of a backend that cannot wait.
        """
        if queue_name is None:
            queue_name = self.queue_name
        else:
            self.check_queue_name(queue_name)
        return Consumer(
            self.broker,
            queue_name,
            capabilities=self.capabilities,
            payloads=self.payloads,
            backoff=self.backoff,
            clock=self.clock,
            lease=self.lease if lease is None else lease,
            nap_time=nap_time,
            max_deliveries=self.max_deliveries,
            results=None if self.results is None else self.results.for_queue(queue_name),
        )

    # -- producer API -------------------------------------------------------

    def len(self) -> int:
        """Tasks waiting in this queue (ready and delayed)."""
        return self.broker.len(self.queue_name)

    def serialize(self, task: Task[Any]) -> bytes:
        """Encode ``task`` with this Gator's codec, signed, enforcing ``max_payload``."""
        return self.payloads.encode(task, self.queue_name)

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

    def submit(self, task: Task[Any]) -> Task[Any]:
        """Enqueue (or run, if eager) a task whose call is set: :meth:`push` after ``to_call``.

        A traced push is a ``send`` span around encoding and sending, so the
        task carries the span's context.
        """
        if self.tracing is None or not task.is_async:
            return self._push(task)
        with self.tracing.send(task, self.queue_name):
            return self._push(task)

    def _push(self, task: Task[Any]) -> Task[Any]:
        outgoing = self.outgoing(task)
        if outgoing is None:
            return self.run_eagerly(task)
        if task.unique_key is not None or task.unique:
            return push_unique(self._unique_broker, self.queue_name, task, outgoing.items[0].data)
        [task.task_id] = self.send(outgoing)
        return task

    def outgoing(self, task: Task[Any]) -> Outgoing | None:
        """What pushing ``task`` sends, checked and encoded; ``None`` for an eager task.

        The part of :meth:`push` that does no I/O, shared with
        :class:`~alligator.AsyncGator`, which sends the result its own way.
        """
        depends_on = self.dependencies_of(task)
        if not task.is_async:
            return None
        check_countable(getattr(task, "func", None), self.capabilities.limits)
        if (task.unique_key is not None or task.unique) and (
            depends_on or task.priority is not None
        ):
            raise InvalidTaskError(
                "unique tasks cannot take depends_on or priority yet: drop one of the options"
            )
        if task.priority is not None:
            self.prioritized()  # refuses a backend that would ignore it
        if self.timestamps:
            task.enqueued_at = enqueue_time()
        data = self.payloads.encode(task, self.queue_name)
        task.results = self.results
        return Outgoing(
            [PushItem(task.task_id, data, task.delay_until, task.priority)],
            [depends_on] if depends_on else None,
            task.priority,
        )

    def send(self, outgoing: Outgoing) -> list[str]:
        """Push what :meth:`outgoing` (or a batch) prepared; returns the stored ids."""
        items = outgoing.items
        if outgoing.depends_on is not None:
            queue = cast(ResultClient, self.broker)  # checked by dependencies_of
            return queue.push_after(self.queue_name, items, outgoing.depends_on)
        if len(items) > 1:
            return self.broker.push_many(self.queue_name, items)
        [item] = items
        priority = outgoing.priority if outgoing.priority is not None else item.priority
        if priority is not None:
            return [
                self.prioritized().push(
                    self.queue_name, item.task_id, item.data, item.delay_until, priority=priority
                )
            ]
        return [self.broker.push(self.queue_name, item.task_id, item.data, item.delay_until)]

    def prioritized(self) -> PriorityClient:
        """The backend as a :class:`~alligator.protocols.PriorityClient`, for a prioritised push.

        Raises:
            ConfigurationError: The backend cannot order tasks by priority; a
                ``priority=`` it would ignore is refused instead.
        """
        prioritized = self._priority_broker
        if prioritized is None:
            raise ConfigurationError(
                f"the {type(self.backend).__module__}.{type(self.backend).__name__} backend "
                "cannot order tasks by priority (its push takes no priority=): leave "
                "priority unset, or use a backend that has it (locmem, sqlite, redis, "
                "beanstalk, postgresql)"
            )
        return prioritized

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

    def options(
        self,
        *,
        task_id: str | None = None,
        retries: int = 0,
        is_async: bool = True,
        on_start: Callable[[Task[Any]], object] | None = None,
        on_success: Callable[[Task[RO], RO], object] | None = None,
        on_error: Callable[[Task[Any], Exception], object] | None = None,
        depends_on: Iterable[str | Task[Any]] | None = None,
        delay_until: DelayUntil | None = None,
        delay_by: float | None = None,
        priority: int | None = None,
        timeout: float | None = None,
        unique_key: str | None = None,
        unique: bool = False,
        unique_running: bool = False,
        on_duplicate: OnDuplicate = "return",
    ) -> Options[RO]:
        """A context manager whose ``task(...)`` applies these options.

        ``unique_key`` (or ``unique=True``, a key derived from the function
        and its arguments) stores the task only if no queued task holds that
        key; else nothing is stored and the task returned names the holder
        (``on_duplicate="raise"``: :class:`~alligator.exceptions.DuplicateTaskError`).
        The key is held while the task waits, and while it runs too with
        ``unique_running=True``. See :mod:`alligator.unique`.
        """
        return Options(
            self,
            task_id=task_id,
            retries=retries,
            is_async=is_async,
            on_start=on_start,
            on_success=on_success,
            on_error=on_error,
            depends_on=depends_on,
            delay_until=delay_until,
            delay_by=delay_by,
            priority=priority,
            timeout=timeout,
            unique_key=unique_key,
            unique=unique,
            unique_running=unique_running,
            on_duplicate=on_duplicate,
        )

    def batch(self) -> Batch:
        """A context manager sending every task created in it in one round trip."""
        return Batch(self)

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
        import copy

        from alligator.transactional import through

        bound = copy.copy(self)
        bound.broker = bound._priority_broker = through(self.broker, self.capabilities, connection)
        bound._unique_broker = None  # a unique push is the backend's own transaction
        return bound

    @property
    def failed(self) -> FailedTasks:
        """Buried tasks of this queue: list, show, requeue, purge."""
        from alligator.failed import FailedTasks

        return FailedTasks(self.consumer())


def _tracing(tracing: bool | Tracing) -> Tracing | None:
    """The Gator's tracer: none, one on OpenTelemetry's global provider, or the one given."""
    if tracing is False:
        return None

    if tracing is True:
        return Tracing()
    if not isinstance(tracing, Tracing):
        raise ConfigurationError(f"tracing must be True, False or a Tracing, got {tracing!r}")
    return tracing
