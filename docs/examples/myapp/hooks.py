"""Hooks for the typing guide: some typed for one result type, some for any."""

from __future__ import annotations

from typing import Any, TypeVar

from alligator import Task

R = TypeVar("R")

#: Every hook call, as (hook name, task id).
SEEN: list[tuple[str, str]] = []


def shout(task: Task[str], result: str) -> None:
    """An ``on_success`` hook for tasks returning ``str``."""
    SEEN.append((result.upper(), task.task_id))


def count(task: Task[int], result: int) -> None:
    """An ``on_success`` hook for tasks returning ``int``."""
    SEEN.append((str(result + 1), task.task_id))


def log_any_start(task: Task[Any]) -> None:
    """A shared ``on_start`` hook typed for any task (see the typing guide)."""
    SEEN.append(("start", task.task_id))


def log_start(task: Task[R]) -> None:
    """The same hook, generic: fits any task and leaves the result check on."""
    SEEN.append(("start", task.task_id))
