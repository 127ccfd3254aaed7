"""A task's wire form: the :class:`~alligator.wire.Envelope` a payload carries.

Built here, at enqueue, so that every check a worker would otherwise fail
on later (the function and hooks importable by name, the arguments of
types the codecs carry) fails in the producer instead, where the caller
can still fix the call. A hook travels as its ``"module:qualname"``
reference, and is imported back from it here too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from alligator import arguments
from alligator.constants import ENVELOPE_VERSION
from alligator.exceptions import InvalidTaskError
from alligator.utils import callable_path, hook_path, import_callable
from alligator.wire import Envelope

if TYPE_CHECKING:
    from alligator.tasks import Task

__all__ = ["envelope_of", "import_hook"]


def envelope_of(task: Task[Any]) -> Envelope:
    """``task`` as an envelope (:meth:`Task.to_envelope <alligator.Task.to_envelope>`).

    Raises:
        InvalidTaskError: The task has no function yet, its arguments do not
            fit the function, or (``NotImportableError``) a worker could not
            import the function or a hook by name.
    """
    if task.func is None:
        raise InvalidTaskError("the task has no function: call to_call(func, ...) first")
    module, name = callable_path(task.func)
    arguments.check(task.func, task.func_args, task.func_kwargs)
    on_start, on_success, on_error = task.on_start, task.on_success, task.on_error
    # Positional, in field order: half the cost of keywords on the enqueue path.
    envelope = Envelope(
        ENVELOPE_VERSION,
        task.task_id,
        module,
        name,
        task.func_args,
        task.func_kwargs,
        task.retries,
        task.attempts,
        task.is_async,
        None if on_start is None else hook_path(on_start),
        None if on_success is None else hook_path(on_success),
        None if on_error is None else hook_path(on_error),
        task.delay_until,
        task.depends_on,
        task.priority,
    )
    if task.timeout is not None:
        envelope.timeout = task.timeout
    if task.deferrals:
        envelope.options = {"deferrals": task.deferrals}
    if task.enqueued_at is not None:
        envelope.enqueued_at = task.enqueued_at
    if task.trace is not None:
        envelope.trace = task.trace
    return envelope


def import_hook(reference: str | None, allowed: Iterable[str] | None) -> Any:
    """The hook a ``"module:qualname"`` reference names (the inverse of ``hook_path``)."""
    if reference is None:
        return None
    module, _, name = reference.partition(":")
    return import_callable(module, name, allowed)
