"""Typing checks that must fail for ``async def`` tasks and hooks (tests/test_typing.py)."""

from __future__ import annotations

from alligator import Gator, Task


async def fetch_page(url: str) -> bytes:
    return url.encode()


async def on_str(task: Task[str], result: str) -> None:
    print(result)


gator = Gator("locmem://typing-asyncio-fail")

# The arguments of an async def task are checked like a plain one's.
gator.task(fetch_page, 42)  # E: call-overload
gator.task(fetch_page)  # E: call-overload
gator.task(fetch_page, "u", timeout=3)  # E: call-arg
# A coroutine object is not a function.
gator.task(fetch_page("u"))  # E: call-overload
# An async hook for another result type.
gator.push(Task(on_success=on_str), fetch_page, "u")  # E: call-overload
with gator.options(on_success=on_str) as opts:
    opts.task(fetch_page, "u")  # E: call-overload


async def produce() -> None:
    from alligator import AsyncGator

    async with AsyncGator("locmem://typing-asyncio-fail") as ag:
        await ag.task(fetch_page, 42)  # E: call-overload
        async with ag.options(on_success=on_str) as opts:
            await opts.task(fetch_page, "u")  # E: call-overload
        fetched = await ag.task(fetch_page, "u")
        page: str = await ag.wait(fetched)  # E: arg-type
