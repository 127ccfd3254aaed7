"""Typing checks that must pass: what user code sees (run by tests/test_typing.py)."""

from __future__ import annotations

from typing import Any, assert_type

from alligator import Gator, Status, Task, Worker, codecs, protocols
from alligator.backends import (
    beanstalk_backend,
    locmem_backend,
    postgresql_backend,
    redis_backend,
    sqlite_backend,
)
from alligator.options import Batch, Options, Unpinned


def add(a: int, b: int) -> int:
    return a + b


def greet(name: str, *, punctuation: str = "!") -> str:
    return name + punctuation


def on_add_success(task: Task[int], result: int) -> None:
    print(task.task_id, result + 1)


def on_add_start(task: Task[int]) -> None:
    print(task.task_id)


def on_add_error(task: Task[int], err: Exception) -> None:
    task.retries += 1


def returns_object(task: Task[int], result: int) -> object:
    return result


def log_any_start(task: Task[Any]) -> None:
    print(task.task_id)


def log_any_error(task: Task[Any], err: Exception) -> None:
    print(task.task_id, err)


gator = Gator("locmem://typing")

# gator.task / gator.push infer the function's return type.
assert_type(gator.task(add, 1, 2), Task[int])
assert_type(gator.task(greet, "hi", punctuation="?"), Task[str])
# A bare Task() is Task[Any] (R defaults to Any), so push keeps checking the
# arguments but the result type is Any; annotate the task to keep it.
assert_type(gator.push(Task(retries=2), add, 1, b=2), Task[Any])
assert_type(gator.push(Task[int](retries=2), add, 1, b=2), Task[int])
assert_type(gator.push(Task(on_success=on_add_success), add, 1, 2), Task[int])
assert_type(Task[int]().to_call(add, 3, 4), Task[int])
assert_type(Task(on_success=on_add_success, on_error=on_add_error), Task[int])

# Options fix R from their hooks; opts.task keeps it.
with gator.options(on_start=on_add_start, on_success=on_add_success, on_error=on_add_error) as opts:
    assert_type(opts, Options[int])
    assert_type(opts.task(add, 1, 2), Task[int])
# Without an on_success hook nothing pins the result type: each task infers
# its own from its function (and its arguments are still checked).
with gator.options(retries=3, delay_by=1.5) as plain:
    assert_type(plain, Options[Unpinned])
    assert_type(plain.task(greet, "x"), Task[str])
    assert_type(plain.task(add, 1, 2), Task[int])
# A hook typed for any task (a shared logging on_start/on_error) pins nothing.
with gator.options(on_start=log_any_start, on_error=log_any_error) as logged:
    assert_type(logged.task(add, 1, 2), Task[int])
with gator.batch() as inferred:
    assert_type(inferred.task(greet, "y"), Task[str])
with gator.options(on_success=returns_object) as objopts:
    assert_type(objopts.task(add, 1, 2), Task[int])

# Batches.
with gator.batch() as batch:
    assert_type(batch, Batch)
    assert_type(batch.task(add, 1, 2), Task[int])
    assert_type(batch.push(Task(on_success=on_add_success), add, 1, 2), Task[int])
    assert_type(batch.push(Task[int](priority=-1), add, 1, 2), Task[int])
assert_type(batch.flush(), list[str])

