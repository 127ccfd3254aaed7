"""``AsyncGator``: the producer API awaited, on every built-in backend.

Redis pushes through ``redis.asyncio`` (the same operations as its blocking
client); the other backends' calls run in a thread. Either way a Worker
then runs exactly what was enqueued.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from typing import Any

import pytest

from alligator import AsyncGator, Gator, Task, Worker
from alligator.exceptions import InvalidTaskError, NotImportableError
from tests import tasks
from tests.fixtures import Backend


def drain(gator: Gator, deliveries: int) -> Worker:
    worker = Worker(gator, concurrency=10, recycle_after=deliveries, poll_timeout=0.1)
    worker.run_forever()
    return worker


def test_the_producer_api_awaited(any_backend: Backend) -> None:
    async def produce() -> tuple[list[Task[Any]], int]:
        async with AsyncGator(any_backend.dsn, queue_name="q") as ag:
            page = await ag.task(tasks.fetch_page, "https://example.com")
            async with ag.options(retries=2, on_success=tasks.on_success) as opts:
                total = await opts.task(tasks.add, 1, 2)
            async with ag.batch() as batch:
                batched = [batch.task(tasks.add, n, n) for n in range(3)]
            return [page, total, *batched], await ag.len()

    # Given tasks enqueued from a running event loop, one by one, with options, in a batch
    made, waiting = asyncio.run(produce())
    # Then the queue holds them all, each under the id its task carries
    assert waiting == 5
    assert len({t.task_id for t in made}) == 5
    # And a worker runs them as enqueued
    worker = drain(any_backend.gator(), 5)
    assert worker.tasks_complete == 5
    assert ("success", made[1].task_id, 3) in tasks.EVENTS
    assert sorted(e[1:] for e in tasks.EVENTS if e[0] == "add") == [
        (0, 0), (1, 1), (1, 2), (2, 2)
    ]  # fmt: skip


def test_a_push_of_an_id_the_queue_holds_replaces_it(any_backend: Backend) -> None:
    if any_backend.name == "beanstalk":
        pytest.skip("beanstalkd assigns the ids itself")

    async def produce() -> int:
        async with AsyncGator(any_backend.dsn, queue_name="q") as ag:
            async with ag.options(task_id="same") as opts:
                await opts.task(tasks.add, 1, 1)
                await opts.task(tasks.add, 2, 2)
            return await ag.len()

    assert asyncio.run(produce()) == 1
    drain(any_backend.gator(), 1)
    assert [e for e in tasks.EVENTS if e[0] == "add"] == [("add", 2, 2)]


def test_the_event_loop_keeps_turning_while_tasks_are_pushed(any_backend: Backend) -> None:
    # Given a ticker on the loop that counts its turns
    async def produce() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        async with AsyncGator(any_backend.dsn, queue_name="q") as ag:
            running = asyncio.create_task(ticker())
            for n in range(20):
                await ag.task(tasks.add, n, n)
            running.cancel()
        return ticks

    # Then every push let it turn: no call blocked the loop
    assert asyncio.run(produce()) >= 20


def test_waiting_on_a_result_is_typed_and_awaited(locmem_dsn: str) -> None:
    async def produce() -> tuple[bytes, Any]:
        async with AsyncGator(locmem_dsn, queue_name="q", results=True) as ag:
            page = await ag.task(tasks.fetch_page, "typed")
            total = await ag.task(tasks.add, 2, 3)
            worker = Worker(ag.gator, concurrency=4, recycle_after=2, poll_timeout=0.05)
            ran = threading.Thread(target=worker.run_forever)
            ran.start()
            value = await ag.wait(page, 10)
            by_id = await ag.wait(total.task_id, 10)
            ran.join()
            return value, by_id

    assert asyncio.run(produce()) == (b"typed", 5)


def test_eager_tasks_run_off_the_loop_and_batches_refuse_them(locmem_dsn: str) -> None:
    async def produce() -> Any:
        async with AsyncGator(locmem_dsn, queue_name="q") as ag:
            eager = await ag.push(Task(is_async=False), tasks.fetch_page, "eager")
            with pytest.raises(InvalidTaskError, match="AsyncGator's batch"):
                async with ag.batch() as batch:
                    batch.push(Task(is_async=False), tasks.add, 1, 2)
            with pytest.raises(NotImportableError, match="coroutine object"):
                await ag.task(tasks.fetch_page("x"))  # type: ignore[call-overload]
            return eager.result, await ag.len()

    assert asyncio.run(produce()) == (b"eager", 0)


def test_status_and_cancel_are_awaited(locmem_dsn: str) -> None:
    async def produce() -> tuple[Any, Any, int]:
        async with AsyncGator(locmem_dsn, queue_name="q", results=True) as ag:
            task = await ag.task(tasks.add, 1, 2)
            before = await ag.status(task.task_id)
            canceled = await ag.cancel(task.task_id)
            return before, canceled and canceled.status, await ag.len()

    before, canceled, left = asyncio.run(produce())
    assert (before.name, canceled.name, left) == ("WAITING", "CANCELED", 0)


def test_a_pushed_task_is_stored_before_the_await_returns(any_backend: Backend) -> None:
    async def produce() -> str:
        async with AsyncGator(any_backend.dsn, queue_name="q") as ag:
            return (await ag.task(tasks.add, 4, 4)).task_id

    task_id = asyncio.run(produce())
    gator = any_backend.gator()
    deadline = time.monotonic() + 5
    while gator.len() != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gator.len() == 1
    assert task_id


def test_redis_scripts_flushed_meanwhile_are_loaded_again(any_backend: Backend) -> None:
    if not any_backend.name.startswith("redis"):
        pytest.skip("Redis's script cache")

    async def produce() -> int:
        async with AsyncGator(any_backend.dsn, queue_name="q") as ag:
            await ag.task(tasks.add, 1, 1)
            await asyncio.to_thread(_flush_scripts, any_backend)
            await ag.task(tasks.add, 2, 2)
            return await ag.len()

    assert asyncio.run(produce()) == 2


def _flush_scripts(backend: Backend) -> None:
    import redis

    from alligator.backends._redis_driver import parse_dsn

    target = parse_dsn(backend.dsn)
    ports = [int(target.url.rsplit(":", 1)[1].split("/")[0])]
    ports += [port for _, port in target.extra_nodes]
    for port in ports:
        with redis.Redis(port=port) as conn:
            conn.script_flush()


def test_a_unique_task_goes_through_the_backends_unique_push() -> None:
    # Given an AsyncGator on a backend that enforces unique keys
    async def main() -> tuple[Task[int], Task[int], int]:
        async with AsyncGator("locmem://async-unique", queue_name="q") as ag:
            async with ag.options(unique_key="rebuild:42") as opts:
                first = await opts.task(tasks.add, 1, 2)
                second = await opts.task(tasks.add, 1, 2)
            return first, second, await ag.len()

    first, second, waiting = asyncio.run(main())
    # Then the second enqueue returned the first task and stored nothing
    assert (second.task_id, second.duplicate, waiting) == (first.task_id, True, 1)


def test_async_options_take_every_option_the_gator_takes() -> None:
    from alligator.options import TaskOptions

    gator_options = set(inspect.signature(Gator.options).parameters) - {"self"}
    assert set(TaskOptions.__annotations__) == gator_options
