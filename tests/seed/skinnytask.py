"""The "Custom Task Classes" example: a task without hooks, compressed with bz2.

Fixed from the seed: the missing ``json`` and ``alligator.utils`` imports,
``json.dumps`` returns str (bz2 needs bytes), ``json.loads`` was given the
compressed data instead of ``raw_json``, and ``is_async`` was read back but
never written.
"""

from __future__ import annotations

import bz2
import json
from typing import Any, Self

from alligator import Task
from alligator.exceptions import InvalidTaskError
from alligator.utils import determine_module, determine_name, import_attr


class SkinnyTask(Task[Any]):
    # We're both going to ignore some keys (options) we don't
    # care about, as well as compress/decompress the payload.
    def serialize(self) -> bytes:
        if self.func is None:
            raise InvalidTaskError("the task has no function: call to_call(func, ...) first")
        data = {
            "task_id": self.task_id,
            "retries": self.retries,
            "is_async": self.is_async,
            "module": determine_module(self.func),
            "callable": determine_name(self.func),
            "args": self.func_args,
            "kwargs": self.func_kwargs,
        }
        raw_json = json.dumps(data)
        return bz2.compress(raw_json.encode("utf-8"))

    @classmethod
    def deserialize(cls, data: bytes) -> Self:
        raw_json = bz2.decompress(data)
        loaded = json.loads(raw_json)

        task = cls(
            task_id=loaded["task_id"],
            retries=loaded["retries"],
            is_async=loaded["is_async"],
        )

        func = import_attr(loaded["module"], loaded["callable"])
        task.to_call(func, *loaded.get("args", []), **loaded.get("kwargs", {}))
        return task
