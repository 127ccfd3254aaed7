"""Typing checks that must fail: a task's arguments are checked against its function.

Each line marked ``# E: <code>`` must get exactly that mypy error code, and no
other line may get any (tests/test_typing.py).
"""

from __future__ import annotations

from alligator import Gator, Task, Worker


def add(a: int, b: int) -> int:
    return a + b


def greet(name: str, *, punctuation: str = "!") -> str:
    return name + punctuation


gator = Gator("locmem://typing")

# Wrong argument types.
gator.task(add, "1", 2)  # E: call-overload
gator.task(greet, name=3)  # E: call-overload
gator.push(Task[int](), add, 1, 2.5)  # E: call-overload
Task[int]().to_call(add, 1, "2")  # E: call-overload
with gator.options(retries=2) as opts:
    opts.task(add, None, 2)  # E: call-overload
with gator.batch() as batch:
    batch.task(greet, b"bytes")  # E: call-overload
    batch.push(Task[str](), greet, 1)  # E: call-overload

# Missing arguments.
gator.task(add, 1)  # E: call-overload
gator.task(greet)  # E: call-overload
Task[int]().to_call(add)  # E: call-overload

# Extra arguments.
gator.task(add, 1, 2, 3)  # E: call-overload
gator.task(greet, "x", exclaim="!")  # E: call-arg, arg-type
with gator.options() as more:
    more.task(add, 1, 2, c=3)  # E: call-arg, arg-type

# Not a function at all.
gator.task(42)  # E: call-overload

# Wrong option types.
Task(retries="3")  # E: arg-type
Gator("locmem://typing", queue_name=None)  # E: arg-type
Worker(gator, max_tasks="3")  # E: arg-type

# The result type of wait() is the function's.
wrong: str = gator.task(add, 1, 2).wait()  # E: assignment
with gator.options(retries=2) as typed:
    also_wrong: bytes = typed.task(add, 1, 2).wait()  # E: assignment
