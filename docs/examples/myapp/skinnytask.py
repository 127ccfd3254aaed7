"""The "Custom Task Classes" example: no hooks or options on the wire, bz2-compressed."""

from __future__ import annotations

import bz2
import json
from typing import Any, Self

from alligator import Task
from alligator.exceptions import DecodeError, InvalidTaskError
from alligator.utils import determine_module, determine_name, import_attr


class SkinnyTask(Task[Any]):
    """Carries only the id, the retry budget and the call; compressed."""

    def serialize(self) -> bytes:
        if self.func is None:
            raise InvalidTaskError("call to_call(func, ...) first")
        data = {
            "task_id": self.task_id,
            "retries": self.retries,
            "is_async": self.is_async,
            "module": determine_module(self.func),
            "callable": determine_name(self.func),
            "args": self.func_args,
            "kwargs": self.func_kwargs,
        }
        return bz2.compress(json.dumps(data).encode("utf-8"))

    @classmethod
    def deserialize(cls, data: bytes) -> Self:
        try:
            loaded = json.loads(bz2.decompress(data))
        except (OSError, ValueError) as exc:
            # A worker buries what it cannot decode; say why.
            raise DecodeError(f"not a SkinnyTask payload: {exc}", data) from exc
        task = cls(
            task_id=loaded["task_id"],
            retries=loaded["retries"],
            is_async=loaded["is_async"],
        )
        func = import_attr(loaded["module"], loaded["callable"])
        task.to_call(func, *loaded.get("args", []), **loaded.get("kwargs", {}))
        return task