# Built-in classes conform to the protocols, by assignment.
locmem_client: protocols.ReliableClient = locmem_backend.Client("locmem://typing")
locmem_plain: protocols.Client = locmem_backend.Client("locmem://typing")
sqlite_client: protocols.ReliableClient = sqlite_backend.Client("sqlite://typing.db")
sqlite_plain: protocols.Client = sqlite_backend.Client("sqlite://typing.db")
locmem_lister: protocols.QueueLister = locmem_backend.Client("locmem://typing")
sqlite_lister: protocols.QueueLister = sqlite_backend.Client("sqlite://typing.db")
locmem_priority: protocols.PriorityClient = locmem_backend.Client("locmem://typing")
sqlite_priority: protocols.PriorityClient = sqlite_backend.Client("sqlite://typing.db")
redis_priority: protocols.PriorityClient = redis_backend.Client("redis://typing")
beanstalk_priority: protocols.PriorityClient = beanstalk_backend.Client("beanstalk://typing")
pg = postgresql_backend.Client("postgresql://typing/db")
pg_prefetch: protocols.PrefetchClient = pg
pg_failed: protocols.FailedTasksClient = pg
pg_priority: protocols.PriorityClient = pg
pg_transactional: protocols.TransactionalClient = pg
redis_client = redis_backend.Client("redis://typing")
redis_results: protocols.ResultPrefetchClient = redis_client
redis_failed: protocols.FailedTasksClient = redis_client
pg_results: protocols.ResultPrefetchClient = pg
sqlite_results: protocols.ResultPrefetchClient = sqlite_backend.Client("sqlite://typing.db")
pg_unique: protocols.UniqueClient = pg
pg_limits: protocols.LimitClient = pg
locmem_unique: protocols.UniqueClient = locmem_backend.Client("locmem://typing")
locmem_limits: protocols.LimitClient = locmem_backend.Client("locmem://typing")
sqlite_unique: protocols.UniqueClient = sqlite_backend.Client("sqlite://typing.db")
sqlite_limits: protocols.LimitClient = sqlite_backend.Client("sqlite://typing.db")
redis_unique: protocols.UniqueClient = redis_client
redis_limits: protocols.LimitClient = redis_client
locmem_pages: protocols.BuriedPages = locmem_backend.Client("locmem://typing")
sqlite_pages: protocols.BuriedPages = sqlite_backend.Client("sqlite://typing.db")
redis_pages: protocols.BuriedPages = redis_client
pg_pages: protocols.BuriedPages = pg
with gator.options(unique_key="rebuild:42", on_duplicate="raise") as unique_opts:
    assert_type(unique_opts.task(add, 1, 2), Task[int])
assert_type(gator.within(object()), Gator)
assert_type(gator.within(object()).task(add, 1, 2), Task[int])
json_codec: protocols.Codec = codecs.JsonCodec()
msgpack_codec: protocols.Codec = codecs.MsgpackCodec()
bz2_codec: protocols.Codec = codecs.bz2_codec(codecs.JSON)
zlib_codec: protocols.Codec = codecs.zlib_codec(codecs.MSGPACK)
registered: protocols.Codec = codecs.get_codec("json+bz2")
worker: protocols.Worker = Worker(gator)
task_proto: protocols.Task[int] = Task[int]()
enqueued = gator.task(add, 1, 2)
task_any: protocols.Task[Any] = enqueued
task_int: protocols.Task[int] = enqueued
task_class: protocols.TaskClass = Task

# The result type flows through run(), which returns the task as in 1.0.
assert_type(Task[int]().to_call(add, 1, 2).run(), Task[int])
assert_type(Task[int]().to_call(add, 1, 2).run().result, int)
assert_type(gator.execute(Task[int]().to_call(add, 1, 2)), Task[int])
assert_type(gator.execute(Task[int]().to_call(add, 1, 2)).result, int)
assert_type(gator.pop(), Task[Any] | None)
assert_type(gator.get("some-id"), Task[Any] | None)
assert_type(gator.push(Task[int](is_async=False), add, 1, 2).result, int)
assert_type(Worker(gator).run_forever(), int)

# wait() is typed by the task's function, on every path that makes a task.
assert_type(gator.task(add, 1, 2).wait(), int)
assert_type(gator.task(greet, "x").wait(timeout=1.5), str)
with gator.options(retries=3) as unpinned:
    assert_type(unpinned.task(add, 1, 2).wait(), int)
with gator.options(on_success=on_add_success) as pinned:
    assert_type(pinned.task(add, 1, 2).wait(), int)
with gator.batch() as waited:
    assert_type(waited.task(greet, "z").wait(), str)
assert_type(gator.wait("some-id"), Any)
assert_type(gator.status("some-id"), Status | None)
assert_type(Task(depends_on=[gator.task(add, 1, 2), "an-id"]), Task[Any])

# Metrics, tracing and the fan-out are worker events; each wraps a task's run.
from alligator.events import Fanout  # noqa: E402
from alligator.metrics import Metrics  # noqa: E402
from alligator.tracing import Tracing  # noqa: E402

metrics_events: protocols.WorkerEvents = Metrics(None)
metrics_observer: protocols.TaskRunObserver = Metrics(None)
metrics_recorder: protocols.TaskRecorder = Metrics(None)
metrics_series: protocols.TaskSeries = metrics_recorder.series("q", "module:task")
tracing_events: protocols.WorkerEvents = Tracing()
tracing_observer: protocols.TaskRunObserver = Tracing()
fanout_events: protocols.WorkerEvents = Fanout(Metrics(None), Tracing())
fanout_observer: protocols.TaskRunObserver = Fanout(Metrics(None), Tracing())
assert_type(Worker(gator, metrics=Metrics(9100, host="127.0.0.1")).metrics, Metrics | None)
assert_type(Gator("locmem://typing", tracing=True).tracing, Tracing | None)
