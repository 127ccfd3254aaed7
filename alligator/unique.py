"""Unique tasks: at most one queued task per key (``unique_key=`` or ``unique=True``).

The backend decides, atomically (:class:`~alligator.protocols.UniqueClient`):
a push whose key a queued task holds stores nothing. The core only derives
the key and turns the backend's answer into a task or an error.

Which task wins: the one that holds the key. Its id, payload, arguments and
options stay as they were pushed; the later call's are dropped. ``gator.task``
then returns a task whose ``task_id`` is the holder's (so ``task.wait()``
waits for the holder's result) and whose ``duplicate`` is ``True``; with
``on_duplicate="raise"`` it raises
:class:`~alligator.exceptions.DuplicateTaskError` instead.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import msgspec

from alligator.exceptions import ConfigurationError, DuplicateTaskError, InvalidTaskError
from alligator.protocols import UniqueClient
from alligator.utils import callable_path

if TYPE_CHECKING:
    from alligator.tasks import Task

__all__ = ["OnDuplicate", "check_options", "derive_key", "push_unique"]

#: What an enqueue does when its key is held: return the holder, or raise.
OnDuplicate: TypeAlias = Literal["return", "raise"]

#: Longest unique key accepted, in characters (they are stored as index keys).
MAX_KEY = 1000

_ENCODER = msgspec.json.Encoder(order="sorted")


def check_options(
    unique_key: str | None, unique: bool, unique_running: bool, on_duplicate: str
) -> None:
    """Refuse a bad combination of the unique options where it was written.

    Raises:
        InvalidTaskError: An empty or overlong key, both ``unique_key`` and
            ``unique``, ``unique_running`` or ``on_duplicate`` without either,
            or an ``on_duplicate`` other than ``"return"``/``"raise"``.
    """
    if unique_key is not None:
        if not isinstance(unique_key, str) or not unique_key or len(unique_key) > MAX_KEY:
            raise InvalidTaskError(
                f"unique_key must be a non-empty str of at most {MAX_KEY} characters, "
                f"got {unique_key!r}"
            )
        if unique:
            raise InvalidTaskError("give unique_key or unique=True, not both")
    if on_duplicate not in ("return", "raise"):
        raise InvalidTaskError(f"on_duplicate must be 'return' or 'raise', got {on_duplicate!r}")
    if unique_key is None and not unique and (unique_running or on_duplicate != "return"):
        raise InvalidTaskError("unique_running and on_duplicate need unique_key or unique=True")


def derive_key(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The key of ``unique=True``: the function's path and a hash of its bound arguments.

    Arguments are bound to the signature with defaults applied, so
    ``f(1)``, ``f(x=1)`` and ``f(1, flag=False)`` (the default) share a key.

    Raises:
        InvalidTaskError: The arguments cannot be encoded as JSON.
    """
    module, name = callable_path(func)
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
        bound.apply_defaults()
        values: Any = bound.arguments
    except (TypeError, ValueError):  # no signature to bind to: the call as given
        values = [args, kwargs]
    try:
        encoded = _ENCODER.encode(values)
    except (TypeError, msgspec.EncodeError) as exc:
        raise InvalidTaskError(
            f"unique=True: cannot derive a key from the arguments: {exc}"
        ) from exc
    return f"{module}:{name}:{hashlib.sha256(encoded).hexdigest()[:32]}"


def push_unique(
    broker: UniqueClient | None, queue_name: str, task: Task[Any], data: bytes
) -> Task[Any]:
    """Push ``task`` under its unique key; the holder's id when the key is held.

    Raises:
        ConfigurationError: The backend cannot enforce unique keys.
        DuplicateTaskError: The key is held and ``task.on_duplicate`` is ``"raise"``.
    """
    if broker is None:
        raise ConfigurationError(
            "this backend cannot enforce unique tasks (unique_key / unique=True), nor can a "
            "gator.within(conn) producer: use locmem, sqlite, redis or postgresql through a "
            "plain Gator, or drop the option"
        )
    key = task.unique_key
    if key is None:
        key = task.unique_key = derive_key(task.func, task.func_args, task.func_kwargs)
    task_id, created = broker.push_unique(
        queue_name,
        task.task_id,
        data,
        task.delay_until,
        unique_key=key,
        while_running=task.unique_running,
    )
    if not created and task.on_duplicate == "raise":
        raise DuplicateTaskError(key, task_id, queue_name)
    task.task_id = task_id
    task.duplicate = not created
    return task
