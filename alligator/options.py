"""Per-call task options (``gator.options``) and batched enqueue (``gator.batch``).

The two builders themselves (:class:`Building`) are mixed into the Gator,
so that what each option means, how it is checked and how it reaches the
task are read in this one module.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypedDict, cast, overload

from alligator._typing import RO, P, R, T, Unpinned
from alligator.exceptions import InvalidTaskError
from alligator.limits import check_countable
from alligator.records import Outgoing, PushItem
from alligator.tasks import DelayUntil, Task, enqueue_time
from alligator.unique import OnDuplicate

if TYPE_CHECKING:
    from alligator.gator import Gator

__all__ = ["Batch", "Building", "Options", "TaskOptions", "Unpinned"]


class TaskOptions(TypedDict, Generic[RO], total=False):
    """The keyword options of :meth:`Gator.options <alligator.Gator.options>`, as a type.

    What ``AsyncGator.options(**options)`` takes: the same names and types,
    with ``on_success`` pinning the result type ``RO``.
    """

    task_id: str | None
    retries: int
    is_async: bool
    on_start: Callable[[Task[Any]], object] | None
    on_success: Callable[[Task[RO], RO], object] | None
    on_error: Callable[[Task[Any], Exception], object] | None
    depends_on: Iterable[str | Task[Any]] | None
    delay_until: DelayUntil | None
    delay_by: float | None
    priority: int | None
    timeout: float | None
    unique_key: str | None
    unique: bool
    unique_running: bool
    on_duplicate: OnDuplicate


class Options(Generic[RO]):
    """Options applied to every task created through :meth:`task`.

    An ``on_success`` hook fixes the result type: ``opts.task(func, ...)``
    is a type error when ``func`` does not return the type the hook expects.
    Without one (``Options[Unpinned]``), each ``opts.task`` call infers the
    type from its own function.
    """

    def __init__(
        self,
        gator: Gator,
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
    ) -> None:
        self.gator = gator
        self.task_id = task_id
        self.retries = retries
        self.is_async = is_async
        self.on_start = on_start
        self.on_success = on_success
        self.on_error = on_error
        self.depends_on = list(depends_on or ())
        self.delay_until = delay_until
        self.delay_by = delay_by
        self.priority = priority
        self.timeout = timeout
        self.unique_key = unique_key
        self.unique = unique
        self.unique_running = unique_running
        self.on_duplicate: OnDuplicate = on_duplicate
        # Validate now, so a bad option fails where it was written.
        self.new_task()
        if priority is not None and is_async:
            gator.prioritized()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def new_task(self, task_id: str | None = None) -> Task[Any]:
        """A task with these options and no function yet (``task_id`` overrides the option's)."""
        task: Task[Any] = self.gator.task_class(
            task_id=self.task_id if task_id is None else task_id,
            retries=self.retries,
            is_async=self.is_async,
            on_start=self.on_start,
            on_success=self.on_success,
            on_error=self.on_error,
            depends_on=self.depends_on,
            delay_until=self.delay_until,
            delay_by=self.delay_by,
            priority=self.priority,
            timeout=self.timeout,
            unique_key=self.unique_key,
            unique=self.unique,
            unique_running=self.unique_running,
            on_duplicate=self.on_duplicate,
        )
        return task

    @overload
    def task(
        self: Options[Unpinned],
        func: Callable[P, Coroutine[Any, Any, T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Task[T]: ...
    @overload
    def task(
        self: Options[Unpinned], func: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> Task[T]: ...
    @overload
    def task(
        self, func: Callable[P, Coroutine[Any, Any, RO]], *args: P.args, **kwargs: P.kwargs
    ) -> Task[RO]: ...
    @overload
    def task(self, func: Callable[P, RO], *args: P.args, **kwargs: P.kwargs) -> Task[RO]: ...
    def task(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> Task[Any]:
        """Enqueue ``func(*args, **kwargs)`` with these options."""
        return self.gator.push(self.new_task(), func, *args, **kwargs)


class Batch:
    """Collects tasks and sends them all in one round trip when the block exits.

    Nothing is sent if the block raises. Tasks with ``is_async=False`` still
    run at once, as they would outside a batch.
    """

    def __init__(self, gator: Gator) -> None:
        self.gator = gator
        self.tasks: list[Task[Any]] = []
        self._items: list[PushItem] = []
        self._depends_on: list[list[str]] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()

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
        """Add ``task`` calling ``func(*args, **kwargs)`` to the batch."""
        task.to_call(func, *args, **kwargs)
        depends_on = self.gator.dependencies_of(task)
        if not task.is_async:
            return self.run_eagerly(task)
        if task.priority is not None:
            self.gator.prioritized()  # refuses a backend that would ignore it
        if (task.priority is not None and any(self._depends_on)) or (
            depends_on and any(t.priority is not None for t in self.tasks)
        ):
            # Such a batch goes through push_after, which orders nothing by priority.
            raise InvalidTaskError(
                "a batch cannot mix tasks with depends_on and tasks with a priority: "
                "send them in two batches"
            )
        check_countable(func, self.gator.capabilities.limits)
        if task.unique_key is not None or task.unique:
            raise InvalidTaskError(
                "unique tasks are not pushed by gator.batch(): push this task outside the batch"
            )
        if self.gator.timestamps:
            task.enqueued_at = enqueue_time()
        tracing = self.gator.tracing
        if tracing is None:
            data = self.gator.serialize(task)
        else:
            with tracing.send(task, self.gator.queue_name):
                data = self.gator.serialize(task)
        task.results = self.gator.results
        self.tasks.append(task)
        self._items.append(PushItem(task.task_id, data, task.delay_until, task.priority))
        self._depends_on.append(depends_on)
        return task

    @overload
    def task(
        self, func: Callable[P, Coroutine[Any, Any, R]], *args: P.args, **kwargs: P.kwargs
    ) -> Task[R]: ...
    @overload
    def task(self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Task[R]: ...
    def task(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> Task[Any]:
        """Add ``func(*args, **kwargs)`` to the batch with default options."""
        task: Task[Any] = self.gator.task_class()
        return self.push(task, func, *args, **kwargs)

    def run_eagerly(self, task: Task[R]) -> Task[R]:
        """Run an ``is_async=False`` task at once, as outside a batch."""
        return self.gator.run_eagerly(task)

    def flush(self) -> list[str]:
        """Send what was collected; returns the stored ids (also set on the tasks)."""
        outgoing = self.outgoing()
        if outgoing is None:
            return []
        return self.sent(self.gator.send(outgoing))

    def outgoing(self) -> Outgoing | None:
        """What :meth:`flush` sends (``None``: nothing was collected)."""
        if not self._items:
            return None
        return Outgoing(list(self._items), self._depends_on if any(self._depends_on) else None)

    def sent(self, ids: list[str]) -> list[str]:
        """Give the collected tasks the ids they were stored under, and start afresh."""
        for task, task_id in zip(self.tasks, ids, strict=True):
            task.task_id = task_id
        self.tasks, self._items, self._depends_on = [], [], []
        return ids


class Building:
    """``options()`` and ``batch()``: mixed into :class:`~alligator.Gator`."""

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
            cast("Gator", self),  # only the Gator mixes this in
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
        return Batch(cast("Gator", self))
