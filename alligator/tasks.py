"""The built-in task: a callable, its arguments, options and typed hooks.

The order of a run is here; what calls or awaits each step, a task's times
and its wire form sit below it, in ``_task_steps``, ``_task_times`` and
``_task_wire`` (public names re-exported).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, Self, overload

from alligator import arguments, codecs
from alligator._task_steps import (
    Call,
    Made,
    Steps,
    awaited_step,
    made,
    refuse_inside_a_loop,
)
from alligator._task_times import DelayUntil, enqueue_time, normalize_delay
from alligator._task_wire import envelope_of, import_hook
from alligator._typing import P, R
from alligator.constants import Status
from alligator.exceptions import (
    ConfigurationError,
    InvalidTaskError,
    NoResultError,
)
from alligator.priority import check_priority
from alligator.protocols import Codec
from alligator.unique import OnDuplicate, check_options
from alligator.utils import import_callable, new_task_id
from alligator.wire import Envelope

if TYPE_CHECKING:
    from alligator.results import Results

log = logging.getLogger("alligator.task")

__all__ = ["DelayUntil", "Task", "enqueue_time", "normalize_delay"]


class Task(Generic[R]):
    """A function call to be run later, with its retry budget and hooks.

    ``R`` is the function's return type: ``on_success`` receives a value of
    that type, so a hook written for another type is a type error.

    Hooks may change the task; in particular ``task.retries += 1`` inside
    ``on_error`` grants one more try. An exception raised by ``on_start``
    fails the try (the function did not run); one raised by ``on_success``
    or ``on_error`` is logged and kept on :attr:`hook_error`, and the
    task's own outcome stands (a success is not run again).
    """

    #: Codec used by :meth:`serialize`; the Gator sets it when ``None``.
    codec: Codec | None = None
    #: Modules a decoded task may import from (``None``: any).
    allowed_modules: ClassVar[tuple[str, ...] | None] = None

    def __init__(
        self,
        *,
        task_id: str | None = None,
        retries: int = 0,
        is_async: bool = True,
        on_start: Callable[[Task[Any]], object] | None = None,
        on_success: Callable[[Task[R], R], object] | None = None,
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
        # ``type(...) is int`` first: the common case skips the bool check.
        if type(retries) is not int and (isinstance(retries, bool) or not isinstance(retries, int)):
            raise InvalidTaskError(f"retries must be an int >= 0, got {retries!r}")
        if retries < 0:
            raise InvalidTaskError(f"retries must be an int >= 0, got {retries!r}")
        if task_id is None:
            task_id = new_task_id()
        elif not isinstance(task_id, str) or not task_id:
            raise InvalidTaskError(f"task_id must be a non-empty str, got {task_id!r}")
        self.task_id: str = task_id
        self.retries = retries
        self.attempts = 0
        self.is_async = is_async
        self.on_start = on_start
        self.on_success = on_success
        self.on_error = on_error
        self.depends_on: list[str] = (
            [] if depends_on is None else [_task_id_of(d) for d in depends_on]
        )
        self.delay_until: float | None = (
            None
            if delay_until is None and delay_by is None
            else normalize_delay(delay_until, delay_by)
        )
        self.priority = None if priority is None else check_priority(priority)
        if timeout is not None and not (isinstance(timeout, int | float) and 0 < timeout < 1e9):
            raise InvalidTaskError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self.timeout = None if timeout is None else float(timeout)
        if unique_key is not None or unique or unique_running or on_duplicate != "return":
            check_options(unique_key, unique, unique_running, on_duplicate)
            if not is_async:
                raise InvalidTaskError("a task run at once (is_async=False) cannot be unique")
        #: The key no other queued task may hold (``unique=True``: derived at enqueue).
        self.unique_key = unique_key
        self.unique = unique
        #: The key is held while the task runs too, not only while it waits.
        self.unique_running = unique_running
        self.on_duplicate: OnDuplicate = on_duplicate
        #: ``True`` when the enqueue stored nothing: ``task_id`` names the holder of the key.
        self.duplicate = False
        #: Times a worker put it back because it was over a limit (not attempts).
        self.deferrals = 0
        self.status: Status = Status.DELAYED if self.delay_until else Status.WAITING
        self.func: Callable[..., R] | None = None
        self.func_args: tuple[Any, ...] = ()
        self.func_kwargs: dict[str, Any] = {}
        self._result: R | _NoResult = _NO_RESULT
        #: What an ``on_success`` or ``on_error`` hook raised in the last run, if anything.
        self.hook_error: Exception | None = None
        #: Where its outcome will be kept: set by the Gator that pushed it.
        self.results: Results | None = None
        #: Epoch seconds it was first enqueued (stamped by the Gator that pushed it).
        self.enqueued_at: float | None = None
        #: The producer's trace context, carried to the worker (see :mod:`alligator.tracing`).
        self.trace: dict[str, str] | None = None

    def __repr__(self) -> str:
        name = getattr(self.func, "__qualname__", None)
        return f"<{type(self).__name__} {self.task_id} {name} {self.status.name}>"

    @overload
    def to_call(
        self, func: Callable[P, Coroutine[Any, Any, R]], *args: P.args, **kwargs: P.kwargs
    ) -> Self: ...
    @overload
    def to_call(self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Self: ...
    def to_call(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> Self:
        """Set the function and its arguments; mypy checks them against ``func``.

        ``func`` may be an ``async def`` function returning ``R``.
        """
        self.func = func
        self.func_args = args
        self.func_kwargs = kwargs
        return self

    # Status transitions, named as in 1.0.
    def to_waiting(self) -> None:
        self.status = Status.WAITING

    def to_success(self) -> None:
        self.status = Status.SUCCESS

    def to_failed(self) -> None:
        self.status = Status.FAILED

    def to_delayed(self) -> None:
        self.status = Status.DELAYED

    def to_retrying(self) -> None:
        self.status = Status.RETRYING

    def to_canceled(self) -> None:
        self.status = Status.CANCELED

    def to_envelope(self) -> Envelope:
        """The wire form; checks now that a worker will be able to import everything."""
        return envelope_of(self)

    def serialize(self) -> bytes:
        """Encode with :attr:`codec` (JSON when unset)."""
        return (self.codec or codecs.JSON).encode(self.to_envelope())

    @classmethod
    def deserialize(cls, data: bytes) -> Self:
        """Decode a payload of any registered codec and import what it names."""
        return cls.from_envelope(codecs.decode(data))

    @classmethod
    def from_envelope(
        cls, envelope: Envelope, allowed_modules: Iterable[str] | None = None
    ) -> Self:
        """Rebuild a task, importing its function and hooks (allow-list first)."""
        allowed = tuple(allowed_modules) if allowed_modules is not None else cls.allowed_modules
        task = cls(
            task_id=envelope.task_id,
            retries=envelope.retries,
            is_async=envelope.is_async,
            depends_on=envelope.depends_on,
            priority=envelope.priority,
            timeout=envelope.timeout,
        )
        task.delay_until = envelope.delay_until
        task.attempts = envelope.attempts
        task.enqueued_at = envelope.enqueued_at
        task.trace = envelope.trace
        deferrals = envelope.options.get("deferrals", 0) if envelope.options else 0
        task.deferrals = deferrals if type(deferrals) is int and deferrals > 0 else 0
        task.on_start = import_hook(envelope.on_start, allowed)
        task.on_success = import_hook(envelope.on_success, allowed)
        task.on_error = import_hook(envelope.on_error, allowed)
        func = import_callable(envelope.module, envelope.callable, allowed)
        task.func = func
        task.func_args, task.func_kwargs = arguments.restore(func, envelope.args, envelope.kwargs)
        return task

    @property
    def result(self) -> R:
        """What the function returned, once the task ran successfully in this process.

        Set by :meth:`run`, as in Alligator 1.0. Until then there is no
        result to read (1.0 gave ``None``, which the type ``R`` cannot
        promise), so reading it raises :class:`~alligator.exceptions.NoResultError`,
        an ``AttributeError``: ``getattr(task, "result", None)`` still works.
        """
        result = self._result
        if isinstance(result, _NoResult):
            raise NoResultError(
                f"task {self.task_id} has no result here: it has not run successfully in "
                "this process (a queued task runs in a worker)"
            )
        return result

    @result.setter
    def result(self, value: R) -> None:
        self._result = value

    def wait(self, timeout: float | None = None) -> R:
        """The function's return value, once a worker ran the task and stored it.

        Typed: ``gator.task(add, 1, 2).wait()`` is an ``int``, and the stored
        value is converted into the function's declared return type.

        Args:
            timeout: Seconds to wait at most; ``None`` waits as long as it takes.

        Raises:
            ConfigurationError: the Gator that pushed the task keeps no
                outcomes (``Gator(..., results=True)`` turns them on), or a
                negative timeout.
            TaskFailed: the task failed for good (the remote error's type,
                message and traceback are on it), lost a dependency, or was
                canceled.
            ResultTimeout: no outcome within ``timeout`` (also a ``TimeoutError``).
        """
        results = self.results
        if results is None:
            raise ConfigurationError(
                f"task {self.task_id} was not pushed by a Gator that keeps outcomes: make the "
                "Gator with Gator(..., results=True) (or results='<dsn>') to wait on it"
            )
        value: R = results.wait(self.task_id, timeout, self.func)
        return value

    @property
    def is_coroutine(self) -> bool:
        """Whether the function is an ``async def`` one: a worker awaits it on its event loop."""
        return self.func is not None and arguments.is_coroutine(self.func)

    def needs_loop(self) -> bool:
        """Whether running the task takes an event loop: an ``async def`` function or hook."""
        return any(
            f is not None and arguments.is_coroutine(f)
            for f in (self.func, self.on_start, self.on_success, self.on_error)
        )

    def run(self) -> Self:
        """Run ``on_start``, the function, then ``on_success`` or ``on_error``.

        As in Alligator 1.0, the function's return value is kept as
        :attr:`result` and the task itself is returned. The function's
        exception is re-raised after ``on_error`` so the caller can decide
        between a retry and burying the task.

        A task whose function or hooks are ``async def`` runs on an event
        loop of its own (``asyncio.run``); from inside a running loop (a
        coroutine calling ``run``) that is refused: await :meth:`run_async`.

        Raises:
            InvalidTaskError: An ``async def`` function or hook, called from
                code that runs on an event loop.
        """
        if self.needs_loop():
            refuse_inside_a_loop(self.task_id)
            return asyncio.run(self.run_async())
        steps = self._steps()
        outcome: Made = (None, None)
        while (step := _next(steps, outcome)) is not None:
            outcome = made(step)
        return self

    async def run_async(self, timeout: float | None = None) -> Self:
        """:meth:`run` on the running event loop: coroutine functions and hooks are awaited.

        A plain function or hook is called as it is (on the loop: a worker
        runs plain-function tasks in its threads instead).

        Args:
            timeout: Seconds the function may take; past them it is
                cancelled and the try fails with
                :class:`~alligator.exceptions.TaskTimeoutError`
                ("timed out after N s"), which ``on_error`` sees.
        """
        steps = self._steps()
        outcome: Made = (None, None)
        while (step := _next(steps, outcome)) is not None:
            outcome = await awaited_step(step, timeout, self.task_id)
        return self

    def _steps(self) -> Steps:
        """The order of a run, written once for :meth:`run` and :meth:`run_async`.

        Each step is yielded as a call for the driver to make (and, in
        :meth:`run_async`, to await); its value or its exception is sent back.
        """
        func = self.func
        if func is None:
            raise InvalidTaskError("the task has no function: call to_call(func, ...) first")
        if self.on_start is not None:
            yield functools.partial(self.on_start, self)  # raising fails the try: no run
        try:
            result = yield Call(func, self.func_args, self.func_kwargs)
        except Exception as err:
            self.to_failed()
            if self.on_error is not None:
                yield from self._hook("on_error", self.on_error, err)
            raise
        self._result = result
        self.to_success()
        if self.on_success is not None:
            yield from self._hook("on_success", self.on_success, result)

    def _hook(self, name: str, hook: Callable[[Task[R], Any], object], value: Any) -> Steps:
        """Call an after-the-fact hook; its failure is logged and kept, never the task's.

        The function has already run (or failed) when ``on_success`` or
        ``on_error`` is called: letting the hook's exception through would
        retry a function that succeeded, or replace the error it raised.
        """
        try:
            yield functools.partial(hook, self, value)
        except Exception as exc:
            self.hook_error = exc
            log.error(
                "%s hook of task %s raised %s: %s (the task's own outcome stands)",
                name,
                self.task_id,
                type(exc).__name__,
                exc,
                exc_info=exc,
                extra={"task_id": self.task_id, "hook": name},
            )


def _task_id_of(dependency: str | Task[Any]) -> str:
    if isinstance(dependency, str):
        if not dependency:
            raise InvalidTaskError("depends_on holds an empty task id")
        return dependency
    if isinstance(dependency, Task):
        return dependency.task_id
    raise InvalidTaskError(f"depends_on takes tasks or task ids, got {dependency!r}")


class _NoResult:
    """The value of :attr:`Task.result` before the task ran successfully."""


_NO_RESULT: Final = _NoResult()


def _next(steps: Steps, outcome: Made) -> Callable[[], Any] | None:
    """Send the last step's outcome into the run; its next step, or ``None`` once it ended.

    Here, not beside the other step helpers: resuming the run's generator
    enters this module, and a helper below it must not call back up.
    """
    value, error = outcome
    try:
        return steps.send(value) if error is None else steps.throw(error)
    except StopIteration:
        return None
