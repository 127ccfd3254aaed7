"""Typing checks that must pass for ``async def`` tasks and hooks (run by tests/test_typing.py)."""

from __future__ import annotations

from typing import Any, assert_type

from alligator import Gator, Task, Worker


async def fetch_page(url: str) -> bytes:
    return url.encode()


async def count_words(text: str, *, lower: bool = False) -> int:
    return len(text.split())


def add(a: int, b: int) -> int:
    return a + b


async def on_bytes(task: Task[bytes], result: bytes) -> None:
    print(task.task_id, len(result))


async def on_any_start(task: Task[Any]) -> None:
    print(task.task_id)


async def on_any_error(task: Task[Any], err: Exception) -> None:
    print(task.task_id, err)


gator = Gator("locmem://typing-asyncio")

# An async def task is typed by what its coroutine returns, not Task[Coroutine].
assert_type(gator.task(fetch_page, "https://example.com"), Task[bytes])
assert_type(gator.task(count_words, "a b", lower=True), Task[int])
assert_type(gator.task(fetch_page, "u").wait(1.0), bytes)
assert_type(gator.push(Task[bytes](), fetch_page, "u"), Task[bytes])
assert_type(Task[bytes]().to_call(fetch_page, "u"), Task[bytes])
assert_type(gator.push(Task(on_success=on_bytes), fetch_page, "u"), Task[bytes])

# Options: async hooks pin the result type like sync ones; none pins nothing.
with gator.options(on_success=on_bytes, on_start=on_any_start, on_error=on_any_error) as opts:
    assert_type(opts.task(fetch_page, "u"), Task[bytes])
with gator.options(retries=2, timeout=30) as plain:
    assert_type(plain.task(fetch_page, "u"), Task[bytes])
    assert_type(plain.task(add, 1, 2), Task[int])
with gator.batch() as batch:
    assert_type(batch.task(fetch_page, "u"), Task[bytes])
    assert_type(batch.push(Task[int](), count_words, "x"), Task[int])

# A worker that runs coroutines concurrently.
worker = Worker(gator, concurrency=100, threads=4, grace=30.0, lag_warning=0.5)


# The AsyncGator mirrors the Gator, awaited, with the same typing.
async def produce() -> None:
    from alligator import AsyncGator
    from alligator.async_gator import AsyncBatch, AsyncOptions
    from alligator.options import Unpinned

    async with AsyncGator("locmem://typing-asyncio") as ag:
        page = await ag.task(fetch_page, "u")
        assert_type(page, Task[bytes])
        assert_type(await ag.task(add, 1, 2), Task[int])
        assert_type(await ag.push(Task[bytes](), fetch_page, "u"), Task[bytes])
        assert_type(await ag.wait(page, 5), bytes)
        assert_type(await ag.len(), int)
        async with ag.options(retries=3) as opts:
            assert_type(opts, AsyncOptions[Unpinned])
            assert_type(await opts.task(fetch_page, "u"), Task[bytes])
        async with ag.options(on_success=on_bytes) as pinned:
            assert_type(await pinned.task(fetch_page, "u"), Task[bytes])
        async with ag.batch() as batch:
            assert_type(batch, AsyncBatch)
            assert_type(batch.task(fetch_page, "u"), Task[bytes])
