"""Every pluggable part of Alligator as a :class:`typing.Protocol`.

Built-in classes do not inherit from these; they conform structurally, and
``tests/typing`` proves it. Third-party code can be checked the same way by
assigning an instance to a variable annotated with the protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from alligator._typing import R_co
from alligator.constants import Status
from alligator.records import (
    BuriedTask,
    LimitSlot,
    LimitUsage,
    PushItem,
    QueueStats,
    Reservation,
    TaskState,
)

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from alligator.events import TaskDone, TaskStarted, WorkerStarted, WorkerStopped
    from alligator.wire import Envelope

__all__ = [
    "AbsentPushClient",
    "AsyncProducer",
    "AsyncioClient",
    "BuriedPages",
    "Client",
    "Codec",
    "FailedTasksClient",
    "IdAssigningClient",
    "InProcessClient",
    "LimitClient",
    "PrefetchClient",
    "PriorityClient",
    "QueueLister",
    "QueueNameValidator",
    "ReliableClient",
    "ResultClient",
    "ResultPrefetchClient",
    "ResultStore",
    "ScheduleLedger",
    "ScheduleLedgerClient",
    "Task",
    "TaskClass",
    "TaskRunObserver",
    "TransactionalClient",
    "UniqueClient",
    "Worker",
    "WorkerEvents",
]


@runtime_checkable
class Client(Protocol):
    """The Alligator 1.0 backend contract; enough for a Gator and a Worker.

    A client offering only these five methods gives at-most-once delivery: a
    task popped by a worker that then dies is gone. The built-in backends
    implement :class:`ReliableClient` as well.
    """

    def len(self, queue_name: str) -> int:
        """Count the tasks waiting in the queue: ready and delayed, not leased or buried.

        ``0`` for a queue that never held a task; never an error for an
        unknown queue.
        """
        ...

    def drop_all(self, queue_name: str) -> None:
        """Remove every task of the queue, whatever its state (ready, delayed, leased, buried).

        A worker still holding a lease on a dropped task finds its ``ack``
        and ``release`` refused (``False``); a queue that does not exist is
        not an error.
        """
        ...

    def push(self, queue_name: str, task_id: str, data: bytes) -> str:
        """Store ``data`` at the back of the queue; return the id it is stored under.

        Atomic: after it returns the task is durable to the backend's own
        standard; if it raises, nothing was stored.
        """
        ...

    def pop(self, queue_name: str) -> bytes | None:
        """Remove and return the oldest due task, or ``None`` if none is due.

        Atomic: two callers never receive the same task. At-most-once: the
        task is gone before it runs.
        """
        ...

    def get(self, queue_name: str, task_id: str) -> bytes | None:
        """Remove and return the waiting task stored under ``task_id``, or ``None``.

        Waiting means ready or delayed, whatever its due time: ``get`` skips
        a task whose lease is held (it is running; ``None``) and a buried one
        (``None``; see :class:`FailedTasksClient`). Atomic like :meth:`pop`:
        of two callers asking for the same id, one gets it.
        """
        ...


@runtime_checkable
class ReliableClient(Client, Protocol):
    """The at-least-once extension: a task is removed only once it has run.

    A reserved task is invisible to other workers until its lease deadline.
    If the holder neither acks, releases, buries nor renews before then, the
    task becomes ready again for any worker (a crashed worker loses nothing).
    Every method below is atomic on the backend; a method that takes a
    :class:`Reservation` returns ``False`` and changes nothing when the lease
    is no longer held by that reservation's token.
    """

    def push(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
    ) -> str:
        """Store a task, not to be reserved before ``delay_until`` (epoch seconds).

        On a backend that stores tasks under the caller's ids, a push of an
        id the queue holds replaces that task when it is waiting, delayed,
        buried or its lease expired; while its lease is held the push raises
        :class:`~alligator.exceptions.TaskInProgressError` and changes
        nothing, so a running task never runs twice at once. Due times are
        absolute; a backend with a server judges them by the server's clock.

        Raises:
            TaskInProgressError: The id names a task whose lease is held.
            InvalidTaskError: The id or due time cannot be stored (empty,
                unencodable, not a finite number).
        """
        ...

    def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        """Store several tasks in one round trip; all are stored or none.

        Raises:
            TaskInProgressError: An id names a task whose lease is held;
                none of the tasks is stored.
        """
        ...

    def reserve(self, queue_name: str, lease: float, timeout: float = 0.0) -> Reservation | None:
        """Lease the oldest due task for ``lease`` seconds.

        Waits up to ``timeout`` seconds for one to become due, without busy
        polling where the backend can block. Among due tasks the order is
        FIFO by due time unless the backend documents otherwise (beanstalkd
        orders by priority, then job id). Returns ``None`` when nothing
        became due in time.

        An entry of the store that cannot be handed out as a task (written
        there by something other than the backend: an id that is not text, a
        due time that is not a number) is buried with the reason by the
        backend, never returned, and never stops the tasks behind it.
        """
        ...

    def ack(self, queue_name: str, reservation: Reservation) -> bool:
        """Delete a task that ran; ``False`` (changing nothing) if the lease was lost.

        The lease is lost once its deadline has passed (whether or not
        another worker reserved the task since), or when the task was
        dropped, replaced or taken by ``get``.
        """
        ...

    def release(
        self,
        queue_name: str,
        reservation: Reservation,
        data: bytes | None = None,
        delay_until: float | None = None,
    ) -> bool:
        """Put a leased task back, optionally with a new payload and a delay.

        The task keeps its id and attempt count (beanstalkd, storing a new
        payload as a new job, gives a new id and says so) and is due at
        ``delay_until``, or now. ``False`` (changing nothing) if the lease
        was lost.
        """
        ...

    def bury(self, queue_name: str, reservation: Reservation, reason: str) -> bool:
        """Move a leased task aside with ``reason``; it is kept, never run again.

        Buried tasks are not counted by :meth:`len`, are listed by
        :meth:`buried` with their reason and time, and are only ever run
        again through :meth:`FailedTasksClient.requeue`. ``False``
        (changing nothing) if the lease was lost.
        """
        ...

    def renew(self, queue_name: str, reservation: Reservation, lease: float) -> bool:
        """Push the lease deadline ``lease`` seconds from now (the server's now, where it has one).

        ``False`` (changing nothing) if the lease was lost: the holder should
        stop treating the task as its own.
        """
        ...

    def stats(self, queue_name: str) -> QueueStats:
        """Count the queue's tasks by state: ready, delayed, reserved, buried.

        A leased task whose deadline passed counts as ready (it can be
        reserved again); counts of an unknown queue are all ``0``.
        """
        ...

    def buried(self, queue_name: str) -> list[BuriedTask]:
        """List the buried tasks, oldest first."""
        ...

    def close(self) -> None:
        """Release connections; the client may not be used afterwards."""
        ...


@runtime_checkable
class FailedTasksClient(ReliableClient, Protocol):
    """Operations on buried tasks: put them back, or delete them for good.

    A separate protocol so that a third-party :class:`ReliableClient` written
    before these existed keeps its at-least-once delivery; every built-in
    backend implements it, and ``alligator failed requeue|purge`` (and
    :mod:`alligator.failed`) need it.
    """

    def requeue(self, queue_name: str, task_id: str, data: bytes | None = None) -> str | None:
        """Move the buried task ``task_id`` back to ready, due now.

        Atomic: the task is either still buried or ready again, never both
        and never neither (a backend that cannot do this in one step, like
        beanstalkd with a new body, may leave both, never neither, and says
        so). Its attempt count starts again from 0 and its burial reason is
        dropped. ``data`` replaces the payload when given.

        Returns:
            The id the task is now stored under (backends with
            server-assigned ids may give a new one when ``data`` changes), or
            ``None`` when no buried task has that id.
        """
        ...

    def purge(self, queue_name: str, task_id: str | None = None) -> int:
        """Delete the buried task ``task_id``, or every buried task when ``None``.

        Only buried tasks are touched: ready, delayed and reserved ones stay.
        Each task is deleted atomically; purging all is not one transaction on
        every backend, but a task buried meanwhile is either kept or deleted
        whole.

        Returns:
            How many buried tasks were deleted.
        """
        ...


@runtime_checkable
class PrefetchClient(ReliableClient, Protocol):
    """Fewer round trips per task: settle and claim several tasks in one call.

    Optional: a Worker uses it when the backend offers it (every built-in
    backend except beanstalkd does) and falls back to one ``reserve`` and one
    ``ack`` per task otherwise. Each reserved task still has its own lease and
    token, so at-least-once delivery is unchanged; only the number of round
    trips drops.
    """

    def reserve_many(
        self,
        queue_name: str,
        lease: float,
        count: int,
        timeout: float = 0.0,
        done: Sequence[Reservation] = (),
    ) -> tuple[list[bool], list[Reservation]]:
        """Ack ``done``, then lease up to ``count`` due tasks, in one atomic step.

        Each task of ``done`` is deleted only if its lease is still held (as
        :meth:`ReliableClient.ack`). The acks happen whether or not any task
        is due; when none is, the call waits up to ``timeout`` seconds as
        :meth:`ReliableClient.reserve` does, without repeating the acks.

        Returns:
            One flag per task of ``done`` (``False``: its lease was lost), and
            the leased tasks, oldest due first.
        """
        ...

    def renew_many(
        self, queue_name: str, reservations: Sequence[Reservation], lease: float
    ) -> list[bool]:
        """Renew several leases in one round trip; one flag per reservation."""
        ...


@runtime_checkable
class ResultStore(Protocol):
    """Keeps each finished task's outcome for a while, by queue and task id.

    The outcome is opaque bytes (the core's :class:`~alligator.results.Result`
    record). A store may live in the queue's own backend (then it is a
    :class:`ResultClient` and the outcome is written with the ack) or in
    another one (``Gator(results="redis://...")``).
    """

    def store_result(self, queue_name: str, task_id: str, result: bytes, ttl: float) -> None:
        """Keep ``result`` for ``ttl`` seconds (replacing an earlier one), then forget it.

        Expiry is by the backend's own TTL mechanism or an index on the
        expiry time, never a scan of every result.
        """
        ...

    def fetch_result(self, queue_name: str, task_id: str, timeout: float = 0.0) -> bytes | None:
        """The stored outcome, waiting up to ``timeout`` seconds for it to be written.

        Waits on the backend's own mechanism where it has one (a blocking
        pop, a condition), else polls with a short back-off. ``None`` when
        there is no outcome (yet, or any more) when the time is up.
        """
        ...


@runtime_checkable
class ResultClient(ReliableClient, ResultStore, Protocol):
    """A queue that stores outcomes itself, atomically with the settlement, and runs dependencies.

    Where results and queue share a backend the result write, the ack (or
    burial) and the release (or burial) of dependents happen in one step: a
    worker killed between running and settling never leaves a stored result
    for a task that will run again, nor a dependent released twice.
    Dependencies are tracked within one queue: a task may depend on tasks of
    its own queue only.
    """

    def complete(
        self, queue_name: str, reservation: Reservation, *, result: bytes, ttl: float
    ) -> bool:
        """Ack a task that ran, store its outcome and release its dependents, atomically.

        A dependent whose every dependency has now succeeded becomes ready
        (due at its own ``delay_until``, or now). Returns ``False`` and
        changes nothing when the lease was lost.
        """
        ...

    def fail(
        self,
        queue_name: str,
        reservation: Reservation,
        reason: str,
        *,
        result: bytes,
        ttl: float,
        dependents_reason: str,
    ) -> list[str] | None:
        """Bury a task that failed for good, store its outcome, bury its dependents, atomically.

        Every task waiting on it, directly or through others, is buried
        with ``dependents_reason`` (it never runs).

        Returns:
            The ids of the dependents it buried (the caller stores their
            outcomes), or ``None``, changing nothing, when the lease was lost.
        """
        ...

    def push_after(
        self,
        queue_name: str,
        items: Sequence[PushItem],
        depends_on: Sequence[Sequence[str]],
    ) -> list[str]:
        """Store tasks, each ready once every task of its ``depends_on`` entry succeeded.

        One entry of ``depends_on`` per item; an item may depend on earlier
        items of the same call, so a fan-out/fan-in graph is stored in one
        round trip. All or nothing. A dependency that already succeeded
        (its outcome is stored) counts as done; one that failed or was
        canceled buries the new task at once, with a reason naming it; an
        item with no dependencies is pushed as by ``push_many``.

        Raises:
            TaskNotFoundError: a dependency is neither in the queue (nor an
                earlier item) nor has a stored outcome (never pushed, or its
                outcome expired): nothing is stored.
        """
        ...

    def task_state(self, queue_name: str, task_id: str) -> TaskState | None:
        """Where a queued task stands; ``None`` if the queue does not hold it."""
        ...

    def cancel(
        self, queue_name: str, task_id: str, *, result: bytes, ttl: float, dependents_reason: str
    ) -> tuple[bytes, list[str]] | None:
        """Remove a waiting task, store its canceled outcome, bury its dependents: atomically.

        A waiting task is ready, delayed or blocked; a reserved or buried
        one is left alone.

        Returns:
            The removed payload and the ids of the dependents it buried, or
            ``None`` (changing nothing) when no waiting task has that id.
        """
        ...


@runtime_checkable
class ResultPrefetchClient(PrefetchClient, ResultClient, Protocol):
    """Prefetch with results on: the fused acks of ``reserve_many`` store outcomes too.

    Told apart from a plain :class:`PrefetchClient` by the ``results``
    parameter (read once by :func:`alligator.capabilities.capabilities_of`).
    """

    def reserve_many(
        self,
        queue_name: str,
        lease: float,
        count: int,
        timeout: float = 0.0,
        done: Sequence[Reservation] = (),
        *,
        results: Sequence[bytes] = (),
        ttl: float = 0.0,
    ) -> tuple[list[bool], list[Reservation]]:
        """As :meth:`PrefetchClient.reserve_many`, each ack a :meth:`ResultClient.complete`.

        ``results`` holds one outcome per task of ``done`` (empty: plain
        acks), kept for ``ttl`` seconds.
        """
        ...


@runtime_checkable
class AbsentPushClient(ReliableClient, Protocol):
    """Stores a task only when its id is new: once per id, however many producers push it.

    What periodic schedules stand on (:mod:`alligator.schedules`): every
    scheduler pushes a tick under the same id, and exactly one push stores
    it. Ids are judged with *marks*: small records, per queue, of a key, the
    time it was first marked, and when the mark expires. A stored
    ``push_absent`` leaves a mark under the task's id, so an id stays taken
    for ``ttl`` seconds after its push, whatever became of the task (run
    and acked, purged): a producer that comes late, after the task already
    ran, still stores nothing. Marks expire by the backend's own TTL or an
    index on the expiry time, never a scan; ``drop_all`` forgets a queue's
    marks with its tasks. Times are the backend's (its server clock, or the
    injected one).
    """

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
        """Store the task unless its id is taken, and mark the id for ``ttl`` seconds; atomic.

        ``priority`` is honoured by a backend that orders by it (a
        :class:`PriorityClient`) and ignored by the others, as ``Gator`` does.

        The id is taken when the queue holds a task of that id in any state
        (ready, delayed, reserved, buried) or a live mark of that key
        (``push_absent`` stored it, or :meth:`mark` noted it, less than its
        ttl ago). A taken id changes nothing: no task replaced, no mark
        extended. Of any number of concurrent calls with one id, exactly one
        returns ``True``.

        Returns:
            ``True`` when the task was stored (and the mark made).
        """
        ...

    def mark(self, queue_name: str, key: str, ttl: float) -> float:
        """Note ``key`` now unless it is marked already; keep the mark ``ttl`` seconds more.

        Atomic: concurrent calls agree on one time. An existing live mark
        keeps its time and its expiry moves to ``ttl`` seconds from now if
        that is later.

        Returns:
            The time (epoch seconds, the backend's clock) the key was first
            marked: now, or when the live mark was made.
        """
        ...


class ScheduleLedger(Protocol):
    """Where a scheduler records what it fired, and how it fires a tick.

    Used by :mod:`alligator.schedules`.

    An entry is known by a key (its name and timing) on the queue its tasks
    go to. Over an :class:`AbsentPushClient` the ledger is the backend's
    marks, and any number of schedulers may share it; a backend without
    push-if-absent may offer a ledger of its own that lets one scheduler
    run at a time (:class:`ScheduleLedgerClient`).
    """

    def start(self, entries: Sequence[tuple[str, str]]) -> list[float]:
        """Open the ledger for ``(queue, key)`` entries; one floor per entry.

        Ticks after an entry's floor and missed (not fired) may be caught up
        by its misfire policy; a new entry's floor is now, so it catches
        nothing up. A ledger that admits one scheduler at a time raises
        :class:`~alligator.exceptions.ConfigurationError` when another holds it.
        """
        ...

    def fire(
        self,
        queue_name: str,
        key: str,
        tick: float,
        task_id: str,
        data: bytes,
        *,
        ttl: float,
        priority: int | None = None,
    ) -> bool:
        """Enqueue the task of one tick unless it was already; ``True`` when this call did.

        ``ttl``: how long the tick must stay known as fired.
        """
        ...

    def keep_alive(self, entries: Sequence[tuple[str, str]]) -> None:
        """Called now and then by a running scheduler: keep the entries' records alive."""
        ...

    def close(self) -> None:
        """Release what the ledger holds (a lock, a connection)."""
        ...


@runtime_checkable
class ScheduleLedgerClient(Protocol):
    """A backend without push-if-absent that keeps a scheduler's ledger itself (beanstalkd).

    Its ledger admits one scheduler per queue at a time, and refuses a
    second with a clear error instead of letting it enqueue ticks twice.
    """

    def schedule_ledger(self) -> ScheduleLedger:
        """A new ledger, with its own connection to the backend."""
        ...


@runtime_checkable
class PriorityClient(ReliableClient, Protocol):
    """Orders ready tasks by a per-task priority given at push time.

    The scale is Alligator's, the same on every backend (see
    :mod:`alligator.priority`): an ``int`` from -2**31 to 2**31 - 1, lower
    first, ``None`` meaning 0. Among the due tasks of a queue ``reserve``
    and ``reserve_many`` take the lowest priority first, and among equal
    priorities keep the queue's first-in, first-out order. A task keeps its
    priority for its whole life: released (a retry, delayed or not), its
    lease expired, or buried and requeued, it comes back with it.
    ``push_many`` honours each item's :attr:`~alligator.PushItem.priority`.
    A priority outside the range raises
    :class:`~alligator.exceptions.InvalidTaskError` and stores nothing.

    ``isinstance`` cannot see keyword arguments, so this capability is read
    from ``push``'s signature, once, by :func:`alligator.capabilities.capabilities_of`.
    A client without it is refused a prioritised task at enqueue
    (:class:`~alligator.exceptions.ConfigurationError`), never handed one to
    ignore.
    """

    def push(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        priority: int | None = None,
    ) -> str:
        """Store a task; among due tasks a lower ``priority`` is reserved first.

        Raises:
            InvalidTaskError: ``priority`` is not an ``int`` in range.
        """
        ...


@runtime_checkable
class UniqueClient(ReliableClient, Protocol):
    """Stores a task only if no queued task holds its unique key, atomically.

    The key is held by the task it was pushed with while that task waits
    (ready, delayed, or reserved with an expired lease: it will run again)
    and, when pushed with ``while_running``, while a worker holds its lease.
    It is released with the task: by its ack, its burial (failed for good),
    its cancellation or removal; there is nothing to release by hand, so a
    worker that dies cannot leak it (the task comes back by lease, still
    holding it, and runs again).
    """

    def push_unique(
        self,
        queue_name: str,
        task_id: str,
        data: bytes,
        delay_until: float | None = None,
        *,
        unique_key: str,
        while_running: bool = False,
    ) -> tuple[str, bool]:
        """Store the task unless a queued task holds ``unique_key``, in one atomic step.

        Two callers racing with one key never both store a task.

        Returns:
            ``(task_id, True)`` when the task was stored (it now holds the
            key), or ``(holder_id, False)``, storing nothing, when the task
            ``holder_id`` holds it.
        """
        ...


@runtime_checkable
class LimitClient(ReliableClient, Protocol):
    """Concurrency and rate limits counted by the backend, across every worker.

    A worker asks before it starts a task; the backend admits it only if it
    fits under every limit, taking its slots in one atomic step (a Lua script,
    one transaction, one lock hold). A concurrency slot is held by the task's
    lease: it is free again once the task is acked, released or buried, or
    its lease expires (a killed worker's slot comes back then), with nothing
    to give back by hand. Limits are counted per queue.
    """

    def acquire(
        self, queue_name: str, reservation: Reservation, limits: Sequence[LimitSlot]
    ) -> float:
        """Admit the reserved task under every one of ``limits``, or none of them.

        Admitted: each concurrency slot is now held by the reservation's
        lease and each rate limit counted one start, now.

        Returns:
            ``0.0`` when admitted; else the seconds after which trying again
            may succeed (for a rate limit, when its oldest start leaves the
            window; for a concurrency limit, a short guess), having taken
            nothing. A reservation whose lease is no longer held is refused.
        """
        ...

    def limit_usage(self, queue_name: str) -> list[LimitUsage]:
        """Each limit key used on the queue with its current use, sorted by key."""
        ...


@runtime_checkable
class TransactionalClient(ReliableClient, Protocol):
    """Enqueues through a database connection the caller owns, inside its transaction.

    The task exists if and only if the caller's transaction commits: the row
    that caused it and the task commit together, or neither does. Used by
    :meth:`alligator.Gator.within`; the PostgreSQL backend offers it (with a
    psycopg 3 connection).
    """

    def check_connection(self, connection: object) -> None:
        """Raise a clear error if tasks cannot be enqueued through ``connection``.

        The wrong kind of connection, a closed one, or one whose transaction
        has failed is refused before anything is sent.
        """
        ...

    def push_within(
        self,
        connection: object,
        queue_name: str,
        items: Sequence[PushItem],
        *,
        priority: int | None = None,
    ) -> list[str]:
        """Store ``items`` through ``connection``, in its open transaction.

        Nothing is visible to workers, and no worker is woken, before that
        transaction commits; a rollback leaves no trace. Returns the ids the
        tasks are stored under.
        """
        ...


@runtime_checkable
class InProcessClient(Protocol):
    """A backend whose queues live in this process's memory (``locmem://``).

    Its tasks can only be run by a worker of the same process, so a task
    function defined in ``__main__`` (a script, a notebook) resolves to the
    same function there and may be enqueued.
    """

    @property
    def in_process(self) -> bool:
        """Always true: the marker of this capability."""
        ...


@runtime_checkable
class IdAssigningClient(Protocol):
    """A backend that stores tasks under ids of its own choosing (beanstalkd's job ids).

    ``push`` ignores the ``task_id`` it is given and returns the id it used,
    so nothing written before the push (a signature, say) can name that id.
    """

    @property
    def assigns_ids(self) -> bool:
        """Always true: the marker of this capability."""
        ...


@runtime_checkable
class QueueNameValidator(Protocol):
    """A backend that restricts queue names (beanstalkd tubes, for one).

    The Gator calls it when it is built and for every extra queue a Worker
    consumes, so a bad name fails at start-up, not at the first push.
    """

    def validate_queue_name(self, name: str) -> str:
        """Return ``name`` unchanged, or raise ``ConfigurationError`` saying why not."""
        ...


@runtime_checkable
class QueueLister(Protocol):
    """A backend that can name the queues it holds tasks for.

    Optional: ``alligator info`` without ``-q`` shows every queue it names,
    and a worker started on an empty queue says which other queues have
    tasks. Every built-in backend offers it.
    """

    def queues(self) -> list[str]:
        """The names of the queues holding at least one task, in any state, sorted.

        Ready, delayed, reserved and buried tasks all count. A read for
        operators, not for a hot path: it may cost one call per queue. Not
        atomic across queues: a queue emptied or filled meanwhile may be
        missing or listed.
        """
        ...


class Codec(Protocol):
    """Turns the wire envelope into bytes and back.

    ``matches`` lets a worker pick the codec from the payload's leading bytes,
    so producers can switch codecs without draining the queue.
    """

    @property
    def name(self) -> str:
        """The registered name, e.g. ``"json"`` or ``"msgpack+bz2"``."""
        ...

    def encode(self, envelope: Envelope) -> bytes:
        """Raises ``EncodeError`` for values the format cannot carry."""
        ...

    def decode(self, data: bytes) -> Envelope:
        """Raises ``DecodeError`` (keeping ``data``) for anything malformed."""
        ...

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` looks like this codec's output."""
        ...


class Task(Protocol[R_co]):
    """What the consumer path needs of a decoded task.

    ``alligator.Task`` is the built-in implementation; a custom class (such as
    the ``SkinnyTask`` of the extending guide) only has to offer this to be
    run, retried and buried by a Worker. Producing tasks with ``gator.task``
    needs ``alligator.Task``'s constructor and ``to_call`` as well, which a
    subclass inherits.
    """

    task_id: str
    retries: int
    attempts: int
    is_async: bool
    delay_until: float | None
    status: Status
    codec: Codec | None
    #: What an ``on_success``/``on_error`` hook raised in the last run (logged, not fatal).
    hook_error: Exception | None
    #: Seconds the task may run (``None``: the worker's default).
    timeout: float | None

    def serialize(self) -> bytes:
        """The payload pushed to the backend (the consumer re-encodes it for a retry)."""
        ...

    @property
    def result(self) -> R_co:
        """The function's return value, once :meth:`run` succeeded."""
        ...

    def run(self) -> Self:
        """Call the hooks and the function, keep its :attr:`result`; re-raise its error."""
        ...

    def to_retrying(self) -> None:
        """Mark the task as released for another try."""
        ...

    def to_failed(self) -> None:
        """Mark the task as failed for good."""
        ...


class TaskClass(Protocol):
    """A task class as the consumer uses it: payload in, task out.

    ``from_envelope`` is what enforces ``allowed_modules``; a class whose
    ``deserialize`` decodes by its own rules cannot promise an allow-list,
    and a Gator given both refuses to start.
    """

    def deserialize(self, data: bytes) -> Task[Any]:
        """Rebuild a task from a payload, importing its callable."""
        ...

    def from_envelope(
        self, envelope: Envelope, allowed_modules: Iterable[str] | None = None
    ) -> Task[Any]:
        """Rebuild a task from a decoded envelope, checking the allow-list first."""
        ...


class Worker(Protocol):
    """A consumer loop; ``alligator.Worker`` is the built-in one.

    A pool runs any object of this shape in its threads
    (:func:`alligator.pool.run_threads`).
    """

    keep_running: bool
    tasks_complete: int

    def check_and_run_task(self) -> bool:
        """Run at most one task; ``True`` if one was run."""
        ...

    def run_forever(self) -> int:
        """Run tasks until stopped by a signal, ``max_tasks`` or ``keep_running``; 0 when done."""
        ...

    def interrupt(self) -> None:
        """Ask the loop to stop after the current task (thread-safe)."""
        ...


class WorkerEvents(Protocol):
    """What a worker calls for metrics; implement all three (no-ops are fine).

    The records are in :mod:`alligator.events`. The methods run in the
    worker's thread, between tasks: keep them quick. An exception they raise
    is logged and swallowed, never allowed to stop the worker or leave a
    task unsettled.
    """

    def on_worker_start(self, event: WorkerStarted) -> None:
        """The loop is about to claim its first task."""
        ...

    def on_task_done(self, event: TaskDone) -> None:
        """A task was settled; called once per claimed task."""
        ...

    def on_worker_stop(self, event: WorkerStopped) -> None:
        """The loop ended (signal, ``max_tasks``, ``keep_running = False``)."""
        ...


@runtime_checkable
class TaskRunObserver(Protocol):
    """Optional, beside :class:`~alligator.protocols.WorkerEvents`: wraps each run of a task.

    A metrics object counts a task in progress for exactly as long as it
    runs, and a tracer opens its span around it (the span is current while
    the function runs, and sees the exception it raises). Whether an events
    object offers it is read once, when the worker is built.
    """

    def running(self, event: TaskStarted) -> AbstractContextManager[object]:
        """A context entered just before the task's hooks and function, exited after.

        An exception the task raises passes through it (and is re-raised
        whatever the context returns); one the context itself raises is
        logged and ignored.
        """


class AsyncProducer(Protocol):
    """A producer's backend calls on the running event loop (what an ``AsyncGator`` awaits).

    The same operations, guarantees and errors as the client's own
    ``push_many`` and ``stats``, sent through an asyncio driver.
    """

    async def push_many(self, queue_name: str, items: Sequence[PushItem]) -> list[str]:
        """Store several tasks; all are stored or none (see :meth:`ReliableClient.push_many`)."""
        ...

    async def stats(self, queue_name: str) -> QueueStats:
        """Count the queue's tasks by state."""
        ...

    async def aclose(self) -> None:
        """Release the asyncio connections (the client's own stay open)."""
        ...


@runtime_checkable
class AsyncioClient(Protocol):
    """A client with a native asyncio driver for producers (Redis: ``redis.asyncio``).

    An ``AsyncGator`` over any other client runs the client's calls in a
    thread, so the event loop never blocks either way.
    """

    def asyncio(self) -> AsyncProducer:
        """A new asyncio producer over the same store (its own connections)."""
        ...


@runtime_checkable
class BuriedPages(ReliableClient, Protocol):
    """A backend that reads one page of buried tasks without reading them all.

    Optional: the dashboard and ``alligator failed list`` page through a
    queue of any size with it (the page count comes from ``stats``); for a
    client without it they fall back to :meth:`ReliableClient.buried` and
    slice, which reads every buried task. Every built-in backend offers it
    but beanstalkd, whose bury reasons can only be read all at once (see
    :mod:`alligator.backends._beanstalk_records`).
    """

    def buried_page(self, queue_name: str, offset: int, limit: int) -> list[BuriedTask]:
        """The buried tasks from position ``offset`` (0-based), at most ``limit`` of them.

        The order is :meth:`ReliableClient.buried`'s, oldest burial first and
        stable, so the pages of an unchanged queue, concatenated, are exactly
        ``buried()``. An ``offset`` at or past the end, or a ``limit`` of 0,
        gives ``[]``; a negative one is a ``ValueError``.

        Bounded work: it reads at most ``limit`` tasks, plus a walk over the
        ``offset`` entries of an index of the buried tasks (never their
        payloads), whatever the queue holds. Each page is one consistent
        read, but pages are not one snapshot: a task buried between two
        pages is appended at the end, and a task requeued or purged
        meanwhile shifts the later ones forward, so a reader walking page by
        page may then miss or repeat a task at a page boundary.
        """
        ...
