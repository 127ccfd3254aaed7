"""Typing checks that must pass: the extending guide's custom classes."""

from __future__ import annotations

from typing import assert_type

from alligator import Gator, Task, Worker, protocols
from tests.seed.logworkers import LoggingWorker
from tests.seed.skinnytask import SkinnyTask
from tests.seed.sqlite_backend import Client as SQLiteClient


def add(a: int, b: int) -> int:
    return a + b


# A Task subclass is accepted as task_class, and conforms to the protocols.
skinny_gator = Gator("locmem://typing", task_class=SkinnyTask)
skinny: protocols.Task[int] = SkinnyTask().to_call(add, 1, 2)
skinny_class: protocols.TaskClass = SkinnyTask
assert_type(SkinnyTask().to_call(add, 1, 2), SkinnyTask)
assert_type(SkinnyTask.deserialize(b""), SkinnyTask)

# A 1.0-style client conforms to Client and is accepted as backend_class.
simple: protocols.Client = SQLiteClient("sqlite://typing.db")
sqlite_gator = Gator("sqlite://typing.db", backend_class=SQLiteClient)

# A Worker subclass is still a Worker.
logging_worker: protocols.Worker = LoggingWorker(skinny_gator)
plain_worker: Worker = LoggingWorker(sqlite_gator, max_tasks=3)
