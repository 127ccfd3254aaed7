"""The producer side for asyncio applications: ``AsyncGator`` enqueues without blocking the loop.

An :class:`AsyncGator` is a :class:`~alligator.Gator` whose calls that touch
the backend are awaited: the same constructor options, checks, codecs,
signing and typing, and the same names (``task``, ``push``, ``options``,
``batch``, ``len``, ``wait``, ``status``, ``cancel``), awaited. Encoding is
the Gator's own (:meth:`~alligator.Gator.outgoing`); only the sending
differs:

* a backend with a native asyncio driver (Redis, through ``redis.asyncio``:
  an :class:`~alligator.protocols.AsyncioClient`) runs the very same
  operations as its blocking client on the loop
  (:mod:`alligator.backends._redis_steps`);
* every other backend's calls run in a thread (``asyncio.to_thread``), so
  the loop never waits on a socket or a disk.

Eager tasks (``is_async=False``) run in a thread too, as
:meth:`Gator.run_eagerly <alligator.Gator.run_eagerly>` would run them (an
``async def`` one on an event loop of that thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Self, Unpack, overload

from alligator._typing import RO, P, R, T, Unpinned
from alligator.capabilities import asyncio_view
from alligator.constants import Status
from alligator.exceptions import InvalidTaskError
from alligator.gator import DEFAULT_DSN, Gator
from alligator.options import Batch, Options, TaskOptions
from alligator.protocols import AsyncProducer
from alligator.records import Outgoing
from alligator.tasks import Task

__all__ = ["AsyncBatch", "AsyncGator", "AsyncOptions"]


class AsyncGator:
    """Enqueues tasks on one queue of one backend from a running event loop.

    Args:
        conn_string: A DSN, as for :class:`~alligator.Gator`.
        **options: Every other option of :class:`~alligator.Gator`
            (``queue_name``, ``codec``, ``results``, ``signing_key``, ...).

    Use it as ``async with AsyncGator(dsn) as ag:``, or ``await ag.aclose()``
    when done.
    """

    def __init__(self, conn_string: str = DEFAULT_DSN, **options: Any) -> None:
        #: The blocking Gator underneath: its settings, payload rules and backend.
        self.gator = Gator(conn_string, **options)
        native = asyncio_view(self.gator.backend, self.gator.capabilities)
        self._native: AsyncProducer | None = None if native is None else native.asyncio()

    def __repr__(self) -> str:
        return f"<AsyncGator {self.gator.conn_string!r} queue={self.gator.queue_name!r}>"

    @property
    def queue_name(self) -> str:
        return self.gator.queue_name

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (the asyncio driver's and the backend's)."""
        if self._native is not None:
            await self._native.aclose()
        await asyncio.to_thread(self.gator.close)

    async def send(self, outgoing: Outgoing) -> list[str]:
        """Push what :meth:`Gator.outgoing <alligator.Gator.outgoing>` prepared."""
        native = self._native
        if native is not None and outgoing.depends_on is None and outgoing.priority is None:
            return await native.push_many(self.gator.queue_name, outgoing.items)
        return await asyncio.to_thread(self.gator.send, outgoing)

    # -- producer API -------------------------------------------------------

    @overload
    async def push(
        self,
        task: Task[R],
        func: Callable[P, Coroutine[Any, Any, R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Task[R]: ...
    @overload
    async def push(
        self, task: Task[R], func: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> Task[R]: ...
    async def push(
        self, task: Task[Any], func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs
    ) -> Task[Any]:
        """Enqueue ``task`` calling ``func(*args, **kwargs)`` (see :meth:`Gator.push`)."""
        task.to_call(func, *args, **kwargs)
        gator = self.gator
        unique = task.unique_key is not None or task.unique
        if not task.is_async or gator.tracing is not None or unique:
            # Eager, traced (a span around encode and send) or unique (the
            # backend's own push): the Gator's whole push, in a thread.
            return await asyncio.to_thread(gator.submit, task)
        outgoing = gator.outgoing(task)
        assert outgoing is not None  # only an eager task has none
        [task.task_id] = await self.send(outgoing)
        return task

    @overload
    async def task(
        self, func: Callable[P, Coroutine[Any, Any, R]], *args: P.args, **kwargs: P.kwargs
    ) -> Task[R]: ...
    @overload
    async def task(self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Task[R]: ...
    async def task(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> Task[Any]:
        """Enqueue ``func(*args, **kwargs)`` with default options."""
        task: Task[Any] = self.gator.task_class()
        return await self.push(task, func, *args, **kwargs)

    def options(self, **options: Unpack[TaskOptions[RO]]) -> AsyncOptions[RO]:
        """Options for ``async with ag.options(...) as opts: await opts.task(...)``.

        The same options as :meth:`Gator.options <alligator.Gator.options>`,
        typed the same way (an ``on_success`` hook pins the result type).
        """
        return AsyncOptions(self, Options(self.gator, **options))

    def batch(self) -> AsyncBatch:
        """``async with ag.batch() as batch: batch.task(...)``: one round trip at the end."""
        return AsyncBatch(self)

    async def len(self) -> int:
        """Tasks waiting in this queue (ready and delayed)."""
        if self._native is not None:
            stats = await self._native.stats(self.gator.queue_name)
            return stats.ready + stats.delayed
        return await asyncio.to_thread(self.gator.len)

    @overload
    async def wait(self, task: Task[R], timeout: float | None = None) -> R: ...
    @overload
    async def wait(self, task: str, timeout: float | None = None) -> Any: ...
    async def wait(self, task: Task[Any] | str, timeout: float | None = None) -> Any:
        """The result of ``task`` (a task this AsyncGator pushed, or an id) once stored.

        Typed by the task's function when given the task. The wait runs in a
        thread; see :meth:`Gator.wait <alligator.Gator.wait>` for the errors.
        """
        if isinstance(task, str):
            return await asyncio.to_thread(self.gator.wait, task, timeout)
        return await asyncio.to_thread(task.wait, timeout)

    async def status(self, task_id: str) -> Status | None:
        """Where the task stands, without waiting (see :meth:`Gator.status`)."""
        return await asyncio.to_thread(self.gator.status, task_id)

    async def cancel(self, task_id: str) -> Task[Any] | None:
        """Remove a waiting task (see :meth:`Gator.cancel`)."""
        return await asyncio.to_thread(self.gator.cancel, task_id)


class AsyncOptions(Generic[RO]):
    """:class:`~alligator.options.Options` whose ``task`` is awaited."""

    def __init__(self, gator: AsyncGator, options: Options[RO]) -> None:
        self.gator = gator
        self.options = options

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    @overload
    async def task(
        self: AsyncOptions[Unpinned],
        func: Callable[P, Coroutine[Any, Any, T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Task[T]: ...
    @overload
    async def task(
        self: AsyncOptions[Unpinned], func: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> Task[T]: ...
    @overload
    async def task(
        self, func: Callable[P, Coroutine[Any, Any, RO]], *args: P.args, **kwargs: P.kwargs
    ) -> Task[RO]: ...
    @overload
    async def task(self, func: Callable[P, RO], *args: P.args, **kwargs: P.kwargs) -> Task[RO]: ...
    async def task(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> Task[Any]:
        """Enqueue ``func(*args, **kwargs)`` with these options."""
        return await self.gator.push(self.options.new_task(), func, *args, **kwargs)


class AsyncBatch(Batch):
    """A :class:`~alligator.options.Batch` sent, awaited, when its ``async with`` block exits.

    Adding a task encodes it (no I/O); nothing is sent if the block raises.
    An eager (``is_async=False``) task cannot run inside the loop's batch:
    it is refused (await ``ag.push`` for it).
    """

    def __init__(self, gator: AsyncGator) -> None:
        super().__init__(gator.gator)
        self.async_gator = gator

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if exc_type is None:
            await self.aflush()

    async def aflush(self) -> list[str]:
        """Send what was collected; returns the stored ids (also set on the tasks)."""
        outgoing = self.outgoing()
        if outgoing is None:
            return []
        return self.sent(await self.async_gator.send(outgoing))

    def run_eagerly(self, task: Task[R]) -> Task[R]:
        raise InvalidTaskError(
            "an is_async=False task runs at once, which an AsyncGator's batch cannot do on "
            "the event loop: await ag.push(Task(is_async=False), ...) outside the batch"
        )
