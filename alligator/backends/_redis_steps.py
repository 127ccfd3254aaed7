"""The Redis producer calls written once, for the blocking client and for asyncio.

httpcore's lesson: keep the protocol logic apart from the I/O. A producer
operation (push, the counts behind ``len``) is a generator that yields the
calls to make (:class:`Call`: a Lua script, or the ``SADD`` naming a queue)
and receives each reply; it holds every decision (checks, keys, arguments,
reading the reply, the second script a replacing push needs). Two small
drivers feed it: :func:`run` with the blocking
:class:`~alligator.backends._redis_driver.Connection` (the ``Client``'s own
methods), and :func:`run_async` with
:class:`~alligator.backends._redis_async.AsyncConnection`
(:class:`~alligator.AsyncGator`). Nothing of a backend is written twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from alligator.backends import _redis_scripts as lua
from alligator.backends._checks import check_items
from alligator.backends._redis_driver import Reply, as_bytes, as_int, as_list
from alligator.backends._redis_scripts import Call
from alligator.exceptions import TaskInProgressError
from alligator.records import PushItem, QueueStats

if TYPE_CHECKING:
    from alligator.backends.redis_backend import Client

__all__ = ["Call", "Steps", "push_steps", "run", "run_async", "stats_steps"]

T = TypeVar("T")


#: An operation: yields calls, is sent their replies, returns its answer.
Steps = Generator[Call, Reply, T]


def run(steps: Steps[T], call: Callable[[Call], Reply]) -> T:
    """Drive ``steps``, making each call with the blocking ``call``."""
    step = _next(steps, None)
    while isinstance(step, Call):
        step = _next(steps, call(step))
    return step.value


async def run_async(steps: Steps[T], call: Callable[[Call], Awaitable[Reply]]) -> T:
    """Drive ``steps``, awaiting each call."""
    step = _next(steps, None)
    while isinstance(step, Call):
        step = _next(steps, await call(step))
    return step.value


class _Answer(Generic[T]):
    """What an operation returned, once its generator ended."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


def _next(steps: Steps[T], reply: Reply) -> Call | _Answer[T]:
    try:
        return steps.send(reply)
    except StopIteration as stop:
        return _Answer(stop.value)


def push_steps(client: Client, queue_name: str, items: Sequence[PushItem]) -> Steps[list[str]]:
    """Store several tasks in one script call (a second one only to replace an id)."""
    if not items:
        return []
    check_items(items)
    client.keys(queue_name)  # refuses a queue name Redis cannot hold, before anything is sent
    if queue_name not in client._named:
        yield Call(None, [client._queues_key], [queue_name])
        client._named.add(queue_name)
    ids = [item.task_id for item in items]
    now = client._now()
    args: list[bytes | str] = [now]
    for item in items:
        due = "" if item.delay_until is None else repr(float(item.delay_until))
        # Checked by check_items; 0 (the default) is sent as none: it goes to ready.
        rank = str(item.priority) if item.priority else ""
        args += (item.task_id, item.data, due, rank)
    if len(items) == 1 and args[3] == args[4] == "":
        # One task due now of priority 0, the common enqueue: the lean script.
        pushed = yield client._step(lua.PUSH_ONE, queue_name, (now, *args[1:3]), ids)
    else:
        pushed = yield client._step(lua.PUSH, queue_name, args, ids)
    if as_int(pushed) < 0:
        reply = yield client._step(lua.PUSH_REPLACE, queue_name, args, ids)
        if isinstance(reply, list):
            raise TaskInProgressError(as_bytes(reply[1]).decode(), queue_name)
    return ids


def stats_steps(client: Client, queue_name: str) -> Steps[QueueStats]:
    """Counts by state, read-only."""
    reply = as_list((yield client._step(lua.STATS, queue_name, (client._now(),))))
    counts = [as_int(r) for r in reply]
    return QueueStats(ready=counts[0], delayed=counts[1], reserved=counts[2], buried=counts[3])
